"""The phone mode's blueprint: where everything the mode serves is mounted.

It holds the Twilio webhooks, under ``/cati/phone/...``, and only
when telephony is configured; without any Twilio settings the mode still
mounts (interviewers dial by hand and code the call). The interviewer
console (:mod:`instrument_phone.console`) is mounted below it under
``/cati/console/``, sharing its URL prefix and the settings read here once.

The settings come from the process environment when the app is built, so a
half-configured deployment stops at start-up with a message naming the
variable (:class:`~instrument_phone.telephony.config.TelephonyConfigError`,
which ``instrument serve`` prints without a traceback).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

from instrument.interviews import ModeContext
from instrument_phone import MODE_NAME
from instrument_phone.console import create_console_blueprint
from instrument_phone.console.views import fieldwork_settings
from instrument_phone.ledger import StoreLedger
from instrument_phone.machines import call_studies_for
from instrument_phone.supervisor import create_supervisor_blueprint
from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.sms_webhooks import create_sms_webhooks_blueprint
from instrument_phone.telephony.webhooks import create_webhooks_blueprint

__all__ = ["TELEPHONY_EXTENSION", "create_blueprint"]

TELEPHONY_EXTENSION = "instrument_phone.telephony"
"""``app.extensions`` key of the :class:`TwilioSettings` in use (None: dialled by hand)."""


def create_blueprint(context: ModeContext, environ: Mapping[str, str] | None = None) -> Blueprint:
    """The ``cati`` blueprint, with the webhooks mounted below it when Twilio is configured.

    :param environ: where the settings are read (default: the process environment).
    :raises TelephonyConfigError: the telephony variables are partial or invalid.
    """
    settings = TwilioSettings.from_env(os.environ if environ is None else environ)
    bp = Blueprint(MODE_NAME, __name__)
    webhooks = None
    if settings is not None:
        # A study may ask for answering-machine detection, or show its own number.
        studies = call_studies_for(
            context.service.store, fieldwork_settings(context), list(context.service.surveys)
        )
        webhooks = create_webhooks_blueprint(
            settings,
            StoreLedger(context.service.store),
            context.now,
            machine_detection=studies.machine_detection if studies is not None else None,
            caller_id=studies.caller_id if studies is not None else None,
        )
        bp.register_blueprint(webhooks, url_prefix="/phone")
        # Members' SMS replies (STOP) and delivery reports: /cati/sms/... (signed alike).
        sms = create_sms_webhooks_blueprint(settings, context.service.store, context.now)
        bp.register_blueprint(sms, url_prefix="/sms")
    # The interviewer console (/cati/console/): by Twilio when configured, else dialled by hand.
    bp.register_blueprint(create_console_blueprint(context, settings), url_prefix="/console")
    # The supervisor's pages (/cati/supervisor/): the sample, rates, cases, call records.
    bp.register_blueprint(
        create_supervisor_blueprint(context, fieldwork_settings(context)), url_prefix="/supervisor"
    )

    def on_register(state: BlueprintSetupState) -> None:
        state.app.extensions[TELEPHONY_EXTENSION] = settings
        csrf = state.app.extensions.get("csrf")
        if webhooks is not None and csrf is not None:
            # Twilio cannot send a form token; its signature is checked instead.
            csrf.exempt(webhooks)

    bp.record_once(on_register)
    return bp
