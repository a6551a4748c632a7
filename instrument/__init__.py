"""survey-instrument: one questionnaire, every mode, labelled data files.

Importing this package is cheap and loads no web, telephony or file-format
library (a test proves it); those come in only with the mode or output that
needs them.
"""

from __future__ import annotations

import pluggy

__all__ = ["hookimpl", "PROJECT_NAME", "__version__"]

PROJECT_NAME = "instrument"
"""The pluggy project name and the entry-point group plugins register under."""

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator for plugin hook implementations: ``@instrument.hookimpl``."""
