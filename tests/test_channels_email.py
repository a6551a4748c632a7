"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1.

Each message is sent over a socket by smtplib, received and parsed back with
the standard library's email package, as a mail client would: both parts,
the headers, the links, the language. Refusals are the server's own (a
handler answering RCPT with 550), not a patched client.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import email.utils
import smtplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from port_helpers import reserved_port

from instrument.plugin_types import ChannelSetupError, OutgoingMessage
from instrument_channels.email import (
    IDEMPOTENCY_HEADER,
    EmailChannel,
    SmtpSettings,
    message_id,
)
from instrument_channels.rendering import TemplateRenderer, template_context

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
LINK = "https://survey.example.ac.uk/s/8fK2-qX?lang=cy&w=3"
UNSUBSCRIBE = "https://survey.example.ac.uk/u/8fK2-qX"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    mail_options: list[str] = field(default_factory=list)


@dataclass
class Mailbox:
    """What the server received, and which recipients it refuses."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    sessions: int = 0

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Stored with LF line ends, as a delivery agent writes a mailbox.
        raw = envelope.original_content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                parsed,  # type: ignore[arg-type]
                list(envelope.mail_options),
            )
        )
        return "250 2.0.0 Ok: queued"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses


MailboxT = TypeVar("MailboxT", bound=Mailbox)


class LoopbackController(Controller):
    """aiosmtpd's controller on a free port chosen by the kernel (port 0)."""

    def _trigger_server(self) -> None:
        # The documented hook for subclasses: learn the port before the
        # controller connects to its own server to start it.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextlib.contextmanager
def serving(mailbox: MailboxT) -> Iterator[tuple[LoopbackController, MailboxT]]:
    """aiosmtpd on 127.0.0.1 answering with *mailbox*'s hooks, for the block."""
    controller = LoopbackController(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[LoopbackController, Mailbox]]:
    with serving(Mailbox()) as server:
        yield server


def settings_for(controller: Controller, **changes: Any) -> SmtpSettings:
    values: dict[str, Any] = dict(
        host="127.0.0.1",
        port=controller.port,
        security="none",
        sender="Panel Team <panel@example.ac.uk>",
        unsubscribe_mailto="unsubscribe@example.ac.uk",
        timeout=5,
    )
    values.update(changes)
    return SmtpSettings(**values)


@pytest.fixture
def channel(smtp_server: tuple[LoopbackController, Mailbox]) -> Iterator[EmailChannel]:
    sender = EmailChannel(settings_for(smtp_server[0]), clock=lambda: NOW)
    yield sender
    sender.close()


