"""The webhooks Twilio calls: the bridge's TwiML and the calls' status callbacks.

Every request must carry a valid ``X-Twilio-Signature``: an HMAC of the URL
Twilio requested and the form fields, keyed with the auth token. The URL is
rebuilt from the configured public URL plus the request's path and query,
never from ``request.url``: behind a TLS-terminating proxy the app sees
``http://internal:8000/...`` while Twilio signed ``https://survey.example/...``.
A request without a valid signature gets 403 before any handler runs, so it
changes nothing (and learns nothing: the bridge TwiML holds a respondent's
number).

Twilio waits 15 seconds, then retries; it also delivers status callbacks out
of order. So the handlers do one small store write and answer at once, and
each event is stored once under a key of its own (call sid, status, sequence
number): a retry or a late "ringing" after "completed" changes nothing.

Where a study turns answering-machine detection on, the respondent's
``<Number>`` asks Twilio for it, and Twilio posts what it heard (``AnsweredBy``)
to ``/amd/<call id>``: stored once, beside the respondent leg's callbacks, it
suggests the outcome (a machine, a fax) at the end of the call.

A recording started after the respondent's yes reports on itself to
``/recording/<call id>`` (in-progress, completed, absent, failed): each stored
once, moving the call's recording status forward only, its length and
Twilio's URL of it kept as a reference (nothing is downloaded).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.dialer import (
    DEFAULT_RING_SECONDS,
    STATUS_EVENTS,
    WEBHOOKS_PATH,
    status_path,
)

__all__ = [
    "AMD_RESULTS",
    "CALL_STATUSES",
    "KEPT_FIELDS",
    "LEGS",
    "RECORDING_FIELDS",
    "RECORDING_STATUSES",
    "CallEvent",
    "CallLedger",
    "RecordingCallback",
    "bridge_twiml",
    "amd_path",
    "create_webhooks_blueprint",
    "event_key",
    "kept_payload",
    "recording_callback",
    "require_signatures",
    "signed_url",
]

CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed",
     "no-answer", "canceled"}
)  # fmt: skip
"""Twilio's CallStatus values; anything else in a signed request is a 400, not stored."""

AMD_RESULTS = frozenset(
    {"human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
     "fax", "unknown"}
)  # fmt: skip
"""Twilio's AnsweredBy values; anything else in a signed AMD callback is a 400, not stored."""

AMD_STATUS = "amd"
"""The status an answering-machine detection result is stored under (it is no CallStatus:
the store ranks it nowhere, so it never moves a leg's status, only says who answered)."""

LEGS = ("respondent",)
"""Legs with their own status callbacks besides the interviewer's (the call placed by REST)."""

KEPT_FIELDS = (
    "AccountSid", "ApiVersion", "CallSid", "ParentCallSid", "CallStatus", "CallDuration",
    "Duration", "SequenceNumber", "Timestamp", "CallbackSource", "Direction", "AnsweredBy",
    "SipResponseCode", "ErrorCode", "ErrorMessage", "MachineDetectionDuration",
)  # fmt: skip
"""The callback fields stored with an event. An allow-list, not a deny-list: Twilio
sends To, From, Called, Caller and their cities and postcodes, which are
personal data and belong only in the personal-side tables."""


@dataclass(frozen=True)
class CallEvent:
    """One status callback, as the store keeps it.

    :param call_id: our call record, from the callback's URL.
    :param leg: None for the leg placed by REST (the interviewer's), else
        one of :data:`LEGS`.
    :param provider_sid: the Twilio sid of the leg the callback is about.
    :param event_key: the callback's identity (:func:`event_key`).
    :param at: when Twilio says it happened (UTC), if it says.
    :param payload: :func:`kept_payload` of the form: no phone numbers.
    """

    call_id: int
    leg: str | None
    provider_sid: str
    event_key: str
    status: str
    at: dt.datetime | None
    payload: Mapping[str, str]


RECORDING_STATUSES = frozenset({"in-progress", "completed", "absent", "failed"})
"""Twilio's RecordingStatus values in a recording's status callback; anything else is a 400."""

RECORDING_FIELDS = (
    "AccountSid", "CallSid", "RecordingSid", "RecordingUrl", "RecordingStatus",
    "RecordingDuration", "RecordingChannels", "RecordingStartTime", "RecordingSource",
    "RecordingTrack", "ErrorCode",
)  # fmt: skip
"""The recording callback's fields stored with it (an allow-list, as :data:`KEPT_FIELDS`)."""


