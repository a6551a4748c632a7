"""Placing a bridge call and ending it, through Twilio's REST API.

The bridge (Twilio's click-to-call pattern) rings the interviewer's own phone
or SIP address first; when they answer, Twilio fetches our TwiML, which dials
the respondent with the organisation's caller id. The interviewer therefore
never hears a respondent pick up to silence, and no call to a respondent is
placed unless an interviewer is on the line (Ofcom's abandoned-call rules).

Every URL handed to Twilio is built here from the configured public URL, so
the webhooks can check signatures against exactly what Twilio requested.
The client is passed in: tests give it a fake ``http_client`` and no socket
is ever opened.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from instrument_phone import MODE_NAME
from instrument_phone.telephony.config import TwilioSettings

if TYPE_CHECKING:
    from twilio.rest import Client

__all__ = [
    "DEFAULT_RING_SECONDS",
    "RECORDING_EVENTS",
    "RECORDING_RETRY",
    "REST_TIMEOUT_SECONDS",
    "STATUS_EVENTS",
    "WEBHOOKS_PATH",
    "RecordingNotStarted",
    "RetryPolicy",
    "bridge_path",
    "hang_up",
    "make_client",
    "place_bridge_call",
    "recording_path",
    "rest_refusal",
    "start_recording",
    "start_recording_retried",
    "status_path",
]

WEBHOOKS_PATH = f"/{MODE_NAME}/phone"
"""Where the webhooks are mounted below the app's root (the mode's prefix + ``/phone``)."""

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
"""Every progress event, not Twilio's default of ``completed`` only: the
interviewer's screen and the call record follow the call as it happens."""

DEFAULT_RING_SECONDS = 30
"""How long a phone rings before Twilio gives up (Twilio's own default is 60 s,
longer than most answering machines wait)."""


REST_TIMEOUT_SECONDS = 10.0
"""How long one REST request may take (connect and read) before it counts as unanswered:
the SDK's own default is to wait for ever, with an interviewer watching the page."""

RECORDING_EVENTS = "in-progress completed absent"
"""The recording's status callbacks asked for (Twilio's default is ``completed`` only; the list
is one space-separated value, as Twilio's Recordings API documents it)."""


def bridge_path(call_id: int) -> str:
    """The path of the TwiML that connects the respondent once the interviewer answers."""
    return f"{WEBHOOKS_PATH}/twiml/bridge/{int(call_id)}"


def status_path(call_id: int, leg: str | None = None) -> str:
    """The path of the status callbacks of a call's interviewer leg, or of its ``respondent`` leg."""
    base = f"{WEBHOOKS_PATH}/status/{int(call_id)}"
    return base if leg is None else f"{base}/{leg}"


def recording_path(call_id: int) -> str:
    """The path of the status callbacks of the recording started on call *call_id*."""
    return f"{WEBHOOKS_PATH}/recording/{int(call_id)}"


def make_client(
    settings: TwilioSettings,
    http_client: object | None = None,
    *,
    timeout: float = REST_TIMEOUT_SECONDS,
) -> Client:
    """A Twilio REST client for the configured account (twilio is imported only here).

    :param http_client: the SDK's HTTP client (tests: the fake REST API); when
        None, Twilio's own over ``requests``, with ``timeout`` seconds per request.
    """
    from twilio.rest import Client

    if http_client is None:
        from twilio.http.http_client import TwilioHttpClient

        http_client = TwilioHttpClient(timeout=timeout)
    return Client(settings.account_sid, settings.auth_token, http_client=http_client)


def place_bridge_call(
    client: Client,
    settings: TwilioSettings,
    *,
    interviewer_number: str,
    call_id: int,
    timeout: int = DEFAULT_RING_SECONDS,
) -> str:
    """Ring the interviewer for call record *call_id*; return Twilio's call sid (``CA...``).

    The store's call row exists before this request (``start_call``), so a
    status callback that arrives before this function returns already has a
    record to attach to; the caller stores the sid with ``set_call_sid``.

    :param interviewer_number: the interviewer's phone (E.164) or SIP address.
    :param timeout: seconds the interviewer's phone rings (1..600).
    """
    if not 1 <= timeout <= 600:
        raise ValueError(f"timeout must be 1..600 seconds (Twilio's limit), got {timeout}")
    call = client.calls.create(
        to=interviewer_number,
        from_=settings.caller_id,
        # Method and StatusCallbackMethod are left at Twilio's default, POST,
        # the method the webhooks accept.
        url=settings.public_url + bridge_path(call_id),
        status_callback=settings.public_url + status_path(call_id),
        status_callback_event=list(STATUS_EVENTS),
        timeout=timeout,
    )
    return str(call.sid)


