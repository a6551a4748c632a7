"""Everything the interviewer's case screen shows, read at one moment.

The screen is read on every console request that acts on a case (the case
screen, dialling, the end of the call, a script page now and then to check
the case is still held). Reading it table by table took ten transactions and
twenty-odd statements, and loaded every answer event of the interview to
find which modes answered; here it is one connection checkout, one statement
per table, and the modes come grouped from the database. On PostgreSQL the
case screen is one statement sent through psycopg (:mod:`instrument.store.pg_case_screen`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.fieldwork.schedule import CaseFacts
from instrument.store.fieldwork_outcomes import read_facts_of_queued
from instrument.store.fieldwork_records import (
    AppointmentRecord,
    AttemptRecord,
    CallRecord,
)
from instrument.store.nul import NUL
from instrument.store.pg_case_screen import HOLDER_SQL, ScreenRows, screen_rows
from instrument.store.plumbing import StoreBase
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

__all__ = ["CaseScreen", "CaseScreenReads", "CodingFacts", "ScreenInterview", "ScreenNumber"]

_FINISHED = ("complete", "screened_out")
_CONTACT_NAME = "contact_name_"  # the joined name's label, apart from the queue row's columns
_QUEUED, _DIALLED = "queued_case_", "dialled_rank_"
_QUEUE_PART = (_QUEUED, "zone", "priority", "window_kind", "window_start", "window_end")
_ATTEMPT_WITH_QUEUE: Final = (
    sa.select(
        attempts,
        sa.select(sa.func.min(calls.c.number_rank))
        .where(calls.c.attempt_id == attempts.c.id)
        .scalar_subquery()
        .label(_DIALLED),
        case_queue.c.case_id.label(_QUEUED),
        case_queue.c.zone,
        case_queue.c.priority,
        case_queue.c.window_kind,
        case_queue.c.window_start,
        case_queue.c.window_end,
    )
    .select_from(attempts.outerjoin(case_queue, case_queue.c.case_id == attempts.c.case_id))
    .where(attempts.c.id == sa.bindparam("attempt_id"))
)
"""An attempt, the first number its calls dialled, and its case's queue row (if still queued)."""

# The case screen's statements, built once: building a statement and its cache key each time
# cost about as much CPU as running it (the screen is read twice for every case called).
_CASE: Final = sa.bindparam("case_id", type_=sa.String())
_SCREEN_QUEUE: Final = (
    sa.select(case_queue, contacts.c.name.label(_CONTACT_NAME))
    .select_from(case_queue.outerjoin(contacts, contacts.c.case_id == case_queue.c.case_id))
    .where(case_queue.c.case_id == _CASE)
)
_SCREEN_NUMBERS: Final = (
    sa.select(
        phone_numbers.c.rank,
        phone_numbers.c.e164,
        phone_numbers.c.working,
        sa.exists().where(do_not_call.c.e164 == phone_numbers.c.e164).label("do_not_call"),
    )
    .where(phone_numbers.c.case_id == _CASE)
    .order_by(phone_numbers.c.rank)
)
_SCREEN_ATTEMPTS: Final = (
    sa.select(attempts).where(attempts.c.case_id == _CASE).order_by(attempts.c.id)
)
_SCREEN_CALLS: Final = sa.select(calls).where(calls.c.case_id == _CASE).order_by(calls.c.id)
_SCREEN_APPOINTMENTS: Final = (
    sa.select(appointments)
    .where(appointments.c.case_id == _CASE, appointments.c.cancelled_at.is_(None))
    .order_by(appointments.c.id)
)
_SCREEN_INTERVIEWS: Final = (
    # what the screen shows of an interview, not its state: decoding the state of an
    # interview well under way cost more than the rest of the screen together
    sa.select(interviews.c.id, interviews.c.status, interviews.c.mode, interviews.c.revision)
    .where(interviews.c.case_id == _CASE, interviews.c.status != "withdrawn")
    .order_by(interviews.c.started_at, interviews.c.id)
)
_HOLDER: Final = sa.select(case_queue.c.held_by).where(
    # held_by IS NOT NULL lets both databases read the small index of held cases
    case_queue.c.held_by.is_not(None),
    case_queue.c.held_attempt_id == sa.bindparam("attempt_id"),
)
_PROGRESS: Final = sa.select(interviews.c.status, interviews.c.revision).where(
    interviews.c.case_id == _CASE
)
_SCREEN_MODES: Final = (
    sa.select(answer_events.c.mode)
    .where(
        answer_events.c.interview_id == sa.bindparam("interview_id", type_=sa.String()),
        answer_events.c.kind == "answer",
    )
    .group_by(answer_events.c.mode)
    .order_by(sa.func.min(answer_events.c.seq))
)


def _started(status: str, revision: int) -> bool:
    """Something was answered (or the interview ended): a partial or break-off can be coded."""
    return revision > 0 or status in _FINISHED


@dataclass(frozen=True, slots=True)
class ScreenNumber:
    rank: int
    e164: str
    working: bool
    do_not_call: bool


@dataclass(frozen=True, slots=True)
class ScreenInterview:
    """What the case screen shows of the case's interview (its state is never read for it)."""

    id: str
    status: str
    mode: str
    revision: int


