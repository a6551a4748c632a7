"""Also claims the mode name "paper", which modes_plugin already uses."""

from __future__ import annotations

from instrument import hookimpl
from instrument.plugin_types import ModeSpec


@hookimpl
def register_modes() -> list[ModeSpec]:
    return [ModeSpec(name="paper", label="Another paper mode")]
