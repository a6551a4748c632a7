"""Reading a bounce: what a delivery status notification says about one of our emails.

An SMTP server that takes a message and fails to deliver it later says so in a
message of its own to the envelope sender (the bounce mailbox): a delivery
status notification (DSN). Most are RFC 3464 reports (``multipart/report;
report-type=delivery-status``: a human part, a ``message/delivery-status``
part with one block of fields per recipient, and the original message or its
headers); some older servers and providers still write a plain-text notice
(Exim's "Mail delivery failed", qmail's "failure notice") with at most an
``X-Failed-Recipients`` header. The same mailbox also receives out-of-office
replies and read receipts, which are not bounces.

:func:`read_bounce` turns the bytes of one such message into a
:class:`BounceReport`: which of our messages it is about (the
``X-Instrument-Idempotency-Key`` the email channel writes, else the
``Message-ID`` it derives from the key, found in the returned original or in
``In-Reply-To``/``References``), the recipients and what happened to each
(action, RFC 3463 status, diagnostic), and one verdict: a permanent bounce
(5.x.x), a transient one (4.x.x, or "delayed": nothing final), a delivery
report, not a bounce at all, or unreadable. Pure: no database, no network, no
clock; it never raises on bad input (an unreadable file is a verdict with its
reason, so one bad file never stops a run over a mailbox).

Addresses are personal data: the verdict's ``reason`` never holds one, and
:func:`redact` takes them out of a diagnostic before it is stored or shown.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Final, Literal

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_BOUNCE_BYTES",
    "BounceReport",
    "Verdict",
    "RecipientStatus",
    "message_id_digest",
    "read_bounce",
    "redact",
]

IDEMPOTENCY_HEADER: Final = "X-Instrument-Idempotency-Key"
"""The header the email channel writes with the message's idempotency key (and a bounce quotes)."""

MAX_BOUNCE_BYTES: Final = 25 * 1024 * 1024
"""A larger file is not read: no server returns that much with a bounce."""

Verdict = Literal["bounce", "transient", "delivered", "not_bounce", "unreadable"]

_POLICY: Final = email.policy.default
_ADDRESS: Final = re.compile(r"[^\s<>()\[\],;:\"]+@(?:\[[^\]\s]+\]|[\w.-]*\w)")
_QUOTED_ADDRESS: Final = re.compile(rf"<?{_ADDRESS.pattern}>?")
_STATUS: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY: Final = re.compile(r"(?<![\d.])([45])\d\d(?=[\s-])")
_ANGLE_ID: Final = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_HEADER_LINE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]", re.MULTILINE)
_RETURNED_START: Final = re.compile(
    r"^(Return-Path|Received|From|To|Subject|Date|Message-ID|MIME-Version|"
    + re.escape(IDEMPOTENCY_HEADER)
    + r"):[ \t]",
    re.MULTILINE | re.IGNORECASE,
)
_DAEMON: Final = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system", re.I)
_FAILURE_SUBJECT: Final = re.compile(
    r"undeliver|delivery (status notification|failure|has failed)|mail delivery failed|"
    r"failure notice|returned mail|delivery failure|non[- ]?delivery|could not be delivered|"
    r"mail system error|delivery problem",
    re.I,
)
_DELAY_TEXT: Final = re.compile(
    r"delayed|still being retried|will (continue to )?(retry|try)|has not yet been delivered|"
    r"not (yet )?been delivered yet|temporar(y|ily)|warning: message",
    re.I,
)
_PERMANENT_TEXT: Final = re.compile(
    r"permanent (fatal )?error|permanently|user unknown|unknown user|no such (user|mailbox|"
    r"recipient)|does not exist|doesn't exist|mailbox unavailable|address rejected|"
    r"recipient not found|invalid recipient|account (has been )?disabled|no mailbox here",
    re.I,
)
_AUTO_SUBJECT: Final = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|away from|"
    r"abwesenheit|absence|r[ée]ponse automatique|auto:)",
    re.I,
)
_FAILED_LIST: Final = re.compile(
    r"(following (address(\(es\))?|recipients?)[^\n]*failed[^\n]*:|could not be delivered to[^\n]*:|"
    r"has not yet been delivered is:|have not yet been delivered are:)"
    r"\s*\n(?P<listed>(?:[ \t]*\S[^\n]*\n?){1,20})",
    re.I,
)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """What a report says happened to one recipient (one RFC 3464 per-recipient block)."""

    address: str | None
    """The final recipient (an address), or None when the report names none."""
    original: str | None
    """The original recipient, when the report gives it (a forward changed the final one)."""
    action: str
    """``failed``, ``delayed``, ``delivered``, ``relayed``, ``expanded`` (RFC 3464), or ``unknown``."""
    status: str | None
    """The RFC 3463 status (``5.1.1``), given or read from the diagnostic; None if there is none."""
    diagnostic: str | None
    """The remote server's words (``smtp; 550 5.1.1 ...``), addresses left in: see :func:`redact`."""

    @property
    def permanent(self) -> bool:
        """A 5.x.x status: the address itself will not take mail."""
        return self.status is not None and self.status.startswith("5")

    @property
    def final(self) -> bool:
        """Whether this recipient's message will not be tried again (failed, not delayed)."""
        return self.action == "failed"


