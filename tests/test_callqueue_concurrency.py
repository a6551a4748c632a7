"""The call queue under load and through a provider, on SQLite and PostgreSQL.

Many interviewers pressing "next case" at once (windows being renewed by all
of them) never share a case; a web link and the phone opening a case's
interview at once share one; the bulk facts the supervisor's view reads equal
the per-case facts the scheduler reads; a provider (a fake dialer, standing in
for Twilio, which its own tests cover) gets the number and the call id.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from instrument.callqueue import AppointmentRequest, CallPlaced, Claimed, Coded, NoCase, Refused
from instrument.store import Store
from instrument.store.fieldwork_reports import Renewal
from tests.callqueue_helpers import NUMBER, T0, add_case, claim, queue_on, run_all
from tests.store_fixtures import *

MINUTE = dt.timedelta(minutes=1)


def test_many_interviewers_at_once_never_share_a_case(store: Store) -> None:
    queue = queue_on(store)
    for n in range(24):
        add_case(store, f"c{n}", numbers=(f"+4420700000{n:02d}",))
    taken: list[tuple[str, str]] = []

    def work(who: str) -> None:
        while True:
            claimed = queue.next_case(who, now=T0)
            if isinstance(claimed, NoCase):
                return
            taken.append((who, claimed.case_id))
            coded = queue.code_outcome(
                claimed.attempt_id, disposition="no_answer", actor=who, now=T0
            )
            assert isinstance(coded, Coded)

    errors = run_all([lambda who=f"i{k}": work(who) for k in range(8)])
    assert not errors, errors
    counts = Counter(case_id for _, case_id in taken)
    assert len(counts) == 24 and set(counts.values()) == {1}  # each case once
    assert len({who for who, _ in taken}) > 1


def test_a_web_link_and_the_phone_at_once_share_the_case_interview(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "c1")
    service = queue.interviews
    token = service.issue_link("mini", case_id="c1", now=T0)
    found: list[str] = []

    def web() -> None:
        opened = service.open_link(token, mode="web", actor="respondent", now=T0)
        found.append(opened.interview_id)  # type: ignore[union-attr]

    def phone() -> None:
        found.append(queue.interview_for("c1", mode="cati", actor="ivan", now=T0))

    errors = run_all([web, phone, web, phone])
    assert not errors, errors
    assert len(set(found)) == 1
    assert [r.id for r in store.interviews_for_case("c1")] == found[:1]


def test_the_bulk_facts_are_the_per_case_facts(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "plain")
    add_case(store, "two", numbers=(NUMBER, "+442079460999"))
    add_case(store, "booked", numbers=("+442079460555",))
    add_case(store, "blocked", numbers=("+442079460777",))
    store.add_do_not_call("+442079460777", reason="asked", actor="sue", now=T0)
    for case_id, disposition, appointment in (
        ("booked", "appointment", AppointmentRequest("soft", day=T0.date(), part="evening")),
        ("two", "number_not_working", None),  # "plain" is taken and coded busy on the way
    ):
        while True:
            claimed = claim(queue, "ivan", T0)
            if claimed.case_id == case_id:
                break
            queue.code_outcome(claimed.attempt_id, disposition="busy", actor="ivan", now=T0)
        queue.place_call(claimed.attempt_id, 1, dialer=None, now=T0)
        coded = queue.code_outcome(
            claimed.attempt_id, disposition=disposition, appointment=appointment, actor="ivan",
            now=T0,
        )  # fmt: skip
        assert isinstance(coded, Coded), coded
    queue.interview_for("plain", mode="cati", actor="ivan", now=T0)
    bulk = {q.case_id: q.facts for q in store.queued_cases()}
    assert set(bulk) == {"plain", "two", "booked", "blocked"}
    for case_id, facts in bulk.items():
        assert facts == store.fieldwork_facts(case_id), case_id
    assert bulk["blocked"].do_not_call and bulk["plain"].interview_started
    assert bulk["booked"].appointment is not None and bulk["two"].numbers == (2,)
    overview = queue.sample_overview(T0)
    assert overview.appointments_today == 1  # "booked", this evening
    assert queue.sample_overview(T0 + dt.timedelta(days=1)).appointments_today == 0


class FakeDialer:
    """A provider that answers with made-up sids, or fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.placed: list[tuple[str, int]] = []
        self.ended: list[str] = []
        self.fail = fail

    def place(self, to_e164: str, call_id: int) -> str:
        if self.fail:
            raise ConnectionError("provider unreachable")
        self.placed.append((to_e164, call_id))
        return f"CA{call_id:032d}"

    def hang_up(self, sid: str) -> None:
        self.ended.append(sid)


