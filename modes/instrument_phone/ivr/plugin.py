"""Hook implementations of automated calls (IVR): the standard ``ivr`` mode, served by Twilio.

It serves the standard ``ivr`` policy (:data:`instrument.modes.IVR`), the one
``instrument try --mode ivr`` and the simulator code interviews with, so an
interview answered by keypad is coded as they code it. The blueprint is the
signed webhooks (:mod:`instrument_phone.ivr.webhooks`) under ``/ivr``, with the
callbacks of the calls we place (:mod:`instrument_phone.ivr.outbound_callbacks`)
under ``/ivr/calls``, built
only when Twilio is configured: without it the mode has no web presence.
Flask and twilio are imported only when the server builds the blueprint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from instrument import hookimpl
from instrument.modes import IVR
from instrument.plugin_types import ModeSpec

__all__ = [
    "IVR_MODE_SPEC",
    "create_blueprint",
    "place_automated_calls",
    "register_modes",
    "simulate_end_to_end",
]


def create_blueprint(context: Any, environ: Mapping[str, str] | None = None) -> Any:
    """The ``ivr`` blueprint (the webhooks), or None when Twilio is not configured.

    :raises TelephonyConfigError: the telephony variables are partial or invalid.
    """
    from instrument_phone.ivr.outbound_callbacks import create_blueprint as create_callbacks
    from instrument_phone.ivr.webhooks import create_ivr_webhooks
    from instrument_phone.telephony.config import TwilioSettings

    settings = TwilioSettings.from_env(os.environ if environ is None else environ)
    if settings is None:
        return None
    bp = create_ivr_webhooks(context.service, settings, context.now)
    # the status and answering-machine callbacks of the calls we place: /ivr/calls/...
    bp.register_blueprint(create_callbacks(context, settings=settings), url_prefix="/calls")

    def on_register(state: Any) -> None:
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:  # Twilio cannot send a form token; its signature is checked instead
            csrf.exempt(bp)

    bp.record_once(on_register)
    return bp


def simulate_end_to_end(run: Any) -> Any:
    """Random respondents calling in to the real webhooks (:mod:`instrument_phone.ivr.end_to_end`)."""
    from instrument_phone.ivr.end_to_end import simulate_calls

    return simulate_calls(run)


def place_automated_calls(run: Any) -> Any:
    """Outbound calls to a study's due cases through Twilio, for the fieldwork worker
    (:func:`instrument_phone.ivr.outbound.place_automated_calls`)."""
    from instrument_phone.ivr.outbound import place_automated_calls as place

    return place(run)


IVR_MODE_SPEC = ModeSpec(
    name="ivr",
    label="Automated telephone call (IVR)",
    capabilities=frozenset({"voice", "self_completion"}),
    create_blueprint=create_blueprint,
    requires=("flask", "twilio"),
    policy=IVR,
    simulate_end_to_end=simulate_end_to_end,
    place_automated_calls=place_automated_calls,
)


@hookimpl
def register_modes() -> list[ModeSpec]:
    """Automated calls answered by keypad."""
    return [IVR_MODE_SPEC]
