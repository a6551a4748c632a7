"""The fieldwork worker carrying out the flagship's wave, on SQLite and PostgreSQL (issue 13).

Real channels: email through aiosmtpd on 127.0.0.1 (the email channel's own
test server, tests/test_channels_email.py), SMS through the twilio SDK over the
SMS tests' fake ``http_client`` (nothing leaves the machine). The wave file is
the flagship's; the clock is a fake one walked from day 0 to day 28. The
personal link in a received email is opened with Flask's test client and
starts the member's interview. Two workers at once (threads; on PostgreSQL also
two stores, so two connection pools) never send a message twice, and a crash
between recording a message and sending it leaves it ``sending``, never resent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from instrument.cli import cli
from instrument.panelwork.worker import HELD_BACK, FieldworkWorker, message_key, worker_for
from instrument.plugin_types import ContactChannel, OutgoingMessage, Receipt
from instrument.server.app import get_host
from instrument.store import Store, open_store
from instrument.store.panel_work import MessageReceipt
from instrument.store.records import ImportedInterview
from instrument.store.schema import case_queue, panel_messages, phone_numbers, wave_members
from instrument_channels.email import EmailChannel
from instrument_channels.sms import SmsChannel
from tests.store_fixtures import *
from tests.test_channels_email import LoopbackController, Mailbox, settings_for, smtp_server
from tests.test_channels_sms import FakeTwilioMessaging
from tests.test_channels_sms import settings as sms_settings
from tests.test_panel_waves_store import (
    DAY0,
    OPENED,
    PANEL,
    QUESTIONNAIRE,
    WAVE_FILE,
    Panel,
    import_panel,
    member_case,
    open_flagship,
    panel_keys,
)
from tests.test_web_support import FakeClock, Respondent, make_app

__all__ = ["smtp_server"]  # the fixture, imported to be found

BASE = "http://survey.test"


class Channels:
    """The real email and SMS channels, the server and the fake Twilio behind them."""

    def __init__(self, controller: LoopbackController, mailbox: Mailbox, clock: FakeClock) -> None:
        self.mailbox = mailbox
        self.twilio = FakeTwilioMessaging()
        self.email = EmailChannel(settings_for(controller), clock=clock)
        self.sms = SmsChannel(sms_settings(), http_client=self.twilio)

    def contact_channels(self, email_send: Any = None) -> dict[str, ContactChannel]:
        return {
            "email": ContactChannel("email", "Email", "email", email_send or self.email.send),
            "sms": ContactChannel("sms", "SMS", "phone", self.sms.send),
        }

    def texts(self) -> list[dict[str, str]]:
        return [dict(request.form) for request in self.twilio.requests]

    def close(self) -> None:
        self.email.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPENED)


@pytest.fixture
def channels(
    smtp_server: tuple[LoopbackController, Mailbox], clock: FakeClock
) -> Iterator[Channels]:
    made = Channels(*smtp_server, clock)
    yield made
    made.close()


@pytest.fixture
def panel(store: Store) -> Panel:
    return import_panel(store, panel_keys())


def a_worker(
    panel: Panel,
    channels: Channels,
    clock: FakeClock,
    *,
    name: str = "worker-1",
    store: Store | None = None,
    email_send: Any = None,
    group: int = 50,
) -> FieldworkWorker:
    return worker_for(
        store or panel.store,
        channels.contact_channels(email_send),
        panel.keys,
        clock=clock,
        base_url=BASE,
        name=name,
        group=group,
    )


def run_until_idle(worker: FieldworkWorker) -> int:
    """Rounds until nothing is due; how many members were claimed in all."""
    claimed = 0
    for _ in range(50):
        report = worker.run_round()
        if not report.claimed:
            return claimed
        claimed += report.claimed
    raise AssertionError("the worker never ran out of due work")


def messages(store: Store) -> list[Any]:
    with store.engine.connect() as connection:
        return connection.execute(sa.select(panel_messages).order_by(panel_messages.c.id)).all()


def steps_of(store: Store, external_id: str) -> list[tuple[str, str | None, str]]:
    case_id = member_case(store, external_id)
    return [(m.step, m.channel, m.state) for m in messages(store) if m.case_id == case_id]


def finish(store: Store, case_id: str, at: dt.datetime) -> None:
    """The member completes the interview (stored as an import stores one)."""
    record = store.get_wave(PANEL, "w1")
    assert record is not None
    store.import_interviews(
        record.questionnaire_version_id,
        [
            ImportedInterview(
                state={},
                status="complete",
                mode="web",
                language="en",
                case_id=case_id,
                started_at=at - dt.timedelta(minutes=15),
                finished_at=at,
            )
        ],
        now=at,
    )


def record_email(
    store: Store, worker: str, member: Any, kind: str, day: int, now: dt.datetime
) -> int | str:
    """What the store answers a worker about to send ``member`` the email of a step."""
    step = f"day{day}-{kind}"
    return store.record_message(
        worker,
        member,
        kind=kind,
        step=step,
        channel="email",
        template=kind,
        language="en",
        contact_kind="email",
        contact_rank=1,
        key=message_key(member.wave_id, member.case_id, step, "email"),
        now=now,
    )


def link_in(received: Any) -> str:
    body = received.message.get_body(("plain",)).get_content()
    found = re.search(r"http://survey\.test/web/t/[A-Za-z0-9_-]+", body)
    assert found is not None, body
    return found.group(0)


# ---------------------------------------------------------------------------- a whole wave


def test_the_flagship_wave_on_a_fake_clock(
    database_url: str, panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    store = panel.store
    open_flagship(panel)
    worker = a_worker(panel, channels, clock)

    assert run_until_idle(worker) == 0  # the day before day 0: nothing is due
    clock.now = DAY0
    run_until_idle(worker)
    invited = {tuple(r.rcpt_tos) for r in channels.mailbox.received}
    assert invited == {("ann@example.org",), ("bryn@example.org",), ("eve@example.org",)}
    assert sorted(t["To"] for t in channels.texts()) == [
        "+447911123456",
        "+447911123777",
        "+447911123999",
    ]
    welsh = next(r for r in channels.mailbox.received if r.rcpt_tos == ["bryn@example.org"])
    assert welsh.message["Content-Language"] == "cy"

    # Ann opens the personal link of her email: it starts her interview
    ann = next(r for r in channels.mailbox.received if r.rcpt_tos == ["ann@example.org"])
    link = link_in(ann)
    app = make_app(database_url, clock, QUESTIONNAIRE)
    try:
        page = Respondent(app, "social_licence").get(link.removeprefix(BASE))
        assert page.status in (200, 302)
        ann_case = member_case(store, "F001")
        (interview,) = get_host(app).store.interviews_for_case(ann_case)
        assert interview.status == "active" and not interview.is_test
    finally:
        get_host(app).store.close()
    # Bryn finishes on day 1
    finish(store, member_case(store, "F002"), DAY0 + dt.timedelta(days=1))

    for day in (3, 7, 12):
        clock.now = DAY0 + dt.timedelta(days=day)
        run_until_idle(worker)
    reminded = Counter(r.rcpt_tos[0] for r in channels.mailbox.received)
    assert reminded == {"ann@example.org": 4, "eve@example.org": 4, "bryn@example.org": 1}
    texted = Counter(t["To"] for t in channels.texts())
    assert texted == {"+447911123456": 3, "+447911123777": 3, "+447911123999": 1}
    # the same personal link in every message to Ann
    assert {link_in(r) for r in channels.mailbox.received if r.rcpt_tos == ["ann@example.org"]} == {
        link
    }
    assert ("incentive", None, "done") in steps_of(store, "F002")

    clock.now = DAY0 + dt.timedelta(days=14)
    run_until_idle(worker)
    with store.engine.connect() as connection:
        queued = set(connection.execute(sa.select(case_queue.c.case_id)).scalars())
        numbers = connection.execute(sa.select(phone_numbers.c.case_id, phone_numbers.c.e164)).all()
    assert queued == {member_case(store, "F001"), member_case(store, "F005")}
    assert (member_case(store, "F001"), "+447911123456") in numbers

    clock.now = DAY0 + dt.timedelta(days=21, hours=8)  # 18:00 in London
    run_until_idle(worker)
    clock.now = DAY0 + dt.timedelta(days=28)
    run_until_idle(worker)
    assert ("close", None, "done") in steps_of(store, "F001")
    assert ("close", None, "done") not in steps_of(store, "F002")  # finished: nothing to close
    with store.engine.connect() as connection:
        final = connection.execute(sa.select(case_queue.c.final)).scalars().all()
        due = connection.execute(sa.select(wave_members.c.next_due)).scalars().all()
    assert final == [True, True] and due == [None, None, None]

    # every message once, and nothing for the ineligible or paused members
    keys = [m.idempotency_key for m in messages(store)]
    assert len(keys) == len(set(keys))
    assert steps_of(store, "F001") == [
        ("day0-invitation", "email", "sent"),
        ("day0-invitation", "sms", "queued"),
        ("day3-reminder", "email", "sent"),
        ("day3-reminder", "sms", "queued"),
        ("day7-reminder", "email", "sent"),
        ("day12-reminder", "email", "sent"),
        ("day12-reminder", "sms", "queued"),
        ("day14-move_to_phone", None, "done"),
        ("day21-automated_call", None, "done"),
        ("close", None, "done"),
    ]
    status = store.wave_status(store.get_wave(PANEL, "w1").id, now=clock.now)  # type: ignore[union-attr]
    assert (status.eligible, status.invited, status.reminded) == (3, 3, 2)
    assert (status.started, status.finished, status.moved_to_phone) == (2, 1, 2)
    assert status.sending == 0


def test_a_member_who_finishes_is_sent_nothing_more(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    open_flagship(panel)
    worker = a_worker(panel, channels, clock)
    clock.now = DAY0
    run_until_idle(worker)
    for external_id in ("F001", "F002", "F005"):
        finish(panel.store, member_case(panel.store, external_id), DAY0 + dt.timedelta(hours=2))
    before = len(channels.mailbox.received), len(channels.twilio.requests)
    clock.now = DAY0 + dt.timedelta(days=30)
    run_until_idle(worker)
    assert (len(channels.mailbox.received), len(channels.twilio.requests)) == before


def test_a_finish_between_claim_and_send_is_seen_under_the_record(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    open_flagship(panel)
    clock.now = DAY0
    run_until_idle(a_worker(panel, channels, clock))
    store = panel.store
    clock.now = DAY0 + dt.timedelta(days=3)
    claimed = store.claim_due_members(
        "w-late", now=clock.now, limit=10, lease=dt.timedelta(minutes=5)
    )
    ann = next(m for m in claimed if m.case_id == member_case(store, "F001"))
    finish(store, ann.case_id, clock.now)  # after the claim read her as unfinished
    assert record_email(store, "w-late", ann, "reminder", 3, clock.now) == "finished"


# ---------------------------------------------------------------------------- never twice


def test_two_workers_in_threads_never_send_a_message_twice(
    database_url: str, channels: Channels, clock: FakeClock
) -> None:
    many = "external_id,status,language,email,n_children\n" + "".join(
        f"M{i:03d},active,en,m{i}@example.org,1\n" for i in range(60)
    )
    stores = [open_store(database_url) for _ in range(2)]
    try:
        panel = import_panel(stores[0], panel_keys(), many)
        open_flagship(panel)
        clock.now = DAY0
        workers = [
            a_worker(panel, channels, clock, name=f"worker-{n}", store=stores[n % 2])
            for n in range(4)
        ]
        for worker in workers:
            worker.batch = 7
        start = threading.Barrier(len(workers))
        errors: list[BaseException] = []

        def work(worker: FieldworkWorker) -> None:
            try:
                start.wait()
                run_until_idle(worker)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        received = Counter(r.rcpt_tos[0] for r in channels.mailbox.received)
        assert len(received) == 60 and set(received.values()) == {1}
        sent_by = Counter(m.claimed_by for m in messages(stores[0]))
        assert sum(sent_by.values()) == 60
    finally:
        for store in stores:
            store.close()


def test_a_lapsed_claim_is_taken_over_and_the_first_worker_sends_nothing(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    store = panel.store
    open_flagship(panel)
    clock.now = DAY0
    slow = store.claim_due_members("slow", now=clock.now, limit=10, lease=dt.timedelta(minutes=5))
    assert len(slow) == 3
    clock.now = DAY0 + dt.timedelta(minutes=6)  # the slow worker's lease is over
    run_until_idle(a_worker(panel, channels, clock, name="fast"))
    assert len(channels.mailbox.received) == 3
    ann = next(m for m in slow if m.case_id == member_case(store, "F001"))
    assert record_email(store, "slow", ann, "invitation", 0, clock.now) == "claim lost"
    # even holding the claim, the key is taken: recorded before, not sent again
    again = store.claim_due_members("slow", now=clock.now, limit=10, lease=dt.timedelta(minutes=5))
    assert again == []


class Crash(BaseException):
    """The process dies (not an error a worker could catch)."""


def test_a_crash_between_record_and_send_leaves_sending_and_nothing_is_resent(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    store = panel.store
    open_flagship(panel)
    clock.now = DAY0

    def crash(message: OutgoingMessage) -> Receipt:
        raise Crash

    doomed = a_worker(panel, channels, clock, name="doomed", email_send=crash, group=1)
    with pytest.raises(Crash):  # groups of one message: the crash leaves that one 'sending'
        doomed.run_round()
    (recorded,) = [m for m in messages(store) if m.channel == "email"]
    assert recorded.state == "sending" and recorded.claimed_by == "doomed"
    # the lease lapses; a healthy worker carries on with everything else
    clock.now = DAY0 + dt.timedelta(hours=1)
    run_until_idle(a_worker(panel, channels, clock, name="healthy"))
    clock.now = DAY0 + dt.timedelta(days=2)
    run_until_idle(a_worker(panel, channels, clock, name="healthy"))
    email_to = Counter(r.rcpt_tos[0] for r in channels.mailbox.received)
    crashed_case = recorded.case_id
    addresses = {"F001": "ann@example.org", "F002": "bryn@example.org", "F005": "eve@example.org"}
    crashed_address = next(a for e, a in addresses.items() if member_case(store, e) == crashed_case)
    assert crashed_address not in email_to  # never sent, never resent
    assert sum(email_to.values()) == 2
    still = [m for m in messages(store) if m.idempotency_key == recorded.idempotency_key]
    assert [m.state for m in still] == ["sending"]
    record = store.get_wave(PANEL, "w1")
    assert record is not None
    assert store.wave_status(record.id, now=clock.now).sending == 1


def test_a_refused_address_is_bounced_and_not_used_again(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    channels.mailbox.refuse["eve@example.org"] = "550 5.1.1 No such user"
    open_flagship(panel)
    clock.now = DAY0
    worker = a_worker(panel, channels, clock)
    run_until_idle(worker)
    assert ("day0-invitation", "email", "bounced") in steps_of(panel.store, "F005")
    clock.now = DAY0 + dt.timedelta(days=3)
    run_until_idle(worker)
    eve_steps = steps_of(panel.store, "F005")
    assert ("day3-reminder", "email", "sent") not in eve_steps
    assert ("day3-reminder", "sms", "queued") in eve_steps  # her phone still works


def test_a_rate_limit_holds_messages_back_until_the_window_allows(
    store: Store, channels: Channels, clock: FakeClock, tmp_path: Path
) -> None:
    panel = import_panel(store, panel_keys())
    text = WAVE_FILE.read_text(encoding="utf-8").replace("email: 600/minute", "email: 2/minute")
    limited = tmp_path / WAVE_FILE.name
    limited.write_text(text, encoding="utf-8")
    (tmp_path / QUESTIONNAIRE.name).write_text(QUESTIONNAIRE.read_text(encoding="utf-8"))
    open_flagship(panel, limited)
    clock.now = DAY0
    worker = a_worker(panel, channels, clock)
    run_until_idle(worker)
    assert len(channels.mailbox.received) == 2 and len(channels.twilio.requests) == 3
    clock.now = DAY0 + dt.timedelta(seconds=61)
    run_until_idle(worker)
    assert len(channels.mailbox.received) == 3


# ---------------------------------------------------------------------------- the command


def test_fieldwork_run_once_sends_through_the_installed_email_channel(
    database_url: str,
    smtp_server: tuple[LoopbackController, Mailbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, mailbox = smtp_server
    keys = panel_keys()
    set_environment(monkeypatch, controller, keys)
    monkeypatch.setenv("INSTRUMENT_PUBLIC_URL", "https://survey.example.ac.uk")
    store = open_store(database_url)
    try:
        import_panel(store, keys)
    finally:
        store.close()
    wave_path = email_only_wave(tmp_path)
    runner = CliRunner()
    opened = runner.invoke(cli, ["wave", "open", str(wave_path), "--database", database_url])
    assert opened.exit_code == 0, opened.output
    ran = runner.invoke(cli, ["fieldwork", "run", "--once", "--database", database_url])
    assert ran.exit_code == 0, ran.output
    assert "nothing more is due now" in ran.output
    assert sorted(r.rcpt_tos[0] for r in mailbox.received) == [
        "ann@example.org",
        "bryn@example.org",
        "eve@example.org",
    ]
    assert all("https://survey.example.ac.uk/web/t/" in link_in_any(r) for r in mailbox.received)
    again = runner.invoke(cli, ["fieldwork", "run", "--once", "--database", database_url])
    assert again.exit_code == 0 and len(mailbox.received) == 3
    status = runner.invoke(cli, ["wave", "status", str(wave_path), "--database", database_url])
    assert "invited" in status.output and "email            sent" in status.output


def set_environment(
    monkeypatch: pytest.MonkeyPatch, controller: LoopbackController, keys: Any
) -> None:
    """The panel keys and the SMTP settings a command reads, the server being the test's."""
    for name, value in {
        "INSTRUMENT_PANEL_KEYS": ",".join(keys.keys),
        "INSTRUMENT_SMTP_HOST": "127.0.0.1",
        "INSTRUMENT_SMTP_PORT": str(controller.port),
        "INSTRUMENT_SMTP_SECURITY": "none",
        "INSTRUMENT_SMTP_FROM": "Panel Team <panel@example.ac.uk>",
    }.items():
        monkeypatch.setenv(name, value)