def test_a_provider_places_and_ends_the_call(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "c1")
    claimed = claim(queue, "ivan", T0)
    assert isinstance(claimed, Claimed)
    broken = queue.place_call(claimed.attempt_id, 1, dialer=FakeDialer(fail=True), now=T0)
    assert isinstance(broken, Refused) and "provider unreachable" in broken.messages[0]
    dialer = FakeDialer()
    placed = queue.place_call(claimed.attempt_id, 1, dialer=dialer, now=T0)
    assert isinstance(placed, CallPlaced) and placed.provider == "twilio" and not placed.again
    assert dialer.placed == [(NUMBER, placed.call_id)]
    assert placed.provider_sid == f"CA{placed.call_id:032d}"
    again = queue.place_call(claimed.attempt_id, 1, dialer=dialer, now=T0 + MINUTE)
    assert isinstance(again, CallPlaced) and again.again and len(dialer.placed) == 1
    assert queue.hang_up(placed.call_id, dialer=dialer)
    assert dialer.ended == [placed.provider_sid]
    assert not queue.hang_up(placed.call_id, dialer=None)  # dialled by hand: nothing to end


def test_a_renewal_read_before_a_claim_changes_nothing(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "c1")
    (read,) = store.queued_cases(["c1"])  # an interviewer reads the case's ended window...
    claimed = claim(queue, "ivan", T0)  # ...another renews and claims it meanwhile
    store.renew_windows(
        [Renewal("c1", read.window_end, read.attempts, None, "max_attempts")], now=T0
    )
    row = store.queue_row("c1")
    assert row is not None and row["held_by"] == "ivan" and not row["final"]
    assert row["window_end"] is not None and claimed.case_id == "c1"


def test_a_renewal_read_before_a_case_was_called_and_coded_changes_nothing(store: Store) -> None:
    """The stale renewal's window ends where the coded case's new one does (the same evening's
    calling hours); only the attempt count tells them apart. Without it the case was handed out
    again at once, from facts that did not know the call (seen with 8 threads at once)."""
    queue = queue_on(store)
    add_case(store, "c1")
    queue.keep_windows_true(T0)  # the case gets this evening's window
    (read,) = store.queued_cases(["c1"])  # an interviewer's sweep reads the case...
    claimed = claim(queue, "ivan", T0)  # ...another claims it and codes it meanwhile
    coded = queue.code_outcome(claimed.attempt_id, disposition="no_answer", actor="ivan", now=T0)
    assert isinstance(coded, Coded) and coded.window is not None
    after = store.queue_row("c1")
    assert after is not None and after["window_end"] == read.window_end  # the trap
    stale = Renewal("c1", read.window_end, read.attempts, read_window(read), None)
    store.renew_windows([stale], now=T0)
    assert store.queue_row("c1") == after
    assert isinstance(queue.next_case("ivy", now=T0), NoCase)


def read_window(queued: Any) -> Any:
    """The window the sweep works out from what it read (callable now: no call known)."""
    from instrument.fieldwork import next_window
    from instrument.fieldwork.settings import FieldworkSettings

    settings = FieldworkSettings()
    return next_window(queued.facts, settings.calling, settings.dispositions, T0)


class SlowDialer(FakeDialer):
    """A provider that takes a moment to answer, so a second press arrives while it dials."""

    def place(self, to_e164: str, call_id: int) -> str:
        import time

        time.sleep(0.05)
        return super().place(to_e164, call_id)


