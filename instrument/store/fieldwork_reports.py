"""What the call-queue service reads in bulk: every queued case's facts, call records, windows to renew.

The per-case readers (:meth:`~instrument.store.fieldwork_outcomes.Outcomes.fieldwork_facts`)
cost five statements a case, which is right for the end of one call and
wrong for a supervisor's overview of ten thousand cases. :meth:`FieldworkReports.queued_cases`
reads the same facts for every queued case in six statements, so the rates
and the overview are worked out by the rules layer from the same history the
scheduler sees, never from counters kept beside it.

Nothing personal leaves this module: numbers are named by rank, and the
do-not-call list is only consulted, never returned.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.fieldwork.schedule import AppointmentFact, AttemptFact, CaseFacts
from instrument.store.fieldwork_queue import window_values
from instrument.store.fieldwork_records import AttemptRecord, WindowLike
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    ENDED_INDEX_FENCE,
    UTCDateTime,
    appointments,
    attempts,
    calls,
    case_queue,
    cases,
    do_not_call,
    fieldwork_audit,
    interviews,
    phone_numbers,
)

__all__ = ["CallRow", "FieldworkReports", "QueuedCase", "Renewal", "case_facts"]

_FINISHED = ("complete", "screened_out")


@dataclass(frozen=True, slots=True)
class QueuedCase:
    """One queued case as the supervisor's view needs it (no names, no numbers).

    ``override``: the disposition a supervisor set after the case's last
    coded attempt (None when none, or when an attempt was coded since).
    """

    case_id: str
    questionnaire_id: str
    facts: CaseFacts
    disposition: str | None
    final: bool
    held_by: str | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    window_kind: str | None
    attempts: int
    override: str | None
    window_interviewer: str | None = None
    """Whom the window is kept for (a supervisor's reassignment); None: anyone."""
    taken_by: str = "interviewer"
    """Who may take it: ``interviewer`` or ``automated`` (the dialler)."""
    automated_calls_left: int | None = None
    """Automated calls its wave step still allows (None: as the calling rules allow)."""
    automated_not_before: dt.datetime | None = None
    """No automated call before then (the step's spacing after the last one)."""


@dataclass(frozen=True, slots=True)
class Renewal:
    """A case's new window (None: never call again, the case becomes final with ``disposition``),
    to be set only if the case is as it was read: its window still ends at ``expected_end`` and
    it has had ``expected_attempts`` attempts. The end alone is not enough: a case called and
    coded meanwhile often gets a window ending where the old one did (the same evening)."""

    case_id: str
    expected_end: dt.datetime | None
    expected_attempts: int
    window: WindowLike | None
    disposition: str | None = None


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call with its attempt, for the call-records CSV (the number by its rank only)."""

    call_id: int | None
    attempt_id: int
    case_id: str
    questionnaire_id: str
    interviewer: str
    attempt_started_at: dt.datetime
    attempt_ended_at: dt.datetime | None
    disposition: str | None
    number_rank: int | None
    provider: str | None
    status: str | None
    placed_at: dt.datetime | None
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: int | None
    answered_by: str | None
    recording: bool | None
    recording_at: dt.datetime | None = None
    recording_sid: str | None = None
    recording_status: str | None = None
    recording_error: str | None = None
    recording_duration_s: int | None = None
    recording_url: str | None = None


_RENEW: Final = (
    case_queue.update()
    .where(
        case_queue.c.case_id == sa.bindparam("b_case"),
        case_queue.c.held_by.is_(None),
        case_queue.c.final.is_(False),
        case_queue.c.window_end.is_not_distinct_from(sa.bindparam("b_end", type_=UTCDateTime)),
        case_queue.c.attempts == sa.bindparam("b_attempts", type_=sa.Integer()),
    )
    .values(
        window_start=sa.bindparam("b_start_new", type_=UTCDateTime),
        window_end=sa.bindparam("b_end_new", type_=UTCDateTime),
        window_kind=sa.bindparam("b_kind", type_=sa.String()),
        window_interviewer=sa.bindparam("b_interviewer", type_=sa.String()),
        final=sa.bindparam("b_final", type_=sa.Boolean()),
        disposition=sa.func.coalesce(
            sa.bindparam("b_disposition", type_=sa.String()), case_queue.c.disposition
        ),
    )
)
"""Renew one case's window if it still ends where it was read (IS NOT DISTINCT FROM: NULL too)
and no attempt was made on it since."""


class FieldworkReports(StoreBase):
    """:meth:`attempt`, :meth:`queued_cases`, :meth:`call_rows`, :meth:`ended_windows`,
    :meth:`renew_windows`."""

    def attempt(self, attempt_id: int) -> AttemptRecord | None:
        """One attempt (open or coded), or None."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(attempts).where(attempts.c.id == attempt_id)
            ).one_or_none()
        return None if row is None else AttemptRecord(**row._asdict())

    def ended_windows(self, now: dt.datetime, *, limit: int = 500) -> list[str]:
        """Cases neither final nor held whose window has ended (or that never had one).

        Two range reads of ``ix_case_queue_ended`` (ended, then never set)
        rather than one ``OR``, which would walk past every window still open;
        the only query that names the index's fence, so the only one that uses it.
        """
        now = utc(now)
        free = (case_queue.c.final.is_(False), case_queue.c.held_by.is_(None), ENDED_INDEX_FENCE)
        with self._transaction() as connection:
            ended = list(
                connection.scalars(
                    sa.select(case_queue.c.case_id)
                    .where(*free, case_queue.c.window_end <= now)
                    .order_by(case_queue.c.window_end, case_queue.c.case_id)
                    .limit(limit)
                )
            )
            if len(ended) < limit:
                ended += connection.scalars(
                    sa.select(case_queue.c.case_id)
                    .where(*free, case_queue.c.window_end.is_(None))
                    .order_by(case_queue.c.case_id)
                    .limit(limit - len(ended))
                )
        return ended

    def renew_windows(self, renewals: Sequence[Renewal], *, now: dt.datetime) -> None:
        """Set free cases' next windows where each window still ends at ``expected_end``.

        Compare-and-set, so two interviewers renewing the same ended window at
        once write it once, and a case claimed or coded meanwhile is left alone.
        One statement run for every case in one transaction (psycopg pipelines
        it): a morning's windows that ended overnight cost one round of the
        server, not one per case.
        """
        if not renewals:
            return
        rows = []
        for renewal in renewals:
            values = window_values(renewal.window)
            rows.append(
                {
                    "b_case": renewal.case_id,
                    "b_end": None if renewal.expected_end is None else utc(renewal.expected_end),
                    "b_attempts": renewal.expected_attempts,
                    "b_start_new": values["window_start"],
                    "b_end_new": values["window_end"],
                    "b_kind": values["window_kind"],
                    "b_interviewer": values["window_interviewer"],
                    "b_final": renewal.window is None,
                    "b_disposition": renewal.disposition,
                }
            )
        with self._transaction(write=True) as connection:
            connection.execute(_RENEW.values(updated_at=utc(now)), rows)

    def queued_cases(self, case_ids: list[str] | None = None) -> list[QueuedCase]:
        """Every queued case (or those named) with the facts the rules work from, read in one transaction.

        The facts are those :meth:`fieldwork_facts` gives for one case.
        """
        only = (lambda column: column.in_(case_ids)) if case_ids is not None else None

        def where(query: sa.Select[Any], column: Any) -> sa.Select[Any]:
            return query if only is None else query.where(only(column))

        with self._transaction() as connection:
            queue = connection.execute(
                where(
                    sa.select(case_queue, cases.c.questionnaire_id).join(
                        cases, cases.c.id == case_queue.c.case_id
                    ),
                    case_queue.c.case_id,
                ).order_by(case_queue.c.case_id)
            ).all()
            numbers = connection.execute(
                where(
                    sa.select(
                        phone_numbers.c.case_id,
                        phone_numbers.c.rank,
                        phone_numbers.c.working,
                        sa.exists()
                        .where(do_not_call.c.e164 == phone_numbers.c.e164)
                        .label("blocked"),
                    ),
                    phone_numbers.c.case_id,
                ).order_by(phone_numbers.c.case_id, phone_numbers.c.rank)
            ).all()
            first_rank = (
                sa.select(sa.func.min(calls.c.number_rank))
                .where(calls.c.attempt_id == attempts.c.id)
                .scalar_subquery()
            )
            coded = connection.execute(
                where(
                    sa.select(
                        attempts.c.case_id,
                        attempts.c.started_at,
                        attempts.c.ended_at,
                        attempts.c.disposition,
                        first_rank.label("rank"),
                    ).where(attempts.c.disposition.is_not(None)),
                    attempts.c.case_id,
                ).order_by(attempts.c.case_id, attempts.c.started_at, attempts.c.id)
            ).all()
            booked = connection.execute(
                where(
                    sa.select(appointments).where(appointments.c.cancelled_at.is_(None)),
                    appointments.c.case_id,
                ).order_by(appointments.c.id)
            ).all()
            statuses = connection.execute(
                where(
                    sa.select(interviews.c.case_id, interviews.c.status).where(
                        interviews.c.case_id.is_not(None)
                    ),
                    interviews.c.case_id,
                )
            ).all()
            changes = connection.execute(
                where(
                    sa.select(fieldwork_audit.c.case_id, fieldwork_audit.c.at, fieldwork_audit.c.after)
                    .where(fieldwork_audit.c.action == "change_disposition"),
                    fieldwork_audit.c.case_id,
                ).order_by(fieldwork_audit.c.id)
            ).all()  # fmt: skip
        by_case: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for name, rows in (("numbers", numbers), ("coded", coded), ("statuses", statuses)):
            for row in rows:
                by_case[row.case_id][name].append(row)
        latest_booking = {row.case_id: row for row in booked}  # the newest open one wins
        latest_change = {row.case_id: row for row in changes}
        return [
            _queued(row, by_case[row.case_id], latest_booking.get(row.case_id),
                    latest_change.get(row.case_id))
            for row in queue
        ]  # fmt: skip

    def call_rows(self) -> Iterator[CallRow]:
        """Every attempt with each of its calls (an attempt without calls once, call columns empty)."""
        query = (
            sa.select(
                calls.c.id.label("call_id"),
                attempts.c.id.label("attempt_id"),
                attempts.c.case_id,
                cases.c.questionnaire_id,
                attempts.c.interviewer,
                attempts.c.started_at.label("attempt_started_at"),
                attempts.c.ended_at.label("attempt_ended_at"),
                attempts.c.disposition,
                calls.c.number_rank,
                calls.c.provider,
                calls.c.status,
                calls.c.placed_at,
                calls.c.answered_at,
                calls.c.ended_at,
                calls.c.duration_s,
                calls.c.answered_by,
                calls.c.recording,
                calls.c.recording_at,
                calls.c.recording_sid,
                calls.c.recording_status,
                calls.c.recording_error,
                calls.c.recording_duration_s,
                calls.c.recording_url,
            )
            .select_from(
                attempts.join(cases, cases.c.id == attempts.c.case_id).outerjoin(
                    calls, calls.c.attempt_id == attempts.c.id
                )
            )
            .order_by(attempts.c.id, calls.c.id)
        )
        with self._transaction() as connection:
            rows = connection.execute(query).all()
        for row in rows:
            yield CallRow(**row._asdict())


