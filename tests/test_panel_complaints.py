"""Reading spam complaints (instrument/panel/complaints.py): ARF feedback reports, RFC 5965.

Each report is written here in the shape of RFC 5965's example (section 3 and
appendix B): a human-readable part, a ``message/feedback-report`` part of
fields, and the message complained of, whole (``message/rfc822``) or its
headers (``text/rfc822-headers``), about an email our channel wrote (its
``X-Instrument-Idempotency-Key`` and the ``Message-ID`` derived from it). The
recipient is redacted as providers redact it. Also: feedback that is not a
complaint, reports that are damaged or edited, and the bounce reader's verdict
on a report (which is what sends it here).
"""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from instrument.panel.bounces import read_bounce
from instrument.panel.complaints import COMPLAINT_TYPES, read_feedback_report
from instrument_channels.email import message_id

KEY = "w1.CK7Q2M9XPA.day0-invitation.email"
MESSAGE_ID = message_id(KEY, "example.ac.uk")

ORIGINAL = f"""\
Return-Path: <bounces@example.ac.uk>
Received: from relay.example.ac.uk (relay.example.ac.uk [192.0.2.10])
    by mx.mail.example.net with ESMTPS id 4fT9; Tue, 2 Mar 2027 10:00:05 +0000
From: Panel Team <panel@example.ac.uk>
To: redacted@mail.example.net
Subject: Your invitation to the families panel survey
Date: Tue, 02 Mar 2027 10:00:01 +0000
Message-ID: {MESSAGE_ID}
Auto-Submitted: auto-generated
X-Instrument-Idempotency-Key: {KEY}
List-Unsubscribe: <https://survey.example.ac.uk/web/unsubscribe/1.1.abc>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Language: en

Dear member, your next survey is ready.
"""


def arf(
    *,
    feedback_type: str = "abuse",
    returned: str = "message/rfc822",
    original: str = ORIGINAL,
    fields: str = "",
    feedback_part: str | None = None,
) -> bytes:
    """A feedback report as a provider's feedback loop sends one (RFC 5965, appendix B)."""
    if returned == "text/rfc822-headers":
        original = original.split("\n\n", 1)[0] + "\n"
    report = feedback_part
    if report is None:
        report = (
            "Content-Type: message/feedback-report\n\n"
            f"Feedback-Type: {feedback_type}\n"
            "User-Agent: ExampleFBL/2.1\n"
            "Version: 1\n"
            "Original-Mail-From: <bounces@example.ac.uk>\n"
            "Original-Rcpt-To: <redacted@mail.example.net>\n"
            "Arrival-Date: Tue, 02 Mar 2027 10:00:05 +0000\n"
            "Reporting-MTA: dns; fbl.mail.example.net\n"
            "Source-IP: 192.0.2.10\n"
            f"{fields}\n"
        )
    third = f"--ARF1\nContent-Type: {returned}\nContent-Disposition: inline\n\n{original}\n"
    return (
        "From: Feedback Loop <fbl@mail.example.net>\n"
        "To: bounces@example.ac.uk\n"
        "Subject: FW: Your invitation to the families panel survey\n"
        "Date: Tue, 02 Mar 2027 18:40:36 +0000\n"
        "Message-ID: <fbl-20270302-0001@mail.example.net>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report;\n"
        '    boundary="ARF1"\n\n'
        "--ARF1\n"
        'Content-Type: text/plain; charset="US-ASCII"\n'
        "Content-Transfer-Encoding: 7bit\n\n"
        "This is an email abuse report for an email message received from IP\n"
        "192.0.2.10 on Tue, 02 Mar 2027 10:00:05 +0000. A recipient marked it as spam.\n\n"
        f"--ARF1\n{report}\n"
        f"{third}"
        "--ARF1--\n"
    ).encode()


@pytest.mark.parametrize("returned", ["message/rfc822", "text/rfc822-headers"])
def test_an_abuse_report_is_a_complaint_about_the_message_it_returns(returned: str) -> None:
    report = read_feedback_report(arf(returned=returned))
    assert report.verdict == "complaint"
    assert report.reason == "a complaint (abuse) through a feedback loop"
    assert report.feedback_type == "abuse"
    assert report.keys == (KEY,)
    assert report.message_ids == (MESSAGE_ID,)
    assert report.consistent
    assert report.arrived_at == dt.datetime(2027, 3, 2, 10, 0, 5, tzinfo=dt.UTC)
    assert report.reported_by == "dns; fbl.mail.example.net"


def test_the_bounce_reader_sends_a_feedback_report_on_to_the_complaint_reader() -> None:
    bounce = read_bounce(arf())
    assert (bounce.verdict, bounce.form) == ("not_bounce", "feedback-report")


def test_fraud_is_a_complaint_and_the_type_is_read_whatever_its_case() -> None:
    assert {"abuse", "fraud"} == COMPLAINT_TYPES
    report = read_feedback_report(arf(feedback_type="Fraud"))
    assert (report.verdict, report.feedback_type) == ("complaint", "fraud")