def test_two_dial_presses_at_once_record_and_place_one_call(store: Store) -> None:
    """A double click or two tabs: the test for a call still going is made under the attempt's lock."""
    queue = queue_on(store)
    add_case(store, "c1")
    claimed = claim(queue, "ivan", T0)
    assert isinstance(claimed, Claimed)
    for dialer in (None, SlowDialer()):
        results: list[CallPlaced | Refused] = []

        def press(results: list[CallPlaced | Refused] = results, dialer: object = dialer) -> None:
            results.append(queue.place_call(claimed.attempt_id, 1, dialer=dialer, now=T0))  # type: ignore[arg-type]

        presses = [press for _ in range(6)]
        errors = run_all(presses)
        assert not errors, errors
        assert all(isinstance(r, CallPlaced) for r in results)
        assert len({r.call_id for r in results}) == 1  # type: ignore[union-attr]
        assert sum(not r.again for r in results) == 1  # type: ignore[union-attr]
        if dialer is not None:
            assert len(dialer.placed) == 1
        provider = "manual" if dialer is None else "twilio"
        assert [c.provider for c in store.calls_of("c1")].count(provider) == 1


def test_next_case_reads_every_hold_in_one_statement(store: Store) -> None:
    """Fifty interviewers at work must not cost "next case" a read per hold (it cost 51 of 114)."""
    import sqlalchemy as sa

    queue = queue_on(store)
    for n in range(60):
        add_case(store, f"c{n}", numbers=(f"+4420700001{n:02d}",))
    assert isinstance(queue.next_case("first", now=T0), Claimed)  # windows worked out
    for k in range(40):  # held by people this process never served: nothing of theirs is kept
        assert store.claim_next_case(f"other{k}", now=T0) is not None
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        assert isinstance(queue.next_case("last", now=T0 + MINUTE), Claimed)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    reads_of_cases = [s for s in statements if s.lstrip().upper().startswith("SELECT CASES.")]
    assert len(reads_of_cases) <= 2, len(reads_of_cases)
    assert len(statements) < 30, len(statements)


def test_a_renewal_that_read_the_case_held_leaves_it_to_its_coding(store: Store) -> None:
    """The interleaving the attempt count cannot catch (seen once in some hundred runs of the
    eight-thread test on SQLite): a sweep lists the case while its window is unset, another
    interviewer's sweep sets it and claims the case, the first sweep reads the case held
    (the attempt already counted), the claim is coded with a window ending when the claimed
    one did, and then the first sweep writes. It must leave the coded window alone."""
    sweeping, other = queue_on(store), queue_on(store)
    add_case(store, "c1")
    add_case(store, "c2")
    held: list[int] = []
    listed = store.ended_windows
    renew = store.renew_windows

    def list_then_claim(now: Any, **kw: Any) -> list[str]:
        ids = listed(now, **kw)  # c1 and c2, no window yet
        store.ended_windows = listed  # type: ignore[method-assign]  # the others' sweeps: as is
        claimed = other.next_case("ivan", now=T0)  # sets both windows, takes c1
        assert isinstance(claimed, Claimed) and claimed.case_id == "c1"
        held.append(claimed.attempt_id)
        store.renew_windows = code_then_renew  # type: ignore[method-assign]  # the first sweep's write
        return ids

    def code_then_renew(renewals: Any, *, now: Any) -> None:
        coded = other.code_outcome(held[0], disposition="no_answer", actor="ivan", now=T0)
        assert isinstance(coded, Coded) and coded.window is not None
        renew(renewals, now=now)

    store.ended_windows = list_then_claim  # type: ignore[method-assign]
    try:
        sweeping.renew_ended_windows(T0)
    finally:
        store.ended_windows, store.renew_windows = listed, renew  # type: ignore[method-assign]
    row = store.queue_row("c1")
    assert row is not None and row["window_start"] > T0  # resting after 'no answer'
    taken = other.next_case("ivy", now=T0)
    assert isinstance(taken, Claimed) and taken.case_id == "c2"
    assert isinstance(other.next_case("zoe", now=T0), NoCase)
