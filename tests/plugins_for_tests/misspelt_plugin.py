"""A plugin with a typo in a hook name: register_mode instead of register_modes."""

from __future__ import annotations

from instrument import hookimpl
from instrument.plugin_types import ModeSpec


@hookimpl
def register_mode() -> list[ModeSpec]:
    return [ModeSpec(name="typo", label="Never registered")]