@dataclass(frozen=True, slots=True)
class BounceReport:
    """One notification read: what it is about, and the verdict (see the module's docstring)."""

    verdict: Verdict
    reason: str
    """Why this verdict, in words for a person (never an address)."""
    form: str = ""
    """How it was read: ``rfc3464``, ``plain-text notice``, ``auto-reply``, ``read receipt`` ..."""
    keys: tuple[str, ...] = ()
    """Idempotency keys of the original message found in it."""
    message_ids: tuple[str, ...] = ()
    """``Message-ID``s (``<...>``) of the original found in it (returned headers, In-Reply-To)."""
    recipients: tuple[RecipientStatus, ...] = ()
    sent_to: tuple[str, ...] = ()
    """The addresses in the returned original's ``To``: what we sent to."""

    @property
    def refers_to_a_message(self) -> bool:
        """It names a message (by key or Message-ID) that may be ours."""
        return bool(self.keys or self.message_ids)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address the report says failed, then those the original was sent to; no repeats."""
        found: dict[str, None] = {}
        for recipient in self.recipients:
            for address in (recipient.address, recipient.original):
                if address:
                    found.setdefault(address, None)
        for address in self.sent_to:
            found.setdefault(address, None)
        return tuple(found)

    @property
    def diagnostic(self) -> str | None:
        """The first failing recipient's status and diagnostic, addresses taken out."""
        for recipient in self.recipients:
            if recipient.action in ("failed", "delayed"):
                words = " ".join(filter(None, (recipient.status, recipient.diagnostic)))
                return redact(words)[:500] or None
        return None


def redact(text: str | None) -> str:
    """``text`` with every email address replaced by ``<address>`` (diagnostics quote them)."""
    if not text:
        return ""
    return " ".join(_QUOTED_ADDRESS.sub("<address>", text).split())


def message_id_digest(key: str) -> str:
    """The local part of the ``Message-ID`` the email channel gives the message with ``key``.

    The same rule as ``instrument_channels.email.message_id`` (a test holds them
    together): the first 40 hex digits of SHA-256 of the key.
    """
    import hashlib

    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


# ---------------------------------------------------------------------------- reading


def read_bounce(raw: bytes) -> BounceReport:
    """The report in the message ``raw`` (a whole message, as a Maildir file or mbox entry holds it).

    Never raises: a file that is not a message, or that the parser chokes on,
    is an ``unreadable`` verdict with the reason.
    """
    if not raw or not raw.strip():
        return BounceReport("unreadable", "the file is empty")
    if len(raw) > MAX_BOUNCE_BYTES:
        return BounceReport("unreadable", f"larger than {MAX_BOUNCE_BYTES // 2**20} MB")
    try:
        message = email.message_from_bytes(raw, policy=_POLICY)
        if not _has_headers(message):
            return BounceReport("unreadable", "not an email message: no mail headers at its start")
        return _classify(message)
    except Exception as exc:  # a bad file is a verdict, never the end of the run
        return BounceReport("unreadable", f"the message cannot be parsed ({type(exc).__name__})")


def _has_headers(message: Message) -> bool:
    names = {name.lower() for name in message.keys()}
    return bool(names & {"from", "to", "subject", "date", "message-id", "content-type"})


@dataclass(frozen=True, slots=True)
class _Parts:
    """A message's parts walked once, each content type parsed once (the policy parses it anew
    on every ``get_content_type``, most of the time a report took)."""

    typed: tuple[tuple[Message, str], ...]
    texts: tuple[str, ...]
    """The text of the ``text/*`` parts outside the returned original and the status fields."""

    @classmethod
    def of(cls, message: Message) -> _Parts:
        typed = tuple((part, part.get_content_type()) for part in message.walk())
        inside: set[int] = set()
        texts: list[str] = []
        for part, kind in typed:
            if kind in _RETURNED_TYPES or kind in _STATUS_TYPES:
                inside.update(id(inner) for inner in _walk_below(part))
            elif id(part) not in inside and kind.startswith("text/"):
                text = _text_of(part)
                if text:
                    texts.append(text)
        return cls(typed, tuple(texts))

    def of_type(self, kinds: frozenset[str]) -> list[Message]:
        return [part for part, kind in self.typed if kind in kinds]


