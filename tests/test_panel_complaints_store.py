"""Spam complaints honoured end to end, on SQLite and PostgreSQL (issue 13: a member who marks our
email as spam is not emailed again).

The real email channel sends the flagship wave's invitations to aiosmtpd on
127.0.0.1. A feedback loop's report (RFC 5965, in the shape of the RFC's
example) is then written around the message that server really received, the
recipient redacted as providers redact it, and dropped into the bounce Maildir;
``instrument panel bounces`` reads it through click's runner, or the worker
does each round. The complaint is kept on the message, every email address of
the member (and the complained-of address for whoever shares it) is opted out
with a history entry as evidence, the next round sends them texts but no
email, and the same report read again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import mailbox
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from instrument.panelwork.bounce_intake import BOUNCE_MAILDIR_ENV
from instrument.store import Store
from instrument.store.schema import panel_messages
from instrument_channels.email import IDEMPOTENCY_HEADER, message_id
from tests.store_fixtures import *
from tests.test_channels_email import smtp_server
from tests.test_fieldwork_worker import (
    Channels,
    a_worker,
    channels,
    clock,
    run_until_idle,
    steps_of,
)
from tests.test_panel_bounces_store import maildir, run_bounces, snapshot
from tests.test_panel_waves_store import (
    DAY0,
    PANEL,
    Panel,
    import_panel,
    member_case,
    open_flagship,
    panel_keys,
)
from tests.test_web_support import FakeClock

__all__ = ["channels", "clock", "smtp_server"]  # fixtures, imported to be found

MEMBERS = """\
external_id,status,language,name,email,email_2,phone,n_children,age_band,lone_parent
F001,active,en,Ann Example,ann@example.org,ann.work@example.com,07911 123456,2,3,1
F002,active,cy,Bryn Enghraifft,bryn@example.org,,07911 123999,1,2,2
F006,active,en,Huw Example,ann@example.org,,07911 123888,1,3,1
"""
"""Ann has two addresses; Huw, in her household, gets his email at hers."""

FOREIGN = "w1.CZZZZZZZZZ.day0-invitation.email"


def arf(received: Any, *, feedback_type: str = "abuse", key: str | None = None) -> bytes:
    """A feedback loop's report on the message ``received``, the whole message returned.

    The recipient is redacted, as providers do: the report names the message
    only by what we wrote in it. ``key`` puts another idempotency key in the
    returned copy (a report about somebody else's email, or an edited one).
    """
    original = received.message.as_string().replace("\r\n", "\n")
    original = original.replace(f"To: {received.rcpt_tos[0]}", "To: redacted@mail.example.net", 1)
    if key is not None:
        ours = str(received.message[IDEMPOTENCY_HEADER])
        original = original.replace(ours, key)
    return (
        "From: Feedback Loop <fbl@mail.example.net>\n"
        "To: bounces@example.ac.uk\n"
        "Subject: FW: a complaint\n"
        "Date: Tue, 02 Mar 2027 18:40:36 +0000\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF1"\n\n'
        "--ARF1\nContent-Type: text/plain\n\nA recipient marked this message as spam.\n\n"
        "--ARF1\nContent-Type: message/feedback-report\n\n"
        f"Feedback-Type: {feedback_type}\nUser-Agent: ExampleFBL/2.1\nVersion: 1\n"
        "Original-Rcpt-To: <redacted@mail.example.net>\n"
        "Arrival-Date: Tue, 02 Mar 2027 10:00:05 +0000\n"
        "Reporting-MTA: dns; fbl.mail.example.net\n\n"
        "--ARF1\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n"
        f"{original}\n"
        "--ARF1--\n"
    ).encode()


def invitation_of(panel: Panel, channels: Channels, external_id: str) -> Any:
    """The email invitation the SMTP server received for this member (by the key we wrote)."""
    case_id = member_case(panel.store, external_id)
    (found,) = [
        r
        for r in channels.mailbox.received
        if f".{case_id}.day0-invitation." in str(r.message[IDEMPOTENCY_HEADER])
    ]
    return found


def email_row(store: Store, external_id: str, step: str = "day0-invitation") -> Any:
    with store.engine.connect() as connection:
        return connection.execute(
            sa.select(panel_messages).where(
                panel_messages.c.case_id == member_case(store, external_id),
                panel_messages.c.step == step,
                panel_messages.c.channel == "email",
            )
        ).one()


def opted_out(panel: Panel, external_id: str) -> dict[str, bool]:
    member = panel.store.get_member(PANEL, external_id=external_id)
    assert member is not None
    return {
        f"{c.kind}:{c.rank}": c.opted_out_at is not None
        for c in panel.store.member_contacts(member.id)
        if c.kind != "name"
    }


def history(panel: Panel, external_id: str) -> list[Any]:
    member = panel.store.get_member(PANEL, external_id=external_id)
    assert member is not None
    return [e for e in panel.store.member_history(member.id) if e.action == "opted_out"]


@pytest.fixture
def wave_sent(store: Store, channels: Channels, clock: FakeClock) -> Panel:
    """The wave opened and its day-0 invitations sent: four emails (two to Ann's address)."""
    panel = import_panel(store, panel_keys(), MEMBERS)
    open_flagship(panel)
    clock.now = DAY0
    run_until_idle(a_worker(panel, channels, clock))
    assert sorted(r.rcpt_tos[0] for r in channels.mailbox.received) == [
        "ann@example.org",
        "ann@example.org",
        "bryn@example.org",
    ]
    return panel


def test_a_complaint_stops_email_to_the_member_and_keeps_the_evidence(
    database_url: str, wave_sent: Panel, channels: Channels, clock: FakeClock, tmp_path: Path
) -> None:
    panel, store = wave_sent, wave_sent.store
    ann = invitation_of(panel, channels, "F001")
    folder = maildir(tmp_path, arf(ann))

    output = run_bounces(panel, database_url, "--maildir", str(folder), "-v")
    lines = output.splitlines()
    pseudonym = store.get_member(PANEL, external_id="F001").pseudonym  # type: ignore[union-attr]
    assert lines[0].endswith(
        f": complained (member {pseudonym}): a complaint (abuse) through a feedback loop; "
        "no more email to the member"
    )
    assert lines[1] == (
        "1 read: 0 bounce(s) (0 new, 0 address(es) marked bounced), 0 delayed or temporary, "
        "0 delivery report(s), 0 not bounces, 0 not ours, 0 unreadable; 1 spam complaint(s) "
        "(1 new, 3 address(es) opted out of email), 0 other feedback report(s)"
    )
    assert "@" not in output

    # the complaint on the message; a complaint says it arrived
    row = email_row(store, "F001")
    assert row.state == "delivered"
    assert row.detail["complaint"] == {
        "feedback_type": "abuse",
        "arrived_at": "2027-03-02T10:00:05+00:00",
        "reported_by": "dns; fbl.mail.example.net",
        "recorded_at": row.detail["complaint"]["recorded_at"],
        "recorded_by": "cli:tester",
    }
    # every address of Ann's, and hers for Huw; phones and Bryn untouched
    assert opted_out(panel, "F001") == {"email:1": True, "email:2": True, "phone:1": False}
    assert opted_out(panel, "F006") == {"email:1": True, "phone:1": False}
    assert opted_out(panel, "F002") == {"email:1": False, "phone:1": False}
    # the evidence: what, when, by whom, why, naming details by fingerprint only
    (first, second) = history(panel, "F001")
    assert [e.after["contact"][:8] for e in (first, second)] == ["email:1:", "email:2:"]
    assert first.actor == "cli:tester" and first.after["via"] == "spam_complaint"
    assert first.after["message"] == str(ann.message[IDEMPOTENCY_HEADER])
    assert first.after["feedback_type"] == "abuse" and first.after["channel"] == "email"
    (huw,) = history(panel, "F006")
    assert huw.after["address_shared_with_a_complainant"] is True and "message" not in huw.after
    assert not any("@" in str(e.after) for e in history(panel, "F001") + history(panel, "F006"))
    (audit,) = [e for e in store.staff_audit_entries() if e.action == "bounces_processed"]
    assert audit.detail is not None
    assert (audit.detail["complaints_new"], audit.detail["addresses_opted_out"]) == (1, 3)

    # the next rounds: texts for Ann and Huw, no email; Bryn is reminded by both
    clock.now = DAY0 + dt.timedelta(days=3)
    run_until_idle(a_worker(panel, channels, clock))
    for complained in ("F001", "F006"):
        steps = steps_of(store, complained)
        assert ("day3-reminder", "sms", "queued") in steps
        assert not any(s[1] == "email" and s[0] != "day0-invitation" for s in steps)
    assert ("day3-reminder", "email", "sent") in steps_of(store, "F002")
    assert [r.rcpt_tos[0] for r in channels.mailbox.received].count("ann@example.org") == 2

    # the same report again, in the Maildir and as an mbox: nothing changes
    after = snapshot(panel)
    mailbox.Maildir(folder).add(arf(ann))
    again = run_bounces(panel, database_url, "--maildir", str(folder))
    assert again.strip().endswith("; 1 spam complaint(s) (0 new, 0 address(es) opted out of "
                                  "email), 0 other feedback report(s)")  # fmt: skip
    box = tmp_path / "complaints.mbox"
    mbox = mailbox.mbox(box)
    mbox.add(arf(ann))
    mbox.close()
    assert "(0 new, 0 address(es) opted out" in run_bounces(panel, database_url, "--mbox", str(box))
    assert snapshot(panel) == after


def test_reports_that_are_not_a_complaint_of_ours_change_nothing(
    database_url: str, wave_sent: Panel, channels: Channels, tmp_path: Path
) -> None:
    panel = wave_sent
    bryn = invitation_of(panel, channels, "F002")
    folder = maildir(
        tmp_path,
        arf(bryn, feedback_type="not-spam"),
        arf(bryn, feedback_type="auth-failure"),
        # a message we never sent: a key none of ours has, with the Message-ID it would have
        arf(bryn, key=FOREIGN).replace(
            str(bryn.message["Message-ID"]).encode(), message_id(FOREIGN, "example.ac.uk").encode()
        ),
        # Ann's key in a copy of Bryn's message (his Message-ID): edited
        arf(bryn, key=str(invitation_of(panel, channels, "F001").message[IDEMPOTENCY_HEADER])),
    )
    before = snapshot(panel)
    output = run_bounces(panel, database_url, "--maildir", str(folder), "-v")
    assert output.splitlines()[-1].endswith(
        ": a complaint whose Message-ID is not the one of its key: edited?"
    )
    assert (
        "4 read: 0 bounce(s) (0 new, 0 address(es) marked bounced), 0 delayed or temporary, "
        "0 delivery report(s), 0 not bounces, 1 not ours, 1 unreadable; 0 spam complaint(s) "
        "(0 new, 0 address(es) opted out of email), 2 other feedback report(s)"
    ) in output
    assert "feedback: the recipient marked it as not spam" in output
    assert "feedback: an authentication failure report (RFC 6591)" in output
    assert (
        "not_ours: a complaint (abuse) through a feedback loop: it quotes no email of ours"
        in output
    )
    assert snapshot(panel) == before
    assert not [e for e in panel.store.staff_audit_entries() if e.action == "bounces_processed"]


def test_the_worker_takes_complaints_from_the_bounce_maildir(
    wave_sent: Panel,
    channels: Channels,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    panel, store = wave_sent, wave_sent.store
    folder = maildir(tmp_path, arf(invitation_of(panel, channels, "F002")))
    monkeypatch.setenv(BOUNCE_MAILDIR_ENV, str(folder))
    clock.now = DAY0 + dt.timedelta(days=3)
    run_until_idle(a_worker(panel, channels, clock))  # complaints first, then the round
    assert email_row(store, "F002").detail["complaint"]["recorded_by"] == "worker:worker-1"
    assert opted_out(panel, "F002") == {"email:1": True, "phone:1": False}
    bryn = steps_of(store, "F002")
    assert ("day3-reminder", "sms", "queued") in bryn
    assert ("day3-reminder", "email", "sent") not in bryn
    assert ("day3-reminder", "email", "sent") in steps_of(store, "F001")  # Ann was not the one
    (entry,) = [e for e in store.staff_audit_entries() if e.action == "bounces_processed"]
    assert entry.actor == "worker:worker-1" and entry.detail["complaints_new"] == 1  # type: ignore[index]