def case_facts(
    case_id: str,
    zone: str,
    priority: int,
    numbers: Sequence[Any],
    coded: Sequence[Any],
    booking: Any | None,
    statuses: Iterable[str],
) -> CaseFacts:
    """The rules layer's facts from a case's rows: numbers (rank, working, blocked), coded
    attempts (started_at, disposition, rank), its open appointment and its interviews' statuses.

    One builder for the per-case reader (``fieldwork_facts``) and the bulk one, so the
    scheduler and the supervisor's rates read a case the same way.
    """
    statuses = set(statuses)
    return CaseFacts(
        case_id=case_id,
        zone=zone,
        priority=priority,
        numbers=tuple(n.rank for n in numbers if n.working and not n.blocked),
        attempts=tuple(AttemptFact(a.started_at, a.disposition, a.rank or 1) for a in coded),
        appointment=None
        if booking is None
        else AppointmentFact(
            kind=booking.kind,
            at=booking.at,
            day=booking.day,
            part=booking.part,
            interviewer=booking.interviewer,
        ),
        do_not_call=bool(numbers) and all(n.blocked for n in numbers),
        interview_finished=bool(statuses & set(_FINISHED)),
        interview_started=bool(statuses),
    )


def _queued(
    row: Any, history: dict[str, list[Any]], booking: Any | None, change: Any | None
) -> QueuedCase:
    coded = history["coded"]
    facts = case_facts(
        row.case_id,
        row.zone,
        row.priority,
        history["numbers"],
        coded,
        booking,
        (s.status for s in history["statuses"]),
    )
    override = None
    if change is not None:
        last_coded = max((a.ended_at or a.started_at for a in coded), default=None)
        if last_coded is None or last_coded <= change.at:
            override = (change.after or {}).get("disposition")
    return QueuedCase(
        case_id=row.case_id,
        questionnaire_id=row.questionnaire_id,
        facts=facts,
        disposition=row.disposition,
        final=row.final,
        held_by=row.held_by,
        window_start=row.window_start,
        window_end=row.window_end,
        window_kind=row.window_kind,
        attempts=row.attempts,
        override=override,
        window_interviewer=row.window_interviewer,
        taken_by=row.taken_by,
        automated_calls_left=row.automated_calls_left,
        automated_not_before=row.automated_not_before,
    )