@dataclass(frozen=True, slots=True)
class CaseScreen:
    """A queued case's rows: queue row, name, numbers, history, open appointments, interview.

    ``interview`` is the case's first interview that is not withdrawn;
    ``answer_modes`` the modes its answers were given in, in the order first used;
    ``interview_started`` and ``interview_finished`` say the same of any of its
    interviews that are not withdrawn as :class:`CodingFacts` does, so the
    end-of-call page can offer the outcomes that fit without reading them again.
    """

    queue: dict[str, Any]
    name: str | None
    numbers: tuple[ScreenNumber, ...]
    attempts: tuple[AttemptRecord, ...]
    calls: tuple[CallRecord, ...]
    appointments: tuple[AppointmentRecord, ...]
    interview: ScreenInterview | None
    answer_modes: tuple[str, ...]
    interview_started: bool = False
    interview_finished: bool = False


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
        if self._direct is not None:
            found = self._direct.first_row(HOLDER_SQL, {"attempt_id": attempt_id})
        else:
            found = self._read_one(_HOLDER, {"attempt_id": attempt_id})
        return None if found is None else str(found[0])

    def coding_facts(self, attempt_id: int) -> CodingFacts | None:
        """Everything coding this attempt's outcome needs, in one transaction; None for no such attempt.

        The attempt, the first number it dialled and its case's queue row are
        one statement, the case's interviews another; then the scheduling facts.
        """
        with self._transaction() as connection:
            row = connection.execute(_ATTEMPT_WITH_QUEUE, {"attempt_id": attempt_id}).one_or_none()
            if row is None:
                return None
            found = row._asdict()
            queued = {name: found.pop(name) for name in _QUEUE_PART}
            rank = found.pop(_DIALLED)
            attempt = AttemptRecord(**found)
            progress = connection.execute(_PROGRESS, {"case_id": attempt.case_id}).all()
            facts = None
            if queued[_QUEUED] is not None:
                facts = read_facts_of_queued(
                    connection, attempt.case_id, queued["zone"], queued["priority"],
                    {p.status for p in progress},
                )  # fmt: skip
        counted = [p for p in progress if p.status != "withdrawn"]
        return CodingFacts(
            attempt=attempt,
            facts=facts,
            window_kind=queued["window_kind"],
            window_start=queued["window_start"],
            window_end=queued["window_end"],
            dialled_rank=int(rank or 1),
            interview_started=any(_started(p.status, p.revision) for p in counted),
            interview_finished=any(p.status in _FINISHED for p in counted),
        )

    def case_screen(self, case_id: str) -> CaseScreen | None:
        """The case screen's rows at one moment; None when the case is not in the call queue.

        On PostgreSQL one statement through psycopg (:mod:`instrument.store.pg_case_screen`),
        on SQLite one transaction of a statement per table.
        """
        if NUL in case_id:
            return None
        if self._direct is not None:
            rows = screen_rows(self._direct, case_id)
        else:
            rows = self._screen_rows(case_id)
        return None if rows is None else _case_screen(rows)

    def _screen_rows(self, case_id: str) -> ScreenRows | None:
        """The case screen's rows through Core, in one transaction."""
        case = {"case_id": case_id}
        with self._transaction() as connection:
            queued = connection.execute(_SCREEN_QUEUE, case).one_or_none()
            if queued is None:
                return None
            queue = queued._asdict()
            name = queue.pop(_CONTACT_NAME)
            numbers = connection.execute(_SCREEN_NUMBERS, case).all()
            attempt_rows = connection.execute(_SCREEN_ATTEMPTS, case).all()
            call_rows = connection.execute(_SCREEN_CALLS, case).all()
            booked = connection.execute(_SCREEN_APPOINTMENTS, case).all()
            # every interview that counts (one, by design: one interview per case)
            kept = connection.execute(_SCREEN_INTERVIEWS, case).all()
            modes: list[str] = []
            if kept and kept[0].revision > 0:  # else nothing was answered
                modes = list(connection.scalars(_SCREEN_MODES, {"interview_id": kept[0].id}))
        return ScreenRows(
            queue=queue,
            name=name,
            numbers=[(n.rank, n.e164, n.working, n.do_not_call) for n in numbers],
            attempts=[row._asdict() for row in attempt_rows],
            calls=[row._asdict() for row in call_rows],
            appointments=[row._asdict() for row in booked],
            interviews=[(i.id, i.status, i.mode, i.revision) for i in kept],
            modes=modes,
        )


def _case_screen(rows: ScreenRows) -> CaseScreen:
    """The screen from its rows, read by either database."""
    kept = rows.interviews
    first = ScreenInterview(*kept[0]) if kept else None
    return CaseScreen(
        queue=rows.queue,
        name=rows.name,
        numbers=tuple(ScreenNumber(*number) for number in rows.numbers),
        attempts=tuple(AttemptRecord(**row) for row in rows.attempts),
        calls=tuple(CallRecord(**row) for row in rows.calls),
        appointments=tuple(AppointmentRecord(**row) for row in rows.appointments),
        interview=first,
        # the modes of answers given, once something was answered (a revision above 0)
        answer_modes=tuple(rows.modes) if first is not None and first.revision > 0 else (),
        interview_started=any(_started(status, revision) for _, status, _, revision in kept),
        interview_finished=any(status in _FINISHED for _, status, _, _ in kept),
    )
