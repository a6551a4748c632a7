"""Hook implementations of the built-in instrument_web plugin (filled in as the mode/format is built)."""

from __future__ import annotations
