"""Withdrawing a case deletes its numbers, queue row and appointments; outcomes stay without numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from instrument.fieldwork import AppointmentFact
from instrument.store import CaseWithdrawn, Store
from instrument.store.schema import call_events, calls, fieldwork_audit
from tests.fieldwork_store_helpers import T0, add_case, open_window
from tests.store_fixtures import *

NUMBERS = ("+442071239876", "+447700900123")


def _dump(store: Store) -> str:
    """Everything in every table, as text: a number must appear nowhere."""
    parts = []
    with store.engine.connect() as connection:
        for name in sa.inspect(connection).get_table_names():
            parts.append(repr(connection.execute(sa.text(f'SELECT * FROM "{name}"')).all()))
    return "\n".join(parts)


def test_withdrawal_deletes_numbers_queue_row_and_appointments_and_keeps_outcomes(
    store: Store,
) -> None:
    add_case(store, "c-1", numbers=NUMBERS)
    add_case(store, "c-2")
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None and claim.case_id == "c-1"
    call_id = store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=T0)
    store.set_call_sid(call_id, "CA" + "7" * 32)
    store.record_call_event(
        "CA" + "7" * 32,
        event_key="k1",
        status="completed",
        at=T0,
        payload={"CallStatus": "completed", "To": NUMBERS[0], "Called": NUMBERS[0]},
        now=T0,
    )
    store.code_attempt(
        claim.attempt_id, disposition="appointment", final=False,
        note="Mrs Example asked for Tuesday", window=open_window(kind="soft"),
        appointment=AppointmentFact(kind="soft", day=dt.date(2026, 3, 3), part="evening"),
        actor="ivy", now=T0,
    )  # fmt: skip
    store.set_contact("c-1", name="Mrs Example", phone=NUMBERS[0], now=T0)
    assert NUMBERS[1] in _dump(store)

    report = store.withdraw("c-1", now=T0 + dt.timedelta(days=1))

    assert (
        report.phone_numbers_deleted,
        report.appointments_deleted,
        report.queue_rows_deleted,
        report.attempt_notes_cleared,
        report.contacts_deleted,
    ) == (2, 1, 1, 1, 1)
    assert store.phone_numbers_of("c-1") == [] and store.queue_row("c-1") is None
    assert store.appointments_of("c-1", include_cancelled=True) == []
    dump = _dump(store)
    assert not any(number in dump for number in NUMBERS) and "Mrs Example" not in dump
    (attempt,) = store.attempts_of("c-1")
    assert (attempt.disposition, attempt.note) == ("appointment", None)
    (call,) = store.calls_of("c-1")
    assert (call.status, call.number_rank) == ("completed", 1)
    with store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(calls)) == 1
        assert connection.scalar(sa.select(sa.func.count()).select_from(call_events)) == 1
        assert connection.scalar(sa.select(sa.func.count()).select_from(fieldwork_audit)) == 1
    # the other case is untouched, and the withdrawn one never comes back
    assert store.queue_row("c-2") is not None and len(store.phone_numbers_of("c-2")) == 1
    with pytest.raises(CaseWithdrawn):
        store.set_phone_numbers("c-1", NUMBERS, T0)
    with pytest.raises(CaseWithdrawn):
        store.enqueue_case("c-1", zone="Europe/London", language="en", window=None, now=T0)
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None and claim.case_id == "c-2"
    assert store.claim_next_case("ivy", now=T0) is None
