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

from typing import TYPE_CHECKING

from instrument_phone import MODE_NAME
from instrument_phone.telephony.config import TwilioSettings

if TYPE_CHECKING:
    from twilio.rest import Client

__all__ = [
    "DEFAULT_RING_SECONDS",
    "STATUS_EVENTS",
    "WEBHOOKS_PATH",
    "bridge_path",
    "hang_up",
    "make_client",
    "place_bridge_call",
    "start_recording",
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


def bridge_path(call_id: int) -> str:
    """The path of the TwiML that connects the respondent once the interviewer answers."""
    return f"{WEBHOOKS_PATH}/twiml/bridge/{int(call_id)}"


def status_path(call_id: int, leg: str | None = None) -> str:
    """The path of the status callbacks of a call's interviewer leg, or of its ``respondent`` leg."""
    base = f"{WEBHOOKS_PATH}/status/{int(call_id)}"
    return base if leg is None else f"{base}/{leg}"


def make_client(settings: TwilioSettings, http_client: object | None = None) -> Client:
    """A Twilio REST client for the configured account (twilio is imported only here)."""
    from twilio.rest import Client

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


def start_recording(client: Client, sid: str) -> str:
    """Start recording call *sid* from now on; return the recording's sid (``RE...``).

    Recording starts only through this call, made after the respondent's
    consent is stored, never from the TwiML: a ``record`` attribute on the
    bridge would capture the consent question itself, and everything said
    before a "no".
    """
    recording = client.calls(sid).recordings.create(recording_channels="dual")
    return str(recording.sid)
