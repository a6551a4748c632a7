"""Reading bounces (instrument/panel/bounces.py): each sample in tests/bounce_samples/, and garbage.

The samples are written for these tests in the shapes real servers use:
Postfix, Exchange Online and Gmail RFC 3464 reports (returning the original's
headers as text/rfc822-headers or the whole message/rfc822), Exim's and
qmail's plain-text notices, a Postfix delay warning and an Exim one, an
Outlook out-of-office reply, a read receipt, a report about somebody else's
message, and files that are no message at all. Addresses are example ones.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from instrument.panel.bounces import (
    MAX_BOUNCE_BYTES,
    BounceReport,
    message_id_digest,
    read_bounce,
    redact,
)
from instrument_channels.email import message_id

SAMPLES = Path(__file__).parent / "bounce_samples"


def sample(name: str) -> BounceReport:
    return read_bounce((SAMPLES / f"{name}.eml").read_bytes())


# name: verdict, form, keys, Message-IDs (digests), the failed address, status
EXPECTED = {
    "postfix": (
        "bounce",
        "rfc3464",
        ("w1.CK7Q2M9XPA.day0-invitation.email",),
        ("558c12eb964e9903296edee14b3de1cec449a981",),
        "eve@example.org",
        "5.1.1",
    ),
    "exchange": (
        "bounce",
        "rfc3464",
        (),
        ("2895794e8a3420ea771907d53526c3cf987d5625",),
        "dafydd.jones@council.example.org",
        "5.1.10",
    ),
    "gmail": (
        "bounce",
        "rfc3464",
        ("w1.CM2J8F4KVY.day0-invitation.email",),
        ("f398549480270bfe954a7a0819de0fe09f785342",),
        "gwen.example1987@gmail.example.com",
        "5.1.1",
    ),
    "exim": (
        "bounce",
        "plain-text notice",
        ("w1.CR4T8N2WBE.day3-reminder.email",),
        ("4882136addde1a4fdb4e937b5a19363966c0c963",),
        "bryn.old@example.net",
        "5.7.1",
    ),
    "qmail": (
        "bounce",
        "plain-text notice",
        ("w1.CX3L6H8MND.day0-invitation.email",),
        ("805ccf17840c88af402a059bee7b9cc32cf448ec",),
        "iolo@old.example.org",
        "5.1.1",
    ),
    "delayed": (
        "transient",
        "rfc3464",
        ("w1.CB9W5R7TQS.day12-reminder.email",),
        ("ce24e0ff44de379e97625091deeda279b673f4b1",),
        "huw@slow.example.org",
        "4.4.1",
    ),
    "exim_delayed": (
        "transient",
        "plain-text notice",
        (),
        ("4882136addde1a4fdb4e937b5a19363966c0c963",),
        "huw@slow.example.org",
        "4.7.1",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_report_says_what_it_is_about(name: str) -> None:
    verdict, form, keys, digests, address, status = EXPECTED[name]
    report = sample(name)
    assert (report.verdict, report.form) == (verdict, form), report.reason
    assert report.keys == keys
    assert {mid[1:].partition("@")[0] for mid in report.message_ids} == set(digests)
    assert report.addresses[0] == address
    assert [r.status for r in report.recipients] == [status]
    assert report.recipients[0].permanent is status.startswith("5")
    assert "@" not in report.reason
    diagnostic = report.diagnostic
    assert diagnostic is not None and diagnostic.startswith(status) and "@" not in diagnostic


def test_the_keys_found_are_those_the_message_ids_were_made_from() -> None:
    """Where a report quotes both, the Message-ID is the email channel's for that key."""
    for name in ("postfix", "gmail", "exim", "qmail", "delayed"):
        report = sample(name)
        (key,) = report.keys
        assert report.message_ids == (message_id(key, "example.ac.uk"),)
        assert message_id_digest(key) == report.message_ids[0][1:41]


def test_the_returned_original_gives_the_address_it_was_sent_to() -> None:
    assert sample("postfix").sent_to == ("eve@example.org",)
    assert sample("exchange").sent_to == ("dafydd.jones@council.example.org",)
    report = sample("postfix")
    (recipient,) = report.recipients
    assert (recipient.action, recipient.original) == ("failed", "eve@example.org")
    assert "User unknown in virtual mailbox table" in (recipient.diagnostic or "")


def test_a_delay_is_not_final() -> None:
    for name in ("delayed", "exim_delayed"):
        report = sample(name)
        assert report.verdict == "transient"
        assert [r.action for r in report.recipients] == ["delayed"]
        assert not any(r.final or r.permanent for r in report.recipients)


