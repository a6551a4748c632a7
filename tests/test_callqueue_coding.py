"""The end of a call on a frozen clock, on SQLite and PostgreSQL: coded once under a race,
appointments checked in the respondent's zone across the March clock change, the
do-not-call list and dead numbers, vanished interviewers, windows renewed when they end.
"""

from __future__ import annotations

import datetime as dt

import pytest

from instrument.callqueue import (
    AlreadyCoded,
    AppointmentRequest,
    CallQueue,
    Claimed,
    Coded,
    NoCase,
    Refused,
)
from instrument.store import Store
from tests.callqueue_helpers import NUMBER, T0, add_case, claim, queue_on, run_all
from tests.store_fixtures import *

FRIDAY = dt.datetime(2026, 3, 27, 10, 0, tzinfo=dt.UTC)  # clocks go forward on Sunday 29 March
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def queue(store: Store) -> CallQueue:
    return queue_on(store)


def test_two_tabs_coding_at_once_code_once(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1")
    claimed = claim(queue, "ivan", T0)
    results: list[object] = []

    def code(disposition: str) -> None:
        results.append(
            queue.code_outcome(claimed.attempt_id, disposition=disposition, actor="ivan", now=T0)
        )

    assert not run_all([lambda: code("no_answer"), lambda: code("busy")])
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["AlreadyCoded", "Coded"], results
    (coded,) = [r for r in results if isinstance(r, Coded)]
    (already,) = [r for r in results if isinstance(r, AlreadyCoded)]
    assert already.disposition == coded.disposition
    assert [a.disposition for a in store.attempts_of("c1")] == [coded.disposition]
    assert [e.action for e in store.audit_of("c1")].count("code_attempt") == 1


def test_a_hard_appointment_is_booked_in_the_interviewers_zone_across_the_clock_change(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1", now=FRIDAY)
    claimed = claim(queue, "ivan", FRIDAY)
    # Monday 30 March, 18:00 on the interviewer's clock in Berlin (CEST since Sunday)
    wanted = AppointmentRequest(
        "hard", at=dt.datetime(2026, 3, 30, 18, 0), zone="Europe/Berlin", only_me=True
    )
    coded = queue.code_outcome(
        claimed.attempt_id, disposition="appointment", appointment=wanted, actor="ivan",
        now=FRIDAY,
    )  # fmt: skip
    assert isinstance(coded, Coded) and coded.window is not None
    due = dt.datetime(2026, 3, 30, 16, 0, tzinfo=dt.UTC)  # 17:00 in London (BST)
    assert coded.window.start == due and coded.window.kind == "hard"
    (booked,) = store.appointments_of("c1")
    assert booked.at == due and booked.interviewer == "ivan"
    view = queue.case_view("c1", viewer_zone="Europe/Berlin", now=FRIDAY)
    assert view.appointments[0].at_respondent.hour == 17  # type: ignore[union-attr]
    assert view.appointments[0].at_viewer.hour == 18  # type: ignore[union-attr]
    assert isinstance(queue.next_case("ivan", now=due - MINUTE), NoCase)  # not due yet
    assert isinstance(queue.next_case("olga", now=due + MINUTE), NoCase)  # kept for ivan
    again = claim(queue, "ivan", due + MINUTE)
    assert again.case_id == "c1" and again.window_kind == "hard"
    # the appointment was kept by this call: a no answer now rests, it is not due again
    later = due + 2 * MINUTE
    coded = queue.code_outcome(again.attempt_id, disposition="no_answer", actor="ivan", now=later)
    assert isinstance(coded, Coded) and coded.window is not None
    assert coded.window.kind == "normal" and coded.window.start >= again_start(again, store)
    assert store.appointments_of("c1") == []


def again_start(claimed: Claimed, store: Store) -> dt.datetime:
    (attempt,) = [a for a in store.attempts_of("c1") if a.id == claimed.attempt_id]
    return attempt.started_at + dt.timedelta(hours=3)


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (AppointmentRequest("hard", at=dt.datetime(2026, 3, 29, 1, 30), zone="Europe/London"),
         "does not exist"),  # London skips 01:00-02:00
        (AppointmentRequest("hard", at=dt.datetime(2026, 10, 25, 1, 30), zone="Europe/London"),
         "happens twice"),  # and repeats it in October
        (AppointmentRequest("hard", at=dt.datetime(2026, 3, 30, 22, 30), zone="Europe/Berlin"),
         "outside calling hours"),  # 21:30 in London
        (AppointmentRequest("hard", at=dt.datetime(2026, 3, 26, 12, 0), zone="Europe/London"),
         "passed"),
        (AppointmentRequest("soft", day=dt.date(2026, 3, 29), part="evening"),
         "no calling hours"),  # Sunday
        (AppointmentRequest("soft", day=dt.date(2026, 3, 31), part="night"), "unknown part"),
    ],
)  # fmt: skip
def test_appointments_that_cannot_be_kept_are_refused(
    queue: CallQueue, store: Store, request_: AppointmentRequest, why: str
) -> None:
    add_case(store, "c1", now=FRIDAY)
    claimed = claim(queue, "ivan", FRIDAY)
    refused = queue.code_outcome(
        claimed.attempt_id, disposition="appointment", appointment=request_, actor="ivan",
        now=FRIDAY,
    )  # fmt: skip
    assert isinstance(refused, Refused) and why in refused.messages[0], refused
    assert store.attempts_of("c1")[0].ended_at is None  # nothing coded