def email_only_wave(folder: Path) -> Path:
    """The flagship's wave by email alone, started yesterday: for the real clock of a command."""
    text = WAVE_FILE.read_text(encoding="utf-8").replace("[email, sms]", "[email]")
    text = text.replace("{email: invitation, sms: invitation}", "{email: invitation}")
    text = text.replace("{email: reminder, sms: reminder}", "{email: reminder}")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    text = text.replace("open: 2027-03-02 10:00", f"open: {yesterday} 10:00")
    # the test may run at night: no quiet hours (without the line the default, 21:00-08:00, holds)
    text = text.replace("quiet_hours: 21:00-08:00", "quiet_hours: none")
    (folder / QUESTIONNAIRE.name).write_text(QUESTIONNAIRE.read_text(encoding="utf-8"))
    wave_path = folder / WAVE_FILE.name
    wave_path.write_text(text, encoding="utf-8")
    return wave_path


def link_in_any(received: Any) -> str:
    return str(received.message.get_body(("plain",)).get_content())


def test_serve_on_sqlite_runs_the_worker_in_its_own_process(
    smtp_server: tuple[LoopbackController, Mailbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``instrument serve`` with the embedded SQLite database sends the invitations itself."""
    import time

    from flask import Flask

    controller, mailbox = smtp_server
    keys = panel_keys()
    set_environment(monkeypatch, controller, keys)
    monkeypatch.delenv("INSTRUMENT_PUBLIC_URL", raising=False)
    monkeypatch.delenv("INSTRUMENT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # the embedded default: ./instrument.db
    store = open_store(None)
    try:
        import_panel(store, keys)
    finally:
        store.close()
    wave_path = email_only_wave(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["wave", "open", str(wave_path)]).exit_code == 0

    def serving(self: Flask, **kwargs: Any) -> None:  # the web server, until the mail is out
        deadline = time.monotonic() + 20
        while len(mailbox.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)

    monkeypatch.setattr(Flask, "run", serving)
    served = runner.invoke(cli, ["serve", str(QUESTIONNAIRE), "--no-demo", "--port", "5099"])
    assert served.exit_code == 0, served.output
    assert "Fieldwork worker: running in this process" in served.output
    assert len(mailbox.received) == 3
    assert all("http://localhost:5099/web/t/" in link_in_any(r) for r in mailbox.received)
    off = runner.invoke(cli, ["serve", str(QUESTIONNAIRE), "--no-demo", "--no-fieldwork"])
    assert "Fieldwork worker: off" in off.output


# ---------------------------------------------------------------------------- stopping


def test_withdrawal_and_stop_end_contact_at_once(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    store = panel.store
    opened = open_flagship(panel)
    worker = a_worker(panel, channels, clock)
    clock.now = DAY0
    run_until_idle(worker)
    ann = store.get_member(PANEL, external_id="F001")
    assert ann is not None
    # Ann withdraws through her link; Eve's phone sends STOP (her texts stop, not her email)
    store.withdraw_member(
        ann.id, "stop_contact", actor="member:link", by_staff=False, via="link", now=clock.now,
        wave_id=opened.wave.id,
    )  # fmt: skip
    eve_phone = next(
        c
        for c in store.member_contacts(store.get_member(PANEL, external_id="F005").id)  # type: ignore[union-attr]
        if c.kind == "phone"
    )
    store.mark_contact(eve_phone.lookup_hash, "opted_out", now=clock.now, actor="sms:STOP")
    for day in (3, 7, 12, 14, 28):
        clock.now = DAY0 + dt.timedelta(days=day)
        run_until_idle(worker)
    assert [step for step, _, _ in steps_of(store, "F001")] == [
        "day0-invitation",
        "day0-invitation",
    ]
    eve = steps_of(store, "F005")
    assert ("day3-reminder", "email", "sent") in eve
    assert not [s for s in eve if s[1] == "sms" and s[0] != "day0-invitation"]
    assert ("day14-move_to_phone", None, "done") in eve  # STOP stops texts, not calls


def test_a_passing_failure_is_tried_again_later_on_the_same_row(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    channels.mailbox.refuse["ann@example.org"] = "451 4.3.0 Try again later"
    open_flagship(panel)
    clock.now = DAY0
    worker = a_worker(panel, channels, clock)
    run_until_idle(worker)
    assert ("day0-invitation", "email", "failed") in steps_of(panel.store, "F001")
    clock.now = DAY0 + dt.timedelta(minutes=5)  # too soon: nothing is tried
    run_until_idle(worker)
    assert not [r for r in channels.mailbox.received if r.rcpt_tos == ["ann@example.org"]]
    del channels.mailbox.refuse["ann@example.org"]
    clock.now = DAY0 + dt.timedelta(minutes=16)
    run_until_idle(worker)
    assert [r.rcpt_tos for r in channels.mailbox.received].count(["ann@example.org"]) == 1
    (row,) = [
        m
        for m in messages(panel.store)
        if m.case_id == member_case(panel.store, "F001") and m.channel == "email"
    ]
    assert (row.state, row.attempts) == ("sent", 2)


# ---------------------------------------------------------------------------- groups of messages


def test_a_member_who_finishes_between_planning_and_recording_gets_nothing_and_the_group_goes_on(
    panel: Panel, channels: Channels, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = panel.store
    open_flagship(panel)
    clock.now = DAY0
    ann = member_case(store, "F001")
    record_messages = store.record_messages

    def ann_finishes_first(worker: str, planned: Any, *, now: dt.datetime) -> Any:
        assert ann in {p.member.case_id for p in planned}  # planned: she was due
        finish(store, ann, now)
        return record_messages(worker, planned, now=now)

    monkeypatch.setattr(store, "record_messages", ann_finishes_first)
    report = a_worker(panel, channels, clock).run_round()
    monkeypatch.undo()
    assert report.skipped["finished"] == 2  # her email and her text
    assert sorted(r.rcpt_tos[0] for r in channels.mailbox.received) == [
        "bryn@example.org",
        "eve@example.org",
    ]
    assert "+447911123456" not in {t["To"] for t in channels.texts()}  # Ann's phone
    assert len(channels.texts()) == 2
    assert not [m for m in messages(store) if m.case_id == ann]  # nothing recorded for her


def test_a_crash_mid_group_leaves_that_groups_unanswered_messages_sending_and_none_resent(
    panel: Panel, channels: Channels, clock: FakeClock
) -> None:
    store = panel.store
    open_flagship(panel)
    clock.now = DAY0
    emails: list[str] = []

    def second_email_crashes(message: OutgoingMessage) -> Receipt:
        emails.append(message.to)
        if len(emails) == 2:
            raise Crash  # the process dies while handing over the second group's email
        return channels.email.send(message)

    # groups of two: (email, text) of one member each; the second group crashes at its first
    doomed = a_worker(
        panel, channels, clock, name="doomed", email_send=second_email_crashes, group=2
    )
    with pytest.raises(Crash):
        doomed.run_round()
    rows = messages(store)
    assert len(rows) == 4  # the third group was never recorded
    sending = [m for m in rows if m.state == "sending"]
    assert len(sending) == 2 and len({m.case_id for m in sending}) == 1  # that group, both
    assert sorted(m.state for m in rows if m.case_id != sending[0].case_id) == ["queued", "sent"]

    clock.now = DAY0 + dt.timedelta(hours=1)  # the lease lapses; a healthy worker carries on
    run_until_idle(a_worker(panel, channels, clock, name="healthy"))
    crashed = emails[1]
    received = Counter(r.rcpt_tos[0] for r in channels.mailbox.received)
    assert crashed not in received and set(received.values()) == {1} and len(received) == 2
    assert len(channels.texts()) == 2 and len({t["To"] for t in channels.texts()}) == 2
    assert [m.state for m in messages(store) if m.case_id == sending[0].case_id] == [
        "sending",
        "sending",
    ]
    record = store.get_wave(PANEL, "w1")
    assert record is not None
    assert store.wave_status(record.id, now=clock.now).sending == 2


def test_a_receipt_does_not_undo_a_delivery_report_that_came_first(
    panel: Panel, clock: FakeClock
) -> None:
    store = panel.store
    open_flagship(panel)
    clock.now = DAY0
    claimed = store.claim_due_members("w", now=clock.now, limit=10, lease=dt.timedelta(minutes=5))
    first, second, third = (
        record_email(store, "w", m, "invitation", 0, clock.now) for m in claimed
    )
    assert all(isinstance(i, int) for i in (first, second, third))
    key = {m.id: m.idempotency_key for m in messages(store)}
    later = clock.now + dt.timedelta(seconds=1)

    # the usual order: the receipt, then the report
    store.finish_message(first, "sent", now=clock.now, provider_id="<one@x>")  # type: ignore[arg-type]
    assert store.set_message_state(key[first], "delivered", now=later)
    assert not store.set_message_state(key[first], "sent", now=later)  # late, older news
    # the report first ('delivered' within milliseconds), then the worker's receipt
    assert store.set_message_state(key[second], "delivered", now=clock.now)
    store.finish_message(second, "sent", now=later, provider_id="<two@x>")  # type: ignore[arg-type]
    # a failure reported first is final: the receipt's 'queued' does not hide it
    assert store.set_message_state(key[third], "bounced", now=clock.now, error="550")
    store.finish_messages(
        [MessageReceipt(third, "queued", "SM1")],  # type: ignore[arg-type]
        now=later,
    )
    assert not store.set_message_state(key[third], "delivered", now=later)
    rows = {m.id: m for m in messages(store)}
    assert (rows[first].state, rows[first].provider_id) == ("delivered", "<one@x>")
    assert (rows[second].state, rows[second].provider_id) == ("delivered", "<two@x>")
    assert rows[second].sent_at is not None  # the receipt's news is kept where it adds
    assert (rows[third].state, rows[third].error) == ("bounced", "550")
    with pytest.raises(ValueError):
        store.set_message_state(key[first], "exploded", now=later)


STATEMENTS_PER_GROUP = 5
"""BEGIN, the members' check, the insert; BEGIN, the receipts' UPDATE (two commits).
Before groups it was five statements and two commits per *message*."""


def test_statements_and_transactions_per_message_are_bounded_by_the_group(
    database_url: str, channels: Channels, clock: FakeClock
) -> None:
    many = "external_id,status,language,email,n_children\n" + "".join(
        f"M{i:03d},active,en,m{i}@example.org,1\n" for i in range(120)
    )
    store = open_store(database_url)
    try:
        panel = import_panel(store, panel_keys(), many)
        open_flagship(panel)
        clock.now = DAY0
        worker = a_worker(panel, channels, clock, group=50)
        worker.batch = 200
        seen: list[str] = []
        commits: list[int] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            seen.append(" ".join(statement.split())[:80])

        sa.event.listen(store.engine, "before_cursor_execute", count)
        sa.event.listen(store.engine, "commit", lambda _conn: commits.append(1))
        report = worker.run_round()
        assert report.sent == 120 and len(channels.mailbox.received) == 120
        groups = 3  # 50, 50, 20
        per_message = [s for s in seen if "panel_messages" in s]
        # the claim, the read of 120 members, the wave, one rate-limit count, the read and the
        # release: 19 statements and 6 commits whatever the batch, then so much per group
        assert len(seen) <= 20 + STATEMENTS_PER_GROUP * groups, "\n".join(seen)
        assert len(per_message) <= 2 + 3 * groups, "\n".join(per_message)
        assert len(commits) <= 6 + 2 * groups
    finally:
        store.close()


STATEMENTS_PER_ROUND = 16
"""Statements of a round besides its groups': the claim (BEGIN, the due members, the claim's
UPDATE), the read of the members (BEGIN and four reads), the wave (BEGIN, its row), a
rate-limit count for each of the flagship's two limited channels (BEGIN, the count), and the
release (BEGIN, one UPDATE). The release read every member again before: five more."""


def test_a_round_that_only_sends_releases_its_members_without_reading_them_again(
    database_url: str, channels: Channels, clock: FakeClock
) -> None:
    """The release works out when each member is next due from the member as claimed and the
    messages the round recorded: the same times a fresh read of every member gives, in one
    UPDATE, with nothing read again."""
    rows = [f"M{i:03d},active,en,m{i}@example.org,07911 {200000 + i},1" for i in range(120)]
    seen: list[str] = []
    with contextlib.closing(open_store(database_url)) as store:
        panel = import_panel(
            store,
            panel_keys(),
            "\n".join(["external_id,status,language,email,phone,n_children", *rows]),
        )
        open_flagship(panel)
        clock.now = DAY0
        worker = a_worker(panel, channels, clock, group=50)
        worker.batch = 200
        listener = (
            store.engine,
            "before_cursor_execute",
            lambda *a: seen.append(" ".join(a[2].split())[:80]),
        )
        sa.event.listen(*listener)
        report = worker.run_round()
        sa.event.remove(*listener)
        # an email each, and the texts the wave's limit (5 a second) lets go now
        assert report.claimed == 120 and report.sent == 125 and report.skipped["rate limit"] == 115
        last_receipts = max(i for i, s in enumerate(seen) if s.startswith("UPDATE panel_messages"))
        release = seen[last_receipts + 1 :]
        assert [s.split()[0] for s in release] == ["BEGIN", "UPDATE"], release
        assert release[1].startswith("UPDATE wave_members")
        groups = 3  # 125 messages in groups of 50
        assert len(seen) <= STATEMENTS_PER_ROUND + STATEMENTS_PER_GROUP * groups, "\n".join(seen)

        with store.engine.connect() as connection:
            stored = dict(
                connection.execute(
                    sa.select(wave_members.c.member_id, wave_members.c.next_due)
                ).all()
            )
        wave_id = store.get_wave(PANEL, "w1").id  # type: ignore[union-attr]
        fresh = store.read_wave_members([(wave_id, member_id) for member_id in stored])
        _, wave = worker._wave(wave_id)
        assert len(fresh) == 120
        texted = [m for m in fresh if len(m.messages) == 2]
        held = [m for m in fresh if len(m.messages) == 1]
        assert len(texted) == 5 and len(held) == 115
        for member in texted:  # due next for the day-3 reminder, as a fresh read says
            assert stored[member.member_id] == worker.next_due_of(wave, member, clock.now)
            assert stored[member.member_id] >= clock.now + dt.timedelta(days=2)
        for member in held:  # the text still due, spread at the limit's spacing (0.2 s)
            assert clock.now < stored[member.member_id] <= clock.now + dt.timedelta(seconds=23)
            assert worker.next_due_of(wave, member, clock.now) == clock.now + HELD_BACK
