"""Coding an attempt's outcome, appointments, and the facts the scheduling rules work from.

:meth:`Outcomes.code_attempt` is the end of a call: in one transaction it
ends the attempt with its outcome, books the appointment (cancelling the
case's earlier one), gives the case its next window and outcome and frees
it. A double click, a refresh or a second tab calls it again with the same
attempt id: the attempt row is locked first (PostgreSQL) or the write lock
taken first (SQLite), and an attempt that has ended is left as it is, the
answer saying it was coded already.

:meth:`Outcomes.fieldwork_facts` reads a case's history into the rules
layer's :class:`~instrument.fieldwork.schedule.CaseFacts`, from which
``next_window`` computes the window the caller then passes back here.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, NamedTuple

import sqlalchemy as sa

from instrument.fieldwork.schedule import CaseFacts
from instrument.store.fieldwork_audit import write_audit
from instrument.store.fieldwork_calls import end_manual_calls
from instrument.store.fieldwork_queue import window_values
from instrument.store.fieldwork_records import (
    AppointmentLike,
    AppointmentRecord,
    AttemptRecord,
    CodeResult,
    WindowLike,
)
from instrument.store.fieldwork_reports import case_facts
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    APPOINTMENT_KINDS,
    UTCDateTime,
    appointments,
    attempts,
    calls,
    case_queue,
    do_not_call,
    interviews,
    phone_numbers,
)

__all__ = ["Outcomes"]


def _appointment_values(appointment: AppointmentLike) -> dict[str, object]:
    if appointment.kind not in APPOINTMENT_KINDS:
        raise ValueError(f"an appointment is hard or soft, not {appointment.kind!r}")
    if appointment.kind == "hard" and appointment.at is None:
        raise ValueError("a hard appointment needs its time")
    if appointment.kind == "soft" and (appointment.day is None or not appointment.part):
        raise ValueError("a soft appointment needs a day and a part of the day")
    return {
        "kind": appointment.kind,
        "at": None if appointment.at is None else utc(appointment.at),
        "day": appointment.day,
        "part": appointment.part,
        "interviewer": appointment.interviewer,
    }


_OPEN_APPOINTMENT = appointments.c.cancelled_at.is_(None)

_ATTEMPT_AND_QUEUE: Final = (
    sa.select(
        attempts.c.case_id,
        attempts.c.ended_at,
        attempts.c.disposition,
        case_queue.c.zone,
        case_queue.c.disposition.label("queue_disposition"),
        case_queue.c.final,
    )
    # The queue row first: PostgreSQL locks the rows of a join in the order of its FROM
    # list, and releasing a hold (free_held_case) takes the queue row before the attempt.
    .select_from(case_queue.join(attempts, attempts.c.case_id == case_queue.c.case_id))
    .where(attempts.c.id == sa.bindparam("attempt_id"))
    .with_for_update()
)
"""An attempt to code and its case's queue row, both locked (no row: the case left the queue)."""


# Coding's writes, built once. Insert and update name their parameters apart from the columns.
_END_ATTEMPT: Final = (
    attempts.update()
    .where(attempts.c.id == sa.bindparam("b_id"))
    .values(
        ended_at=sa.bindparam("b_now", type_=UTCDateTime()),
        disposition=sa.bindparam("b_disposition"),
        note=sa.bindparam("b_note"),
    )
)
_MINE: Final = case_queue.c.held_attempt_id == sa.bindparam("b_attempt_id")
_NEXT_WINDOW: Final = (
    case_queue.update()
    .where(case_queue.c.case_id == sa.bindparam("b_case_id"))
    .values(
        disposition=sa.bindparam("b_disposition"),
        final=sa.bindparam("b_final"),
        window_start=sa.bindparam("b_window_start", type_=UTCDateTime()),
        window_end=sa.bindparam("b_window_end", type_=UTCDateTime()),
        window_kind=sa.bindparam("b_window_kind"),
        window_interviewer=sa.bindparam("b_window_interviewer"),
        updated_at=sa.bindparam("b_now", type_=UTCDateTime()),
        held_by=sa.case((_MINE, sa.null()), else_=case_queue.c.held_by),
        held_since=sa.case((_MINE, sa.null()), else_=case_queue.c.held_since),
        held_attempt_id=sa.case((_MINE, sa.null()), else_=case_queue.c.held_attempt_id),
    )
)
"""The case's next window and outcome, and its hold freed if held through this attempt."""

