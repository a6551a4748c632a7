"""Hook implementations of the SMS interview mode: the ``sms`` policy, its webhooks, its command.

``sms`` is this plugin's own mode, not a standard one: a questionnaire is
asked by text only when it lists ``sms`` in ``modes:`` (short questionnaires;
``instrument check`` says what does not suit a text), and the core knows it
only by its policy (self-completion, no markup, don't know and refused
offered as reply words, one question per text message, dataset code 4).
The blueprint is the signed webhooks (:mod:`instrument_phone.sms.webhooks`)
under ``/sms``, built only when Twilio is configured. Flask and twilio are
imported only when the server builds the blueprint or a text is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from instrument import hookimpl
from instrument.modes import ModePolicy
from instrument.plugin_types import ModeSpec, TextInterviewReport, TextInterviewStart

__all__ = ["SMS", "SMS_MODE_SPEC", "create_blueprint", "register_commands", "register_modes"]

SMS = ModePolicy(
    label="Text message (SMS)",
    description="Self-administered questionnaire: SMS",
    administered_by="respondent",
    spoken=False,
    wording=("text",),
    markup=False,
    missing="announced",
    dataset_code=4,
    text_messages=True,
)
"""Self-completion by text message: the screen wording without markup, don't know and refused
always offered (as reply words), a question left unanswered accepted (after re-asking)."""


def create_blueprint(context: Any, environ: Mapping[str, str] | None = None) -> Any:
    """The ``sms`` blueprint (the webhooks), or None when Twilio is not configured.

    :raises TelephonyConfigError: the telephony variables are partial or invalid.
    """
    from instrument_phone.sms.webhooks import create_sms_interview_webhooks
    from instrument_phone.telephony.config import TwilioSettings

    settings = TwilioSettings.from_env(os.environ if environ is None else environ)
    if settings is None:
        return None
    bp = create_sms_interview_webhooks(context.service, settings, context.now)

    def on_register(state: Any) -> None:
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:  # Twilio cannot send a form token; its signature is checked instead
            csrf.exempt(bp)

    bp.record_once(on_register)
    return bp


def start_text_interview(start: TextInterviewStart) -> TextInterviewReport:
    """A wave's ``sms_interview`` step for one member: the first question texted, once
    (:func:`instrument_phone.sms.starting.start_for_panel`; imported when used)."""
    from instrument_phone.sms.starting import start_for_panel

    return start_for_panel(start)


SMS_MODE_SPEC = ModeSpec(
    name="sms",
    label="Text message (SMS)",
    capabilities=frozenset({"text_messages", "self_completion"}),
    create_blueprint=create_blueprint,
    requires=("flask", "twilio"),
    policy=SMS,
    start_text_interview=start_text_interview,
)


@hookimpl
def register_modes() -> list[ModeSpec]:
    """Interviews by text message."""
    return [SMS_MODE_SPEC]


@hookimpl
def register_commands(cli: Any) -> None:
    """``instrument sms start``: the mode's own command, added through the plugin host."""
    from instrument_phone.sms.command import sms

    cli.add_command(sms, "sms")
