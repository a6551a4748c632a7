"""The signed callbacks of automated calls we placed: their progress, what answered, and their outcome.

Mounted inside the ``ivr`` mode's blueprint at
:data:`~instrument_phone.ivr.outbound.CALLBACKS_PREFIX` (``/ivr/calls/...``),
every request checked against Twilio's signature over the configured public
URL first (403, nothing stored, otherwise: the same
:func:`~instrument_phone.telephony.webhooks.require_signatures` as every
Twilio webhook of ours):

* ``POST /status/<call id>``: each progress callback stored once under its
  call sid, status and sequence number (the same store as the interviewers'
  calls, moving the call's status forward only: a late ``ringing`` after
  ``completed`` changes nothing). A final status (busy, no-answer, failed,
  canceled, completed) codes the call's attempt through the call queue
  (:meth:`AutomatedCalls.code_call`), with what detection heard: the
  outcome's retry delay, final flag and attempt limits apply, and a retried
  or repeated final callback finds the attempt coded and changes nothing. The
  IVR call's own record is marked ended too (its Twilio status callback is
  this one, not the inbound calls').
* ``POST /amd/<call id>``: the background answering-machine detection's
  result (``AnsweredBy``), stored once per call. It is asked for only where the
  study hangs up on machines, so a machine or a fax is hung up on here, by
  REST, while the call is still going.

Twilio waits 15 seconds for an answer; each handler makes a few small store
writes (and, for a machine, one REST request) and answers at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, request
from flask.blueprints import BlueprintSetupState

from instrument.callqueue import CallQueue
from instrument.callqueue.automated import AutomatedCalls
from instrument.fieldwork.automated import AMD_RESULTS, MACHINE_RESULTS
from instrument.fieldwork.settings import FieldworkSettings
from instrument.interviews import ModeContext
from instrument_phone.console.views import fieldwork_settings
from instrument_phone.ivr.webhooks import IVR_MODE
from instrument_phone.ledger import StoreLedger
from instrument_phone.telephony.config import (
    TELEPHONY_VARIABLES,
    TelephonyConfigError,
    TwilioSettings,
)
from instrument_phone.telephony.dialer import hang_up, make_client
from instrument_phone.telephony.webhooks import (
    CALL_STATUSES,
    CallEvent,
    event_key,
    kept_payload,
    require_signatures,
)
from instrument_phone.telephony.webhooks import _event_time as event_time

if TYPE_CHECKING:
    from twilio.rest import Client

__all__ = ["AMD_STATUS", "FINAL_STATUSES", "create_blueprint"]

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
"""The statuses that end a call, and so code its attempt."""

AMD_STATUS = "amd"
"""The status a detection result is stored under (as the interviewers' bridge stores it: no
CallStatus, so it never moves the call's status, only says who answered)."""

_log = logging.getLogger(__name__)


def _call_sid(form: Mapping[str, str]) -> str:
    sid = form.get("CallSid", "")
    if not (sid.startswith("CA") and 2 < len(sid) <= 64 and sid.isalnum()):
        abort(400)
    return sid


def create_blueprint(
    context: ModeContext,
    *,
    settings: TwilioSettings | None = None,
    client: Client | None = None,
    settings_for: Callable[[str], FieldworkSettings] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Blueprint:
    """The automated calls' callbacks (mount inside the ``ivr`` blueprint at ``/calls``).

    :param settings: Twilio's settings; by default read from ``environ`` (the
        process environment).
    :param client: the REST client that hangs up on machines (tests: one with
        a fake ``http_client``); by default one for ``settings``.
    :param settings_for: each questionnaire's fieldwork settings; by default
        the served questionnaires fielded by ``ivr`` read their fieldwork files.
    :raises TelephonyConfigError: Twilio is not configured, or half configured.
    """
    if settings is None:
        settings = TwilioSettings.from_env(os.environ if environ is None else environ)
    if settings is None:
        raise TelephonyConfigError(
            "automated calls need Twilio: set " + ", ".join(TELEPHONY_VARIABLES)
        )
    store = context.service.store
    queue = CallQueue(store, context.service, settings_for or fieldwork_settings(context, IVR_MODE))
    automated = AutomatedCalls(queue)
    ledger = StoreLedger(store)
    rest = client if client is not None else make_client(settings)
    bp = Blueprint("ivr_calls", __name__)
    require_signatures(bp, settings)

    def known_call(call_id: int, sid: str) -> Any:
        """Our call ``call_id``, if it is this Twilio call's (404 unknown, 400 another call's)."""
        call = store.get_call(call_id)
        if call is None:
            abort(404)
        if call.provider_sid is not None and call.provider_sid != sid:
            abort(400)
        return call

    def store_event(
        call_id: int, sid: str, key: str, status: str, form: Mapping[str, str], now: Any
    ) -> None:
        """One callback stored once under ``key`` (the call sid's events, no numbers kept)."""
        event = CallEvent(call_id, None, sid, key, status, event_time(form), kept_payload(form))
        ledger.record_event(event, now=now)

    @bp.post("/status/<int:call_id>")
    def status(call_id: int) -> Any:
        form = request.form
        sid = _call_sid(form)
        call_status = form.get("CallStatus", "")
        if call_status not in CALL_STATUSES:
            abort(400)
        answered_by = form.get("AnsweredBy") or None
        if answered_by is not None and answered_by not in AMD_RESULTS:
            abort(400)
        known_call(call_id, sid)
        now = context.now()
        store_event(call_id, sid, event_key(form), call_status, form, now)
        if call_status in FINAL_STATUSES:
            store.end_ivr_call(sid, now=now)
            # Every delivery of a final status tries: one that stored its event and then
            # failed before coding is put right by Twilio's retry; coding is compare-and-set.
            coded = automated.code_call(
                call_id, now=now, status=call_status, answered_by=answered_by
            )
            if coded is not None and coded.kind == "refused":
                _log.warning("automated call %s not coded: %s", call_id, "; ".join(coded.messages))
        return "", 204

    @bp.post("/amd/<int:call_id>")
    def amd(call_id: int) -> Any:
        form = request.form
        sid = _call_sid(form)
        answered_by = form.get("AnsweredBy", "")
        if answered_by not in AMD_RESULTS:
            abort(400)
        known_call(call_id, sid)
        # one result per call: a retry repeats its key
        store_event(call_id, sid, f"{sid}:{AMD_STATUS}", AMD_STATUS, form, context.now())
        if answered_by in MACHINE_RESULTS or answered_by == "fax":
            call = store.get_call(call_id)
            if call is not None and call.ended_at is None:
                _hang_up(rest, sid)
        return "", 204

    def on_register(state: BlueprintSetupState) -> None:
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:  # Twilio cannot send a form token; its signature is checked instead
            csrf.exempt(bp)

    bp.record_once(on_register)
    return bp


def _hang_up(client: Client, sid: str) -> None:
    """End a call a machine answered; a call that ended meanwhile, or Twilio's error, is logged."""
    try:
        hang_up(client, sid)
    except Exception as exc:  # the provider's error, whatever its library calls it
        _log.warning("could not hang up on the machine that answered %s: %s", sid, exc)