@pytest.mark.parametrize(
    ("feedback_type", "says"),
    [
        ("not-spam", "marked it as not spam"),
        ("auth-failure", "authentication failure report (RFC 6591)"),
        ("virus", "carried a virus"),
        ("other", "of type 'other'"),
        ("opt-out", "feedback of type 'opt-out': not a complaint"),
    ],
)
def test_feedback_that_is_not_a_complaint_is_told_apart(feedback_type: str, says: str) -> None:
    report = read_feedback_report(arf(feedback_type=feedback_type))
    assert report.verdict == "not_complaint"
    assert says in report.reason
    assert report.keys == (KEY,)  # still read, for a person who wants to look


def test_the_message_is_named_only_by_the_returned_copy_s_own_headers() -> None:
    """A report's text, Original-Rcpt-To and its own In-Reply-To name nothing."""
    no_headers_of_ours = "\n".join(
        line
        for line in ORIGINAL.splitlines()
        if not line.startswith(("Message-ID:", "X-Instrument-Idempotency-Key:"))
    )
    raw = arf(
        original=no_headers_of_ours + "\n",
        fields=f"Removal-Recipient: ann@example.org\nX-Note: {KEY} {MESSAGE_ID}\n",
    ).replace(b"MIME-Version: 1.0\n", f"In-Reply-To: {MESSAGE_ID}\nMIME-Version: 1.0\n".encode(), 1)
    report = read_feedback_report(raw)
    assert (report.keys, report.message_ids) == ((), ())
    assert report.verdict == "complaint"  # a complaint, but about no email of ours
    assert "about a message with none of our headers" in report.reason


def test_a_message_id_alone_or_a_key_alone_names_the_message() -> None:
    only_id = ORIGINAL.replace(f"X-Instrument-Idempotency-Key: {KEY}\n", "")
    report = read_feedback_report(arf(original=only_id))
    assert (report.verdict, report.keys, report.message_ids) == ("complaint", (), (MESSAGE_ID,))
    only_key = ORIGINAL.replace(f"Message-ID: {MESSAGE_ID}\n", "")
    report = read_feedback_report(arf(original=only_key))
    assert (report.verdict, report.keys, report.message_ids) == ("complaint", (KEY,), ())


def test_a_relay_s_own_message_id_is_left_aside() -> None:
    """Some hosted relays put their own Message-ID on what they send: it names nothing of ours."""
    relayed = ORIGINAL.replace(MESSAGE_ID, "<0100017f2c9a-4be1-relay@email.example.com>")
    report = read_feedback_report(arf(original=relayed))
    assert (report.verdict, report.keys, report.our_message_ids) == ("complaint", (KEY,), ())
    assert report.consistent
    alone = relayed.replace(f"X-Instrument-Idempotency-Key: {KEY}\n", "")
    report = read_feedback_report(arf(original=alone))
    assert report.verdict == "complaint" and not (report.keys or report.our_message_ids)
    assert "about a message with none of our headers" in report.reason


def test_a_key_and_a_message_id_that_disagree_are_refused() -> None:
    edited = ORIGINAL.replace(KEY, "w1.CB9W5R7TQS.day0-invitation.email")
    report = read_feedback_report(arf(original=edited))
    assert report.verdict == "unreadable"
    assert report.reason == "a complaint whose Message-ID is not the one of its key: edited?"
    assert not report.consistent


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the file is empty"),
        (b"\x00\xff\xfe binary", "not a feedback report (multipart/report)"),
        (
            arf().replace(b"report-type=feedback-report", b"report-type=delivery-status"),
            "not a feedback report (multipart/report)",
        ),
        (
            arf(feedback_part="Content-Type: text/plain\n\nFeedback-Type: abuse\n"),
            "a feedback report without its message/feedback-report",
        ),
        (
            arf(feedback_part="Content-Type: message/feedback-report\n\nVersion: 1\n"),
            "a feedback report that gives no Feedback-Type",
        ),
        (
            arf(returned="text/plain"),
            "a complaint that returns no copy of the message",
        ),
    ],
)
def test_damaged_reports_are_unreadable_with_the_reason(raw: bytes, reason: str) -> None:
    report = read_feedback_report(raw)
    assert (report.verdict, report.reason) == ("unreadable", reason)


def test_a_feedback_part_encoded_against_the_rfc_is_still_read() -> None:
    fields = (
        "Feedback-Type: abuse\nUser-Agent: ExampleFBL/2.1\nVersion: 1\n"
        "Arrival-Date: 2 Mar 2027 10:00:05 -0000\n"
    )
    encoded = base64.encodebytes(fields.encode()).decode()
    report = read_feedback_report(
        arf(
            feedback_part=(
                "Content-Type: message/feedback-report\n"
                f"Content-Transfer-Encoding: base64\n\n{encoded}"
            )
        )
    )
    assert (report.verdict, report.feedback_type) == ("complaint", "abuse")
    assert report.arrived_at == dt.datetime(2027, 3, 2, 10, 0, 5, tzinfo=dt.UTC)
    assert report.reported_by == "ExampleFBL/2.1"  # no Reporting-MTA: the generator


def test_no_address_reaches_the_evidence() -> None:
    report = read_feedback_report(
        arf(feedback_part=("Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
                           "Version: 1\nReporting-MTA: dns; postmaster@fbl.example.net\n"))
    )  # fmt: skip
    assert report.reported_by == "dns; <address>"
    assert "@" not in report.reason
