"""Bounces honoured end to end, on SQLite and PostgreSQL (issue 13: "a bounced address is not used
again").

The real email channel sends the flagship wave's invitations to aiosmtpd on
127.0.0.1; a notification is then written the way a relay writes one, around
the headers of the message that server really received, and dropped into a
Maildir (or an mbox file); ``instrument panel bounces`` reads it through
click's runner. The worker's next round sends that member no more email at
that address while their texts still go, the message says ``bounced``, and
the same notification read again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import mailbox
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from instrument.cli import cli
from instrument.panel.crypto import KEYS_VARIABLE
from instrument.panelwork.bounce_intake import BOUNCE_MAILDIR_ENV
from instrument.store.schema import member_contacts, member_history, panel_messages, staff_audit
from tests.store_fixtures import *
from tests.test_channels_email import smtp_server
from tests.test_fieldwork_worker import (
    Channels,
    a_worker,
    channels,
    clock,
    panel,
    run_until_idle,
    steps_of,
)
from tests.test_panel_waves_store import (
    DAY0,
    MEMBERS,
    PANEL,
    Panel,
    import_panel,
    member_case,
    open_flagship,
)
from tests.test_web_support import FakeClock

__all__ = ["channels", "clock", "panel", "smtp_server"]  # fixtures, imported to be found

SAMPLES = Path(__file__).parent / "bounce_samples"


def received_by(channels: Channels, address: str) -> Any:
    return next(r for r in channels.mailbox.received if r.rcpt_tos == [address])


def original_headers(received: Any, *, drop: tuple[str, ...] = ()) -> str:
    """The header block of the message the SMTP server received, as a relay returns it."""
    head = received.message.as_bytes().decode("utf-8").split("\n\n", 1)[0]
    fields = re.split(r"\n(?=\S)", head)  # a folded header's lines stay together
    kept = [f for f in fields if f.split(":", 1)[0].lower() not in drop]
    return "\n".join(kept) + "\n"


def dsn(
    received: Any,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    drop: tuple[str, ...] = (),
    returned: str = "text/rfc822-headers",
) -> bytes:
    """A Postfix-style report on the message ``received``, around its real headers."""
    (address,) = received.rcpt_tos
    reply = "550 5.1.1 User unknown" if status.startswith("5") else "451 4.4.1 try again"
    return (
        "Return-Path: <>\n"
        "Date: Tue,  2 Mar 2027 10:15:00 +0000 (GMT)\n"
        "From: MAILER-DAEMON@relay.example.ac.uk (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: bounces@example.ac.uk\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R1"\n\n'
        "--R1\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host relay.example.ac.uk.\n\n"
        f"<{address}>: host mx.example.org[192.0.2.25] said: {reply}\n\n"
        "--R1\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; relay.example.ac.uk\n\n"
        f"Final-Recipient: rfc822; {address}\nOriginal-Recipient: rfc822;{address}\n"
        f"Action: {action}\nStatus: {status}\nRemote-MTA: dns; mx.example.org\n"
        f"Diagnostic-Code: smtp; {reply} <{address}>\n\n"
        f"--R1\nContent-Description: Undelivered Message Headers\nContent-Type: {returned}\n\n"
        f"{original_headers(received, drop=drop)}\n"
        "--R1--\n"
    ).encode()


def maildir(tmp_path: Path, *messages: bytes) -> Path:
    folder = tmp_path / "bounces"
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    return folder


def run_bounces(panel: Panel, database_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["panel", "bounces", *args, "--database", database_url],
        env={KEYS_VARIABLE: ",".join(panel.keys.keys), "INSTRUMENT_ACTOR": "tester"},
    )
    assert result.exit_code == 0, result.output
    return result.output


def snapshot(panel: Panel) -> tuple[list[Any], ...]:
    """Every row a bounce may touch."""
    with panel.store.engine.connect() as connection:
        return tuple(
            connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            for table in (panel_messages, member_contacts, member_history, staff_audit)
        )


def contact_marks(panel: Panel, external_id: str) -> dict[str, bool]:
    member = panel.store.get_member(PANEL, external_id=external_id)
    assert member is not None
    return {
        f"{c.kind}:{c.rank}": c.bounced_at is not None
        for c in panel.store.member_contacts(member.id)
    }


@pytest.fixture
def wave_sent(panel: Panel, channels: Channels, clock: FakeClock) -> Panel:
    """The flagship wave opened and its day-0 invitations sent (emails to Ann, Bryn and Eve)."""
    open_flagship(panel)
    clock.now = DAY0
    run_until_idle(a_worker(panel, channels, clock))
    assert len(channels.mailbox.received) == 3
    return panel


def test_a_bounce_from_the_mailbox_stops_email_to_that_address_and_only_that(
    database_url: str, wave_sent: Panel, channels: Channels, clock: FakeClock, tmp_path: Path
) -> None:
    panel, store = wave_sent, wave_sent.store
    eve = received_by(channels, "eve@example.org")
    folder = maildir(tmp_path, dsn(eve))
    before = snapshot(panel)

    output = run_bounces(panel, database_url, "--maildir", str(folder))
    assert output.strip() == (
        "1 read: 1 bounce(s) (1 new, 1 address(es) marked bounced), 0 delayed or temporary, "
        "0 delivery report(s), 0 not bounces, 0 not ours, 0 unreadable"
    )
    assert "@" not in output
    assert ("day0-invitation", "email", "bounced") in steps_of(store, "F005")
    assert contact_marks(panel, "F005") == {"email:1": True, "name:1": False, "phone:1": False}
    assert contact_marks(panel, "F001") == {"email:1": False, "name:1": False, "phone:1": False}
    (row,) = [
        r
        for r in snapshot(panel)[0]
        if r.case_id == member_case(store, "F005") and r.channel == "email"
    ]
    assert row.error == "bounce: 5.1.1 smtp; 550 5.1.1 User unknown <address>"
    # the message is moved to cur/ and marked seen
    assert not list((folder / "new").iterdir())
    assert [p.name.endswith(":2,S") for p in (folder / "cur").iterdir()] == [True]
    entries = [e for e in store.staff_audit_entries() if e.action == "bounces_processed"]
    assert len(entries) == 1 and entries[0].actor == "cli:tester"
    assert entries[0].detail is not None and entries[0].detail["addresses_marked"] == 1
    assert snapshot(panel)[2] != before[2]  # a history entry for Eve, by fingerprint

    # the next rounds: no email to Eve's address, her texts still go, Ann is reminded by both
    clock.now = DAY0 + dt.timedelta(days=3)
    run_until_idle(a_worker(panel, channels, clock))
    eve_steps = steps_of(store, "F005")
    assert not any(step[1] == "email" and step[0] != "day0-invitation" for step in eve_steps)
    assert ("day3-reminder", "sms", "queued") in eve_steps
    assert ("day3-reminder", "email", "sent") in steps_of(store, "F001")
    assert [r.rcpt_tos for r in channels.mailbox.received].count(["eve@example.org"]) == 1

    # the same notification again (a second copy in the mailbox, and as an mbox): nothing changes
    after = snapshot(panel)
    assert run_bounces(panel, database_url, "--maildir", str(folder)).startswith("0 read")
    mailbox.Maildir(folder).add(dsn(eve))
    again = run_bounces(panel, database_url, "--maildir", str(folder))
    assert again.startswith("1 read: 1 bounce(s) (0 new, 0 address(es) marked bounced)")
    box = tmp_path / "bounces.mbox"
    mbox = mailbox.mbox(box)
    mbox.add(dsn(eve))
    mbox.add(dsn(eve))
    mbox.close()
    assert run_bounces(panel, database_url, "--mbox", str(box)).startswith(
        "2 read: 2 bounce(s) (0 new, 0 address(es) marked bounced)"
    )
    assert snapshot(panel) == after


def test_a_mixed_mailbox_is_counted_and_each_file_is_told(
    database_url: str, wave_sent: Panel, channels: Channels, tmp_path: Path
) -> None:
    """Message-ID only, a delay, an out-of-office, somebody else's bounce and garbage, in one run."""
    panel, store = wave_sent, wave_sent.store
    bryn, ann = received_by(channels, "bryn@example.org"), received_by(channels, "ann@example.org")
    folder = maildir(
        tmp_path,
        # the key header stripped by a relay, the whole original returned: found by its Message-ID
        dsn(bryn, drop=("x-instrument-idempotency-key",), returned="message/rfc822"),
        dsn(ann, action="delayed", status="4.4.1"),
        (SAMPLES / "out_of_office.eml").read_bytes(),
        (SAMPLES / "not_ours.eml").read_bytes(),
        (SAMPLES / "garbage_binary.eml").read_bytes(),
    )
    before = {m.case_id: m.state for m in snapshot(panel)[0] if m.channel == "email"}

    output = run_bounces(panel, database_url, "--maildir", str(folder), "-v")
    summary = [line for line in output.splitlines() if " read: " in line]
    assert summary == [
        "5 read: 1 bounce(s) (1 new, 1 address(es) marked bounced), 1 delayed or temporary, "
        "0 delivery report(s), 1 not bounces, 1 not ours, 1 unreadable"
    ]
    assert "@" not in output
    unreadable = [line for line in output.splitlines() if line.startswith("  unreadable: ")]
    assert len(unreadable) == 1
    assert unreadable[0].endswith(": not an email message: no mail headers at its start")
    bryn_member = store.get_member(PANEL, external_id="F002")
    assert bryn_member is not None
    assert f"bounced (member {bryn_member.pseudonym}): permanent failure (5.1.1)" in output

    states = {m.case_id: m.state for m in snapshot(panel)[0] if m.channel == "email"}
    assert states[member_case(store, "F002")] == "bounced"
    assert states[member_case(store, "F001")] == before[member_case(store, "F001")]
    assert contact_marks(panel, "F001")["email:1"] is False  # a delay marks nothing
    assert contact_marks(panel, "F002")["email:1"] is True
    flagged = [p.name for p in (folder / "cur").iterdir() if p.name.endswith(":2,FS")]
    assert len(flagged) == 1  # the unreadable one, for a person to look at


