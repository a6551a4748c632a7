"""Hook implementation of the built-in ``channels`` plugin: email, SMS and letters.

Registering costs nothing: each channel's sender is built from the
environment the first time it sends or is checked, and the modules that
send (smtplib, twilio) are imported then. A setting that cannot work is a
:class:`~instrument.plugin_types.ChannelSetupError` at that moment, with the
variable named, and ``check()`` returns the same sentence without raising.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from instrument import hookimpl
from instrument.plugin_types import ChannelSetupError, ContactChannel, OutgoingMessage, Receipt

__all__ = ["register_contact_channels"]

MESSAGES = frozenset({"invitation", "reminder"})
LANGUAGES = frozenset({"en", "cy"})


def _email() -> Any:
    from instrument_channels.email import EmailChannel, SmtpSettings
    from instrument_channels.rendering import TemplateRenderer

    return EmailChannel(SmtpSettings.from_env(), TemplateRenderer.from_env())


def _sms() -> Any:
    from instrument_channels.rendering import TemplateRenderer
    from instrument_channels.sms import SmsChannel, SmsSettings

    return SmsChannel(SmsSettings.from_env(), TemplateRenderer.from_env())


def _letter() -> Any:
    from instrument_channels.letters import LetterChannel

    return LetterChannel.from_env()


class _OnFirstUse:
    """Makes a channel's sender when it is first needed, then keeps it."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._sender: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._sender is None:
                self._sender = self._make()
            return self._sender

    def send(self, message: OutgoingMessage) -> Receipt:
        return self._get().send(message)  # type: ignore[no-any-return]

    def check(self) -> str | None:
        try:
            sender = self._get()
        except ChannelSetupError as exc:
            return str(exc)
        return sender.check()  # type: ignore[no-any-return]


def _advise_sms(message: OutgoingMessage) -> str | None:
    """How a text of this template goes (``sms.advise``): no Twilio settings needed."""
    from instrument_channels.rendering import TemplateRenderer
    from instrument_channels.sms import advise

    return advise(TemplateRenderer.from_env(), message)


def _read_sms_reply(body: str) -> str | None:
    """A text's reply read as Twilio reads it (STOP, START, HELP): see ``sms.inbound_keyword``."""
    from instrument_channels.sms import inbound_keyword

    return inbound_keyword(body)


@hookimpl
def register_contact_channels() -> list[ContactChannel]:
    email, sms, letter = _OnFirstUse(_email), _OnFirstUse(_sms), _OnFirstUse(_letter)
    return [
        ContactChannel(
            name="email",
            label="Email over SMTP",
            needs="email",
            send=email.send,
            check=email.check,
            templates=MESSAGES,
            languages=LANGUAGES,
        ),
        ContactChannel(
            name="sms",
            label="SMS through Twilio",
            needs="phone",
            send=sms.send,
            check=sms.check,
            templates=MESSAGES,
            languages=LANGUAGES,
            requires=("twilio",),
            read_reply=_read_sms_reply,
            advise=_advise_sms,
        ),
        ContactChannel(
            name="letter",
            label="Printed letter (the day's mail-merge CSV)",
            needs="address",
            send=letter.send,
            check=letter.check,
        ),
    ]