def test_a_soft_appointment_is_that_evening_in_the_respondents_zone(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1", now=FRIDAY)
    claimed = claim(queue, "ivan", FRIDAY)
    soft = AppointmentRequest("soft", day=dt.date(2026, 3, 31), part="evening")
    coded = queue.code_outcome(
        claimed.attempt_id, disposition="appointment", appointment=soft, actor="ivan", now=FRIDAY
    )
    assert isinstance(coded, Coded) and coded.window is not None
    evening = dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC)  # 17:00 BST
    assert (coded.window.start, coded.window.kind) == (evening, "soft")
    assert claim(queue, "olga", evening).case_id == "c1"


def test_do_not_call_is_honoured_for_every_case_with_the_number(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1")
    claimed = claim(queue, "ivan", T0)
    coded = queue.code_outcome(claimed.attempt_id, disposition="do_not_call", actor="ivan", now=T0)
    assert isinstance(coded, Coded) and coded.final and coded.window is None
    assert store.is_do_not_call(NUMBER)
    add_case(store, "c2")  # another case with the same number
    assert isinstance(queue.next_case("olga", now=T0 + MINUTE), NoCase)
    assert store.queue_row("c2")["final"]  # type: ignore[index]


def test_a_dead_number_moves_the_case_to_its_next_number(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1", numbers=(NUMBER, "+442079460123"))
    claimed = claim(queue, "ivan", T0)
    assert queue.place_call(claimed.attempt_id, 1, dialer=None, now=T0).kind == "placed"
    coded = queue.code_outcome(
        claimed.attempt_id, disposition="number_not_working", actor="ivan", now=T0
    )
    assert isinstance(coded, Coded) and not coded.final
    assert [n.working for n in store.phone_numbers_of("c1")] == [False, True]
    again = claim(queue, "ivan", T0 + MINUTE)
    refused = queue.place_call(again.attempt_id, 1, dialer=None, now=T0 + MINUTE)
    assert isinstance(refused, Refused) and "not working" in refused.messages[0]
    assert queue.place_call(again.attempt_id, 2, dialer=None, now=T0 + MINUTE).kind == "placed"


def test_a_vanished_interviewers_case_is_released_coded_and_audited(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1")
    first = claim(queue, "ivan", T0)
    assert isinstance(queue.next_case("olga", now=T0 + 14 * MINUTE), NoCase)  # still ivan's
    taken = claim(queue, "olga", T0 + 16 * MINUTE)
    assert taken.case_id == "c1" and taken.attempt_id != first.attempt_id
    attempts = store.attempts_of("c1")
    assert attempts[0].disposition == "hold_expired" and attempts[0].ended_at is not None
    (release,) = [e for e in store.audit_of("c1") if e.action == "release_stale_hold"]
    assert release.before is not None and release.before["held_by"] == "ivan"
    late = queue.code_outcome(first.attempt_id, disposition="no_answer", actor="ivan", now=T0)
    assert isinstance(late, AlreadyCoded)  # ivan's tab, back too late, changes nothing


def test_a_window_that_ends_without_a_call_is_worked_out_again(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1")
    claimed = claim(queue, "ivan", T0)
    coded = queue.code_outcome(claimed.attempt_id, disposition="no_answer", actor="ivan", now=T0)
    assert isinstance(coded, Coded) and coded.window is not None
    monday_end = dt.datetime(2026, 3, 2, 21, 0, tzinfo=dt.UTC)
    assert coded.window.end == monday_end  # nobody called it that evening
    tuesday = dt.datetime(2026, 3, 3, 9, 30, tzinfo=dt.UTC)
    again = claim(queue, "olga", tuesday)
    assert again.case_id == "c1"
    row = store.queue_row("c1")
    assert row is not None and row["window_start"] == tuesday  # renewed when it was asked for
    assert row["window_end"] == dt.datetime(2026, 3, 3, 21, 0, tzinfo=dt.UTC)
