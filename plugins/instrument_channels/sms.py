"""SMS through Twilio's Messaging API, the segment count of a text, and opt-out words.

Sending is one ``client.messages.create(to=, from_= | messaging_service_sid=,
body=, status_callback=)``; the twilio library is imported only when the
first message goes (listing plugins must not pay for it). Settings come
from the environment (:class:`SmsSettings`). Twilio's answer decides the
receipt: ``queued``/``accepted`` is a queued receipt whose delivery the status
callback reports later; a REST error is a failed receipt, permanent when the
number itself is the problem (invalid, not a mobile, or the member texted
STOP to our sender).

Two pure functions serve the rest of the panel: :func:`sms_segments` says how
many parts (each billed) a text is sent in (counted by the core,
:mod:`instrument.sms.segments`, which ``instrument check`` shares), and
:func:`inbound_keyword` recognises STOP and its synonyms in a member's reply,
for the inbound webhook.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from instrument.plugin_types import ChannelSetupError, OutgoingMessage, Receipt
from instrument.sms.keywords import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    inbound_keyword,
)
from instrument.sms.segments import Segments, outside_gsm, sms_segments
from instrument_channels.rendering import TemplateRenderer, template_context

__all__ = [
    "ACCOUNT_SID_ENV",
    "AUTH_TOKEN_ENV",
    "FROM_ENV",
    "HELP_KEYWORDS",
    "MESSAGING_SERVICE_ENV",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "STATUS_CALLBACK_ENV",
    "Segments",
    "SmsChannel",
    "SmsSettings",
    "inbound_keyword",
    "sms_segments",
]

# The account is the one the telephone mode uses; the sender is SMS's own.
ACCOUNT_SID_ENV = "INSTRUMENT_TWILIO_ACCOUNT_SID"
AUTH_TOKEN_ENV = "INSTRUMENT_TWILIO_AUTH_TOKEN"
FROM_ENV = "INSTRUMENT_SMS_FROM"
MESSAGING_SERVICE_ENV = "INSTRUMENT_SMS_MESSAGING_SERVICE_SID"
STATUS_CALLBACK_ENV = "INSTRUMENT_SMS_STATUS_CALLBACK"

_ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}\Z")
_AUTH_TOKEN = re.compile(r"[0-9a-f]{32}\Z")
_SERVICE_SID = re.compile(r"MG[0-9a-f]{32}\Z")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")
# An alphanumeric sender id: up to 11 letters, digits and spaces, at least one letter.
_ALPHA_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}\Z")

# Twilio REST error codes that mean "this number will never take our texts".
_PERMANENT_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' phone number cannot be reached
        21610,  # the recipient replied STOP to this sender
        21612,  # no route to the 'To' number from this sender
        21614,  # 'To' is not a mobile number
    }
)
# ...and those that mean our account or sender is wrong for every message.
_SETUP_CODES = {
    20003: f"Twilio refused the credentials: check {ACCOUNT_SID_ENV} and {AUTH_TOKEN_ENV}",
    20404: f"Twilio does not know this account or sender: check {ACCOUNT_SID_ENV}, "
    f"{FROM_ENV} or {MESSAGING_SERVICE_ENV}",
    21606: f"{FROM_ENV} is not an SMS-capable number of this Twilio account",
    21659: f"{FROM_ENV} is not a number of this Twilio account",
}
_QUEUED = frozenset({"accepted", "scheduled", "queued", "sending"})
_SENT = frozenset({"sent", "delivered", "read"})


@dataclass(frozen=True)
class SmsSettings:
    """The Twilio account and the sender texts come from.

    :param account_sid: ``INSTRUMENT_TWILIO_ACCOUNT_SID`` (``AC`` + 32 hex).
    :param auth_token: ``INSTRUMENT_TWILIO_AUTH_TOKEN``; never in a ``repr``.
    :param sender: ``INSTRUMENT_SMS_FROM``: an E.164 number of the account or
        an alphanumeric sender id (up to 11 characters; such a sender cannot
        receive replies, so STOP must then be honoured another way).
    :param messaging_service_sid: ``INSTRUMENT_SMS_MESSAGING_SERVICE_SID``
        (``MG`` + 32 hex), instead of *sender*: Twilio picks the number and
        applies the service's opt-out handling.
    :param status_callback: ``INSTRUMENT_SMS_STATUS_CALLBACK``, the https URL
        Twilio posts delivery reports to; each message adds ``key=<its
        idempotency key>`` to its query. None: no delivery reports.
    """

    account_sid: str
    auth_token: str = field(repr=False)
    sender: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None

    def __post_init__(self) -> None:
        if not _ACCOUNT_SID.match(self.account_sid):
            raise ChannelSetupError(
                f"{ACCOUNT_SID_ENV} must be AC followed by 32 hexadecimal digits, "
                f"got {self.account_sid!r}"
            )
        if not _AUTH_TOKEN.match(self.auth_token):
            raise ChannelSetupError(
                f"{AUTH_TOKEN_ENV} must be the account's auth token (32 hexadecimal digits); "
                f"the value set has {len(self.auth_token)} characters"
            )
        if (self.sender is None) == (self.messaging_service_sid is None):
            raise ChannelSetupError(
                f"set exactly one of {FROM_ENV} (a number or sender id) and "
                f"{MESSAGING_SERVICE_ENV} (a Twilio messaging service)"
            )
        if self.sender is not None and not (
            _E164.match(self.sender) or _ALPHA_SENDER.match(self.sender)
        ):
            raise ChannelSetupError(
                f"{FROM_ENV} must be a number in E.164 form (+447700900123) or a sender id of "
                f"up to 11 letters and digits, got {self.sender!r}"
            )
        if self.messaging_service_sid is not None and not _SERVICE_SID.match(
            self.messaging_service_sid
        ):
            raise ChannelSetupError(
                f"{MESSAGING_SERVICE_ENV} must be MG followed by 32 hexadecimal digits, "
                f"got {self.messaging_service_sid!r}"
            )
        if self.status_callback is not None:
            parts = urlsplit(self.status_callback)
            if parts.scheme != "https" or not parts.hostname or parts.fragment:
                raise ChannelSetupError(
                    f"{STATUS_CALLBACK_ENV} must be the https:// address Twilio posts delivery "
                    f"reports to, got {self.status_callback!r}"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SmsSettings:
        """The settings in *environ*.

        :raises ChannelSetupError: a variable is missing or malformed; the
            message names it.
        """

        def get(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        missing = [name for name in (ACCOUNT_SID_ENV, AUTH_TOKEN_ENV) if not get(name)]
        if missing:
            raise ChannelSetupError(
                f"SMS is not configured: set {' and '.join(missing)} (the Twilio account) and "
                f"{FROM_ENV} or {MESSAGING_SERVICE_ENV} (the sender)"
            )
        return cls(
            account_sid=get(ACCOUNT_SID_ENV) or "",
            auth_token=get(AUTH_TOKEN_ENV) or "",
            sender=get(FROM_ENV),
            messaging_service_sid=get(MESSAGING_SERVICE_ENV),
            status_callback=get(STATUS_CALLBACK_ENV),
        )

    def callback_for(self, idempotency_key: str) -> str | None:
        """The status callback URL of one message: the configured one plus ``key=``."""
        if self.status_callback is None:
            return None
        parts = urlsplit(self.status_callback)
        query = [*parse_qsl(parts.query, keep_blank_values=True), ("key", idempotency_key)]
        return urlunsplit(parts._replace(query=urlencode(query)))


class SmsChannel:
    """Sends texts with one twilio ``Client``, made on first use.

    :param http_client: the twilio SDK's HTTP client; tests pass a fake one
        (a ``twilio.http.HttpClient``), production leaves None for the SDK's
        own with a bounded timeout.
    """

    def __init__(
        self,
        settings: SmsSettings,
        renderer: TemplateRenderer | None = None,
        *,
        http_client: Any = None,
        timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.renderer = renderer or TemplateRenderer()
        self._http_client = http_client
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from twilio.rest import Client  # only when a text is sent

                http = self._http_client
                if http is None:
                    from twilio.http.http_client import TwilioHttpClient

                    http = TwilioHttpClient(timeout=self._timeout)
                self._client = Client(
                    self.settings.account_sid, self.settings.auth_token, http_client=http
                )
            return self._client

    def body(self, message: OutgoingMessage) -> str:
        """The text that will be sent (the message's own, or its template's)."""
        return sms_body(self.renderer, message)

    def request(self, message: OutgoingMessage) -> dict[str, str]:
        """The arguments of ``messages.create`` for *message*."""
        kwargs = {"to": message.to.strip(), "body": self.body(message)}
        if self.settings.messaging_service_sid is not None:
            kwargs["messaging_service_sid"] = self.settings.messaging_service_sid
        else:
            kwargs["from_"] = self.settings.sender or ""
        callback = self.settings.callback_for(message.idempotency_key)
        if callback is not None:
            kwargs["status_callback"] = callback
        return kwargs

    def send(self, message: OutgoingMessage) -> Receipt:
        """Hand *message* to Twilio; a refusal is a failed receipt."""
        if not _E164.match(message.to.strip()):
            return Receipt(
                "sms",
                "failed",
                error="not a phone number in E.164 form (+447700900123)",
                permanent=True,
            )
        kwargs = self.request(message)
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            sent = self._get_client().messages.create(**kwargs)
        except TwilioRestException as exc:
            if exc.code in _SETUP_CODES:
                raise ChannelSetupError(
                    f"{_SETUP_CODES[exc.code]} (Twilio error {exc.code})"
                ) from None
            return Receipt(
                "sms",
                "failed",
                error=f"Twilio refused the message: error {exc.code} (HTTP {exc.status}): "
                f"{exc.msg}",
                permanent=exc.code in _PERMANENT_CODES,
            )
        except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
            return Receipt(
                "sms", "failed", error=f"could not reach Twilio: {type(exc).__name__}: {exc}"
            )
        status = str(sent.status or "")
        if status in _SENT:
            return Receipt("sms", "sent", provider_id=sent.sid)
        if status in _QUEUED:
            return Receipt("sms", "queued", provider_id=sent.sid)
        return Receipt(
            "sms",
            "failed",
            provider_id=sent.sid,
            error=f"Twilio reports {status or 'no status'}: error {sent.error_code} "
            f"{sent.error_message or ''}".strip(),
            permanent=sent.error_code in _PERMANENT_CODES,
        )

    def check(self) -> str | None:
        """Settings are checked when they are read; nothing is sent to check them."""
        return None


# -- segments (counted by the core: instrument.sms.segments) --------------------


def sms_body(renderer: TemplateRenderer, message: OutgoingMessage) -> str:
    """The text of *message* as sent: its own, or its template's on one line (a template's
    line breaks would cost characters)."""
    if message.text is not None:
        return message.text.strip()
    text = renderer.render(
        "sms", message.template, message.language, "txt", template_context(message)
    )
    return " ".join(text.split())


def advise(renderer: TemplateRenderer, message: OutgoingMessage) -> str | None:
    """A sentence when *message* goes as more than one part (each is billed), else None.

    Says why a text is in UCS-2 (70 units a part, not 160): the characters outside
    the GSM alphabet, such as Welsh's circumflexed vowels.
    """
    try:
        text = sms_body(renderer, message)
    except ChannelSetupError as exc:
        return str(exc)
    found = sms_segments(text)
    if found.segments <= 1:
        return None
    why = ""
    if found.encoding == "UCS-2":
        outside = outside_gsm(text)
        why = f" because of {' '.join(outside)} (not in the GSM alphabet)"
    unit = "characters" if found.encoding == "GSM-7" else "UTF-16 units"
    one = 160 if found.encoding == "GSM-7" else 70
    return (
        f"is sent as {found.segments} SMS parts, each billed: {found.units} {unit} in "
        f"{found.encoding}{why}, and one part holds {one}"
    )


# -- replies (read by the core: instrument.sms.keywords) -------------------------