# The scheduling facts' statements, built once (building them cost about as much as running them).
_FACT_NUMBERS: Final = (
    sa.select(
        phone_numbers.c.rank,
        phone_numbers.c.working,
        sa.exists().where(do_not_call.c.e164 == phone_numbers.c.e164).label("blocked"),
    )
    .where(phone_numbers.c.case_id == sa.bindparam("case_id"))
    .order_by(phone_numbers.c.rank)
)
_FACT_CODED: Final = (
    sa.select(
        attempts.c.started_at,
        attempts.c.disposition,
        sa.select(sa.func.min(calls.c.number_rank))
        .where(calls.c.attempt_id == attempts.c.id)
        .scalar_subquery()
        .label("rank"),
    )
    .where(attempts.c.case_id == sa.bindparam("case_id"), attempts.c.disposition.is_not(None))
    .order_by(attempts.c.started_at, attempts.c.id)
)
_FACT_BOOKED: Final = (
    sa.select(appointments)
    .where(appointments.c.case_id == sa.bindparam("case_id"), _OPEN_APPOINTMENT)
    .order_by(appointments.c.id.desc())
    .limit(1)
)


class _QueueBefore(NamedTuple):
    """The case's queue row as coding found it (for the audit entry and the appointment's zone)."""

    zone: str
    disposition: str | None
    final: bool


