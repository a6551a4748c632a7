"""The supervisor's side of the call queue: reassign, release, correct, watch, report.

Every change a supervisor makes goes to the audit log with its reason,
because an outcome changed by hand alters the response rates a study
reports. The overview and the AAPOR rates are worked out by the rules layer
(``case_disposition``) from each case's whole history, read in bulk, so they
can never drift from what interviewers coded; a supervisor's correction
stands until the case is called again. The call records CSV names numbers by
rank and leaves out names, numbers and interviewers' notes (a note may name
the respondent).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from instrument.callqueue.outcomes import InterviewerStats, Overview
from instrument.callqueue.scheduling import HOLD_EXPIRED, with_attempt
from instrument.fieldwork import (
    DispositionCounts,
    RateClass,
    Window,
    case_disposition,
    next_window,
)
from instrument.fieldwork import rates as aapor_rates
from instrument.fieldwork.settings import FieldworkSettings
from instrument.store import Store
from instrument.store.fieldwork_reports import QueuedCase

__all__ = ["CALL_RECORD_COLUMNS", "Supervision"]

CALL_RECORD_COLUMNS = (
    "attempt_id", "call_id", "case_id", "interviewer", "attempt_started_at", "attempt_ended_at",
    "disposition", "aapor", "rate_class", "number_rank", "provider", "status", "placed_at",
    "answered_at", "ended_at", "duration_s", "answered_by", "recording",
)  # fmt: skip
"""The CSV's columns: no name, no number (a rank), no note."""

RELEASED = HOLD_EXPIRED
"""A released hold's attempt is coded as if its interviewer had vanished."""


def _iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat()