def test_an_out_of_office_reply_is_not_a_bounce() -> None:
    report = sample("out_of_office")
    assert report.verdict == "not_bounce"
    assert report.reason == "an automatic reply (Auto-Submitted: auto-replied)"
    assert report.recipients == ()
    # it answers one of our messages, and says so, but that makes it no bounce
    assert report.message_ids


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("X-Autoreply: yes", "X-Autoreply"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("X-Other: 1", "its subject"),
    ],
)
def test_other_marks_of_an_automatic_reply(header: str, why: str) -> None:
    raw = (
        "From: Ann Example <ann@example.org>\nTo: bounces@example.ac.uk\n"
        f"Subject: Out of Office: your invitation\n{header}\n\nAway until Monday.\n"
    ).encode()
    report = read_bounce(raw)
    assert (report.verdict, report.reason) == ("not_bounce", f"an automatic reply ({why})")


def test_a_read_receipt_and_an_ordinary_message_are_not_bounces() -> None:
    assert sample("read_receipt").reason == "a read receipt, not a delivery report"
    plain = read_bounce(b"From: ann@example.org\nSubject: a question\n\nWhen does it close?\n")
    assert (plain.verdict, plain.reason) == (
        "not_bounce",
        "an ordinary message: no delivery report in it",
    )


def test_a_report_about_somebody_elses_message_names_none_of_ours() -> None:
    report = sample("not_ours")
    assert report.verdict == "bounce"
    assert not report.refers_to_a_message


def _dsn(fields: str) -> bytes:
    return (
        "From: MAILER-DAEMON@relay.example.ac.uk\nTo: bounces@example.ac.uk\n"
        "Subject: Delivery report\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nA report.\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.ac.uk\n\n"
        f"{fields}\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        "To: ann@example.org\nMessage-ID: <0123456789abcdef0123456789abcdef01234567@example.ac.uk>\n"
        "X-Instrument-Idempotency-Key: w3.CAAAAAAAAA.day0-invitation.email\n\n--b--\n"
    ).encode()


@pytest.mark.parametrize(
    ("fields", "verdict", "status"),
    [
        ("Final-Recipient: rfc822; ann@example.org\nAction: relayed\nStatus: 2.0.0", "delivered", "2.0.0"),
        ("Final-Recipient: rfc822; ann@example.org\nAction: delivered\nStatus: 2.0.0", "delivered", "2.0.0"),
        # gave up after days of a passing error: the message failed, the address is not known bad
        ("Final-Recipient: rfc822; ann@example.org\nAction: failed\nStatus: 4.4.7", "transient", "4.4.7"),
        # a status with its comment; a status read from the SMTP reply when the field is missing
        ("Final-Recipient: rfc822; ann@example.org\nAction: failed\nStatus: 5.2.1 (mailbox disabled)", "bounce", "5.2.1"),
        ("Final-Recipient: rfc822; ann@example.org\nAction: Failed\nDiagnostic-Code: smtp; 550 no such user", "bounce", "5.0.0"),
        ("Final-Recipient: rfc822; ann@example.org\nAction: failed", "transient", None),
    ],
)  # fmt: skip
def test_the_action_and_status_decide(fields: str, verdict: str, status: str | None) -> None:
    report = read_bounce(_dsn(fields))
    assert report.verdict == verdict, report.reason
    assert [r.status for r in report.recipients] == [status]
    assert report.keys == ("w3.CAAAAAAAAA.day0-invitation.email",)


def test_a_report_with_no_recipient_block_is_unreadable_with_its_reason() -> None:
    report = read_bounce(_dsn("Arrival-Date: Tue, 2 Mar 2027 10:00:00 +0000"))
    assert (report.verdict, report.reason) == (
        "unreadable",
        "a rfc3464 that names no recipient and no status",
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("garbage_empty", "the file is empty"),
        ("garbage_binary", "not an email message: no mail headers at its start"),
        ("garbage_text", "not an email message: no mail headers at its start"),
    ],
)
def test_garbage_is_unreadable_with_a_reason(name: str, reason: str) -> None:
    assert (sample(name).verdict, sample(name).reason) == ("unreadable", reason)


def test_a_file_too_large_is_not_read() -> None:
    report = read_bounce(b"From: x@example.org\n\n" + b"a" * MAX_BOUNCE_BYTES)
    assert (report.verdict, report.reason) == ("unreadable", "larger than 25 MB")


def test_no_damaged_file_stops_the_reader() -> None:
    """Every sample cut short, and bytes flipped at random: a verdict each time, never an exception."""
    rng = random.Random(13)
    verdicts = set()
    for path in sorted(SAMPLES.glob("*.eml")):
        data = path.read_bytes()
        for cut in range(0, len(data), 53):
            verdicts.add(read_bounce(data[:cut]).verdict)
        for _ in range(40):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 30)):
                if damaged:
                    damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            verdicts.add(read_bounce(bytes(damaged)).verdict)
    assert verdicts <= {"bounce", "transient", "delivered", "not_bounce", "unreadable"}
    assert {"bounce", "unreadable", "not_bounce"} <= verdicts


def test_redact_takes_addresses_out() -> None:
    assert redact("550 5.1.1 <eve@example.org>: Recipient address rejected") == (
        "550 5.1.1 <address>: Recipient address rejected"
    )
    assert redact("to SRS0=ab=cd@example.org and ann.o'neil@example.org.") == (
        "to <address> and <address>."
    )
