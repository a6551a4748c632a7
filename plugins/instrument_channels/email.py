"""Email over SMTP: one message, plain text and HTML, with one-click unsubscribe.

Settings come from the environment (``INSTRUMENT_SMTP_*``, see
:class:`SmtpSettings`); anything missing or contradictory is a
:class:`~instrument.plugin_types.ChannelSetupError` naming the variable.

What a message carries, and why:

- a plain-text part and an HTML alternative rendered from the same template
  name in the member's language (``Content-Language`` says which);
- ``List-Unsubscribe`` with the member's https link and a mailto address,
  and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), so a
  mail client's own "unsubscribe" button stops contact. RFC 8058 also wants
  both headers covered by the DKIM signature, which is the sending relay's
  job, not ours;
- a ``Message-ID`` derived from the idempotency key, and the key itself in
  :data:`IDEMPOTENCY_HEADER`: a message sent twice after a crash is
  recognisable as the same message, by us and by a bounce's headers.

A refusal by the server (a recipient refused, the server unreachable) is a
failed :class:`~instrument.plugin_types.Receipt`; only settings that cannot
work at all (authentication refused, no STARTTLS where it was asked for) raise.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
import functools
import hashlib
import os
import random
import re
import smtplib
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.headerregistry import Address
from email.message import EmailMessage
from urllib.parse import quote

from instrument.plugin_types import ChannelSetupError, OutgoingMessage, Receipt
from instrument_channels.email_pool import ConnectionPool, Lease
from instrument_channels.rendering import TemplateRenderer, template_context

__all__ = [
    "BOUNCE_ENV",
    "CONNECTIONS_ENV",
    "DEFAULT_CONNECTIONS",
    "FROM_ENV",
    "HOST_ENV",
    "IDEMPOTENCY_HEADER",
    "PASSWORD_ENV",
    "PORT_ENV",
    "SECURITY_ENV",
    "UNSUBSCRIBE_MAILTO_ENV",
    "USER_ENV",
    "Composed",
    "EmailChannel",
    "SmtpSettings",
    "message_id",
]

HOST_ENV = "INSTRUMENT_SMTP_HOST"
PORT_ENV = "INSTRUMENT_SMTP_PORT"
SECURITY_ENV = "INSTRUMENT_SMTP_SECURITY"
USER_ENV = "INSTRUMENT_SMTP_USER"
PASSWORD_ENV = "INSTRUMENT_SMTP_PASSWORD"
FROM_ENV = "INSTRUMENT_SMTP_FROM"
UNSUBSCRIBE_MAILTO_ENV = "INSTRUMENT_SMTP_UNSUBSCRIBE_MAILTO"
TIMEOUT_ENV = "INSTRUMENT_SMTP_TIMEOUT"
BOUNCE_ENV = "INSTRUMENT_SMTP_BOUNCE_ADDRESS"
CONNECTIONS_ENV = "INSTRUMENT_SMTP_CONNECTIONS"

DEFAULT_CONNECTIONS = 4
"""Connections one channel may hold open at once: enough for a worker's sending threads to
keep the server busy while one of them composes, few enough for a relay's per-client limit."""
MAX_CONNECTIONS = 64

IDEMPOTENCY_HEADER = "X-Instrument-Idempotency-Key"

_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_OURS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Content-Language",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Auto-Submitted",
        IDEMPOTENCY_HEADER,
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)
# Long https links must stay whole in List-Unsubscribe: fold only where RFC
# 5322 allows (998), rather than at 78 where the policy would encode them.
_POLICY = email.policy.SMTP.clone(max_line_length=998)

_NEVER_SENT = frozenset(("bcc", "resent-bcc"))
_CRLF = b"\r\n"
_MAX_LINE = 998  # RFC 5322 2.1.1, without the CRLF
# A dot-atom address (RFC 5322 3.4.1), ASCII: what nearly every member has,
# and exactly what the full parser below would accept and give back unchanged.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*")
_UTF8_POLICY = _POLICY.clone(utf8=True)


