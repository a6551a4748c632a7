"""Reading a spam complaint: an ARF feedback report about one of our emails (RFC 5965).

A member who presses "this is spam" in a webmail or mail client tells their
mailbox provider, not us. Providers that run a *feedback loop* (Microsoft's
JMRP, Yahoo's CFL, many ISPs; the sender registers its domain or IP address)
then send the sender an Abuse Reporting Format report: a message of type
``multipart/report; report-type=feedback-report`` whose three parts are a
human-readable text, a ``message/feedback-report`` part of fields
(``Feedback-Type: abuse``, ``User-Agent``, ``Version: 1``, optionally
``Arrival-Date``, ``Original-Rcpt-To``, ``Reporting-MTA`` ...) and the
complained-of message, whole (``message/rfc822``) or its header block
(``text/rfc822-headers``). The reports come to the envelope sender, so they
land in the bounce mailbox beside the delivery reports.

:func:`read_feedback_report` turns the bytes of such a report into a
:class:`FeedbackReport`: its feedback type, whether that is a complaint, and
which of our messages it is about, read **only from the returned message's
own headers** (the ``X-Instrument-Idempotency-Key`` and the ``Message-ID``
the email channel wrote). Nothing else in a report identifies the message:
not the human text, not ``Original-Rcpt-To`` or ``Removal-Recipient`` (which
providers redact, and anyone can write), not the report's own
``In-Reply-To``. So a complaint is honoured only when it carries a copy of
what we sent, and a report whose key and Message-ID disagree is refused.

Pure, as the bounce reader (:mod:`instrument.panel.bounces`): no database, no
network, no clock, never raises on bad input (an unreadable report is a
verdict with its reason). Addresses are never part of a reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.parser
import email.policy
import email.utils
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from typing import Final, Literal

from instrument.panel.bounces import (
    IDEMPOTENCY_HEADER,
    MAX_BOUNCE_BYTES,
    message_id_digest,
    redact,
)

__all__ = [
    "COMPLAINT_TYPES",
    "FeedbackReport",
    "FeedbackVerdict",
    "read_feedback_report",
]

FeedbackVerdict = Literal["complaint", "not_complaint", "unreadable"]

COMPLAINT_TYPES: Final = frozenset({"abuse", "fraud"})
"""Feedback types that say the recipient flagged the message (spam; phishing or fraud)."""

_OTHER_TYPES: Final = {
    "not-spam": "the recipient marked it as not spam (RFC 6430): nothing to stop",
    "auth-failure": (
        "an authentication failure report (RFC 6591): check the relay's SPF and DKIM; "
        "not a member's complaint"
    ),
    "virus": "a report that the message carried a virus: not a member's complaint",
    "other": "feedback of type 'other': not a complaint",
}
"""What each registered feedback type that is not a complaint means, for the person reading."""

_POLICY: Final = email.policy.default
_RETURNED_TYPES: Final = frozenset(("message/rfc822", "text/rfc822-headers", "message/global"))
_ANGLE_ID: Final = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_OUR_ID: Final = re.compile(r"<[0-9a-f]{40}@[^<>\s]+>")
_TOKEN: Final = re.compile(r"[a-z0-9][a-z0-9.+-]{0,40}")
_FIELD_MAX: Final = 200


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """One feedback report read: the verdict, and which of our messages it names."""

    verdict: FeedbackVerdict
    reason: str
    """Why this verdict, in words for a person (never an address)."""
    feedback_type: str | None = None
    """``abuse``, ``fraud``, ``not-spam``, ``auth-failure``, ``virus``, ``other``, lower case."""
    keys: tuple[str, ...] = ()
    """Idempotency keys in the returned message's ``X-Instrument-Idempotency-Key``."""
    message_ids: tuple[str, ...] = ()
    """The returned message's ``Message-ID`` (``<...>``)."""
    arrived_at: dt.datetime | None = None
    """``Arrival-Date``: when the provider received the message complained of (UTC)."""
    reported_by: str | None = None
    """Who reported it (``Reporting-MTA``, else ``User-Agent``), for the evidence."""

    @property
    def our_message_ids(self) -> tuple[str, ...]:
        """The Message-IDs of the shape the email channel writes (``<40 hex digits@domain>``).

        A relay may put a Message-ID of its own on a message (some hosted relays
        do); such an id names nothing we recorded, so it is left out rather than
        taken for a sign of editing.
        """
        return tuple(mid for mid in self.message_ids if _OUR_ID.fullmatch(mid))

    @property
    def consistent(self) -> bool:
        """Every Message-ID of ours quoted is the one derived from a key quoted (or one kind only).

        The email channel derives the Message-ID from the key, so in a true copy
        of our message they agree; a report whose two disagree was edited, and
        names no message of ours for certain.
        """
        if not (self.keys and self.our_message_ids):
            return True
        digests = {message_id_digest(key) for key in self.keys}
        return all(mid[1:].partition("@")[0] in digests for mid in self.our_message_ids)