def _classify(message: Message) -> BounceReport:
    parts = _Parts.of(message)
    keys, message_ids, sent_to = _references(message, parts)
    refs = {"keys": keys, "message_ids": message_ids, "sent_to": sent_to}
    report_type = (message.get_param("report-type", "", header="content-type") or "").lower()
    status_parts = parts.of_type(_STATUS_TYPES)
    if message.get_content_type() == "multipart/report" and report_type in (
        "disposition-notification",
        "feedback-report",
    ):
        what = "a read receipt" if report_type.startswith("disposition") else "an abuse report"
        return BounceReport("not_bounce", f"{what}, not a delivery report", report_type, **refs)
    if status_parts:
        recipients = tuple(r for part in status_parts for r in _status_blocks(part))
        return _verdict(recipients, "rfc3464", refs)
    if _looks_like_plain_notice(message):
        return _verdict(_plain_recipients(message, parts), "plain-text notice", refs)
    auto = _auto_reply(message)
    if auto:
        return BounceReport("not_bounce", f"an automatic reply ({auto})", "auto-reply", **refs)
    return BounceReport(
        "not_bounce", "an ordinary message: no delivery report in it", "message", **refs
    )


_STATUS_TYPES: Final = frozenset(("message/delivery-status", "message/global-delivery-status"))
_RETURNED_TYPES: Final = frozenset(
    ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
)


def _verdict(
    recipients: tuple[RecipientStatus, ...], form: str, refs: dict[str, tuple[str, ...]]
) -> BounceReport:
    def report(verdict: Verdict, reason: str) -> BounceReport:
        return BounceReport(verdict, reason, form, recipients=recipients, **refs)

    if not recipients:
        return report("unreadable", f"a {form} that names no recipient and no status")
    failed = [r for r in recipients if r.final]
    permanent = [r for r in failed if r.permanent]
    if permanent:
        return report("bounce", f"permanent failure ({permanent[0].status})")
    if failed:
        statuses = sorted({r.status for r in failed if r.status})
        if statuses:
            return report("transient", f"failed for a passing reason ({', '.join(statuses)})")
        return report("transient", "failed, with no status saying whether for good")
    if any(r.action == "delayed" for r in recipients):
        return report("transient", "delayed: the server is still trying")
    if all(r.action in ("delivered", "relayed", "expanded") for r in recipients):
        return report("delivered", f"{recipients[0].action}: a delivery report, not a bounce")
    return report("transient", "a report whose action is not one RFC 3464 names")


