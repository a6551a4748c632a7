"""Coding attempts, appointments, the audit log and the facts for the rules (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from instrument.fieldwork import DEFAULT_DISPOSITIONS, AppointmentFact, CallingRules, next_window
from instrument.store import Store
from tests.fieldwork_store_helpers import T0, Win, add_case, open_window
from tests.store_fixtures import *


def _claimed(store: Store, case_id: str = "c-1", **kwargs: object) -> int:
    add_case(store, case_id, **kwargs)  # type: ignore[arg-type]
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None and claim.case_id == case_id
    return claim.attempt_id


def test_coding_an_attempt_twice_stores_one_outcome_and_says_so(store: Store) -> None:
    attempt_id = _claimed(store)
    retry = Win(T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=6))
    at = T0 + dt.timedelta(minutes=4)
    first = store.code_attempt(
        attempt_id, disposition="no_answer", final=False, note="rang out", window=retry,
        actor="ivy", now=at,
    )  # fmt: skip
    second = store.code_attempt(
        attempt_id, disposition="complete", final=True, window=None, actor="ivy", now=at
    )
    assert (first.already_coded, second.already_coded) == (False, True)
    assert second.disposition == "no_answer"
    (attempt,) = store.attempts_of("c-1")
    assert (attempt.disposition, attempt.note, attempt.ended_at) == ("no_answer", "rang out", at)
    row = store.queue_row("c-1")
    assert row is not None
    assert (row["held_by"], row["disposition"], row["final"], row["window_start"]) == (
        None,
        "no_answer",
        False,
        retry.start,
    )
    assert [e.action for e in store.audit_of("c-1")] == ["code_attempt"]
    assert store.claim_next_case("una", now=at) is None  # inside its retry delay
    assert store.claim_next_case("una", now=retry.start).case_id == "c-1"  # type: ignore[union-attr]


def test_a_double_click_from_two_threads_codes_once(store: Store) -> None:
    attempt_id = _claimed(store)
    results = []
    barrier = threading.Barrier(2)

    def code(disposition: str) -> None:
        barrier.wait()
        results.append(
            store.code_attempt(
                attempt_id,
                disposition=disposition,
                final=False,
                window=open_window(),
                actor="ivy",
                now=T0,
            )  # fmt: skip
        )

    threads = [threading.Thread(target=code, args=(d,)) for d in ("busy", "no_answer")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.already_coded for r in results) == [False, True]
    winner = next(r for r in results if not r.already_coded)
    assert {r.disposition for r in results} == {winner.disposition}
    assert [a.disposition for a in store.attempts_of("c-1")] == [winner.disposition]
    assert len(store.audit_of("c-1")) == 1


def test_an_appointment_replaces_the_earlier_one_and_is_kept_to(store: Store) -> None:
    attempt_id = _claimed(store)
    soft = AppointmentFact(kind="soft", day=dt.date(2026, 3, 3), part="evening")
    done = store.code_attempt(
        attempt_id, disposition="appointment", final=False, appointment=soft,
        window=open_window(kind="soft"), actor="ivy", now=T0,
    )  # fmt: skip
    assert done.appointment_id is not None
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None
    at = dt.datetime(2026, 3, 4, 18, 30, tzinfo=dt.UTC)
    hard = AppointmentFact(kind="hard", at=at, interviewer="ivy")
    window = Win(at - dt.timedelta(minutes=5), at + dt.timedelta(minutes=30), "hard", "ivy")
    store.code_attempt(
        claim.attempt_id, disposition="appointment", final=False, appointment=hard,
        window=window, actor="ivy", now=T0,
    )  # fmt: skip
    (booked,) = store.appointments_of("c-1")
    assert (booked.kind, booked.at, booked.interviewer, booked.zone, booked.made_by) == (
        "hard",
        at,
        "ivy",
        "Europe/London",
        "ivy",
    )
    everything = store.appointments_of("c-1", include_cancelled=True)
    assert [a.cancelled_at for a in everything] == [T0, None]
    assert store.claim_next_case("una", now=at) is None  # promised to ivy
    assert store.claim_next_case("ivy", now=at).window_kind == "hard"  # type: ignore[union-attr]
    assert store.cancel_appointment(booked.id, now=at) and not store.appointments_of("c-1")


def test_a_supervisor_changes_an_outcome_with_a_reason_kept_in_the_audit(store: Store) -> None:
    add_case(store, "c-1")
    with pytest.raises(ValueError, match="reason"):
        store.change_disposition("c-1", disposition="refusal_hard", reason=" ", actor="sue")
    store.change_disposition(
        "c-1", disposition="refusal_hard", final=True, reason="complaint by letter", actor="sue",
        now=T0,
    )  # fmt: skip
    (entry,) = store.audit_of("c-1")
    assert (entry.actor, entry.action, entry.reason, entry.at) == (
        "sue",
        "change_disposition",
        "complaint by letter",
        T0,
    )
    assert entry.before == {"disposition": None, "final": False}
    assert entry.after == {"disposition": "refusal_hard", "final": True}
    with pytest.raises(LookupError):
        store.change_disposition("c-9", disposition="x", reason="y", actor="sue")


def test_the_facts_feed_the_rules_which_give_the_next_window(store: Store) -> None:
    attempt_id = _claimed(store, numbers=("+442071230001", "+442071230002"))
    store.start_call(attempt_id, number_rank=2, provider="manual", now=T0)
    store.code_attempt(
        attempt_id, disposition="no_answer", final=False, window=None, actor="ivy", now=T0
    )
    store.add_do_not_call("+442071230001", reason="asked", actor="sue", now=T0)
    facts = store.fieldwork_facts("c-1")
    assert facts is not None
    assert (facts.zone, facts.numbers, facts.do_not_call, facts.interview_finished) == (
        "Europe/London",
        (2,),
        False,
        False,
    )
    assert [(a.at, a.disposition, a.number_rank) for a in facts.attempts] == [(T0, "no_answer", 2)]
    window = next_window(facts, CallingRules(), DEFAULT_DISPOSITIONS, T0)
    assert window is not None and window.start > T0
    store.set_window("c-1", window=window, now=T0)
    assert store.claim_next_case("ivy", now=T0) is None
    assert store.claim_next_case("ivy", now=window.start).case_id == "c-1"  # type: ignore[union-attr]
    store.add_do_not_call("+442071230002", reason="asked", actor="sue", now=T0)
    assert store.fieldwork_facts("c-1").do_not_call  # type: ignore[union-attr]
    assert store.fieldwork_facts("c-9") is None


def test_coding_is_all_or_nothing(store: Store) -> None:
    """An appointment that cannot be booked (the case left the queue) leaves the attempt open."""
    attempt_id = _claimed(store)
    with store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM case_queue WHERE case_id = 'c-1'"))
    hard = AppointmentFact(kind="hard", at=T0 + dt.timedelta(days=1))
    with pytest.raises(LookupError, match="not in the call queue"):
        store.code_attempt(
            attempt_id, disposition="appointment", final=False, appointment=hard,
            window=None, actor="ivy", now=T0,
        )  # fmt: skip
    (attempt,) = store.attempts_of("c-1")
    assert (attempt.ended_at, attempt.disposition) == (None, None)
    assert store.appointments_of("c-1", include_cancelled=True) == []
    assert store.audit_of("c-1") == []
    done = store.code_attempt(
        attempt_id, disposition="no_answer", final=False, window=None, actor="ivy", now=T0
    )
    assert not done.already_coded
