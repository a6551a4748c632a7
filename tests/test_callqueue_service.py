"""The call-queue service as the interviewer's console drives it, on SQLite and PostgreSQL.

A frozen clock (Monday 2 March 2026, 10:00 in London): next case, the case
screen, the case's interview, dialling by hand, the outcome picker, coding
once, and what the next window becomes.
"""

from __future__ import annotations

import datetime as dt

import pytest

from instrument.callqueue import (
    AlreadyCoded,
    CallPlaced,
    CallQueue,
    Claimed,
    Coded,
    NoCase,
    Refused,
)
from instrument.store import Store
from tests.callqueue_helpers import NAME, NUMBER, T0, add_case, answer_first_page, queue_on
from tests.store_fixtures import *


@pytest.fixture
def queue(store: Store) -> CallQueue:
    return queue_on(store)


def test_no_case_in_an_empty_queue(queue: CallQueue) -> None:
    assert isinstance(queue.next_case("ivan", now=T0), NoCase)


def test_next_case_works_out_the_first_window_and_holds_the_case(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1")
    claimed = queue.next_case("ivan", now=T0)
    assert isinstance(claimed, Claimed) and claimed.case_id == "c1"
    assert claimed.questionnaire_id == "mini" and claimed.attempts == 1 and not claimed.resumed
    again = queue.next_case("ivan", now=T0)  # a refresh: the same case, no second attempt
    assert isinstance(again, Claimed) and again.resumed
    assert again.attempt_id == claimed.attempt_id
    assert len(store.attempts_of("c1")) == 1
    assert isinstance(queue.next_case("olga", now=T0), NoCase)  # held by ivan


def test_the_case_screen_shows_name_numbers_and_history(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1", numbers=(NUMBER, "+442079460000"))
    store.add_do_not_call("+442079460000", reason="asked", actor="sup", now=T0)
    claimed = queue.next_case("ivan", now=T0)
    assert isinstance(claimed, Claimed)
    view = queue.case_view("c1", viewer_zone="Europe/Berlin", now=T0)
    assert view.name == NAME
    assert [(n.rank, n.e164, n.diallable) for n in view.numbers] == [
        (1, NUMBER, True),
        (2, "+442079460000", False),
    ]
    assert view.respondent_now.hour == 10 and view.viewer_zone == "Europe/Berlin"
    assert view.attempts[0].started_at.hour == 11  # shown in the interviewer's zone
    assert view.interview_id is None and view.held_by == "ivan"


def test_dial_by_hand_code_once_and_the_next_window(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1")
    claimed = queue.next_case("ivan", now=T0)
    assert isinstance(claimed, Claimed)
    placed = queue.place_call(claimed.attempt_id, 1, dialer=None, now=T0)
    assert isinstance(placed, CallPlaced) and placed.provider == "manual"
    twice = queue.place_call(claimed.attempt_id, 1, dialer=None, now=T0)
    assert isinstance(twice, CallPlaced) and twice.again and twice.call_id == placed.call_id
    assert len(store.calls_of("c1")) == 1
    codes = [d.code for d in queue.outcomes_for(claimed.attempt_id)]
    assert "no_answer" in codes and "complete" not in codes and "partial" not in codes
    later = T0 + dt.timedelta(minutes=2)
    coded = queue.code_outcome(
        claimed.attempt_id, disposition="no_answer", note="rang out", actor="ivan", now=later
    )
    assert isinstance(coded, Coded) and not coded.final and coded.window is not None
    assert coded.window.start == T0 + dt.timedelta(hours=3)  # no answer rests three hours
    again = queue.code_outcome(
        claimed.attempt_id, disposition="refusal_hard", actor="ivan", now=later
    )
    assert isinstance(again, AlreadyCoded) and again.disposition == "no_answer"
    row = store.queue_row("c1")
    assert row is not None and row["held_by"] is None and row["disposition"] == "no_answer"
    assert isinstance(queue.next_case("ivan", now=later), NoCase)
    back = queue.next_case("ivan", now=T0 + dt.timedelta(hours=3, minutes=1))
    assert isinstance(back, Claimed) and back.case_id == "c1" and back.attempts == 2


def test_complete_needs_the_finished_interview(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1")
    claimed = queue.next_case("ivan", now=T0)
    assert isinstance(claimed, Claimed)
    refused = queue.code_outcome(claimed.attempt_id, disposition="complete", actor="ivan", now=T0)
    assert isinstance(refused, Refused) and "finished" in refused.messages[0]
    interview_id = queue.interview_for("c1", mode="cati", actor="ivan", now=T0)
    assert queue.interview_for("c1", mode="cati", actor="ivan", now=T0) == interview_id
    answer_first_page(
        queue.interviews, interview_id, {"parent": "2"}, mode="cati", actor="ivan", now=T0,
        key="k1",
    )  # fmt: skip
    codes = [d.code for d in queue.outcomes_for(claimed.attempt_id)]
    assert "complete" in codes and "partial" in codes
    coded = queue.code_outcome(claimed.attempt_id, disposition="complete", actor="ivan", now=T0)
    assert isinstance(coded, Coded) and coded.final and coded.window is None


def test_unknown_attempts_and_numbers_are_refused(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1")
    claimed = queue.next_case("ivan", now=T0)
    assert isinstance(claimed, Claimed)
    assert isinstance(queue.place_call(999, 1, dialer=None, now=T0), Refused)
    assert isinstance(queue.place_call(claimed.attempt_id, 7, dialer=None, now=T0), Refused)
    assert isinstance(
        queue.code_outcome(999, disposition="no_answer", actor="ivan", now=T0), Refused
    )
    assert isinstance(
        queue.code_outcome(claimed.attempt_id, disposition="nonsense", actor="ivan", now=T0),
        Refused,
    )
    assert isinstance(
        queue.code_outcome(claimed.attempt_id, disposition="appointment", actor="ivan", now=T0),
        Refused,
    )
