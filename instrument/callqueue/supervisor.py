"""The supervisor's side of the call queue: reassign, release, correct, watch, report.

Every change a supervisor makes goes to the audit log with its reason,
because an outcome changed by hand alters the response rates a study
reports. The overview and the AAPOR rates are worked out by the rules layer
(``case_disposition``) from each case's whole history, read in bulk, so they
can never drift from what interviewers coded; a supervisor's correction
stands until the case is called again. The call records CSV names numbers by
rank and leaves out names, numbers and interviewers' notes (a note may name
the respondent).

A case's current outcome is decided in one place, :meth:`Supervision._current`
(a supervisor's correction, else the rules' verdict from the case's whole
history); the overview's counts, the rates and the case list all use it, so a
count and the list behind it cannot disagree. The supervisor's pages read the
case list and the audit log here, never from the store.

Each change (release, reassign, change of outcome) may be given the case's
``expected`` version (:meth:`Supervision.case_version`, put in the page's
form): the store applies the change, with its audit entries, only if the case
is still at that version, in one transaction, else :class:`CaseChanged` and
nothing is written. So a form sent twice acts once even when the two copies
reach two server processes. Without ``expected`` the change applies to the
case as it stands when it is made (read again if it moved meanwhile).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TextIO

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
from instrument.store.fieldwork_audit import AuditEntry, AuditPage, CaseChanged, SupervisedCase
from instrument.store.fieldwork_reports import CallRow, QueuedCase
from instrument.store.schema import TAKEN_BY

__all__ = [
    "CALL_RECORD_COLUMNS",
    "CASE_TAKING_ROLES",
    "AuditEntry",
    "AuditPage",
    "CaseChanged",
    "CaseList",
    "CaseSummary",
    "Supervision",
    "TAKERS",
]

CALL_RECORD_COLUMNS = (
    "attempt_id", "call_id", "case_id", "interviewer", "attempt_started_at", "attempt_ended_at",
    "disposition", "aapor", "rate_class", "number_rank", "provider", "status", "placed_at",
    "answered_at", "ended_at", "duration_s", "answered_by", "recording", "recording_at",
    "recording_sid", "recording_status", "recording_error", "recording_duration_s",
    "recording_url",
)  # fmt: skip
"""The CSV's columns: no name, no number (a rank), no note."""

TAKERS: Final = TAKEN_BY
"""Who may take a queued case (``case_queue.taken_by``): ``interviewer`` (through "next case")
or ``automated`` (only the automated dialler); a supervisor's case list can be narrowed to one."""

RELEASED = HOLD_EXPIRED
"""A released hold's attempt is coded as if its interviewer had vanished."""

CASE_TAKING_ROLES: Final = frozenset({"interviewer", "supervisor"})
"""The staff roles that work cases at the console, so the only ones a case can be kept for."""

