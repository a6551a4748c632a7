"""Everything the interviewer's case screen shows, read in one transaction.

The screen is read on every console request that acts on a case (the case
screen, dialling, the end of the call, a script page now and then to check
the case is still held). Reading it table by table took ten transactions and
twenty-odd statements, and loaded every answer event of the interview to
find which modes answered; here it is one connection checkout, one statement
per table, and the modes come grouped from the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from instrument.fieldwork.schedule import CaseFacts
from instrument.store.fieldwork_outcomes import read_case_facts
from instrument.store.fieldwork_records import (
    AppointmentRecord,
    AttemptRecord,
    CallRecord,
)
from instrument.store.interviews import interview_select
from instrument.store.nul import NUL
from instrument.store.plumbing import StoreBase
from instrument.store.records import InterviewRecord
from instrument.store.schema import (
    answer_events,
    appointments,
    attempts,
    calls,
    case_queue,
    contacts,
    do_not_call,
    interviews,
    phone_numbers,
)

__all__ = ["CaseScreen", "CaseScreenReads", "CodingFacts", "ScreenNumber"]

_FINISHED = ("complete", "screened_out")


@dataclass(frozen=True, slots=True)
class ScreenNumber:
    rank: int
    e164: str
    working: bool
    do_not_call: bool


@dataclass(frozen=True, slots=True)
class CaseScreen:
    """A queued case's rows: queue row, name, numbers, history, open appointments, interview.

    ``interview`` is the case's first interview that is not withdrawn;
    ``answer_modes`` the modes its answers were given in, in the order first used.
    """

    queue: dict[str, Any]
    name: str | None
    numbers: tuple[ScreenNumber, ...]
    attempts: tuple[AttemptRecord, ...]
    calls: tuple[CallRecord, ...]
    appointments: tuple[AppointmentRecord, ...]
    interview: InterviewRecord | None
    answer_modes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CodingFacts:
    """What coding an attempt's outcome decides from, read together.

    ``facts``: the case's scheduling facts before this attempt is coded (None
    when the case left the queue); ``window_*``: the case's window as it was
    claimed (an appointment's window means this was the appointment's call);
    ``dialled_rank``: the first number the attempt dialled (1 when none);
    ``interview_started``: something was answered; ``interview_finished``:
    complete or screened out (withdrawn interviews do not count).
    """

    attempt: AttemptRecord
    facts: CaseFacts | None
    window_kind: str | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    dialled_rank: int
    interview_started: bool
    interview_finished: bool


class CaseScreenReads(StoreBase):
    """:meth:`case_screen`, :meth:`coding_facts` and :meth:`holder_of`."""

    def holder_of(self, attempt_id: int) -> str | None:
        """Who holds a case through this (open) attempt, or None: one indexed read.

        What the console asks before dialling or hanging up, where reading the
        whole case screen only to see who holds the case was most of the work.
        """
        row = self._read_one(
            # held_by IS NOT NULL lets both databases read the small index of held cases
            sa.select(case_queue.c.held_by).where(
                case_queue.c.held_by.is_not(None),
                case_queue.c.held_attempt_id == sa.bindparam("attempt_id"),
            ),
            {"attempt_id": attempt_id},
        )
        return None if row is None else str(row.held_by)

    def coding_facts(self, attempt_id: int) -> CodingFacts | None:
        """Everything coding this attempt's outcome needs, in one transaction; None for no such attempt."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(attempts).where(attempts.c.id == attempt_id)
            ).one_or_none()
            if row is None:
                return None
            attempt = AttemptRecord(**row._asdict())
            facts = read_case_facts(connection, attempt.case_id)
            window = connection.execute(
                sa.select(
                    case_queue.c.window_kind, case_queue.c.window_start, case_queue.c.window_end
                ).where(case_queue.c.case_id == attempt.case_id)
            ).one_or_none()
            rank = connection.scalar(
                sa.select(sa.func.min(calls.c.number_rank)).where(calls.c.attempt_id == attempt_id)
            )
            progress = connection.execute(
                sa.select(interviews.c.status, interviews.c.revision).where(
                    interviews.c.case_id == attempt.case_id, interviews.c.status != "withdrawn"
                )
            ).all()
        return CodingFacts(
            attempt=attempt,
            facts=facts,
            window_kind=None if window is None else window.window_kind,
            window_start=None if window is None else window.window_start,
            window_end=None if window is None else window.window_end,
            dialled_rank=int(rank or 1),
            interview_started=any(p.revision > 0 or p.status in _FINISHED for p in progress),
            interview_finished=any(p.status in _FINISHED for p in progress),
        )

    def case_screen(self, case_id: str) -> CaseScreen | None:
        """The case screen's rows in one transaction; None when the case is not in the call queue."""
        if NUL in case_id:
            return None
        with self._transaction() as connection:
            queue = connection.execute(
                sa.select(case_queue).where(case_queue.c.case_id == case_id)
            ).one_or_none()
            if queue is None:
                return None
            name = connection.scalar(
                sa.select(contacts.c.name).where(contacts.c.case_id == case_id)
            )
            numbers = connection.execute(
                sa.select(
                    phone_numbers.c.rank,
                    phone_numbers.c.e164,
                    phone_numbers.c.working,
                    sa.exists()
                    .where(do_not_call.c.e164 == phone_numbers.c.e164)
                    .label("do_not_call"),
                )
                .where(phone_numbers.c.case_id == case_id)
                .order_by(phone_numbers.c.rank)
            ).all()
            attempt_rows = connection.execute(
                sa.select(attempts).where(attempts.c.case_id == case_id).order_by(attempts.c.id)
            ).all()
            call_rows = connection.execute(
                sa.select(calls).where(calls.c.case_id == case_id).order_by(calls.c.id)
            ).all()
            booked = connection.execute(
                sa.select(appointments)
                .where(appointments.c.case_id == case_id, appointments.c.cancelled_at.is_(None))
                .order_by(appointments.c.id)
            ).all()
            interview = connection.execute(
                interview_select()
                .where(interviews.c.case_id == case_id, interviews.c.status != "withdrawn")
                .order_by(interviews.c.started_at, interviews.c.id)
                .limit(1)
            ).one_or_none()
            modes: list[str] = []
            if interview is not None:
                first_seq = sa.func.min(answer_events.c.seq)
                modes = list(
                    connection.scalars(
                        sa.select(answer_events.c.mode)
                        .where(
                            answer_events.c.interview_id == interview.id,
                            answer_events.c.kind == "answer",
                        )
                        .group_by(answer_events.c.mode)
                        .order_by(first_seq)
                    )
                )
        return CaseScreen(
            queue=queue._asdict(),
            name=name,
            numbers=tuple(ScreenNumber(**row._asdict()) for row in numbers),
            attempts=tuple(AttemptRecord(**row._asdict()) for row in attempt_rows),
            calls=tuple(CallRecord(**row._asdict()) for row in call_rows),
            appointments=tuple(AppointmentRecord(**row._asdict()) for row in booked),
            interview=None if interview is None else InterviewRecord(**interview._asdict()),
            answer_modes=tuple(modes),
        )
