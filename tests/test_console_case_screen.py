"""The interviewer's case screen read by the store, on SQLite and PostgreSQL.

On PostgreSQL the screen is one statement through psycopg
(instrument/store/pg_case_screen.py), on SQLite a statement per table
through Core. Both must give the same screen: here a case with every kind
of row the screen shows (numbers, one on the do-not-call list, attempts
coded and open, a call with a recording decision, hard and soft
appointments, an interview answered) is read both ways on each database
and compared, and what it shows is checked too.
"""

from __future__ import annotations

import datetime as dt

from instrument.callqueue import AppointmentRequest, CallPlaced, CallQueue, Claimed, Coded
from instrument.store import Store
from instrument.store.fieldwork_screen import _case_screen
from tests.callqueue_helpers import NAME, NUMBER, T0, add_case, answer_first_page, claim, queue_on
from tests.store_fixtures import *

OTHER = "+442079460000"


def _code(queue: CallQueue, claimed: Claimed, now: dt.datetime, **how: object) -> None:
    coded = queue.code_outcome(claimed.attempt_id, actor="ivan", now=now, **how)  # type: ignore[arg-type]
    assert isinstance(coded, Coded), coded


def _worked_case(store: Store) -> CallQueue:
    """c1: two attempts (the first coded with a hard appointment, the second open, answered),
    a call with a recording decision; c2: a soft appointment (a day and a part of it)."""
    queue = queue_on(store)
    add_case(store, "c1", numbers=(NUMBER, OTHER))
    store.add_do_not_call(OTHER, reason="asked", actor="sup", now=T0)
    first = claim(queue, "ivan", T0)
    placed = queue.place_call(first.attempt_id, 1, dialer=None, now=T0)
    assert isinstance(placed, CallPlaced)
    store.set_call_recording(placed.call_id, True, now=T0 + dt.timedelta(seconds=30))
    hard = AppointmentRequest("hard", at=dt.datetime(2026, 3, 2, 15, 30), zone="Europe/London")
    _code(queue, first, T0 + dt.timedelta(minutes=3), disposition="appointment",
          appointment=hard, note="call back at half past three")  # fmt: skip
    at_three = dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC)
    second = claim(queue, "ivan", at_three)
    assert second.case_id == "c1"
    interview = queue.interview_for("c1", mode="cati", actor="ivan", now=at_three)
    answer_first_page(
        queue.interviews, interview, {"parent": 1}, mode="cati", actor="ivan", now=at_three,
        key="k1",
    )  # fmt: skip
    add_case(store, "c2")
    later = at_three + dt.timedelta(minutes=1)  # past the queue's sweep, which gives c2 a window
    third = claim(queue, "olga", later)
    assert third.case_id == "c2"
    soft = AppointmentRequest("soft", day=dt.date(2026, 3, 4), part="evening")
    _code(queue, third, later, disposition="appointment", appointment=soft)
    return queue


def test_the_case_screen_is_the_same_read_either_way(store: Store) -> None:
    _worked_case(store)
    for case_id in ("c1", "c2"):
        screen = store.case_screen(case_id)
        rows = store._screen_rows(case_id)  # the statement per table, through Core
        assert rows is not None
        assert screen == _case_screen(rows)


def test_what_the_case_screen_holds(store: Store) -> None:
    _worked_case(store)
    screen = store.case_screen("c1")
    assert screen is not None
    assert screen.name == NAME and screen.queue["held_by"] == "ivan"
    assert screen.queue["case_id"] == "c1" and screen.queue["zone"] == "Europe/London"
    assert [(n.rank, n.e164, n.working, n.do_not_call) for n in screen.numbers] == [
        (1, NUMBER, True, False),
        (2, OTHER, True, True),
    ]
    coded, open_attempt = screen.attempts
    assert coded.disposition == "appointment" and coded.note == "call back at half past three"
    assert coded.started_at == T0 and coded.ended_at == T0 + dt.timedelta(minutes=3)
    assert coded.started_at.utcoffset() == dt.timedelta(0)
    assert open_attempt.ended_at is None and open_attempt.interviewer == "ivan"
    (call,) = screen.calls
    assert call.attempt_id == coded.id and call.provider == "manual" and call.recording is True
    assert call.recording_at == T0 + dt.timedelta(seconds=30)
    (booked,) = screen.appointments
    assert booked.kind == "hard" and booked.at == dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC)
    assert booked.day is None and booked.cancelled_at is None
    assert screen.interview is not None and screen.interview.mode == "cati"
    assert screen.interview.revision > 0 and screen.answer_modes == ("cati",)
    assert screen.interview_started
    other = store.case_screen("c2")
    assert other is not None and other.interview is None and other.answer_modes == ()
    (soft,) = other.appointments
    assert soft.kind == "soft" and soft.day == dt.date(2026, 3, 4) and soft.part == "evening"
    assert soft.at is None and soft.made_at.tzinfo is not None


def test_a_case_not_in_the_queue_has_no_screen(store: Store) -> None:
    assert store.case_screen("nobody") is None
    assert store.case_screen("c\x001") is None


def test_who_holds_a_case_through_an_attempt(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "c1")
    claimed = claim(queue, "ivan", T0)
    assert store.holder_of(claimed.attempt_id) == "ivan"
    assert store.holder_of(claimed.attempt_id + 1) is None
    _code(queue, claimed, T0, disposition="no_answer")
    assert store.holder_of(claimed.attempt_id) is None  # coded: the case is free again
