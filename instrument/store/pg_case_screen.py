"""The interviewer's case screen in one statement, sent to PostgreSQL through psycopg directly.

The screen is read twice for every case an interviewer calls (before and
after dialling). Through SQLAlchemy Core it was one transaction of six or
seven statements (BEGIN, the queue row, the numbers, the attempts, the calls,
the appointments, the interviews, the modes of their answers, COMMIT), and
that was most of what the case screen cost the server: each statement pays
Core's execution context and result processing and a round trip. Here the
same rows come back from one statement, each list aggregated as JSON by the
database, in one round trip and on one snapshot (a single statement needs no
transaction to be consistent). What the screen is made of is unchanged:
:meth:`~instrument.store.fieldwork_screen.CaseScreenReads.case_screen` builds
it from these rows as from Core's, and SQLite still reads it through Core.

The statement is built once from the schema's tables, so a column added to
``case_queue``, ``attempts``, ``calls`` or ``appointments`` comes with it; the
columns JSON cannot carry as they are (times and dates) are read back by their
column's type: a time as aware UTC, as :class:`~instrument.store.schema.UTCDateTime`
gives it through Core, a date as a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import sqlalchemy as sa

from instrument.store.schema import UTCDateTime, appointments, attempts, calls, case_queue

if TYPE_CHECKING:
    from instrument.store.pg_direct import DirectStatements

__all__ = ["HOLDER_SQL", "SCREEN_SQL", "ScreenRows", "screen_rows"]


class ScreenRows(NamedTuple):
    """The case screen's rows, as plain values (either database, before they become records)."""

    queue: dict[str, Any]  # the case's queue row, every column
    name: str | None  # the contact's name
    numbers: list[tuple[int, str, bool, bool]]  # rank, e164, working, on the do-not-call list
    attempts: list[dict[str, Any]]  # every column of the case's attempts, by id
    calls: list[dict[str, Any]]  # every column of the case's calls, by id
    appointments: list[dict[str, Any]]  # the open appointments, by id
    interviews: list[tuple[str, str, str, int]]  # id, status, mode, revision; first started first
    modes: list[str]  # the modes the first interview's answers came in, in the order first used


_QUEUE_COLUMNS: Final = tuple(column.name for column in case_queue.columns)
_FIRST_INTERVIEW: Final = (
    "SELECT i.id FROM interviews i WHERE i.case_id = q.case_id AND i.status <> 'withdrawn'"
    " ORDER BY i.started_at, i.id LIMIT 1"
)
SCREEN_SQL: Final = (
    "SELECT " + ", ".join(f'q."{name}"' for name in _QUEUE_COLUMNS) + ", c.name,"
    " (SELECT json_agg(json_build_array(n.rank, n.e164, n.working,"
    " EXISTS (SELECT 1 FROM do_not_call d WHERE d.e164 = n.e164)) ORDER BY n.rank)"
    " FROM phone_numbers n WHERE n.case_id = q.case_id),"
    " (SELECT json_agg(a ORDER BY a.id) FROM attempts a WHERE a.case_id = q.case_id),"
    " (SELECT json_agg(k ORDER BY k.id) FROM calls k WHERE k.case_id = q.case_id),"
    " (SELECT json_agg(p ORDER BY p.id) FROM appointments p"
    " WHERE p.case_id = q.case_id AND p.cancelled_at IS NULL),"
    " (SELECT json_agg(json_build_array(i.id, i.status, i.mode, i.revision)"
    " ORDER BY i.started_at, i.id)"
    " FROM interviews i WHERE i.case_id = q.case_id AND i.status <> 'withdrawn'),"
    " (SELECT json_agg(m.mode ORDER BY m.first_seq) FROM (SELECT e.mode, min(e.seq) AS first_seq"
    f" FROM answer_events e WHERE e.kind = 'answer' AND e.interview_id = ({_FIRST_INTERVIEW})"
    " GROUP BY e.mode) m)"
    " FROM case_queue q LEFT JOIN contacts c ON c.case_id = q.case_id"
    " WHERE q.case_id = %(case_id)s"
)
"""The screen's one statement (``case_id``): the queue row's columns, the name, then each list."""


HOLDER_SQL: Final = (
    "SELECT held_by FROM case_queue WHERE held_by IS NOT NULL AND held_attempt_id = %(attempt_id)s"
)
"""Who holds a case through an open attempt (``attempt_id``): the console asks before dialling
and, every 30 seconds, while the script runs. ``held_by IS NOT NULL`` lets the planner read the
small index of held cases, as Core's statement does."""


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _typed(table: sa.Table) -> tuple[tuple[str, Callable[[str], Any]], ...]:
    """A table's columns that JSON gives as text, with what reads each back."""
    found: list[tuple[str, Callable[[str], Any]]] = []
    for column in table.columns:
        if isinstance(column.type, UTCDateTime):
            found.append((column.name, _utc))
        elif isinstance(column.type, sa.Date) and not isinstance(column.type, sa.DateTime):
            found.append((column.name, dt.date.fromisoformat))
    return tuple(found)


_ATTEMPT_TYPES: Final = _typed(attempts)
_CALL_TYPES: Final = _typed(calls)
_APPOINTMENT_TYPES: Final = _typed(appointments)


def _records(
    rows: list[dict[str, Any]] | None, typed: tuple[tuple[str, Callable[[str], Any]], ...]
) -> list[dict[str, Any]]:
    for row in rows or ():
        for name, read in typed:
            value = row[name]
            if value is not None:
                row[name] = read(value)
    return rows or []


def screen_rows(direct: DirectStatements, case_id: str) -> ScreenRows | None:
    """The case screen's rows in one statement; None when the case is not in the call queue."""
    row = direct.first_row(SCREEN_SQL, {"case_id": case_id})
    if row is None:
        return None
    width = len(_QUEUE_COLUMNS)
    queue = {
        name: value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value
        for name, value in zip(_QUEUE_COLUMNS, row[:width], strict=True)
    }
    name, numbers, attempt_rows, call_rows, booked, interviews, modes = row[width:]
    return ScreenRows(
        queue=queue,
        name=name,
        numbers=[(int(n[0]), str(n[1]), bool(n[2]), bool(n[3])) for n in numbers or ()],
        attempts=_records(attempt_rows, _ATTEMPT_TYPES),
        calls=_records(call_rows, _CALL_TYPES),
        appointments=_records(booked, _APPOINTMENT_TYPES),
        interviews=[(str(i[0]), str(i[1]), str(i[2]), int(i[3])) for i in interviews or ()],
        modes=[str(mode) for mode in modes or ()],
    )
