"""The SMS webhooks Twilio calls: members' replies (STOP honoured at once) and delivery reports.

Mounted beside the voice webhooks, under ``/cati/sms/``, and signed the same
way: every request must carry a valid ``X-Twilio-Signature`` for the
configured public URL plus the request's path and query (see
:mod:`~instrument_phone.telephony.webhooks`), else 403 before anything is
read.

- ``/cati/sms/inbound`` (the number's "a message comes in" webhook): the reply
  is read with the SMS channel's own rule (``ContactChannel.read_reply``: the
  whole reply STOP, UNSUBSCRIBE, ... in any case). An opt-out marks the
  sender's number ``opted_out`` for every member who has it, found by its
  lookup hash without decrypting anything, with a history entry each; START
  lifts that again, for SMS only (a member who withdrew stays withdrawn). The
  answer is empty TwiML: Twilio sends its own STOP and START confirmations,
  and a second text from us would be one more message to someone who asked
  for none. Anything else a member writes is not stored here.
- ``/cati/sms/status`` (the ``StatusCallback`` the SMS channel puts on each
  message, with ``key=<idempotency key>``): the message's state in
  ``panel_messages``, moved forward only (a retry or a late report changes
  nothing; :mod:`instrument.store.panel_delivery`).

Finding a number's members needs the lookup key, kept encrypted with the
panel keys: read from ``INSTRUMENT_PANEL_KEYS`` (or the key file) on the
first reply. Without them a reply is answered 503 and logged (Twilio's
console shows the error; Twilio itself still stops texting a number that sent
STOP), rather than dropped in silence.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from flask import Blueprint, Response, abort, request
from flask.blueprints import BlueprintSetupState
from twilio.twiml.messaging_response import MessagingResponse

from instrument.store import Store
from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.webhooks import require_signatures

if TYPE_CHECKING:
    from instrument.panel.crypto import ContactSealer

__all__ = [
    "MESSAGE_STATES",
    "SMS_ACTOR",
    "create_sms_webhooks_blueprint",
    "installed_reply_reader",
    "open_number_lookup",
]

_log = logging.getLogger(__name__)

SMS_ACTOR: Final = "member:sms"
"""Who the history names for a STOP or START: the member, by text message."""

MESSAGE_STATES: Final = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
"""Twilio's ``MessageStatus`` values and the state of ``panel_messages`` each means."""


def installed_reply_reader() -> Callable[[str], str | None] | None:
    """The installed SMS channel's reply reader (``ContactChannel.read_reply``), or None.

    Through the plugin host, as every channel is reached: the phone mode does
    not import the channels' package, and a replaced SMS channel brings its own rule.
    """
    from instrument.plugins import PluginFacade, get_plugin_manager

    channels = PluginFacade(get_plugin_manager()).contact_channels()
    return channels["sms"].read_reply if "sms" in channels else None


def create_sms_webhooks_blueprint(
    settings: TwilioSettings,
    store: Store,
    clock: Callable[[], dt.datetime],
    read_reply: Callable[[], Callable[[str], str | None] | None] = installed_reply_reader,
) -> Blueprint:
    """The ``sms`` blueprint; mount it below the mode's with ``url_prefix="/sms"``.

    :param read_reply: gives the SMS channel's reply reader (None: no SMS
        channel installed, so replies are not read); asked on the first reply.
    It exempts itself from CSRF: Twilio cannot send a form token.
    """
    bp = Blueprint("sms", __name__)
    require_signatures(bp, settings)  # exactly as the voice webhooks
    found = _Lazy(store, clock, read_reply)

    @bp.post("/inbound")
    def inbound() -> Response:
        form = request.form
        sender = form.get("From", "")
        reader = found.reader()
        meaning = reader(form.get("Body", "")) if reader is not None else None
        if meaning in ("opt_out", "opt_in") and sender.startswith("+"):
            from instrument.panel.members import lookup_form

            number = found.sealer().lookup_hash("phone", lookup_form("phone", sender))
            now = clock()
            if meaning == "opt_out":
                store.mark_contact(number, "opted_out", now=now, actor=SMS_ACTOR)
            else:
                store.allow_sms_again(number, now=now, actor=SMS_ACTOR)
        return Response(str(MessagingResponse()), mimetype="text/xml")

    @bp.post("/status")
    def status() -> Any:
        form = request.form
        sid = form.get("MessageSid", "")
        state = MESSAGE_STATES.get(form.get("MessageStatus", ""))
        if not sid.startswith(("SM", "MM")) or len(sid) > 64 or state is None:
            abort(400)
        code = form.get("ErrorCode", "")
        store.record_delivery_report(
            provider_id=sid,
            state=state,
            key=request.args.get("key") or None,
            error=f"Twilio error {code}" if code not in ("", "0") else None,
            now=clock(),
        )
        return "", 204

    def exempt(state: BlueprintSetupState) -> None:
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(bp)

    bp.record_once(exempt)
    return bp


def open_number_lookup(store: Store, now: dt.datetime) -> ContactSealer:
    """The sealer whose ``lookup_hash`` finds members by a number, without decrypting any.

    Its key is the panel's stored lookup secret, opened with the panel keys
    (``INSTRUMENT_PANEL_KEYS`` or the key file); cryptography is loaded here.
    :raises PanelKeyError: no panel keys are configured, or they open nothing.
    """
    from instrument.panel.crypto import LOOKUP_SECRET, PanelKeys, new_lookup_secret, open_sealer

    keys = PanelKeys.from_environment()
    secret = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=now)
    return open_sealer(keys, secret)


class _Lazy:
    """The sealer (lookup key) and the reply reader, made on first use and kept."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], dt.datetime],
        read_reply: Callable[[], Callable[[str], str | None] | None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._read_reply = read_reply
        self._sealer: ContactSealer | None = None
        self._reader: tuple[Callable[[str], str | None] | None] | None = None
        self._lock = threading.Lock()

    def reader(self) -> Callable[[str], str | None] | None:
        with self._lock:
            if self._reader is None:
                self._reader = (self._read_reply(),)
            return self._reader[0]

    def sealer(self) -> ContactSealer:
        # cryptography is loaded on the first reply, not with the mode
        from instrument.panel.crypto import PanelKeyError

        with self._lock:
            if self._sealer is None:
                try:
                    self._sealer = open_number_lookup(self._store, self._clock())
                except PanelKeyError as exc:
                    _log.error("an SMS STOP or START cannot be matched to a member: %s", exc)
                    abort(503)
            return self._sealer