def _status_blocks(part: Message) -> Iterator[RecipientStatus]:
    """The per-recipient blocks of a ``message/delivery-status`` part (the first block is per message)."""
    payload = part.get_payload()
    blocks: list[Message]
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
    else:  # a server that wrote the fields as text
        text = _text_of(part)
        parser = email.parser.HeaderParser(policy=_POLICY)
        blocks = [parser.parsestr(chunk) for chunk in re.split(r"\n[ \t]*\n", text) if chunk]
    for block in blocks:
        final = _typed_address(block.get("Final-Recipient"))
        original = _typed_address(block.get("Original-Recipient"))
        action_text = _field(block, "Action").lower()
        if not (final or original or action_text):
            continue  # the per-message block
        action = action_text.split()[0] if action_text else "unknown"
        if action not in ("failed", "delayed", "delivered", "relayed", "expanded"):
            action = "unknown"
        diagnostic = _field(block, "Diagnostic-Code") or None
        status = _status_in(_field(block, "Status")) or _status_in(diagnostic)
        yield RecipientStatus(final or original, original, action, status, diagnostic)


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _typed_address(value: object) -> str | None:
    """The address of an RFC 3464 address field (``rfc822; ann@example.org``)."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    kind, _, address = text.partition(";")
    if not address:
        address = kind
    found = _ADDRESS.search(address)
    return found.group(0).strip(".") if found else None


def _status_in(text: str | None) -> str | None:
    """An RFC 3463 status in ``text``, else one inferred from an SMTP reply code (``550`` → 5.0.0)."""
    if not text:
        return None
    found = _STATUS.search(text)
    if found:
        return ".".join(found.groups())
    reply = _SMTP_REPLY.search(text)
    return f"{reply.group(1)}.0.0" if reply else None


# ---------------------------------------------------------------------------- plain notices


def _looks_like_plain_notice(message: Message) -> bool:
    if message.get("X-Failed-Recipients"):
        return True
    sender = str(message.get("From", ""))
    subject = str(message.get("Subject", ""))
    return bool(_DAEMON.search(sender)) and bool(
        _FAILURE_SUBJECT.search(subject) or _DELAY_TEXT.search(subject)
    )


def _plain_recipients(message: Message, parts: _Parts) -> tuple[RecipientStatus, ...]:
    """The failed recipients of a notice with no RFC 3464 part, and what its words say of them."""
    text = "\n".join(parts.texts)
    subject = str(message.get("Subject", ""))
    addresses: dict[str, None] = {}
    for value in message.get_all("X-Failed-Recipients") or ():
        for found in _ADDRESS.finditer(str(value)):
            addresses.setdefault(found.group(0), None)
    if not addresses:
        for listing in _FAILED_LIST.finditer(text):
            for line in listing.group("listed").splitlines():
                found = _ADDRESS.search(line)
                if found is None:
                    break
                addresses.setdefault(found.group(0), None)
    if not addresses:  # qmail: "<ann@example.org>:" at the start of a line
        for found in re.finditer(r"^<([^<>\s]+@[^<>\s]+)>:", text, re.MULTILINE):
            addresses.setdefault(found.group(1), None)
    delayed = bool(_DELAY_TEXT.search(subject)) and not _FAILURE_SUBJECT.search(subject)
    status = _status_in(text)
    if status is None and _PERMANENT_TEXT.search(text):
        status = "5.0.0"
    diagnostic = _diagnostic_line(text)
    action = "delayed" if delayed else "failed"
    if not addresses and status is None:
        return ()
    return tuple(
        RecipientStatus(address, None, action, status, diagnostic) for address in addresses
    ) or (RecipientStatus(None, None, action, status, diagnostic),)


def _diagnostic_line(text: str) -> str | None:
    """The notice's line that gives a status or reply code, else one that says why in words."""
    lines = text.splitlines()
    for pattern in (_STATUS, _SMTP_REPLY, _PERMANENT_TEXT):
        for line in lines:
            if pattern.search(line):
                return " ".join(line.split())[:500]
    return None


def _auto_reply(message: Message) -> str | None:
    """Why ``message`` is an automatic reply (RFC 3834 and the usual markers), or None."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted.split(';')[0]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder"):
        if message.get(name) is not None:
            return name
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    if _AUTO_SUBJECT.search(str(message.get("Subject", ""))):
        return "its subject"
    return None


# ---------------------------------------------------------------------------- the original


def _references(
    message: Message, parts: _Parts
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The keys, Message-IDs and ``To`` addresses of the original message quoted in ``message``."""
    keys: dict[str, None] = {}
    ids: dict[str, None] = {}
    sent_to: dict[str, None] = {}
    for headers in _returned_headers(parts):
        for value in headers.get_all(IDEMPOTENCY_HEADER) or ():
            key = "".join(str(value).split())
            if key and len(key) <= 200:
                keys.setdefault(key, None)
        for value in headers.get_all("Message-ID") or ():
            for found in _ANGLE_ID.finditer(str(value)):
                ids.setdefault(found.group(0), None)
        for value in headers.get_all("To") or ():
            for found in _ADDRESS.finditer(str(value)):
                sent_to.setdefault(found.group(0), None)
    for name in ("In-Reply-To", "References"):
        for value in message.get_all(name) or ():
            for found in _ANGLE_ID.finditer(str(value)):
                ids.setdefault(found.group(0), None)
    return tuple(keys), tuple(ids), tuple(sent_to)


def _returned_headers(parts: _Parts) -> Iterator[Message]:
    """The header blocks of the original: returned parts, then any quoted in a text part."""
    parser = email.parser.HeaderParser(policy=_POLICY)
    for part in parts.of_type(_RETURNED_TYPES):
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            yield payload[0]
        else:
            yield parser.parsestr(_text_of(part))
    for text in parts.texts:
        for start in _RETURNED_START.finditer(text):
            block = parser.parsestr(text[start.start() :])
            if len(block.keys()) >= 2:  # a run of headers, not a sentence that starts "To: "
                yield block
                break


def _walk_below(part: Message) -> Iterable[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        for inner in payload:
            if isinstance(inner, Message):
                yield from inner.walk()


def _text_of(part: Message) -> str:
    """A part's text, decoded by its transfer encoding and charset, whatever they claim."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", "replace")