def test_an_address_changed_since_is_left_alone_and_the_message_still_bounced(
    database_url: str, wave_sent: Panel, channels: Channels, tmp_path: Path
) -> None:
    """Eve's address was replaced by a re-import after the invitation went: her new one stays."""
    panel, store = wave_sent, wave_sent.store
    import_panel(store, panel.keys, MEMBERS.replace("eve@example.org", "eve.new@example.org"))
    folder = maildir(tmp_path, dsn(received_by(channels, "eve@example.org")))
    output = run_bounces(panel, database_url, "--maildir", str(folder), "-v")
    assert output.splitlines()[0].endswith(
        "bounced: recorded on the message; no member has the address it names (changed since?)"
    )
    assert "1 bounce(s) (1 new, 0 address(es) marked bounced)" in output
    assert ("day0-invitation", "email", "bounced") in steps_of(store, "F005")
    assert contact_marks(panel, "F005")["email:1"] is False
    mailbox.Maildir(folder).add(dsn(received_by(channels, "eve@example.org")))
    again = run_bounces(panel, database_url, "--maildir", str(folder))
    assert again.startswith("1 read: 0 bounce(s) (0 new, 0 address(es) marked bounced)")
    assert "1 not ours" in again  # recorded before: nothing of ours is left to change


def test_done_folder_and_clear_errors(
    database_url: str, wave_sent: Panel, channels: Channels, tmp_path: Path
) -> None:
    panel = wave_sent
    folder = maildir(tmp_path, dsn(received_by(channels, "eve@example.org")))
    done = tmp_path / "done"
    output = run_bounces(panel, database_url, "--maildir", str(folder), "--done", str(done))
    assert output.startswith("1 read: 1 bounce(s) (1 new")
    assert len(list(done.iterdir())) == 1
    assert not list((folder / "new").iterdir()) and not list((folder / "cur").iterdir())

    runner = CliRunner()
    keys = {KEYS_VARIABLE: ",".join(panel.keys.keys)}
    box = tmp_path / "empty.mbox"
    box.write_bytes(b"")
    both = runner.invoke(
        cli, ["panel", "bounces", "--maildir", str(folder), "--mbox", str(box)], env=keys
    )
    assert both.exit_code == 2 and "give one mailbox" in both.output
    not_a_maildir = runner.invoke(
        cli, ["panel", "bounces", "--maildir", str(done), "--database", database_url], env=keys
    )
    assert not_a_maildir.exit_code == 1
    assert "is not a Maildir (it needs new, cur and tmp folders)" in not_a_maildir.output
    no_keys = runner.invoke(
        cli,
        ["panel", "bounces", "--maildir", str(folder), "--database", database_url],
        env={KEYS_VARIABLE: "", "INSTRUMENT_PANEL_KEY_FILE": ""},
    )
    assert no_keys.exit_code == 1 and "no panel key: set INSTRUMENT_PANEL_KEYS" in no_keys.output


def test_the_worker_reads_the_bounce_maildir_each_round(
    wave_sent: Panel,
    channels: Channels,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    panel, store = wave_sent, wave_sent.store
    folder = maildir(tmp_path, dsn(received_by(channels, "eve@example.org")))
    monkeypatch.setenv(BOUNCE_MAILDIR_ENV, str(folder))
    clock.now = DAY0 + dt.timedelta(days=3)
    worker = a_worker(panel, channels, clock)
    run_until_idle(worker)  # the bounce is honoured before the round claims anyone
    assert ("day0-invitation", "email", "bounced") in steps_of(store, "F005")
    assert ("day3-reminder", "email", "sent") not in steps_of(store, "F005")
    assert ("day3-reminder", "sms", "queued") in steps_of(store, "F005")
    (entry,) = [e for e in store.staff_audit_entries() if e.action == "bounces_processed"]
    assert entry.actor == "worker:worker-1"
    assert not list((folder / "new").iterdir())

    # a mailbox gone missing is logged; the round goes on
    monkeypatch.setenv(BOUNCE_MAILDIR_ENV, str(tmp_path / "nowhere"))
    clock.now = DAY0 + dt.timedelta(days=7)
    assert run_until_idle(a_worker(panel, channels, clock)) > 0