_TRIES: Final = 3
"""How often a change without an ``expected`` version is read and tried again when the case
moved between its read and its write (an interviewer coding it at that moment)."""


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One queued case as a supervisor lists it (no name, no number).

    ``disposition`` is its current outcome, by the same rule as the
    overview's counts; ``attempts`` counts its coded attempts. The window is
    when it may be called next (None for a final case, or none set).
    """

    case_id: str
    questionnaire_id: str
    disposition: str
    final: bool
    attempts: int
    held_by: str | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    window_kind: str | None
    window_interviewer: str | None
    taken_by: str = TAKEN_BY[0]
    """Who may take it (:data:`TAKERS`): interviewers, or only the automated dialler."""


@dataclass(frozen=True, slots=True)
class CaseList:
    """Cases in case-id order (at most the ``limit`` asked for) and how many matched in all."""

    cases: tuple[CaseSummary, ...]
    total: int


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

    def case_version(self, case_id: str) -> str:
        """The case's version, for a page's change forms (LookupError: not in the call queue).

        It moves whenever the case is claimed, coded, released or corrected, so
        a change made for an older version is refused (:class:`CaseChanged`).
        """
        return self._supervised(case_id, None).version

    def _supervised(self, case_id: str, expected: str | None) -> SupervisedCase:
        found = self.store.supervised_case(case_id)
        if found is None:
            raise LookupError(f"case {case_id!r} is not in the call queue")
        if expected is not None and found.version != expected:
            raise CaseChanged(f"case {case_id!r} changed since it was read; nothing was changed")
        return found

    def release(
        self,
        case_id: str,
        *,
        actor: str,
        reason: str,
        now: dt.datetime,
        expected: str | None = None,
    ) -> bool:
        """Free a held case (its open attempt coded ``hold_expired``); False if it was not held.

        :class:`CaseChanged` when ``expected`` is given and the case has moved on from it.
        """
        _need_reason(reason)
        for _ in range(_TRIES):
            case = self._supervised(case_id, expected)
            if case.held_by is None:
                return False
            window = self._window_after(case_id, case.held_attempt_id, now)
            try:
                return self.store.release_case(
                    case_id, expected=case.version, disposition=RELEASED, window=window,
                    actor=actor, reason=reason, now=now,
                )  # fmt: skip
            except CaseChanged:
                if expected is not None:
                    raise
        raise CaseChanged(f"case {case_id!r} kept changing; nothing was released")

    def reassign(
        self,
        case_id: str,
        to_interviewer: str,
        *,
        actor: str,
        reason: str,
        now: dt.datetime,
        expected: str | None = None,
    ) -> Window | None:
        """Keep the case's next window for ``to_interviewer`` (released first if someone holds it).

        The window is the rules' next one, reserved: no one else is offered the
        case in it. None: the case may not be called again, nothing reserved
        (a hold is still released). :class:`CaseChanged` as for :meth:`release`;
        ValueError when ``to_interviewer`` is not an enabled account that takes cases
        (:meth:`may_take_cases`): a case kept for no one real is never offered.
        """
        _need_reason(reason)
        if not self.may_take_cases(to_interviewer):
            raise ValueError(
                f"{to_interviewer!r} is not an enabled interviewer or supervisor account; "
                "a case is kept only for someone who can take it"
            )
        for _ in range(_TRIES):
            case = self._supervised(case_id, expected)
            held = case.held_attempt_id if case.held_by is not None else None
            found = self._window_after(case_id, held, now)
            try:
                if found is None:
                    if case.held_by is not None:
                        self.store.release_case(
                            case_id, expected=case.version, disposition=RELEASED, window=None,
                            actor=actor, reason=f"reassigned: {reason}", now=now,
                        )  # fmt: skip
                    return None
                window = Window(found.start, found.end, found.kind, to_interviewer)
                self.store.reserve_case(
                    case_id, expected=case.version, window=window, release_as=RELEASED,
                    actor=actor, reason=reason, now=now,
                )  # fmt: skip
                return window
            except CaseChanged:
                if expected is not None:
                    raise
        raise CaseChanged(f"case {case_id!r} kept changing; it was not reassigned")

    def change_outcome(
        self,
        case_id: str,
        disposition: str,
        *,
        reason: str,
        actor: str,
        now: dt.datetime,
        expected: str | None = None,
    ) -> None:
        """Correct a case's outcome (audited with the reason); a final one takes it off the queue.

        KeyError for an outcome the study's table does not have;
        :class:`CaseChanged` as for :meth:`release`.
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
            expected=expected,
        )

    def may_take_cases(self, username: str) -> bool:
        """Whether ``username`` is an enabled account of a role that works cases (a case can be
        kept only for one of those)."""
        user = self.store.get_staff_user(username) if username else None
        return user is not None and not user.disabled and user.role in CASE_TAKING_ROLES

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

    def _current(self, queued: QueuedCase) -> str:
        """A case's current disposition: a supervisor's correction (it stands until the case is
        called again), else the rules' verdict from its whole history. The one place this is
        decided: counts, rates and the case list all come from here."""
        if queued.override:
            return queued.override
        settings = self.settings_for(queued.questionnaire_id)
        return case_disposition(queued.facts, settings.dispositions, settings.calling)

    def _dispositions(self, cases: list[QueuedCase]) -> dict[str, str]:
        """Each case's current disposition (:meth:`_current`)."""
        return {queued.case_id: self._current(queued) for queued in cases}

    def case_list(
        self,
        *,
        outcome: str | None = None,
        case_ids: Sequence[str] | None = None,
        limit: int | None = None,
        taken_by: str | None = None,
    ) -> CaseList:
        """Queued cases with their current outcome, in case-id order: all, or those with
        ``outcome`` (as the overview counts them), or those named; at most ``limit``.
        ``taken_by`` (one of :data:`TAKERS`) keeps only the interviewers' cases or only the
        automated dialler's (ValueError for another word).

        ``total`` is how many matched, so a page can say it lists the first
        ``limit`` of them.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must be 0 or more")
        if taken_by is not None and taken_by not in TAKERS:
            raise ValueError(f"taken_by is one of {', '.join(TAKERS)}, not {taken_by!r}")
        queued_cases = self.store.queued_cases(None if case_ids is None else list(case_ids))
        matched = []
        for queued in queued_cases:
            if taken_by is not None and queued.taken_by != taken_by:
                continue
            code = self._current(queued)
            if outcome is None or code == outcome:
                matched.append(_summary(queued, code))
        shown = matched if limit is None else matched[:limit]
        return CaseList(tuple(shown), len(matched))

    def case_summary(self, case_id: str) -> CaseSummary | None:
        """One queued case as :meth:`case_list` gives it; None when it is not in the call queue."""
        found = self.case_list(case_ids=[case_id]).cases
        return found[0] if found else None

    def audit_log(
        self, case_id: str | None = None, *, before: int | None = None, limit: int = 50
    ) -> AuditPage:
        """The fieldwork audit log (one case's, or all), newest first, ``limit`` entries a page.

        ``before``: the ``older`` of the page before, to read further back.
        ValueError for a limit outside 1 to 500.
        """
        return self.store.audit_page(case_id, before=before, limit=limit)

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
                    _iso(row.recording_at), row.recording_sid or "",
                    _recording_status(row), row.recording_error or "",
                    "" if row.recording_duration_s is None else row.recording_duration_s,
                    row.recording_url or "",
                ]
            )  # fmt: skip
            count += 1
        return count


def _recording_status(row: CallRow) -> str:
    """How far the call's recording got; ``failed`` for a yes from before 0011 that has none."""
    if row.recording is True and row.recording_status is None and row.recording_sid is None:
        return "failed"  # the yes was kept, the provider would not start it: no status then
    return row.recording_status or ""


def _summary(queued: QueuedCase, disposition: str) -> CaseSummary:
    final = queued.final
    return CaseSummary(
        case_id=queued.case_id,
        questionnaire_id=queued.questionnaire_id,
        disposition=disposition,
        final=final,
        attempts=len(queued.facts.attempts),
        held_by=queued.held_by,
        window_start=None if final else queued.window_start,
        window_end=None if final else queued.window_end,
        window_kind=None if final else queued.window_kind,
        window_interviewer=None if final else queued.window_interviewer,
        taken_by=queued.taken_by,
    )


def _need_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValueError("a supervisor's change needs a reason (it is kept in the audit log)")
