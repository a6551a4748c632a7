"""Calls and the provider's status callbacks: each callback stored once, a call's status only moving forward.

Twilio retries a callback it got no answer to and may deliver them out of
order, so :meth:`CallRecords.record_call_event` stores an event once per
``event_key`` (the caller builds it from the call sid, the status and the
sequence number) and then works the call's columns out again from every event
stored for its sid, never letting them go back: ``ringing`` after
``completed`` changes nothing, and the first final status wins.

An event may arrive before :meth:`~CallRecords.set_call_sid` has stored the sid
it names (the REST answer and the first callback race). Events are committed
before the call is looked up, and setting the sid commits before the events
are read, so whichever comes second sees the other: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import sqlalchemy as sa

from instrument.store.fieldwork_records import CallRecord, NumberNotCallable, dialect_insert
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    UTCDateTime,
    attempts,
    call_events,
    calls,
    do_not_call,
    phone_numbers,
)

__all__ = ["CallRecords", "OpenedCall", "STATUS_RANK", "end_manual_calls", "strip_numbers"]

PROVIDERS: Final = ("twilio", "manual")

STATUS_RANK: Final = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
    "ended": 4,  # a call dialled by hand, ended when its attempt was coded
}
"""How far along a call is for each Twilio ``CallStatus``; 4 is final. Unknown statuses rank -1."""

_FINAL: Final = 4
_ANSWERED: Final = 3

# Callback parameters that hold or locate a phone number: never stored.
_NUMBER_PREFIXES: Final = ("To", "From", "Called", "Caller", "ForwardedFrom")


def strip_numbers(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The callback parameters without the numbers (``To``, ``From``, ``Called``... and their city, zip)."""
    return {key: value for key, value in payload.items() if not key.startswith(_NUMBER_PREFIXES)}


def end_manual_calls(connection: sa.Connection, attempt_id: int, now: dt.datetime) -> None:
    """Mark an attempt's calls dialled by hand ``ended`` (no provider tells when they ended).

    Called, in their transaction, by whatever codes the attempt: ``code_attempt``
    and ``release_hold``. Twilio's calls are left to their callbacks.
    """
    connection.execute(_END_MANUAL_CALLS, {"b_attempt_id": attempt_id, "b_now": now})


_END_MANUAL_CALLS: Final = (
    calls.update()
    .where(
        calls.c.attempt_id == sa.bindparam("b_attempt_id"),
        calls.c.provider == "manual",
        calls.c.ended_at.is_(None),
    )
    .values(status="ended", ended_at=sa.bindparam("b_now", type_=UTCDateTime()))
)


def _rank(status: str | None) -> int:
    return STATUS_RANK.get(status or "", -1)