def message(**changes: Any) -> OutgoingMessage:
    fields: dict[str, Any] = dict(
        channel="email",
        to="ann.jones@example.org",
        template="invitation",
        language="en",
        idempotency_key="wave3-contact-41",
        personal_link=LINK,
        unsubscribe_link=UNSUBSCRIBE,
        salutation="Dear Ms Jones",
        access_code="K7Q2-M9",
        context={"study": "Wales Life Panel", "closes": "30 March"},
    )
    fields.update(changes)
    return OutgoingMessage(**fields)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")
        if tag == "html":
            self.lang = values.get("lang")


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_an_invitation_arrives_with_both_parts_links_and_headers(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    receipt = channel.send(message())

    _, mailbox = smtp_server
    assert len(mailbox.received) == 1
    got = mailbox.received[0]
    assert got.mail_from == "panel@example.ac.uk"
    assert got.rcpt_tos == ["ann.jones@example.org"]
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"] == "ann.jones@example.org"
    assert msg["From"] == "Panel Team <panel@example.ac.uk>"
    assert msg["Subject"] == "Wales Life Panel: your next survey is ready"
    assert msg["Content-Language"] == "en"
    assert msg["Date"].datetime == NOW
    assert msg["Auto-Submitted"] == "auto-generated"

    text, html = parts(msg)
    assert text.startswith("Dear Ms Jones,\n")
    assert LINK in text.splitlines()  # on a line of its own, whole
    assert UNSUBSCRIBE in text.splitlines()
    assert "K7Q2-M9" in text and "30 March" in text
    links = Links()
    links.feed(html)
    assert links.lang == "en"
    assert links.hrefs == [LINK, UNSUBSCRIBE]  # the & in the link came through the escaping

    # RFC 8058 one-click unsubscribe, and the mailto for clients without it.
    assert msg["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, "
        "<mailto:unsubscribe@example.ac.uk?subject=unsubscribe%20wave3-contact-41>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    assert msg[IDEMPOTENCY_HEADER] == "wave3-contact-41"
    assert msg["Message-ID"] == message_id("wave3-contact-41", "example.ac.uk")
    assert receipt.status == "sent"
    assert receipt.provider_id == msg["Message-ID"]
    assert receipt.ok and receipt.error is None


def test_welsh_reminder_is_in_welsh_in_both_parts(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    channel.send(message(template="reminder", language="cy", salutation="Annwyl Mr Ŵyn"))
    msg = smtp_server[1].received[0].message
    assert msg["Subject"] == "Nodyn atgoffa: mae eich arolwg Wales Life Panel yn dal ar agor"
    assert msg["Content-Language"] == "cy"
    text, html = parts(msg)
    assert text.startswith("Annwyl Mr Ŵyn,")
    assert "bydd yn cau ar 30 March" in text
    assert "Diolch." in text
    links = Links()
    links.feed(html)
    assert links.lang == "cy"
    assert "Parhau â&#39;r arolwg" in html or "Parhau â'r arolwg" in html
    assert links.hrefs == [LINK, UNSUBSCRIBE]


def test_a_regional_tag_uses_its_language_and_an_unknown_language_is_refused(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    channel.send(message(language="cy-GB"))
    assert smtp_server[1].received[0].message["Content-Language"] == "cy-GB"
    assert "Dechreuwch yma" in parts(smtp_server[1].received[0].message)[0]
    with pytest.raises(ChannelSetupError, match="no email template 'invitation' in language 'fr'"):
        channel.send(message(language="fr"))
    assert len(smtp_server[1].received) == 1  # never English in place of French


def test_names_are_escaped_in_html_and_left_as_written_in_text(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    channel.send(message(salutation='Dear <script>alert("x")</script> & co'))
    text, html = parts(smtp_server[1].received[0].message)
    assert text.startswith('Dear <script>alert("x")</script> & co,')
    assert "<script>" not in html
    assert "Dear &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co," in html


def test_a_resend_is_recognisable_as_the_same_message(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    first = channel.send(message())
    again = channel.send(message())
    channel.send(message(idempotency_key="wave3-contact-42"))
    got = [r.message for r in smtp_server[1].received]
    assert got[0]["Message-ID"] == got[1]["Message-ID"] == first.provider_id == again.provider_id
    assert got[2]["Message-ID"] != got[0]["Message-ID"]
    assert [m[IDEMPOTENCY_HEADER] for m in got] == [
        "wave3-contact-41",
        "wave3-contact-41",
        "wave3-contact-42",
    ]
    assert smtp_server[1].sessions == 1  # one connection for the three messages


def test_a_refused_recipient_is_a_failed_receipt_with_the_reason(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    _, mailbox = smtp_server
    mailbox.refuse["gone@example.org"] = "550 5.1.1 <gone@example.org>: mailbox unavailable"
    mailbox.refuse["busy@example.org"] = "450 4.2.1 mailbox busy, try later"

    gone = channel.send(message(to="gone@example.org"))
    assert gone.status == "failed"
    assert gone.permanent
    assert gone.error == "recipient refused: 550 5.1.1 <gone@example.org>: mailbox unavailable"
    assert gone.provider_id is None

    busy = channel.send(message(to="busy@example.org"))
    assert busy.status == "failed" and not busy.permanent
    assert "450 4.2.1 mailbox busy" in (busy.error or "")

    # The connection is still good for the next member.
    assert channel.send(message(to="ann.jones@example.org")).status == "sent"
    assert [r.rcpt_tos for r in mailbox.received] == [["ann.jones@example.org"]]


def test_an_address_that_is_not_one_address_is_refused_before_sending(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    for bad in ("not an address", "a@example.org, b@example.org", "Ann <ann@example.org>"):
        receipt = channel.send(message(to=bad))
        assert receipt.status == "failed" and receipt.permanent, bad
        assert "not one email address" in (receipt.error or "")
    assert smtp_server[1].received == []


def test_a_server_that_is_down_is_a_failed_receipt_to_try_again() -> None:
    with reserved_port() as port:  # nothing listens on it, nor can another worker's server
        settings = SmtpSettings(
            host="127.0.0.1", port=port, security="none", sender="panel@example.ac.uk", timeout=2
        )
        receipt = EmailChannel(settings).send(message())
    assert receipt.status == "failed" and not receipt.permanent
    assert f"could not hand the message to 127.0.0.1:{port}" in (receipt.error or "")
    assert "ConnectionRefusedError" in (receipt.error or "")


def test_the_server_going_away_between_messages_is_survived() -> None:
    mailbox = Mailbox()
    with reserved_port() as port:  # kept for the restart: no other worker's server takes it
        first = LoopbackController(mailbox, hostname="127.0.0.1", port=port)
        first.start()
        sender = EmailChannel(settings_for(first))
        try:
            assert sender.send(message()).status == "sent"
        finally:
            first.stop()  # the relay restarts: the kept connection is dead
        down = sender.send(message(idempotency_key="k2"))
        assert down.status == "failed" and not down.permanent
        assert "could not hand the message to 127.0.0.1" in (down.error or "")
        again = LoopbackController(mailbox, hostname="127.0.0.1", port=port)
        again.start()
        try:
            assert sender.send(message(idempotency_key="k3")).status == "sent"
        finally:
            sender.close()
            again.stop()
    assert [r.message[IDEMPOTENCY_HEADER] for r in mailbox.received] == ["wave3-contact-41", "k3"]


def test_a_relay_restarted_while_the_connection_idled_costs_no_message() -> None:
    mailbox = Mailbox()
    with reserved_port() as port:  # kept for the restart: no other worker's server takes it
        first = LoopbackController(mailbox, hostname="127.0.0.1", port=port)
        first.start()
        sender = EmailChannel(settings_for(first), idle_check_seconds=0)
        try:
            assert sender.send(message()).status == "sent"
        finally:
            first.stop()
        again = LoopbackController(mailbox, hostname="127.0.0.1", port=port)
        again.start()
        try:
            # The kept connection is dead; NOOP finds out and a new one is opened.
            assert sender.send(message(idempotency_key="k2")).status == "sent"
        finally:
            sender.close()
            again.stop()
    assert mailbox.sessions == 2


def test_starttls_asked_of_a_server_without_it_stops_with_the_setting_named(
    smtp_server: tuple[LoopbackController, Mailbox],
) -> None:
    sender = EmailChannel(settings_for(smtp_server[0], security="starttls"))
    with pytest.raises(
        ChannelSetupError, match="does not offer STARTTLS.*INSTRUMENT_SMTP_SECURITY"
    ):
        sender.send(message())
    assert "does not offer STARTTLS" in (sender.check() or "")
    assert smtp_server[1].received == []


def test_written_texts_and_extra_headers(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    channel.send(
        message(
            subject="Thank you",
            text="Your voucher code is V-123.",
            headers={"X-Wave": "3"},
            unsubscribe_link="http://127.0.0.1:5000/u/abc",
        )
    )
    msg = smtp_server[1].received[0].message
    assert msg["Subject"] == "Thank you"
    assert msg.get_content_type() == "text/plain"  # no HTML was written, none is made up
    assert msg.get_content() == "Your voucher code is V-123.\n"
    assert msg["X-Wave"] == "3"
    # One-click is defined for https links only: the header is left out for http.
    assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/u/abc>, <mailto:")
    assert msg["List-Unsubscribe-Post"] is None
    with pytest.raises(ValueError, match="set by the email channel"):
        channel.build(message(headers={"Message-ID": "<mine@example.org>"}))


def test_a_long_link_stays_whole_in_the_header(channel: EmailChannel) -> None:
    long_link = "https://survey.example.ac.uk/u/" + "x" * 120
    built = channel.build(message(unsubscribe_link=long_link))
    raw = built.as_bytes()
    assert long_link.encode() in raw
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n", 1)[0]  # no encoded words in the headers
    reparsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert reparsed["List-Unsubscribe"].startswith(f"<{long_link}>")


def test_a_study_can_reword_one_message(
    smtp_server: tuple[LoopbackController, Mailbox], tmp_path: Path
) -> None:
    folder = tmp_path / "email" / "en"
    folder.mkdir(parents=True)
    (folder / "invitation.subject.txt").write_text("{{ study }} wave 3", encoding="utf-8")
    sender = EmailChannel(
        settings_for(smtp_server[0]), TemplateRenderer(tmp_path), clock=lambda: NOW
    )
    try:
        sender.send(message())
        sender.send(message(template="reminder"))
    finally:
        sender.close()
    first, second = (r.message for r in smtp_server[1].received)
    assert first["Subject"] == "Wales Life Panel wave 3"  # the study's subject
    assert "Your next Wales Life Panel survey is ready" in parts(first)[0]  # our body
    assert second["Subject"].startswith("Reminder:")


def test_a_template_with_a_misspelt_variable_stops_the_channel(tmp_path: Path) -> None:
    folder = tmp_path / "email" / "en"
    folder.mkdir(parents=True)
    (folder / "invitation.txt").write_text("Start: {{ personal_lnk }}", encoding="utf-8")
    sender = EmailChannel(
        SmtpSettings(host="127.0.0.1", port=25, security="none", sender="p@example.ac.uk"),
        TemplateRenderer(tmp_path),
    )
    with pytest.raises(
        ChannelSetupError, match="email/en/invitation.txt: 'personal_lnk' is undefined"
    ):
        sender.build(message())


def test_the_sandbox_keeps_a_template_from_python_internals(tmp_path: Path) -> None:
    folder = tmp_path / "email" / "en"
    folder.mkdir(parents=True)
    (folder / "invitation.subject.txt").write_text(
        "{{ personal_link.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8"
    )
    sender = EmailChannel(
        SmtpSettings(host="127.0.0.1", port=25, security="none", sender="p@example.ac.uk"),
        TemplateRenderer(tmp_path),
    )
    with pytest.raises(ChannelSetupError, match="SecurityError"):
        sender.build(message())


# -- settings ---------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    settings = SmtpSettings.from_env(
        {
            "INSTRUMENT_SMTP_HOST": "smtp.example.ac.uk",
            "INSTRUMENT_SMTP_FROM": "Panel <panel@example.ac.uk>",
            "INSTRUMENT_SMTP_USER": "panel",
            "INSTRUMENT_SMTP_PASSWORD": "s3cret ",
        }
    )
    assert (settings.port, settings.security, settings.password) == (587, "starttls", "s3cret ")
    assert "s3cret" not in repr(settings)
    tls = SmtpSettings.from_env(
        {
            "INSTRUMENT_SMTP_HOST": "h",
            "INSTRUMENT_SMTP_FROM": "p@e.org",
            "INSTRUMENT_SMTP_SECURITY": "TLS",
        }
    )
    assert (tls.port, tls.security) == (465, "tls")


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({}, "email is not configured: set INSTRUMENT_SMTP_HOST and INSTRUMENT_SMTP_FROM"),
        ({"INSTRUMENT_SMTP_HOST": "h"}, "set INSTRUMENT_SMTP_FROM "),
        (
            {"INSTRUMENT_SMTP_HOST": "h", "INSTRUMENT_SMTP_FROM": "nobody"},
            "INSTRUMENT_SMTP_FROM must be an email address",
        ),
        (
            {
                "INSTRUMENT_SMTP_HOST": "h",
                "INSTRUMENT_SMTP_FROM": "p@e.org",
                "INSTRUMENT_SMTP_PORT": "smtp",
            },
            "INSTRUMENT_SMTP_PORT must be a number",
        ),
        (
            {
                "INSTRUMENT_SMTP_HOST": "h",
                "INSTRUMENT_SMTP_FROM": "p@e.org",
                "INSTRUMENT_SMTP_USER": "u",
            },
            "INSTRUMENT_SMTP_USER and INSTRUMENT_SMTP_PASSWORD go together",
        ),
        (
            {
                "INSTRUMENT_SMTP_HOST": "h",
                "INSTRUMENT_SMTP_FROM": "p@e.org",
                "INSTRUMENT_SMTP_USER": "u",
                "INSTRUMENT_SMTP_PASSWORD": "p",
                "INSTRUMENT_SMTP_SECURITY": "none",
            },
            "in clear",
        ),
        (
            {
                "INSTRUMENT_SMTP_HOST": "h",
                "INSTRUMENT_SMTP_FROM": "p@e.org",
                "INSTRUMENT_SMTP_SECURITY": "ssl",
            },
            "must be starttls, tls or none",
        ),
    ],
)
def test_settings_that_cannot_work_are_named(environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(ChannelSetupError) as caught:
        SmtpSettings.from_env(environ)
    assert complaint in str(caught.value)


def test_threads_share_one_channel(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    receipts = []

    def send(n: int) -> None:
        receipts.append(channel.send(message(idempotency_key=f"t-{n}")))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.status for r in receipts) == ["sent"] * 8
    keys = sorted(r.message[IDEMPOTENCY_HEADER] for r in smtp_server[1].received)
    assert keys == sorted(f"t-{n}" for n in range(8))


def test_smtplib_is_the_standard_librarys() -> None:
    # The channel's module is named email.py inside its package; the standard
    # library's email package must still be the one it (and we) use.
    assert smtplib.__file__ is not None
    assert email.__file__ is not None and "instrument_channels" not in email.__file__


@pytest.mark.parametrize("language", ["en", "cy"])
@pytest.mark.parametrize("template", ["invitation", "reminder"])
def test_every_shipped_email_has_both_links_in_both_parts(
    template: str, language: str, channel: EmailChannel
) -> None:
    built = channel.build(message(template=template, language=language, context={}))
    text, html = parts(built)
    assert LINK in text.splitlines() and UNSUBSCRIBE in text.splitlines()
    links = Links()
    links.feed(html)
    assert links.hrefs == [LINK, UNSUBSCRIBE]
    assert links.lang == language
    assert "{{" not in text + html and built["Subject"]


def test_check_connects_with_the_settings(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    assert channel.check() is None
    assert smtp_server[1].sessions == 1
    with reserved_port() as port:  # nothing listens on it, nor can another worker's server
        nobody = EmailChannel(settings_for(smtp_server[0], port=port))
        assert f"cannot reach 127.0.0.1:{port}" in (nobody.check() or "")


# -- the composed bytes against EmailMessage ------------------------------------------


def reference_message(sender: EmailChannel, message: OutgoingMessage) -> EmailMessage:
    """The message as the channel built it before issue 13's speed-up: with EmailMessage.

    Kept here as the reference the hand-written bytes must agree with.
    """
    policy = email.policy.SMTP.clone(max_line_length=998)
    context = template_context(message)
    render = sender.renderer.render
    subject = message.subject
    if subject is None:
        subject = render("email", message.template, message.language, "subject.txt", context)
    text, html = message.text, message.html
    if text is None:
        text = render("email", message.template, message.language, "txt", context)
        if html is None:
            html = render("email", message.template, message.language, "html", context)
    msg = EmailMessage(policy=policy)
    msg["From"] = sender.settings.sender
    msg["To"] = message.to
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = email.utils.format_datetime(NOW)
    msg["Message-ID"] = message_id(message.idempotency_key, "example.ac.uk")
    msg["Auto-Submitted"] = "auto-generated"
    msg[IDEMPOTENCY_HEADER] = message.idempotency_key
    if message.unsubscribe_link:
        msg["List-Unsubscribe"] = (
            f"<{message.unsubscribe_link}>, <mailto:unsubscribe@example.ac.uk"
            f"?subject={quote('unsubscribe ' + message.idempotency_key)}>"
        )
        if message.unsubscribe_link.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        msg[name] = value
    msg.set_content(text + "\n")
    if html is not None:
        msg.add_alternative(html + "\n", subtype="html")
    msg["Content-Language"] = message.language
    return msg


def _as_received(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _what_a_reader_sees(msg: EmailMessage) -> list[tuple[str, str, str]]:
    """Every part's content type, decoded headers and decoded content.

    MIME's own headers are left out: the boundary is random, and a line over
    998 octets may be sent base64 where EmailMessage chose quoted-printable.
    """
    seen = []
    for part in msg.walk():
        headers = sorted(
            (name.lower(), str(value))
            for name, value in part.items()
            if name.lower() not in ("content-type", "mime-version", "content-transfer-encoding")
        )
        content = "" if part.is_multipart() else part.get_content()
        seen.append((part.get_content_type(), repr(headers), content))
    return seen


WELSH = dict(
    template="reminder",
    language="cy",
    salutation="Annwyl Mr Ŵyn ap Siôn",
    context={"study": "Panel Bywyd Cymru: â ê î ô û ŵ ŷ", "closes": "30 Mawrth"},
)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        WELSH,
        {**WELSH, "template": "invitation", "language": "cy-GB"},
        {"subject": "Diolch yn fawr iawn, " + "ŵ" * 120, "text": "Côd: V-123.\n" + "â" * 700},
        {"headers": {"X-Wave": "3", "X-Cohort": "Ŵyn"}, "unsubscribe_link": "http://h/u/1"},
        {"unsubscribe_link": "https://survey.example.ac.uk/u/" + "x" * 1200},
    ],
    ids=["english", "welsh", "welsh-regional", "long-lines", "headers", "long-link"],
)
def test_composed_bytes_read_as_the_email_message_did(
    changes: dict[str, Any], channel: EmailChannel
) -> None:
    sent = message(**changes)
    raw = channel.compose(sent).data
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322 2.1.1
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # non-ASCII headers are RFC 2047 encoded words
    got, want = _as_received(raw), _as_received(reference_message(channel, sent).as_bytes())
    assert _what_a_reader_sees(got) == _what_a_reader_sees(want)
    for part in got.walk():
        if not part.is_multipart():
            assert part["Content-Transfer-Encoding"] in ("7bit", "8bit", "base64")
    assert got.get_content_type() == want.get_content_type()
    assert got["MIME-Version"] == "1.0"
    if "cy" in sent.language:
        assert "Ŵyn ap Siôn" in parts(got)[0] and "â ê î ô û ŵ ŷ" in str(got["Subject"])


def test_bcc_given_as_a_header_is_not_sent(channel: EmailChannel) -> None:
    # send_message used to drop it; the hand-written message must too.
    raw = channel.compose(message(headers={"Bcc": "someone@example.org"})).data
    assert b"someone@example.org" not in raw


def test_welsh_bodies_are_declared_8bit_to_a_server_that_takes_them(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    channel.send(message(**WELSH))
    channel.send(message())
    welsh, english = smtp_server[1].received
    assert parts(welsh.message)[0].startswith("Annwyl Mr Ŵyn ap Siôn,")
    assert welsh.message.get_body(("plain",))["Content-Transfer-Encoding"] == "8bit"
    assert "BODY=8BITMIME" in welsh.mail_options  # RFC 6152: 8-bit data is declared
    assert "BODY=8BITMIME" not in english.mail_options


def test_an_address_beyond_ascii_goes_with_smtputf8(
    smtp_server: tuple[LoopbackController, Mailbox], channel: EmailChannel
) -> None:
    # The address parser takes a non-ASCII domain; send_message sent it with
    # SMTPUTF8 and the To header in UTF-8, and so does the composed message.
    assert channel.send(message(to="ann@exämple.org")).status == "sent"
    got = smtp_server[1].received[0]
    assert got.rcpt_tos == ["ann@exämple.org"] and got.message["To"] == "ann@exämple.org"
    assert "SMTPUTF8" in got.mail_options