class Outcomes(StoreBase):
    """:meth:`code_attempt`, :meth:`appointments_of`, :meth:`attempts_of`, :meth:`fieldwork_facts`."""

    def code_attempt(
        self,
        attempt_id: int,
        *,
        disposition: str,
        final: bool,
        note: str | None = None,
        appointment: AppointmentLike | None = None,
        window: WindowLike | None,
        actor: str,
        now: dt.datetime | None = None,
    ) -> CodeResult:
        """End an attempt with its outcome, book ``appointment``, set the case's next window, free it.

        All or nothing, once: a second call for the same attempt changes
        nothing and returns ``already_coded=True`` with the stored outcome.
        ``window`` None leaves the case with no window (not callable). The
        appointment's zone is the case's. LookupError for an unknown attempt.
        """
        for field, text in (("disposition", disposition), ("note", note), ("actor", actor)):
            refuse_nul(field, text)
        booked = None if appointment is None else _appointment_values(appointment)
        new_window = window_values(window)
        now = utc(now)
        with self._transaction(write=True) as connection:
            # The attempt and its case's queue row, both locked, in one statement;
            # a case that left the queue has its attempt read (and locked) alone.
            both = connection.execute(_ATTEMPT_AND_QUEUE, {"attempt_id": attempt_id}).one_or_none()
            attempt = (
                both
                or connection.execute(
                    sa.select(attempts.c.case_id, attempts.c.ended_at, attempts.c.disposition)
                    .where(attempts.c.id == attempt_id)
                    .with_for_update()
                ).one_or_none()
            )
            if attempt is None:
                raise LookupError(f"no attempt {attempt_id}")
            if attempt.ended_at is not None:
                return CodeResult(attempt_id, attempt.case_id, attempt.disposition, True)
            case_id = attempt.case_id
            queued = (
                None
                if both is None
                else _QueueBefore(both.zone, both.queue_disposition, both.final)
            )
            connection.execute(
                _END_ATTEMPT,
                {"b_id": attempt_id, "b_now": now, "b_disposition": disposition, "b_note": note},
            )
            end_manual_calls(connection, attempt_id, now)
            appointment_id = None
            if booked is not None:
                if queued is None:
                    raise LookupError(f"case {case_id!r} is not in the call queue")
                connection.execute(
                    appointments.update()
                    .where(appointments.c.case_id == case_id, _OPEN_APPOINTMENT)
                    .values(cancelled_at=now)
                )
                appointment_id = int(
                    connection.execute(
                        appointments.insert()
                        .values(
                            case_id=case_id,
                            zone=queued.zone,
                            made_by=actor,
                            made_at=now,
                            attempt_id=attempt_id,
                            **booked,
                        )
                        .returning(appointments.c.id)
                    ).scalar_one()
                )
            if queued is not None:
                # the new window, and the hold freed if it is this attempt's: one UPDATE
                connection.execute(
                    _NEXT_WINDOW,
                    {"b_case_id": case_id, "b_attempt_id": attempt_id, "b_now": now,
                     "b_disposition": disposition, "b_final": final,
                     **{f"b_{name}": value for name, value in new_window.items()}},
                )  # fmt: skip
            write_audit(
                connection,
                at=now,
                actor=actor,
                action="code_attempt",
                case_id=case_id,
                before=None
                if queued is None
                else {"disposition": queued.disposition, "final": queued.final},
                after={"disposition": disposition, "final": final, "attempt_id": attempt_id},
                reason=None,
            )
        return CodeResult(attempt_id, case_id, disposition, False, appointment_id)

    def cancel_appointment(self, appointment_id: int, *, now: dt.datetime | None = None) -> bool:
        """Cancel an appointment; False if it was cancelled already or does not exist."""
        with self._transaction(write=True) as connection:
            return (
                connection.execute(
                    appointments.update()
                    .where(appointments.c.id == appointment_id, _OPEN_APPOINTMENT)
                    .values(cancelled_at=utc(now))
                ).rowcount
                == 1
            )

    def appointments_of(
        self, case_id: str, *, include_cancelled: bool = False
    ) -> list[AppointmentRecord]:
        """A case's appointments, oldest first (only the open one unless ``include_cancelled``)."""
        query = sa.select(appointments).where(appointments.c.case_id == case_id)
        if not include_cancelled:
            query = query.where(_OPEN_APPOINTMENT)
        with self._transaction() as connection:
            rows = connection.execute(query.order_by(appointments.c.id)).all()
        return [AppointmentRecord(**row._asdict()) for row in rows]

    def attempts_of(self, case_id: str) -> list[AttemptRecord]:
        """A case's attempts, oldest first (the open one too)."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(attempts).where(attempts.c.case_id == case_id).order_by(attempts.c.id)
            ).all()
        return [AttemptRecord(**row._asdict()) for row in rows]

    def fieldwork_facts(self, case_id: str) -> CaseFacts | None:
        """What the scheduling rules need about a queued case, read in one transaction; None if not queued.

        ``numbers``: ranks still working and not on the do-not-call list;
        ``do_not_call``: every number the case has is on the list; an
        attempt's number is the first one its calls dialled (1 without calls).
        """
        with self._transaction() as connection:
            return read_case_facts(connection, case_id)


def read_case_facts(connection: sa.Connection, case_id: str) -> CaseFacts | None:
    """:meth:`Outcomes.fieldwork_facts` on a connection already in a transaction."""
    queued = connection.execute(
        sa.select(case_queue.c.zone, case_queue.c.priority).where(case_queue.c.case_id == case_id)
    ).one_or_none()
    if queued is None:
        return None
    statuses = set(
        connection.scalars(sa.select(interviews.c.status).where(interviews.c.case_id == case_id))
    )
    return read_facts_of_queued(connection, case_id, queued.zone, queued.priority, statuses)


def read_facts_of_queued(
    connection: sa.Connection, case_id: str, zone: str, priority: int, statuses: set[str]
) -> CaseFacts:
    """The rest of :func:`read_case_facts` for a caller that read the queue row and the
    interviews' statuses (``statuses``: of every interview of the case) with other things."""
    case = {"case_id": case_id}
    numbers = connection.execute(_FACT_NUMBERS, case).all()
    coded = connection.execute(_FACT_CODED, case).all()
    booked = connection.execute(_FACT_BOOKED, case).one_or_none()
    return case_facts(case_id, zone, priority, numbers, coded, booked, statuses)
