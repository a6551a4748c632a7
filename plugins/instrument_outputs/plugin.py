"""Hook implementations of the built-in instrument_outputs plugin (filled in as the mode/format is built)."""

from __future__ import annotations