def _duration(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("CallDuration", payload.get("DialCallDuration"))
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


# Dialling's statements, built once (building them cost about as much CPU as running them).
_LOCK_ATTEMPT: Final = (
    sa.select(attempts.c.case_id, attempts.c.ended_at)
    .where(attempts.c.id == sa.bindparam("attempt_id"))
    .with_for_update()
)
_NUMBER_TO_DIAL: Final = sa.select(
    phone_numbers.c.e164,
    phone_numbers.c.working,
    sa.exists().where(do_not_call.c.e164 == phone_numbers.c.e164).label("blocked"),
).where(
    phone_numbers.c.case_id == sa.bindparam("case_id"),
    phone_numbers.c.rank == sa.bindparam("rank"),
)
_CALL_GOING: Final = (
    sa.select(calls.c.id, calls.c.provider_sid)
    .where(
        calls.c.attempt_id == sa.bindparam("attempt_id"),
        calls.c.number_rank == sa.bindparam("rank"),
        calls.c.provider == sa.bindparam("provider"),
        calls.c.ended_at.is_(None),
        calls.c.status.not_in([s for s, r in STATUS_RANK.items() if r == _FINAL]),
    )
    .order_by(calls.c.id.desc())
    .limit(1)
)
_NEW_CALL: Final = (
    calls.insert()
    .values(
        attempt_id=sa.bindparam("b_attempt_id"),
        case_id=sa.bindparam("b_case_id"),
        number_rank=sa.bindparam("b_rank"),
        provider=sa.bindparam("b_provider"),
        placed_at=sa.bindparam("b_now", type_=UTCDateTime()),
        status="queued",
    )
    .returning(calls.c.id)
)


class OpenedCall(NamedTuple):
    """:meth:`CallRecords.open_call`'s answer: the call, and what dialling it needs."""

    call_id: int
    reused: bool
    e164: str
    provider_sid: str | None


class CallRecords(StoreBase):
    """:meth:`start_call`, :meth:`set_call_sid`, :meth:`record_call_event`, :meth:`calls_of`."""

    def start_call(
        self, attempt_id: int, *, number_rank: int, provider: str, now: dt.datetime | None = None
    ) -> int:
        """Record a call about to be placed in an open attempt; its id (for the callback URLs).

        :class:`NumberNotCallable` if the case has no working number of that
        rank or the number is on the do-not-call list; LookupError for an
        unknown attempt, ValueError for one already coded or an unknown provider.
        """
        return self.open_call(
            attempt_id, number_rank=number_rank, provider=provider, now=now, reuse=False
        ).call_id

    def open_call(
        self,
        attempt_id: int,
        *,
        number_rank: int,
        provider: str,
        now: dt.datetime | None = None,
        reuse: bool = True,
    ) -> OpenedCall:
        """Like :meth:`start_call`, but a call of the attempt to that number still going is reused.

        Returns the call's id, whether it was reused, the number to dial and
        (reused) the provider's sid. Every check a dial needs (the attempt
        open, the number the case's, working and not on the do-not-call list)
        is made here under the lock, so the caller reads nothing first.

        The test for a call still going (not
        ended, status not final) runs under the attempt's row lock, the same
        lock that serialises every call of the attempt, so two presses of
        "dial" at the same moment (a double click, two tabs) record one call:
        a test made before taking the lock could let both through.
        """
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; use one of {PROVIDERS}")
        now = utc(now)
        with self._transaction(write=True) as connection:
            attempt = connection.execute(_LOCK_ATTEMPT, {"attempt_id": attempt_id}).one_or_none()
            if attempt is None:
                raise LookupError(f"no attempt {attempt_id}")
            if attempt.ended_at is not None:
                raise ValueError(f"attempt {attempt_id} is already coded; start another")
            number = connection.execute(
                _NUMBER_TO_DIAL, {"case_id": attempt.case_id, "rank": number_rank}
            ).one_or_none()
            if number is None or not number.working or number.blocked:
                why = (
                    "the case has no such number"
                    if number is None
                    else "it is on the do-not-call list"
                    if number.blocked
                    else "it is marked not working"
                )
                raise NumberNotCallable(f"number {number_rank} may not be dialled: {why}")
            if reuse:
                going = connection.execute(
                    _CALL_GOING,
                    {"attempt_id": attempt_id, "rank": number_rank, "provider": provider},
                ).one_or_none()
                if going is not None:
                    return OpenedCall(int(going.id), True, number.e164, going.provider_sid)
            call_id = int(
                connection.execute(
                    _NEW_CALL,
                    {"b_attempt_id": attempt_id, "b_case_id": attempt.case_id,
                     "b_rank": number_rank, "b_provider": provider, "b_now": now},
                ).scalar_one()
            )  # fmt: skip
            return OpenedCall(call_id, False, number.e164, None)

    def not_placed(self, call_id: int, *, now: dt.datetime | None = None) -> None:
        """The provider refused to place a recorded call: it ends ``failed``, so it is not reused."""
        with self._transaction(write=True) as connection:
            connection.execute(
                calls.update()
                .where(calls.c.id == call_id, calls.c.ended_at.is_(None))
                .values(status="failed", ended_at=utc(now))
            )

    def set_call_sid(self, call_id: int, sid: str) -> None:
        """Store the provider's id for a call, then apply any callbacks that arrived before it.

        LookupError for an unknown call; ValueError if the call has another sid
        already or the sid belongs to another call.
        """
        refuse_nul("call sid", sid)
        with self._transaction(write=True) as connection:
            stored = connection.execute(
                sa.select(calls.c.provider_sid).where(calls.c.id == call_id).with_for_update()
            ).one_or_none()
            if stored is None:
                raise LookupError(f"no call {call_id}")
            if stored.provider_sid == sid:
                return
            if stored.provider_sid is not None:
                raise ValueError(f"call {call_id} has the sid {stored.provider_sid} already")
            try:
                with connection.begin_nested():
                    connection.execute(
                        calls.update().where(calls.c.id == call_id).values(provider_sid=sid)
                    )
            except sa.exc.IntegrityError:
                raise ValueError(f"the sid {sid} belongs to another call") from None
        with self._transaction(write=True) as connection:
            _refresh_call(connection, sid)

    def record_call_event(
        self,
        provider_sid: str,
        *,
        event_key: str,
        status: str,
        at: dt.datetime | None,
        payload: Mapping[str, Any],
        now: dt.datetime | None = None,
    ) -> bool:
        """Store a status callback once; False when this ``event_key`` was stored before.

        The payload is stored without its numbers (:func:`strip_numbers`). The
        call with this sid then gets its status, answer and end times and
        duration from all its events, moving forward only.
        """
        for field, text in (
            ("call sid", provider_sid),
            ("event key", event_key),
            ("status", status),
        ):
            refuse_nul(field, text)
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
        statement = (
            dialect_insert(self.dialect, call_events)
            .on_conflict_do_nothing(index_elements=[call_events.c.event_key])
            .returning(call_events.c.id)
        )
        with self._transaction(write=True) as connection:
            inserted = connection.execute(
                statement,
                {
                    "provider_sid": provider_sid,
                    "event_key": event_key,
                    "status": status,
                    "at": None if at is None else utc(at),
                    "received_at": utc(now),
                    "payload": strip_numbers(payload),
                    "call_id": _call_id(payload),
                },
            ).scalar_one_or_none()
        if inserted is None:
            return False
        with self._transaction(write=True) as connection:
            _refresh_call(connection, provider_sid)
        return True

    def calls_of(self, case_id: str) -> list[CallRecord]:
        """A case's calls, oldest first."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(calls).where(calls.c.case_id == case_id).order_by(calls.c.id)
            ).all()
        return [CallRecord(**row._asdict()) for row in rows]

    def get_call(self, call_id: int) -> CallRecord | None:
        """One call, or None."""
        with self._transaction() as connection:
            row = connection.execute(sa.select(calls).where(calls.c.id == call_id)).one_or_none()
        return None if row is None else CallRecord(**row._asdict())


def _call_id(payload: Mapping[str, Any]) -> int | None:
    """Our call a callback is about (the webhooks put it in ``call_id``), for its indexed column."""
    value = payload.get("call_id")
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _refresh_call(connection: sa.Connection, sid: str) -> None:
    """Work a call's columns out from its stored events, under the call's row lock, forward only."""
    call = connection.execute(
        sa.select(calls).where(calls.c.provider_sid == sid).with_for_update()
    ).one_or_none()
    if call is None:
        return  # set_call_sid applies the events when the sid arrives
    events = connection.execute(
        sa.select(
            call_events.c.status, call_events.c.at, call_events.c.received_at, call_events.c.payload
        )
        .where(call_events.c.provider_sid == sid)
        .order_by(call_events.c.id)
    ).all()
    status, answered_at, ended_at = call.status, call.answered_at, call.ended_at
    duration, answered_by = call.duration_s, call.answered_by
    for event in events:
        when = event.at or event.received_at
        rank = _rank(event.status)
        payload = event.payload or {}
        answered_by = payload.get("AnsweredBy") or answered_by
        if rank == _ANSWERED and answered_at is None:
            answered_at = when
        if _rank(status) >= _FINAL:
            continue  # the first final status stands
        if rank > _rank(status):
            status = event.status
        if rank == _FINAL:
            ended_at = ended_at or when
            duration = _duration(payload) if _duration(payload) is not None else duration
    connection.execute(
        calls.update()
        .where(calls.c.id == call.id)
        .values(
            status=status,
            answered_at=answered_at,
            ended_at=ended_at,
            duration_s=duration,
            answered_by=answered_by,
        )
    )
