"""Hook implementation of the built-in ``channels`` plugin: email, SMS and letters.

Registering costs nothing: each channel's sender is built from the
environment the first time it sends or is checked, and the modules that
send (smtplib, twilio) are imported then. A setting that cannot work is a
:class:`~instrument.plugin_types.ChannelSetupError` at that moment, with the
variable named, and ``check()`` returns the same sentence without raising.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import Any

from instrument import hookimpl
from instrument.plugin_types import ChannelSetupError, ContactChannel, OutgoingMessage, Receipt

__all__ = ["register_contact_channels"]

MESSAGES = frozenset({"invitation", "reminder"})
LANGUAGES = frozenset({"en", "cy"})


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


class _Email(_OnFirstUse):
    """The email channel, made on first use, its pool sized to the worker's senders.

    ``instrument fieldwork run --senders N`` hands N messages at once to the channels
    (:attr:`ContactChannel.expect_senders`); a thread with no connection of its own would
    wait for one, so the pool holds N. ``INSTRUMENT_SMTP_CONNECTIONS``, when set, is the
    relay's own limit and wins (threads beyond it wait their turn).
    """

    def __init__(self) -> None:
        super().__init__(self._make_channel)
        self._senders: int | None = None

    def _make_channel(self) -> Any:
        from instrument_channels.email import EmailChannel, SmtpSettings
        from instrument_channels.rendering import TemplateRenderer

        settings = SmtpSettings.from_env()
        if self._senders is not None and not _connections_set():
            settings = dataclasses.replace(settings, connections=self._senders)
        return EmailChannel(settings, TemplateRenderer.from_env())

    def expect_senders(self, senders: int) -> None:
        from instrument_channels.email import CONNECTIONS_ENV, MAX_CONNECTIONS

        if not 1 <= senders <= MAX_CONNECTIONS:
            raise ChannelSetupError(
                f"{senders} senders: the email channel holds at most {MAX_CONNECTIONS} "
                f"connections to the SMTP server, one per sender ({CONNECTIONS_ENV} can hold "
                "it to fewer for a relay that takes fewer)"
            )
        with self._lock:
            self._senders = senders
            if self._sender is not None and not _connections_set():  # made already (check())
                self._sender.use_connections(senders)


def _connections_set() -> bool:
    from instrument_channels.email import CONNECTIONS_ENV

    return bool(os.environ.get(CONNECTIONS_ENV, "").strip())


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
    email, sms, letter = _Email(), _OnFirstUse(_sms), _OnFirstUse(_letter)
    return [
        ContactChannel(
            name="email",
            label="Email over SMTP",
            needs="email",
            send=email.send,
            check=email.check,
            templates=MESSAGES,
            languages=LANGUAGES,
            expect_senders=email.expect_senders,
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