def read_feedback_report(raw: bytes) -> FeedbackReport:
    """The feedback report in the message ``raw`` (a whole message, as a Maildir file holds it).

    Never raises: what cannot be read as an RFC 5965 report is ``unreadable``
    with the reason.
    """
    if not raw or not raw.strip():
        return FeedbackReport("unreadable", "the file is empty")
    if len(raw) > MAX_BOUNCE_BYTES:
        return FeedbackReport("unreadable", f"larger than {MAX_BOUNCE_BYTES // 2**20} MB")
    try:
        message = email.message_from_bytes(raw, policy=_POLICY)
        return _read(message)
    except Exception as exc:  # a bad file is a verdict, never the end of the run
        return FeedbackReport(
            "unreadable", f"the feedback report cannot be parsed ({type(exc).__name__})"
        )


def _read(message: Message) -> FeedbackReport:
    report_type = (message.get_param("report-type", "", header="content-type") or "").lower()
    if message.get_content_type() != "multipart/report" or report_type != "feedback-report":
        return FeedbackReport("unreadable", "not a feedback report (multipart/report)")
    parts = message.get_payload()
    if not isinstance(parts, list):
        return FeedbackReport("unreadable", "a feedback report with no parts")
    kinds = [(part, part.get_content_type()) for part in parts if isinstance(part, Message)]
    fields = next(
        (_header_block(p) for p, kind in kinds if kind == "message/feedback-report"), None
    )
    if fields is None:
        return FeedbackReport("unreadable", "a feedback report without its message/feedback-report")
    feedback_type = _token(fields.get("Feedback-Type"))
    if feedback_type is None:
        return FeedbackReport("unreadable", "a feedback report that gives no Feedback-Type")
    returned = next((p for p, kind in kinds if kind in _RETURNED_TYPES), None)
    keys, message_ids = _our_headers(returned) if returned is not None else ((), ())
    found = FeedbackReport(
        "complaint",
        "",
        feedback_type,
        keys,
        message_ids,
        _date(fields.get("Arrival-Date") or fields.get("Received-Date")),
        _one_line(fields.get("Reporting-MTA") or fields.get("User-Agent")),
    )
    if feedback_type not in COMPLAINT_TYPES:
        why = _OTHER_TYPES.get(
            feedback_type, f"feedback of type {feedback_type!r}: not a complaint"
        )
        return _with(found, "not_complaint", why)
    if returned is None:
        return _with(found, "unreadable", "a complaint that returns no copy of the message")
    if not (keys or found.our_message_ids):
        return _with(
            found,
            "complaint",
            f"a complaint ({feedback_type}) about a message with none of our headers",
        )
    if not found.consistent:
        return _with(
            found, "unreadable", "a complaint whose Message-ID is not the one of its key: edited?"
        )
    return _with(found, "complaint", f"a complaint ({feedback_type}) through a feedback loop")


def _with(report: FeedbackReport, verdict: FeedbackVerdict, reason: str) -> FeedbackReport:
    return FeedbackReport(
        verdict,
        reason,
        report.feedback_type,
        report.keys,
        report.message_ids,
        report.arrived_at,
        report.reported_by,
    )


def _header_block(part: Message) -> Message:
    """The header block a ``message/*`` or ``text/rfc822-headers`` part holds.

    The standard library parses a ``message/*`` part's body as a message of its
    own. A generator that encoded such a part (base64, against RFC 2046 and
    5965) gets a message with no headers and the encoded text as its body: that
    text is decoded and parsed here, as is a ``text/rfc822-headers`` part.
    """
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
        if inner.keys():
            return inner
        body = inner.get_payload()
        text = _decoded(
            body if isinstance(body, str) else "", part.get("Content-Transfer-Encoding")
        )
    else:
        text = _text(part)
    return email.parser.HeaderParser(policy=_POLICY).parsestr(text)


def _our_headers(returned: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys and Message-IDs in the header block of the message returned with the report."""
    headers = _header_block(returned)
    keys: dict[str, None] = {}
    for value in headers.get_all(IDEMPOTENCY_HEADER) or ():
        key = "".join(str(value).split())
        if key and len(key) <= _FIELD_MAX:
            keys.setdefault(key, None)
    ids: dict[str, None] = {}
    for value in headers.get_all("Message-ID") or ():
        for found in _ANGLE_ID.finditer(str(value)):
            ids.setdefault(found.group(0), None)
    return tuple(keys), tuple(ids)


def _decoded(body: str, transfer_encoding: object) -> str:
    """``body`` decoded from the part's transfer encoding (base64, quoted-printable), as text."""
    encoding = str(transfer_encoding or "").strip().lower()
    if encoding == "base64":
        return base64.b64decode(body.encode("ascii", "ignore")).decode("utf-8", "replace")
    if encoding == "quoted-printable":
        return quopri.decodestring(body.encode("ascii", "ignore")).decode("utf-8", "replace")
    return body


def _text(part: Message) -> str:
    """A part's body as text, whatever its transfer encoding claims."""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data.decode(part.get_content_charset() or "utf-8", "replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _token(value: object) -> str | None:
    """A field's value as one lower-case token (``abuse``), or None."""
    if value is None:
        return None
    found = _TOKEN.match(" ".join(str(value).split()).lower())
    return found.group(0) if found else None


def _date(value: object) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(" ".join(str(value).split()))
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": a time in UTC from a host that does not know its zone
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _one_line(value: object) -> str | None:
    """A field as one short line for the evidence (a host name, a program), addresses taken out."""
    if value is None:
        return None
    text = redact(" ".join(str(value).split()))[:_FIELD_MAX]
    return text or None
