"""Calls and Twilio status callbacks in the store (SQLite and PostgreSQL): each event once, status forward only."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from instrument.store import Store
from instrument.store.fieldwork_records import NumberNotCallable
from instrument.store.schema import call_events
from tests.fieldwork_store_helpers import T0, add_case
from tests.store_fixtures import *

SID = "CA" + "0" * 32


def _at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _event(store: Store, status: str, seq: int, seconds: int, sid: str = SID, **extra: str) -> bool:
    payload = {
        "CallSid": sid,
        "CallStatus": status,
        "SequenceNumber": str(seq),
        "To": "+442071234567",
        "From": "+441134960000",
        "ToCity": "LONDON",
        "CalledZip": "SW1",
        "Caller": "+441134960000",
        **extra,
    }
    return store.record_call_event(
        sid,
        event_key=f"{sid}:{status}:{seq}",
        status=status,
        at=_at(seconds),
        payload=payload,
        now=_at(seconds + 1),
    )


def _started_call(store: Store) -> int:
    add_case(store, "c-1", numbers=("+442071234567", "+441632960001"))
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None
    return store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=T0)


def test_a_retried_callback_is_stored_once_and_the_call_moves_forward(store: Store) -> None:
    call_id = _started_call(store)
    store.set_call_sid(call_id, SID)
    assert _event(store, "initiated", 0, 1)
    assert _event(store, "ringing", 1, 3)
    assert _event(store, "in-progress", 2, 10, AnsweredBy="human")
    assert not _event(store, "in-progress", 2, 10)  # Twilio's retry
    assert _event(store, "completed", 3, 70, CallDuration="60")
    assert not _event(store, "completed", 3, 70, CallDuration="60")
    call = store.get_call(call_id)
    assert call is not None
    assert (call.status, call.answered_at, call.ended_at, call.duration_s, call.answered_by) == (
        "completed",
        _at(10),
        _at(70),
        60,
        "human",
    )
    with store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(call_events)) == 4
        payloads = connection.scalars(sa.select(call_events.c.payload)).all()
    stored = repr(payloads)
    assert "+44" not in stored and "LONDON" not in stored and "SW1" not in stored
    assert all(p["CallSid"] == SID for p in payloads)


def test_out_of_order_callbacks_never_move_the_status_back(store: Store) -> None:
    call_id = _started_call(store)
    store.set_call_sid(call_id, SID)
    assert _event(store, "completed", 3, 70, CallDuration="60")
    assert _event(store, "ringing", 1, 3)
    assert _event(store, "busy", 4, 80)  # a second final status does not replace the first
    call = store.get_call(call_id)
    assert call is not None
    assert (call.status, call.ended_at, call.duration_s) == ("completed", _at(70), 60)


def test_callbacks_before_the_sid_is_stored_are_applied_when_it_is(store: Store) -> None:
    call_id = _started_call(store)
    assert _event(store, "initiated", 0, 1)
    assert _event(store, "ringing", 1, 2)
    assert store.get_call(call_id).status == "queued"  # type: ignore[union-attr]
    store.set_call_sid(call_id, SID)
    assert store.get_call(call_id).status == "ringing"  # type: ignore[union-attr]
    store.set_call_sid(call_id, SID)  # again: nothing to do
    with pytest.raises(ValueError, match="already"):
        store.set_call_sid(call_id, "CA" + "1" * 32)


def test_a_sid_belongs_to_one_call(store: Store) -> None:
    call_id = _started_call(store)
    claim_attempt = store.calls_of("c-1")[0].attempt_id
    second = store.start_call(claim_attempt, number_rank=2, provider="twilio", now=_at(5))
    store.set_call_sid(call_id, SID)
    with pytest.raises(ValueError, match="another call"):
        store.set_call_sid(second, SID)
    assert store.get_call(second).provider_sid is None  # type: ignore[union-attr]
    assert [c.number_rank for c in store.calls_of("c-1")] == [1, 2]


def test_a_number_on_the_do_not_call_list_or_dead_is_never_dialled(store: Store) -> None:
    add_case(store, "c-1", numbers=("+442071234567", "+441632960001"))
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None
    assert store.add_do_not_call("+442071234567", reason="asked", actor="sam", now=T0)
    assert not store.add_do_not_call("+442071234567", reason="again", actor="sam", now=T0)
    assert store.is_do_not_call("+442071234567") and not store.is_do_not_call("+441632960001")
    with pytest.raises(NumberNotCallable, match="do-not-call"):
        store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=T0)
    store.set_number_working("c-1", 2, False)
    with pytest.raises(NumberNotCallable, match="not working"):
        store.start_call(claim.attempt_id, number_rank=2, provider="manual", now=T0)
    with pytest.raises(NumberNotCallable, match="no such number"):
        store.start_call(claim.attempt_id, number_rank=3, provider="manual", now=T0)
    assert store.calls_of("c-1") == []
    with pytest.raises(ValueError, match="unknown provider"):
        store.start_call(claim.attempt_id, number_rank=1, provider="skype", now=T0)
    with pytest.raises(LookupError):
        store.start_call(10_000, number_rank=1, provider="manual", now=T0)


def test_a_call_dialled_by_hand_ends_when_its_attempt_is_coded(store: Store) -> None:
    add_case(store, "c-1")
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None
    call_id = store.start_call(claim.attempt_id, number_rank=1, provider="manual", now=T0)
    assert store.get_call(call_id).status == "queued"  # type: ignore[union-attr]
    store.code_attempt(
        claim.attempt_id, disposition="no_answer", final=False, window=None, actor="ivy",
        now=_at(90),
    )  # fmt: skip
    call = store.get_call(call_id)
    assert call is not None and (call.status, call.ended_at) == ("ended", _at(90))
