"""Hook implementations of the built-in console plugin.

The console mode has no web pages: it is reached through ``instrument try``,
a built-in command, so the only thing to register here is its
:class:`~instrument.plugin_types.ModeSpec`. This module is imported whenever
the plugin host starts (every command, the server), so it imports nothing
beyond the hook marker and the descriptor class; the interview loop lives in
:mod:`instrument_console.session` and is imported only by ``instrument try``.
"""

from __future__ import annotations

from typing import Any

from instrument import hookimpl
from instrument.plugin_types import ModeSpec

__all__ = ["CONSOLE_MODE", "register_commands", "register_modes"]

CONSOLE_MODE = ModeSpec(
    name="console",
    label="Terminal",
    # It plays either part: the respondent (web rendering) or the
    # interviewer (cati rendering) or a caller (ivr rendering), so a case
    # chooser looking for either capability may offer it.
    capabilities=frozenset({"self_completion", "interviewer"}),
)


@hookimpl
def register_modes() -> list[ModeSpec]:
    """The terminal mode behind ``instrument try``."""
    return [CONSOLE_MODE]


@hookimpl
def register_commands(cli: Any) -> None:
    """``instrument try``: the command is the console mode's own (imports click, not the session)."""
    from instrument_console.command import try_

    cli.add_command(try_, "try")
