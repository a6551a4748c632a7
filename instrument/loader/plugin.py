"""The built-in YAML reader, registered as a plugin like any importer.

The host opens every questionnaire file through the ``load_questionnaire``
hook; this plugin answers for ``.yaml`` and ``.yml`` files. A third-party
importer (XLSForm, DDI) is asked first, so it may even read YAML of its own.
Whichever plugin reads a file, the host then checks the questionnaire it got
(:mod:`instrument.checks`).
"""

from __future__ import annotations

from pathlib import Path

from instrument import hookimpl

from .api import LoadOptions, LoadResult
from .api import load_questionnaire as load_file

__all__ = ["YAML_SUFFIXES", "load_questionnaire"]

YAML_SUFFIXES = (".yaml", ".yml")


@hookimpl
def load_questionnaire(path: Path, options: LoadOptions) -> LoadResult | None:
    """Read a YAML questionnaire file with every diagnostic; None for other files."""
    if path.suffix.lower() not in YAML_SUFFIXES:
        return None
    return load_file(path, **options.as_kwargs())