def hang_up(client: Client, sid: str) -> None:
    """End the call *sid* (both legs of a bridge), whatever state it is in.

    ``completed`` ends a call in progress; Twilio also accepts it for a call
    still ringing, so the interviewer's "hang up" needs no state check here.
    """
    client.calls(sid).update(status="completed")


def start_recording(client: Client, sid: str, *, status_callback: str | None = None) -> str:
    """Start recording call *sid* from now on; return the recording's sid (``RE...``).

    Recording starts only through this call, made after the respondent's
    consent is stored, never from the TwiML: a ``record`` attribute on the
    bridge would capture the consent question itself, and everything said
    before a "no". One request; :func:`start_recording_retried` retries it.

    :param status_callback: where Twilio posts the recording's progress
        (:data:`RECORDING_EVENTS`; :func:`recording_path`), or None for none.
    """
    options: dict[str, object] = {"recording_channels": "dual"}
    if status_callback is not None:
        options["recording_status_callback"] = status_callback
        options["recording_status_callback_event"] = RECORDING_EVENTS
    recording = client.calls(sid).recordings.create(**options)
    return str(recording.sid)


class RecordingNotStarted(Exception):
    """Twilio did not start the recording; ``reason`` says why in a line, without secrets.

    ``permanent``: Twilio refused the request itself (a 4xx other than 429: the
    call has ended, say), so asking again the same way will not help.
    """

    def __init__(self, reason: str, *, permanent: bool, tries: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.tries = tries


def rest_refusal(exc: Exception) -> tuple[str, bool] | None:
    """(why, worth another try) for an error of a REST call; None for anything else (a bug).

    Worth another try: Twilio overloaded or failing (429, 5xx), or no answer at
    all (a connection refused or reset, a timeout). Not: any other 4xx, which
    is Twilio saying no to this request (error 21220: the call is not in
    progress). The message is built from the error's fields, not ``str(exc)``,
    which the SDK colours for a terminal; it names no credential.
    """
    from requests import RequestException
    from twilio.base.exceptions import TwilioRestException

    if isinstance(exc, TwilioRestException):
        code = f"Twilio error {exc.code}" if exc.code else "Twilio"
        message = _SDK_WORDS.sub("", exc.msg)  # the SDK's own "Unable to create record: "
        why = f"{code} (HTTP {exc.status})" + (f": {message}" if message else "")
        return why, exc.status == 429 or exc.status >= 500
    if isinstance(exc, (RequestException, OSError)):
        return f"no answer from Twilio ({type(exc).__name__})", True
    return None


_SDK_WORDS = re.compile(r"\AUnable to (?:create|fetch|update|delete) record: ")


class RetryPolicy:
    """How often and how long a request is tried again: bounded in tries and in time.

    ``pauses[i]`` is the wait before try ``i + 2``, so ``len(pauses) + 1``
    tries at most; a try is not started when it could end after ``budget``
    seconds from the first (``per_try`` being the most one try can take).
    """

    def __init__(self, pauses: Sequence[float], *, per_try: float, budget: float) -> None:
        self.pauses = tuple(pauses)
        self.per_try = per_try
        self.budget = budget

    @property
    def tries(self) -> int:
        return len(self.pauses) + 1


RECORDING_RETRY = RetryPolicy((0.2, 0.5), per_try=1.5, budget=3.5)
"""Three tries within 3.5 s at the most: the interviewer is waiting on the page, the respondent
on the line, and a recording that starts a minute late would miss what it is for."""


def start_recording_retried(
    client: Client,
    sid: str,
    *,
    status_callback: str | None = None,
    policy: RetryPolicy = RECORDING_RETRY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """:func:`start_recording`, tried again after a failure worth another try; the recording's sid.

    A 429, a 5xx or no answer is tried again after a short pause, within the
    policy's tries and time; any other refusal is final at once. Raises
    :class:`RecordingNotStarted` with the last reason when no try started it.
    Give the client a per-request timeout no longer than ``policy.per_try``
    (:func:`make_client`), or one try can outlast the budget.
    """
    started = clock()
    tries = 0
    while True:
        tries += 1
        try:
            return start_recording(client, sid, status_callback=status_callback)
        except Exception as exc:
            refusal = rest_refusal(exc)
            if refusal is None:
                raise
            why, again = refusal
            if not again:
                raise RecordingNotStarted(why, permanent=True, tries=tries) from exc
            if tries >= policy.tries:
                raise RecordingNotStarted(why, permanent=False, tries=tries) from exc
            pause = policy.pauses[tries - 1]
            if clock() - started + pause + policy.per_try > policy.budget:
                raise RecordingNotStarted(why, permanent=False, tries=tries) from exc
            sleep(pause)