@dataclass(frozen=True)
class Composed:
    """One message ready for the server: its bytes (CRLF line ends) and envelope.

    :param data: the whole message, headers and body, as sent.
    :param message_id: its ``Message-ID`` (the receipt's ``provider_id``).
    :param to: the recipient's address (the envelope's and the ``To`` header's).
    :param eight_bit: a body part holds UTF-8 beyond ASCII (``8bit``), so the
        server is told ``BODY=8BITMIME`` when it offers it.
    """

    data: bytes
    message_id: str
    to: str
    eight_bit: bool


def _header(name: str, value: str, *, utf8: bool = False, keep: bool = False) -> bytes:
    """One header line, folded by the email policy only when it has to be.

    A short ASCII value is written as it is (what the policy writes for it
    too); anything else (non-ASCII, longer than a line, something that looks
    like an encoded word) is parsed and folded by the policy, as
    :class:`EmailMessage` would. With *keep* the folded line is kept for the
    next message with the same value (a wave's subject), never for an
    address or a caller's header.
    """
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} must be one line")
    if value.isascii() and len(name) + len(value) + 2 <= _MAX_LINE and "=?" not in value:
        return f"{name}: {value}\r\n".encode("ascii")
    return (_kept if keep else _folded)(name, value, utf8)


def _folded(name: str, value: str, utf8: bool) -> bytes:
    policy = _UTF8_POLICY if utf8 else _POLICY
    return policy.fold_binary(name, policy.header_factory(name, value))


# A wave's Welsh subject is encoded once rather than for every member.
_kept = functools.lru_cache(maxsize=64)(_folded)


def _text_part(subtype: str, text: str) -> tuple[tuple[bytes, bytes], bool]:
    """The headers and body of one text part, and whether it is 8-bit.

    The encoding is the one ``set_content`` chooses under our policy: 7bit for
    ASCII, 8bit for UTF-8 whose lines fit (the server is told, see
    :func:`_options`), base64 for a line longer than RFC 5322 allows.
    """
    lines = (text + "\n").encode("utf-8").splitlines()
    if all(len(line) <= _MAX_LINE for line in lines):
        body = _CRLF.join(lines) + _CRLF
        cte = "7bit" if body.isascii() else "8bit"
    else:
        # CRLF inside, the canonical form of text (RFC 2046 4.1.1), as set_content does.
        encoded = base64.encodebytes(_CRLF.join(lines) + _CRLF)  # lines of 76
        body = encoded.replace(b"\n", _CRLF)
        cte = "base64"
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    ).encode("ascii")
    return (head, body), cte == "8bit"


def _boundary(*bodies: bytes) -> bytes:
    """A multipart boundary that occurs in none of *bodies* (RFC 2046 5.1.1)."""
    while True:
        boundary = f"==============={random.randrange(sys.maxsize):019d}==".encode("ascii")
        if not any(boundary in body for body in bodies):
            return boundary


def _options(smtp: smtplib.SMTP, composed: Composed) -> list[str]:
    """The MAIL FROM parameters: what the message needs and the server offers.

    An address beyond ASCII (``ann@exämple.org``; the address parser takes
    it) needs SMTPUTF8, refused by a server without it as smtplib's
    ``send_message`` refused it; 8-bit bodies are declared (RFC 6152) to a
    server that offers 8BITMIME.
    """
    options: list[str] = []
    if not composed.to.isascii():
        if not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError(
                "the address needs internationalized email (SMTPUTF8), "
                "which the server does not offer"
            )
        options.append("SMTPUTF8")
    if (composed.eight_bit or options) and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    return options


def _mailbox(variable: str, value: str) -> Address:
    name, addr = email.utils.parseaddr(value)
    try:
        address = Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError):
        address = None
    if address is None or not address.username or not address.domain:
        raise ChannelSetupError(
            f"{variable} must be an email address such as "
            f"'Panel Team <panel@example.ac.uk>', got {value!r}"
        )
    return address