@dataclass(frozen=True)
class RecordingCallback:
    """One status callback of a call's recording, as the store keeps it.

    :param call_id: our call record, from the callback's URL.
    :param call_sid: the Twilio call the recording is of (checked against the call's).
    :param duration_s: ``RecordingDuration``, when Twilio gives one.
    :param url: Twilio's ``RecordingUrl``: a reference, never fetched here.
    :param error: ``ErrorCode`` in words (``Twilio error 13617``), for absent or failed.
    """

    call_id: int
    call_sid: str
    recording_sid: str
    status: str
    at: dt.datetime | None
    duration_s: int | None
    url: str | None
    error: str | None
    payload: Mapping[str, str]


class CallLedger(Protocol):
    """What the webhooks need from the store (see :mod:`instrument_phone.ledger`)."""

    def bridge_number(self, call_id: int, call_sid: str) -> str | None:
        """The respondent's number (E.164) call *call_id* (Twilio's *call_sid*) dials, or None."""

    def record_event(self, event: CallEvent, *, now: dt.datetime) -> bool:
        """Store one status callback once; False when it was stored before."""

    def record_recording(self, callback: RecordingCallback, *, now: dt.datetime) -> bool:
        """Store one recording status callback once; False when it was stored before."""


def signed_url(public_url: str, path: str, query: bytes) -> str:
    """The URL Twilio requested (and signed), as the public sees it."""
    url = public_url + path
    return url + "?" + query.decode("latin-1") if query else url


def event_key(form: Mapping[str, str]) -> str:
    """One status callback's identity: its call leg, status and place in the sequence.

    Twilio numbers the callbacks of a call (``SequenceNumber``) and a retry
    repeats the number, so the key repeats too; ``Timestamp`` stands in for
    a callback without one.
    """
    order = form.get("SequenceNumber") or form.get("Timestamp") or ""
    return f"{form.get('CallSid', '')}:{form.get('CallStatus', '')}:{order}"


def kept_payload(form: Mapping[str, str]) -> dict[str, str]:
    """The fields of a callback worth storing, without any phone number (:data:`KEPT_FIELDS`)."""
    return {name: form[name] for name in KEPT_FIELDS if name in form}


def _event_time(form: Mapping[str, str], field: str = "Timestamp") -> dt.datetime | None:
    """When Twilio says the event happened (RFC 2822 ``Timestamp``), in UTC; None if absent."""
    text = form.get(field)
    if not text:
        return None
    try:
        at = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return at.astimezone(dt.UTC)


def recording_callback(call_id: int, form: Mapping[str, str]) -> RecordingCallback | None:
    """A recording's status callback read from its form; None when it is not one (a 400)."""
    call_sid = form.get("CallSid", "")
    recording_sid = form.get("RecordingSid", "")
    status = form.get("RecordingStatus", "")
    if not (
        call_sid.startswith("CA")
        and recording_sid.startswith("RE")
        and status in RECORDING_STATUSES
    ):
        return None
    duration = form.get("RecordingDuration", "")
    url = form.get("RecordingUrl", "")
    error = form.get("ErrorCode", "")
    return RecordingCallback(
        call_id=call_id,
        call_sid=call_sid,
        recording_sid=recording_sid,
        status=status,
        at=_event_time(form, "RecordingStartTime"),
        duration_s=int(duration)
        if duration.isascii() and duration.isdigit() and len(duration) < 10
        else None,
        url=url if url.startswith("https://") and len(url) <= 300 else None,
        error=f"Twilio error {error}" if error not in ("", "0") else None,
        payload={name: form[name] for name in RECORDING_FIELDS if name in form},
    )


def amd_path(call_id: int) -> str:
    """The path Twilio posts the respondent leg's answering-machine detection result to."""
    return f"{WEBHOOKS_PATH}/amd/{int(call_id)}"


def bridge_twiml(
    settings: TwilioSettings,
    call_id: int,
    number: str | None,
    *,
    machine_detection: bool = False,
    caller_id: str | None = None,
) -> str:
    """The TwiML Twilio runs once the interviewer answers: dial the respondent.

    The respondent sees ``caller_id``, the study's own number where its fieldwork file names
    one, else the organisation's (``INSTRUMENT_TWILIO_CALLER_ID``). No ``record`` attribute:
    recording starts by REST only after consent is stored
    (:func:`~instrument_phone.telephony.dialer.start_recording`).

    :param machine_detection: ask Twilio to tell a person from a machine or fax
        on the respondent's leg (``machineDetection="Enable"``), and to post
        the answer to :func:`amd_path`. Twilio connects the respondent once it
        has decided, so the study's fieldwork file asks for it, not the code.
    """
    response = VoiceResponse()
    if number is None:
        response.say("This case has no number to dial. Please hang up.", language="en-GB")
        response.hangup()
        return str(response)
    dial = response.dial(caller_id=caller_id or settings.caller_id, timeout=DEFAULT_RING_SECONDS)
    detection: dict[str, str] = {}
    if machine_detection:
        detection = {
            "machine_detection": "Enable",
            "amd_status_callback": settings.public_url + amd_path(call_id),
            "amd_status_callback_method": "POST",
        }
    dial.number(
        number,
        status_callback=settings.public_url + status_path(call_id, "respondent"),
        status_callback_event=" ".join(STATUS_EVENTS),
        status_callback_method="POST",
        **detection,
    )
    # Reached when the respondent's leg ends (hung up, busy, no answer): tell
    # the interviewer rather than leave them in silence.
    response.say("The call has ended.", language="en-GB")
    response.hangup()
    return str(response)


