"""The end of a call: which outcomes fit, checking an appointment, and coding the attempt once.

The outcome picker offers only outcomes that fit the case's interview (a
complete needs a finished interview, a partial a started one), because an
outcome that contradicts the answers would make the rates lie. An
appointment is checked when it is booked, in the respondent's zone (it must be
in the future and inside their calling hours, whatever the interviewer's
clock says, across a clock change), so the scheduler never has to choose
between a promise and the calling hours.

Coding works out the case's next window from its whole history with the new
outcome added, then lets the store do everything in one transaction
(``code_attempt``): a second press, or a second tab, finds the attempt coded
and is told so. What follows from the outcome outside the case's row (a dead
number marked, a number put on the do-not-call list, a kept appointment
closed) is done only by the call that coded it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from instrument.callqueue.outcomes import AlreadyCoded, AppointmentRequest, Coded, Refused
from instrument.callqueue.scheduling import with_attempt
from instrument.callqueue.views import CaseView
from instrument.fieldwork import AppointmentFact, CallingRules, Disposition, next_window
from instrument.fieldwork.schedule import appointment_problem
from instrument.fieldwork.settings import FieldworkSettings
from instrument.store import AttemptRecord, Store
from instrument.store.fieldwork_screen import CodingFacts

__all__ = ["Coding", "appointment_fact"]


def appointment_fact(
    request: AppointmentRequest, *, actor: str, rules: CallingRules
) -> AppointmentFact | str:
    """The rules layer's appointment for a request, or why it cannot be read.

    A naive hard time is the interviewer's wall clock in ``request.zone``; a
    time their clock skips or shows twice (the night of a clock change) is
    refused rather than guessed.
    """
    interviewer = actor if request.only_me else None
    if request.kind == "soft":
        if request.day is None or not request.part:
            return "a soft appointment needs a day and a part of the day"
        return AppointmentFact("soft", day=request.day, part=request.part, interviewer=interviewer)
    if request.kind != "hard":
        return f"an appointment is hard or soft, not {request.kind!r}"
    at = request.at
    if at is None:
        return "a hard appointment needs a date and a time"
    if at.tzinfo is None:
        try:
            zone = rules.zone(request.zone)
        except ValueError as exc:
            return str(exc)
        first, second = at.replace(tzinfo=zone, fold=0), at.replace(tzinfo=zone, fold=1)
        if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != at:
            return f"{at:%d %B %H:%M} does not exist in {zone.key} (the clocks go forward)"
        if first.utcoffset() != second.utcoffset():
            return f"{at:%d %B %H:%M} happens twice in {zone.key} (the clocks go back): pick another time"
        at = first
    return AppointmentFact("hard", at=at.astimezone(dt.UTC), interviewer=interviewer)


class Coding:
    """:meth:`outcomes_for`, :meth:`outcomes_fitting` and :meth:`code_outcome` (mixed into :class:`~instrument.callqueue.CallQueue`)."""

    store: Store
    settings_for: Callable[[str], FieldworkSettings]

    if TYPE_CHECKING:  # provided by Scheduling

        def _questionnaire_of(self, case_id: str) -> str: ...

        def _dialled_rank(self, case_id: str, attempt_id: int) -> int: ...

    def outcomes_for(self, attempt_id: int) -> list[Disposition]:
        """The outcomes the end-of-call picker offers for this attempt, in the table's order.

        Those whose ``needs_appointment`` is set ask for a time. LookupError
        for an unknown attempt.
        """
        found = self.store.coding_facts(attempt_id)
        if found is None:
            raise LookupError(f"no attempt {attempt_id}")
        return self._fitting(found)

    def outcomes_fitting(self, view: CaseView) -> list[Disposition]:
        """:meth:`outcomes_for` from a case screen already read (the end-of-call page's one read)."""
        table = self.settings_for(view.questionnaire_id).dispositions
        return table.codable(
            interview_started=view.interview_started, interview_finished=view.interview_finished
        )

    def _fitting(self, found: CodingFacts) -> list[Disposition]:
        table = self.settings_for(self._questionnaire_of(found.attempt.case_id)).dispositions
        return table.codable(
            interview_started=found.interview_started, interview_finished=found.interview_finished
        )

    def code_outcome(
        self,
        attempt_id: int,
        *,
        disposition: str,
        note: str | None = None,
        appointment: AppointmentRequest | None = None,
        actor: str,
        now: dt.datetime,
    ) -> Coded | AlreadyCoded | Refused:
        """Code the attempt, book the appointment, give the case its next window and free it.

        What the decision needs is read in one transaction (:meth:`Store.coding_facts`);
        the write is compare-and-set on the open attempt, so a second press is AlreadyCoded.
        """
        found = self.store.coding_facts(attempt_id)
        if found is None:
            return Refused((f"there is no attempt {attempt_id}",))
        attempt = found.attempt
        if attempt.ended_at is not None:
            return AlreadyCoded(attempt_id, attempt.case_id, attempt.disposition)
        case_id = attempt.case_id
        settings = self.settings_for(self._questionnaire_of(case_id))
        rules, table = settings.calling, settings.dispositions
        fits = {d.code for d in self._fitting(found)}
        if disposition not in table:
            return Refused((f"unknown outcome {disposition!r}",))
        outcome = table[disposition]
        if disposition not in fits:
            needs = "a finished" if outcome.needs_finished_interview else "a started"
            return Refused((f"'{outcome.label}' needs {needs} interview",))
        facts = found.facts
        if facts is None:
            return Refused((f"case {case_id!r} is not in the call queue",))
        booked = None
        if appointment is not None:
            if outcome.final:
                return Refused((f"'{outcome.label}' ends the case: no appointment can follow",))
            fact = appointment_fact(appointment, actor=actor, rules=rules)
            if isinstance(fact, str):
                return Refused((fact,))
            problem = appointment_problem(fact, facts.zone, rules, now)
            if problem is not None:
                return Refused((problem,))
            booked = fact
        elif outcome.needs_appointment:
            return Refused((f"'{outcome.label}' needs the appointment's time",))
        kept = _kept_appointment(found)
        rank = found.dialled_rank
        facts = with_attempt(facts, attempt.started_at, disposition, rank)
        if booked is not None or kept:
            facts = dataclasses.replace(facts, appointment=booked)
        window = next_window(facts, rules, table, now)
        result = self.store.code_attempt(
            attempt_id,
            disposition=disposition,
            final=window is None,
            note=note,
            appointment=booked,
            window=window,
            actor=actor,
            now=now,
        )
        if result.already_coded:
            return AlreadyCoded(attempt_id, case_id, result.disposition)
        self._after_coding(attempt, outcome, rank, kept and booked is None, actor, now)
        return Coded(
            attempt_id, case_id, disposition, window is None, window, result.appointment_id
        )

    def _after_coding(
        self,
        attempt: AttemptRecord,
        outcome: Disposition,
        rank: int,
        close_appointment: bool,
        actor: str,
        now: dt.datetime,
    ) -> None:
        """What the outcome means beyond the case's row: done once, by the call that coded it."""
        case_id = attempt.case_id
        if close_appointment:
            for booked in self.store.appointments_of(case_id):
                if booked.made_at < attempt.started_at:
                    self.store.cancel_appointment(booked.id, now=now)
        if outcome.number_dead:
            try:
                self.store.set_number_working(case_id, rank, False)
            except LookupError:
                pass  # the attempt dialled nothing, and the case has no number of that rank
        if outcome.code == "do_not_call":
            for number in self.store.phone_numbers_of(case_id):
                if number.rank == rank:
                    self.store.add_do_not_call(
                        number.e164, reason="asked never to be called again", actor=actor, now=now
                    )


def _kept_appointment(found: CodingFacts) -> bool:
    """Whether this attempt was the appointment's call: it started inside the appointment's window.

    The case's window is left as it was when the case was claimed, so a
    hard or soft window that held the attempt's start was the appointment's.
    """
    if found.window_kind not in ("hard", "soft"):
        return False
    start, end = found.window_start, found.window_end
    assert start is not None and end is not None
    return start <= found.attempt.started_at < end
