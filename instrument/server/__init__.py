"""The web host: one Flask app that mounts every mode's blueprint and the staff area.

Import :func:`create_app` from :mod:`instrument.server.app`; it is re-exported
here lazily so that ``import instrument.server`` alone does not pull in Flask.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(config: Any = None) -> Any:
    """See :func:`instrument.server.app.create_app`."""
    from instrument.server.app import create_app as _create_app

    return _create_app(config)