def require_signatures(bp: Blueprint, settings: TwilioSettings) -> None:
    """Refuse (403) every request to ``bp`` without Twilio's valid signature, before any handler.

    The signature is checked against the public URL plus the request's path
    and query (:func:`signed_url`), with the account's auth token. The SMS
    webhooks use it too, so every Twilio webhook is checked alike.
    """
    validator = RequestValidator(settings.auth_token)

    @bp.before_request
    def check_signature() -> None:
        signature = request.headers.get("X-Twilio-Signature", "")
        url = signed_url(settings.public_url, request.path, request.query_string)
        if not signature or not validator.validate(url, request.form, signature):
            abort(403)


def create_webhooks_blueprint(
    settings: TwilioSettings,
    ledger: CallLedger,
    clock: Callable[[], dt.datetime],
    machine_detection: Callable[[int], bool] | None = None,
    caller_id: Callable[[int], str | None] | None = None,
) -> Blueprint:
    """The ``phone`` blueprint: TwiML and status callbacks, all behind the signature check.

    Mount it below the mode's blueprint with ``url_prefix="/phone"`` (the
    paths in :mod:`~instrument_phone.telephony.dialer` assume so), and exempt
    it from CSRF: Twilio cannot send a form token; the signature is its proof.

    :param machine_detection: whether a call's study asks for answering-machine
        detection (by call id); None when no study does.
    :param caller_id: the number the call's study shows the respondent (by call id;
        None from it: the organisation's); None when no study has its own number.
    """
    bp = Blueprint("phone", __name__)
    require_signatures(bp, settings)

    @bp.post("/twiml/bridge/<int:call_id>")
    def bridge(call_id: int) -> Response:
        sid = request.form.get("CallSid", "")
        number = ledger.bridge_number(call_id, sid) if sid.startswith("CA") else None
        detect = number is not None and machine_detection is not None and machine_detection(call_id)
        shown = caller_id(call_id) if number is not None and caller_id is not None else None
        twiml = bridge_twiml(settings, call_id, number, machine_detection=detect, caller_id=shown)
        return Response(twiml, mimetype="text/xml")

    @bp.post("/status/<int:call_id>", defaults={"leg": None})
    @bp.post("/status/<int:call_id>/<leg>")
    def status(call_id: int, leg: str | None) -> Any:
        if leg is not None and leg not in LEGS:
            abort(404)
        form = request.form
        sid = form.get("CallSid", "")
        call_status = form.get("CallStatus", "")
        if not sid.startswith("CA") or call_status not in CALL_STATUSES:
            abort(400)
        event = CallEvent(
            call_id=call_id,
            leg=leg,
            provider_sid=sid,
            event_key=event_key(form),
            status=call_status,
            at=_event_time(form),
            payload=kept_payload(form),
        )
        ledger.record_event(event, now=clock())
        return "", 204

    @bp.post("/amd/<int:call_id>")
    def amd(call_id: int) -> Any:
        """What answering-machine detection heard on the respondent's leg: stored once."""
        form = request.form
        sid = form.get("CallSid", "")
        answered_by = form.get("AnsweredBy", "")
        if not sid.startswith("CA") or answered_by not in AMD_RESULTS:
            abort(400)
        event = CallEvent(
            call_id=call_id,
            leg="respondent",
            provider_sid=sid,
            event_key=f"{sid}:{AMD_STATUS}",  # one result per leg: a retry repeats it
            status=AMD_STATUS,
            at=_event_time(form),
            payload=kept_payload(form),
        )
        ledger.record_event(event, now=clock())
        return "", 204

    @bp.post("/recording/<int:call_id>")  # dialer.recording_path
    def recording(call_id: int) -> Any:
        """The recording of call ``call_id`` moved on (or ended): stored once, forward only."""
        callback = recording_callback(call_id, request.form)
        if callback is None:
            abort(400)
        ledger.record_recording(callback, now=clock())
        return "", 204

    return bp