def _recipient(value: str) -> str:
    """A bare address (``name@example.org``), or ValueError: nothing else may reach ``To``."""
    value = value.strip()
    if _DOT_ATOM_ADDRESS.fullmatch(value):
        return value
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, TypeError):
        raise ValueError("not one email address") from None
    if address.addr_spec != value or not address.username or not address.domain:
        raise ValueError("not one email address")
    return value


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand messages over.

    :param host: the SMTP relay (``INSTRUMENT_SMTP_HOST``).
    :param port: its port (``INSTRUMENT_SMTP_PORT``; 587, 465 or 25 by
        *security*).
    :param security: ``starttls`` (the default), ``tls`` (implicit TLS,
        port 465) or ``none`` (plain text: for a relay that needs no login).
    :param sender: the ``From`` mailbox (``INSTRUMENT_SMTP_FROM``).
    :param user: the login (``INSTRUMENT_SMTP_USER``), with *password*
        (``INSTRUMENT_SMTP_PASSWORD``, never in a ``repr``); both or neither.
    :param unsubscribe_mailto: the address of ``List-Unsubscribe``'s mailto
        (``INSTRUMENT_SMTP_UNSUBSCRIBE_MAILTO``; the sender's by default).
    :param timeout: seconds to wait for the server (``INSTRUMENT_SMTP_TIMEOUT``).
    :param bounce_address: the envelope sender (``MAIL FROM``, which becomes the
        ``Return-Path``), where servers send bounces (``INSTRUMENT_SMTP_BOUNCE_ADDRESS``;
        the From address by default). See docs/bounces.md.
    :param connections: how many connections to the relay one channel may hold
        open at once (``INSTRUMENT_SMTP_CONNECTIONS``, 4 by default, 1 to 64),
        each used by one sending thread at a time; opened only as threads need
        them. 1 for a relay that takes one connection per client.
    """

    host: str
    sender: str
    port: int = 0
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    unsubscribe_mailto: str | None = None
    timeout: float = 30.0
    bounce_address: str | None = None
    connections: int = DEFAULT_CONNECTIONS

    def __post_init__(self) -> None:
        if self.security not in _DEFAULT_PORTS:
            raise ChannelSetupError(
                f"{SECURITY_ENV} must be starttls, tls or none, got {self.security!r}"
            )
        if not self.host:
            raise ChannelSetupError(f"{HOST_ENV} must name the SMTP server")
        if not self.port:
            object.__setattr__(self, "port", _DEFAULT_PORTS[self.security])
        if not 0 < self.port < 65536:
            raise ChannelSetupError(f"{PORT_ENV} must be a port number, got {self.port}")
        _mailbox(FROM_ENV, self.sender)
        if self.unsubscribe_mailto is not None:
            _mailbox(UNSUBSCRIBE_MAILTO_ENV, self.unsubscribe_mailto)
        if self.bounce_address is not None:
            _mailbox(BOUNCE_ENV, self.bounce_address)
        if bool(self.user) != bool(self.password):
            raise ChannelSetupError(
                f"{USER_ENV} and {PASSWORD_ENV} go together: set both, or neither for a "
                "relay that needs no login"
            )
        if self.user and self.security == "none":
            raise ChannelSetupError(
                f"{SECURITY_ENV}=none would send the SMTP password to {self.host} in clear; "
                "use starttls or tls (a relay that needs no login needs no password either)"
            )
        if self.timeout <= 0:
            raise ChannelSetupError(f"{TIMEOUT_ENV} must be a positive number of seconds")
        if not 1 <= self.connections <= MAX_CONNECTIONS:
            raise ChannelSetupError(
                f"{CONNECTIONS_ENV} must be a whole number from 1 to {MAX_CONNECTIONS}, "
                f"got {self.connections}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SmtpSettings:
        """The settings in *environ*.

        :raises ChannelSetupError: the host or the sender is not set, or a
            value is malformed; the message names the variable.
        """

        def get(name: str) -> str:
            return environ.get(name, "").strip()

        missing = [name for name in (HOST_ENV, FROM_ENV) if not get(name)]
        if missing:
            raise ChannelSetupError(
                f"email is not configured: set {' and '.join(missing)} (the SMTP server and "
                f"the From address; {PORT_ENV}, {SECURITY_ENV}, {USER_ENV} and "
                f"{PASSWORD_ENV} as the server needs)"
            )
        numbers: dict[str, float] = {}
        defaults = (
            (PORT_ENV, "0"),
            (TIMEOUT_ENV, "30"),
            (CONNECTIONS_ENV, str(DEFAULT_CONNECTIONS)),
        )
        for name, default in defaults:
            try:
                numbers[name] = float(get(name) or default)
            except ValueError:
                raise ChannelSetupError(f"{name} must be a number, got {get(name)!r}") from None
        for name in (PORT_ENV, CONNECTIONS_ENV):
            if numbers[name] != int(numbers[name]):
                raise ChannelSetupError(f"{name} must be a whole number, got {get(name)!r}")
        return cls(
            host=get(HOST_ENV),
            port=int(numbers[PORT_ENV]),
            security=get(SECURITY_ENV).lower() or "starttls",
            sender=get(FROM_ENV),
            user=get(USER_ENV) or None,
            password=environ.get(PASSWORD_ENV) or None,  # a password may end in a space
            unsubscribe_mailto=get(UNSUBSCRIBE_MAILTO_ENV) or None,
            timeout=numbers[TIMEOUT_ENV],
            bounce_address=get(BOUNCE_ENV) or None,
            connections=int(numbers[CONNECTIONS_ENV]),
        )


def message_id(idempotency_key: str, domain: str) -> str:
    """The Message-ID of the message with this key: the same for every resend.

    Hashed, so the worker's key (which may name a contact row) is not spelt
    out in an identifier that mail systems log and quote.
    """
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def _reason(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


class EmailChannel:
    """Builds and sends messages over a few reused SMTP connections.

    Connections are kept (:class:`~instrument_channels.email_pool.ConnectionPool`,
    at most ``settings.connections``), so a wave's thousands of invitations do
    not pay a TLS handshake each, and each is used by one thread at a time:
    threads sending at once (the fieldwork worker's) each talk to the server
    on their own connection instead of queueing for one. A connection idle for
    longer than *idle_check_seconds* is checked with NOOP before reuse and
    replaced when the server dropped it; a kept connection found closed when
    a message's first command goes (``MAIL``: nothing of the message has
    reached the server) is replaced and the message tried once more on the
    new one, so a relay restarted between two bursts costs no failed message.
    A connection lost later in a message is a failed receipt and is not
    reused (the message may or may not have been accepted: the worker's retry
    carries the same Message-ID).
    """

    def __init__(
        self,
        settings: SmtpSettings,
        renderer: TemplateRenderer | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        idle_check_seconds: float = 1.0,
    ) -> None:
        self.settings = settings
        self.renderer = renderer or TemplateRenderer()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.ssl_context = ssl_context
        self.idle_check_seconds = idle_check_seconds
        self._pool = ConnectionPool(
            self._connect, settings.connections, idle_check_seconds=idle_check_seconds
        )
        sender = _mailbox(FROM_ENV, settings.sender)
        self._domain = sender.domain
        bounces = settings.bounce_address
        self._envelope_from = (
            _mailbox(BOUNCE_ENV, bounces).addr_spec if bounces else sender.addr_spec
        )
        # Folded once: the display name may need quoting or encoded words.
        self._from_line = _POLICY.fold_binary(
            "From", _POLICY.header_factory("From", settings.sender)
        )
        self._unsubscribe_mailto = _mailbox(
            UNSUBSCRIBE_MAILTO_ENV, settings.unsubscribe_mailto or settings.sender
        ).addr_spec

    # -- building ----------------------------------------------------------

    def compose(self, message: OutgoingMessage) -> Composed:
        """The message as the bytes handed to the server, with its envelope.

        Written line by line rather than through :class:`EmailMessage`: the
        standard library's message object parses every header it is given and
        flattens the whole tree again on sending, which cost more than half a
        worker's time per invitation (issue 13). Only what can need encoding
        (a non-ASCII subject, a caller's header, a display name) goes through
        the policy's own folding; the rest is ASCII known to fit on a line.

        :raises ValueError: *to* is not one email address, or a caller's header
            replaces one of ours or is not one line.
        :raises ChannelSetupError: a template is missing or broken.
        """
        to = _recipient(message.to)
        context = template_context(message)
        render = self.renderer.render
        subject = message.subject
        if subject is None:
            subject = render("email", message.template, message.language, "subject.txt", context)
        text, html = message.text, message.html
        if text is None:
            text = render("email", message.template, message.language, "txt", context)
            if html is None:
                html = render("email", message.template, message.language, "html", context)

        key = message.idempotency_key
        mid = message_id(key, self._domain)
        when = email.utils.format_datetime(self.clock().astimezone(dt.UTC))
        head = [
            self._from_line,
            _header("To", to, utf8=not to.isascii()),
            _header("Subject", " ".join(subject.split()), keep=True),
            _header("Date", when),
            _header("Message-ID", mid),
            b"Auto-Submitted: auto-generated\r\n",  # RFC 3834: no out-of-office replies to us
            _header(IDEMPOTENCY_HEADER, key),
        ]
        if message.unsubscribe_link:
            subject_line = quote(f"unsubscribe {key}")
            head.append(
                _header(
                    "List-Unsubscribe",
                    f"<{message.unsubscribe_link}>, <mailto:{self._unsubscribe_mailto}"
                    f"?subject={subject_line}>",
                )
            )
            if message.unsubscribe_link.startswith("https://"):
                # RFC 8058 one-click is defined for an https URI only.
                head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        for name, value in message.headers.items():
            lowered = name.lower()
            if lowered in _OURS:
                raise ValueError(f"header {name} is set by the email channel itself")
            if lowered not in _NEVER_SENT:  # as smtplib's send_message drops them
                head.append(_header(name, value))
        language = _header("Content-Language", message.language)
        plain, eight_bit = _text_part("plain", text)
        if html is None:
            data = b"".join(
                (*head, plain[0], b"MIME-Version: 1.0\r\n", language, b"\r\n", plain[1])
            )
        else:
            rich, html_eight_bit = _text_part("html", html)
            eight_bit = eight_bit or html_eight_bit
            boundary = _boundary(plain[1], rich[1])
            data = b"".join(
                (
                    *head,
                    b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="',
                    boundary,
                    b'"\r\n',
                    language,
                    b"\r\n--",
                    boundary,
                    b"\r\n",
                    plain[0],
                    b"\r\n",
                    plain[1],
                    b"\r\n--",
                    boundary,
                    b"\r\n",
                    rich[0],
                    b"\r\n",
                    rich[1],
                    b"\r\n--",
                    boundary,
                    b"--\r\n",
                )
            )
        return Composed(data, mid, to, eight_bit)

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The message as it will be sent, parsed back (what a preview shows).

        :raises ValueError: *to* is not one email address.
        :raises ChannelSetupError: a template is missing or broken.
        """
        parsed = email.message_from_bytes(self.compose(message).data, policy=_POLICY)
        assert isinstance(parsed, EmailMessage)
        return parsed

    # -- sending -----------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ChannelSetupError(
                        f"{s.host}:{s.port} does not offer STARTTLS; check {HOST_ENV} and "
                        f"{PORT_ENV}, or set {SECURITY_ENV}=tls for a server that wants TLS "
                        "from the start"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                try:
                    smtp.login(s.user, s.password or "")
                except smtplib.SMTPAuthenticationError as exc:
                    raise ChannelSetupError(
                        f"{s.host} refused the login of {USER_ENV}={s.user!r} "
                        f"({_reason(exc.smtp_code, exc.smtp_error)}); check {PASSWORD_ENV}"
                    ) from None
                except smtplib.SMTPNotSupportedError:
                    raise ChannelSetupError(
                        f"{s.host} offers no login (AUTH); unset {USER_ENV} and {PASSWORD_ENV}"
                    ) from None
        except BaseException:
            smtp.close()
            raise
        return smtp

    def use_connections(self, connections: int) -> None:
        """Hold at most *connections* connections to the server from now on (1 to 64).

        :raises ChannelSetupError: outside 1 to 64.
        """
        if not 1 <= connections <= MAX_CONNECTIONS:
            raise ChannelSetupError(
                f"the email channel holds 1 to {MAX_CONNECTIONS} connections to the SMTP "
                f"server, not {connections}"
            )
        self.settings = replace(self.settings, connections=connections)
        self._pool.resize(connections)

    @property
    def open_connections(self) -> int:
        """Connections to the server now open (idle or in use)."""
        return self._pool.open_connections

    def close(self) -> None:
        """Say QUIT on every connection and close it (one in use is closed when its message is
        done); the next message opens another."""
        self._pool.close()

    def check(self) -> str | None:
        """None when the server takes a connection with these settings, else why not."""
        try:
            with self._pool.lease():
                pass
        except ChannelSetupError as exc:
            return str(exc)
        except (smtplib.SMTPException, OSError) as exc:
            return f"cannot reach {self.settings.host}:{self.settings.port}: {exc}"
        return None

    def send(self, message: OutgoingMessage) -> Receipt:
        """Hand *message* to the server; a refusal is a failed receipt.

        Safe to call from several threads: each gets a connection of its own.
        """
        try:
            composed = self.compose(message)
        except ValueError as exc:
            return Receipt(
                "email", "failed", error=f"cannot send to this address: {exc}", permanent=True
            )
        try:
            with self._pool.lease() as lent:
                return self._hand_over(lent, composed)
        except ChannelSetupError:
            raise
        except (smtplib.SMTPException, OSError) as exc:  # no connection could be opened
            return self._unreachable(exc)

    def _hand_over(self, lent: Lease, composed: Composed) -> Receipt:
        """Send *composed* on the lent connection; a refusal or a failure is a failed receipt."""
        try:
            try:
                _converse(lent.smtp, self._envelope_from, composed)
            except _NotHandedOver as exc:
                if lent.fresh:
                    raise exc.cause from None
                # A kept connection the server had closed: nothing of this message
                # reached it, so it goes once more on a new connection.
                self._pool.replace(lent)
                try:
                    _converse(lent.smtp, self._envelope_from, composed)
                except _NotHandedOver as again:
                    raise again.cause from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            if code == 421:
                lent.discard()
            return Receipt(
                "email",
                "failed",
                error=f"recipient refused: {_reason(code, text)}",
                permanent=500 <= code < 600,  # 4xx: greylisted, mailbox busy: try later
            )
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code == 421:
                lent.discard()
            return Receipt(
                "email",
                "failed",
                error=f"sender refused: {_reason(exc.smtp_code, exc.smtp_error)}",
            )
        except smtplib.SMTPResponseException as exc:  # DATA refused, and the like
            lent.discard()
            return Receipt(
                "email",
                "failed",
                error=f"server refused the message: {_reason(exc.smtp_code, exc.smtp_error)}",
            )
        except ChannelSetupError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            lent.discard()
            return self._unreachable(exc)
        return Receipt("email", "sent", provider_id=composed.message_id)

    def _unreachable(self, exc: Exception) -> Receipt:
        """A passing failure: the server could not be reached or the connection broke."""
        return Receipt(
            "email",
            "failed",
            error=f"could not hand the message to {self.settings.host}:"
            f"{self.settings.port}: {type(exc).__name__}: {exc}",
        )


class _NotHandedOver(Exception):
    """The connection failed at the message's first command: nothing of it reached the server."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _converse(smtp: smtplib.SMTP, envelope_from: str, composed: Composed) -> None:
    """MAIL, RCPT and DATA for one message to one recipient, as smtplib's ``sendmail`` has them.

    Written out rather than ``sendmail`` so that a failure of the first
    command, which tells the message was never handed over, can be told
    from one after it (:class:`_NotHandedOver`); replies and exceptions are
    otherwise ``sendmail``'s own, and so is the RSET after a refusal, which
    leaves the connection ready for the next message.
    """
    options = _options(smtp, composed)
    if smtp.has_extn("size"):
        options.insert(0, f"size={len(composed.data)}")
    try:
        code, reply = smtp.mail(envelope_from, options)
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise _NotHandedOver(exc) from exc
    if code != 250:
        refused = smtplib.SMTPSenderRefused(code, reply, envelope_from)
        if code == 421:  # the server is closing this connection
            smtp.close()
            raise _NotHandedOver(refused)
        _reset(smtp)
        raise refused
    code, reply = smtp.rcpt(composed.to)
    if code not in (250, 251):
        if code == 421:
            smtp.close()
        else:
            _reset(smtp)
        raise smtplib.SMTPRecipientsRefused({composed.to: (code, reply)})
    code, reply = smtp.data(composed.data)
    if code != 250:
        if code == 421:
            smtp.close()
        else:
            _reset(smtp)
        raise smtplib.SMTPDataError(code, reply)


def _reset(smtp: smtplib.SMTP) -> None:
    """RSET after a refusal, as ``sendmail`` does; a connection that fails it is closed."""
    try:
        smtp.rset()
    except smtplib.SMTPServerDisconnected:
        pass