class Supervision:
    """Supervisor operations (mixed into :class:`~instrument.callqueue.CallQueue`)."""

    store: Store
    settings_for: Callable[[str], FieldworkSettings]

    if TYPE_CHECKING:  # provided by Scheduling

        def _questionnaire_of(self, case_id: str) -> str: ...

        def _dialled_rank(self, case_id: str, attempt_id: int) -> int: ...

    # -- changes, each audited ----------------------------------------------------

    def release(self, case_id: str, *, actor: str, reason: str, now: dt.datetime) -> bool:
        """Free a held case (its open attempt coded ``hold_expired``); False if it was not held."""
        _need_reason(reason)
        row = self.store.queue_row(case_id)
        if row is None:
            raise LookupError(f"case {case_id!r} is not in the call queue")
        if row["held_by"] is None:
            return False
        attempt_id = row["held_attempt_id"]
        assert attempt_id is None or isinstance(attempt_id, int)
        window = self._window_after(case_id, attempt_id, now)
        released = self.store.release_hold(
            case_id, attempt_id, disposition=RELEASED, window=window, final=window is None, now=now
        )
        if released:
            self.store.audit(
                actor=actor,
                action="release",
                case_id=case_id,
                before={"held_by": row["held_by"], "attempt_id": attempt_id},
                after={"held_by": None, "disposition": RELEASED},
                reason=reason,
                now=now,
            )
        return released

    def reassign(
        self, case_id: str, to_interviewer: str, *, actor: str, reason: str, now: dt.datetime
    ) -> Window | None:
        """Keep the case's next window for ``to_interviewer`` (released first if someone holds it).

        The window is the rules' next one, reserved: no one else is offered the
        case in it. None: the case may not be called again, nothing reserved.
        """
        _need_reason(reason)
        row = self.store.queue_row(case_id)
        if row is None:
            raise LookupError(f"case {case_id!r} is not in the call queue")
        if row["held_by"] is not None:
            self.release(case_id, actor=actor, reason=f"reassigned: {reason}", now=now)
        settings = self.settings_for(self._questionnaire_of(case_id))
        facts = self.store.fieldwork_facts(case_id)
        found = None if facts is None else next_window(
            facts, settings.calling, settings.dispositions, now
        )  # fmt: skip
        if found is None:
            return None
        window = Window(found.start, found.end, found.kind, to_interviewer)
        self.store.set_window(case_id, window=window, now=now)
        self.store.audit(
            actor=actor,
            action="reassign",
            case_id=case_id,
            before={"window_interviewer": row["window_interviewer"]},
            after={"window_interviewer": to_interviewer, "window_start": window.start.isoformat()},
            reason=reason,
            now=now,
        )
        return window

    def change_outcome(
        self, case_id: str, disposition: str, *, reason: str, actor: str, now: dt.datetime
    ) -> None:
        """Correct a case's outcome (audited with the reason); a final one takes it off the queue.

        KeyError for an outcome the study's table does not have.
        """
        _need_reason(reason)
        table = self.settings_for(self._questionnaire_of(case_id)).dispositions
        outcome = table[disposition]
        self.store.change_disposition(
            case_id,
            disposition=disposition,
            reason=reason,
            actor=actor,
            final=outcome.final,
            now=now,
        )

    def _window_after(
        self, case_id: str, attempt_id: int | None, now: dt.datetime
    ) -> Window | None:
        settings = self.settings_for(self._questionnaire_of(case_id))
        facts = self.store.fieldwork_facts(case_id)
        if facts is None:
            return None
        if attempt_id is not None:
            attempt = self.store.attempt(attempt_id)
            if attempt is not None and attempt.ended_at is None:
                rank = self._dialled_rank(case_id, attempt_id)
                facts = with_attempt(facts, attempt.started_at, RELEASED, rank)
        return next_window(facts, settings.calling, settings.dispositions, now)

    # -- watching ----------------------------------------------------------------

    def _dispositions(self, cases: list[QueuedCase]) -> dict[str, str]:
        """Each case's current disposition: a supervisor's correction, else the rules' verdict."""
        out = {}
        for queued in cases:
            settings = self.settings_for(queued.questionnaire_id)
            out[queued.case_id] = queued.override or case_disposition(
                queued.facts, settings.dispositions, settings.calling
            )
        return out

    def sample_overview(self, now: dt.datetime) -> Overview:
        """Cases by disposition, callable now, appointments due today, attempts per case."""
        cases = self.store.queued_cases()
        codes = self._dispositions(cases)
        callable_now = appointments_today = 0
        for queued in cases:
            open_now = queued.window_start is not None and queued.window_end is not None and (
                queued.window_start <= now < queued.window_end
            )  # fmt: skip
            callable_now += bool(open_now and not queued.final and queued.held_by is None)
            booked = queued.facts.appointment
            if booked is not None:
                zone = self.settings_for(queued.questionnaire_id).calling.zone(queued.facts.zone)
                today = now.astimezone(zone).date()
                day = booked.at.astimezone(zone).date() if booked.at is not None else booked.day
                appointments_today += day == today
        return Overview(
            cases=len(cases),
            by_disposition=dict(sorted(Counter(codes.values()).items())),
            final=sum(q.final for q in cases),
            held=sum(q.held_by is not None for q in cases),
            callable_now=callable_now,
            appointments_today=appointments_today,
            attempts_per_case=dict(sorted(Counter(len(q.facts.attempts) for q in cases).items())),
        )

    def disposition_counts(self, questionnaire_id: str | None = None) -> DispositionCounts:
        """Cases by AAPOR rate class, from their current dispositions."""
        cases = [
            q
            for q in self.store.queued_cases()
            if questionnaire_id is None or q.questionnaire_id == questionnaire_id
        ]
        codes = self._dispositions(cases)
        by_class: Counter[RateClass] = Counter()
        for queued in cases:
            table = self.settings_for(queued.questionnaire_id).dispositions
            code = codes[queued.case_id]
            if code in table:
                by_class[table[code].rate_class] += 1
        return DispositionCounts(**{cls.value: by_class[cls] for cls in RateClass})

    def rates(
        self, e: float | None = None, *, questionnaire_id: str | None = None
    ) -> dict[str, float | None]:
        """AAPOR RR1-6, COOP1-4, REF1-3, CON1-3 from the cases' current dispositions."""
        return aapor_rates(self.disposition_counts(questionnaire_id), e=e)

    def interviewer_stats(self, since: dt.datetime, until: dt.datetime) -> list[InterviewerStats]:
        """Per interviewer, the attempts they started in ``[since, until)``."""
        per: dict[str, dict[int, list]] = defaultdict(dict)  # interviewer -> attempt -> calls
        started: dict[int, tuple[dt.datetime, dt.datetime | None, str | None]] = {}
        for row in self.store.call_rows():
            if not since <= row.attempt_started_at < until:
                continue
            calls = per[row.interviewer].setdefault(row.attempt_id, [])
            if row.call_id is not None:
                calls.append(row.call_id)
            started[row.attempt_id] = (
                row.attempt_started_at,
                row.attempt_ended_at,
                row.disposition,
            )
        out = []
        for interviewer, attempts in sorted(per.items()):
            seconds = 0.0
            complete_lengths = []
            for attempt_id in attempts:
                begun, ended, code = started[attempt_id]
                length = ((ended or until) - begun).total_seconds()
                seconds += max(length, 0.0)
                if code == "complete" and ended is not None:
                    complete_lengths.append(ended - begun)
            hours = seconds / 3600
            completes = len(complete_lengths)
            out.append(
                InterviewerStats(
                    interviewer=interviewer,
                    attempts=len(attempts),
                    calls=sum(len(c) for c in attempts.values()),
                    completes=completes,
                    hours=hours,
                    completes_per_hour=None if hours == 0 else completes / hours,
                    mean_interview_length=None
                    if not complete_lengths
                    else sum(complete_lengths, dt.timedelta(0)) / completes,
                )
            )
        return out

    def write_call_records(self, file: TextIO) -> int:
        """Write every attempt and call as CSV (see :data:`CALL_RECORD_COLUMNS`); rows written."""
        writer = csv.writer(file)
        writer.writerow(CALL_RECORD_COLUMNS)
        count = 0
        for row in self.store.call_rows():
            table = self.settings_for(row.questionnaire_id).dispositions
            outcome = table.get(row.disposition) if row.disposition else None
            writer.writerow(
                [
                    row.attempt_id, row.call_id or "", row.case_id, row.interviewer,
                    _iso(row.attempt_started_at), _iso(row.attempt_ended_at),
                    row.disposition or "", outcome.aapor if outcome else "",
                    outcome.rate_class.value if outcome else "",
                    row.number_rank or "", row.provider or "", row.status or "",
                    _iso(row.placed_at), _iso(row.answered_at), _iso(row.ended_at),
                    "" if row.duration_s is None else row.duration_s, row.answered_by or "",
                    "" if row.recording is None else int(row.recording),
                ]
            )  # fmt: skip
            count += 1
        return count


def _need_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValueError("a supervisor's change needs a reason (it is kept in the audit log)")
