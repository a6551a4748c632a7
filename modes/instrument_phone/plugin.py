"""Hook implementations of the built-in telephone mode (CATI).

It serves the standard ``cati`` policy (:data:`instrument.modes.CATI`, the one
``instrument try --mode cati`` previews), so interviews run on the phone are
coded exactly as the terminal preview and the simulator code them. Flask and
twilio are imported only when the server builds the blueprint: this module is
imported by every command that starts the plugin host.
"""

from __future__ import annotations

from typing import Any

from instrument import hookimpl
from instrument.modes import CATI
from instrument.plugin_types import ModeSpec, RecordingProvider
from instrument_phone import MODE_NAME

__all__ = [
    "PHONE_MODE",
    "create_blueprint",
    "register_commands",
    "register_modes",
    "register_recording_providers",
]


def create_blueprint(context: Any) -> Any:
    """Build the mode's blueprint for the host (see :mod:`instrument_phone.views`)."""
    from instrument_phone.views import create_blueprint as build

    return build(context)


PHONE_MODE = ModeSpec(
    name=MODE_NAME,
    label="Telephone with an interviewer (CATI)",
    capabilities=frozenset({"interviewer"}),
    create_blueprint=create_blueprint,
    requires=("flask", "twilio"),
    policy=CATI,
)


@hookimpl
def register_modes() -> list[ModeSpec]:
    """The interviewer-administered telephone mode."""
    return [PHONE_MODE]


@hookimpl
def register_commands(cli: Any) -> None:
    """``instrument calls place`` and ``instrument calls forget-recordings``: they need twilio,
    so the commands are the plugin's."""
    from instrument_phone.ivr.calls_command import calls
    from instrument_phone.telephony.forget_command import forget_recordings

    calls.add_command(forget_recordings)
    cli.add_command(calls, "calls")


@hookimpl
def register_recording_providers() -> list[RecordingProvider]:
    """``twilio``: where the phone mode's recordings are held, and deleted after a withdrawal
    (its settings read on first use; ``check()`` names them when unset)."""
    from instrument_phone.telephony.recordings import twilio_recordings

    return [twilio_recordings()]
