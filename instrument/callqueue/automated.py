"""Automated calls to due cases: taking a case, dialling it and coding the call's end, through the queue.

A worker placing automated (IVR) calls is one more user of the call queue, so
it goes through the same doors as an interviewer: the claim (a case due now,
inside the respondent's calling hours and after its retry delay, held by
nobody, with a number that works and is not on the do-not-call list;
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), :meth:`CallQueue.place_call` (the
number checked again under the attempt's lock) and :meth:`CallQueue.code_outcome`
(coded once; the next window from the whole history, so retry delays, attempt
limits per case and per number and final outcomes apply). Composed over a
:class:`~instrument.callqueue.CallQueue` (``AutomatedCalls(queue)``), as
:class:`~instrument.callqueue.live.LiveCalls` is.

Only cases queued for the dialler (``case_queue.taken_by`` 'automated': a
sample imported with ``instrument cases import --automated``, or handed over by
a panel wave's ``automated_call`` step) are taken, and an interviewer's "next
case" never gets one. The claim also honours a wave step's own limits kept on
the case (its ``max_attempts`` and ``retry_after``) and passes over a case
whose interview is finished or whose member stopped contact. A claim counts
one of the step's calls before dialling, so two workers can never place more
than the step allows; a call that never rang gives it back.

While its call goes on the case is held by :data:`AUTOMATED_ACTOR`, so no
interviewer is handed it; a call whose end never reaches us is released after
the study's hold timeout like a vanished interviewer's. The outcome is
:func:`instrument.fieldwork.automated.automated_outcome`'s, from the call's
final status and what answering-machine detection heard.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from instrument.callqueue.outcomes import (
    AlreadyCoded,
    CallPlaced,
    Coded,
    Dialer,
    NoCase,
    Refused,
)
from instrument.fieldwork import case_disposition, next_number
from instrument.fieldwork.automated import automated_outcome
from instrument.fieldwork.calling import within_hours
from instrument.fieldwork.settings import FieldworkSettings
from instrument.store.fieldwork_calls import STATUS_RANK
from instrument.store.fieldwork_queue import AUTOMATED_CASES

if TYPE_CHECKING:
    from instrument.callqueue.service import CallQueue
    from instrument.store.fieldwork_reports import QueuedCase

__all__ = [
    "AUTOMATED_ACTOR",
    "AutomatedCalls",
    "DueCall",
    "NotDue",
    "Skipped",
]

AUTOMATED_ACTOR = "ivr:outbound"
"""Who holds a case while its automated call goes on, and who the attempt and the audit log name."""

NO_NUMBER = "not_attempted"
"""The outcome of an attempt taken but not dialled because no number may be dialled
(the rules then find no window, so the case is final, or its next one)."""

NOT_PLACED = "technical_problem"
"""The outcome of an attempt whose call the provider would not place: tried again later."""

_FINAL_RANK = 4


@dataclass(frozen=True, slots=True)
class DueCall:
    """A case taken for an automated call: the attempt opened on it and the number to dial."""

    case_id: str
    attempt_id: int
    questionnaire_id: str
    number_rank: int
    zone: str
    language: str | None
    attempts: int
    kind: Literal["due"] = "due"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A case taken but not dialled; ``reason`` says why, and its attempt was coded ``outcome``."""

    case_id: str
    attempt_id: int
    reason: str
    outcome: str
    kind: Literal["skipped"] = "skipped"


@dataclass(frozen=True, slots=True)
class NotDue:
    """A queued case no automated call was placed to, and why (for the command's report)."""

    case_id: str
    reason: str


class AutomatedCalls:
    """Automated calls over a call queue's store, rules and interviews (``AutomatedCalls(queue)``)."""

    def __init__(self, queue: CallQueue, actor: str = AUTOMATED_ACTOR) -> None:
        self.queue = queue
        self.store = queue.store
        self.actor = actor

    def take(self, questionnaire_id: str, *, now: dt.datetime) -> DueCall | Skipped | NoCase:
        """The next due case of ``questionnaire_id``, held for an automated call, with its number.

        Stale holds are released and ended windows renewed first, as for
        "next case". The number is the rules' choice (:func:`next_number`: the
        first working one off the do-not-call list still under the per-number
        limit). A case taken with no number that may be dialled (its numbers
        changed since its window was worked out) is coded :data:`NO_NUMBER`
        and given back as :class:`Skipped`.
        """
        self.queue.keep_windows_true(now)
        claim = self.store.claim_next_case(
            self.actor, now=now, questionnaire_id=questionnaire_id, taken_by=AUTOMATED_CASES
        )
        if claim is None:
            return NoCase(f"no case of {questionnaire_id} may be called now")
        settings = self.queue.settings_for(questionnaire_id)
        facts = self.store.fieldwork_facts(claim.case_id)
        rank = None
        if facts is not None:
            rank = next_number(facts, settings.calling, settings.dispositions)
        if rank is None:
            why = "no number may be dialled (each is dead, on the do-not-call list or at its limit)"
            self._code(claim.attempt_id, NO_NUMBER, why, now)
            self.store.give_back_automated_call(claim.case_id)
            return Skipped(claim.case_id, claim.attempt_id, why, NO_NUMBER)
        return DueCall(
            case_id=claim.case_id,
            attempt_id=claim.attempt_id,
            questionnaire_id=questionnaire_id,
            number_rank=rank,
            zone=claim.zone,
            language=claim.language,
            attempts=claim.attempts,
        )

    def place(self, due: DueCall, dialer: Dialer, *, now: dt.datetime) -> CallPlaced | Skipped:
        """Record the call and dial it; a call not placed codes the attempt :data:`NOT_PLACED`.

        The store checks the number again under the attempt's lock (a number put
        on the do-not-call list a moment ago is not dialled); the provider's
        refusal frees the case to be tried again after the outcome's delay.
        """
        placed = self.queue.place_call(due.attempt_id, due.number_rank, dialer=dialer, now=now)
        if isinstance(placed, CallPlaced):
            return placed
        why = "; ".join(placed.messages)
        self._code(due.attempt_id, NOT_PLACED, why, now)
        self.store.give_back_automated_call(due.case_id)
        return Skipped(due.case_id, due.attempt_id, why, NOT_PLACED)

    def code_call(
        self,
        call_id: int,
        *,
        now: dt.datetime,
        status: str | None = None,
        answered_by: str | None = None,
    ) -> Coded | AlreadyCoded | Refused | None:
        """Code the attempt of an automated call that has ended; None while it has not.

        The call's status as stored (forward only, the first final status
        standing) decides; ``status`` stands in while the store has not linked
        the callback to the call yet (it came before the REST answer did).
        ``answered_by`` is the callback's, else the call's stored detection
        result. Coding is compare-and-set: a retried or late callback is
        :class:`AlreadyCoded` and changes nothing.
        """
        call = self.store.get_call(call_id)
        if call is None:
            return Refused((f"there is no call {call_id}",))
        final = call.status if STATUS_RANK.get(call.status, -1) >= _FINAL_RANK else None
        if final is None and STATUS_RANK.get(status or "", -1) >= _FINAL_RANK:
            final = status
        found = self.store.coding_facts(call.attempt_id)
        if found is None:
            return Refused((f"there is no attempt {call.attempt_id}",))
        if found.attempt.ended_at is not None:
            return AlreadyCoded(call.attempt_id, found.attempt.case_id, found.attempt.disposition)
        heard = answered_by or call.answered_by
        code = automated_outcome(
            final,
            heard,
            interview_started=found.interview_started,
            interview_finished=found.interview_finished,
        )
        if code is None:
            return None
        note = f"automated call {final}" + (f", answered by {heard}" if heard else "")
        return self._code(call.attempt_id, code, note, now)

    def _code(
        self, attempt_id: int, disposition: str, note: str, now: dt.datetime
    ) -> Coded | AlreadyCoded | Refused:
        return self.queue.code_outcome(
            attempt_id, disposition=disposition, note=note, actor=self.actor, now=now
        )

    def not_due(self, questionnaire_id: str, *, now: dt.datetime) -> list[NotDue]:
        """Why each of the questionnaire's queued cases for the dialler is not being called now.

        Read after a run, for its report: one read of the questionnaire's
        queued cases, judged by its calling rules in each respondent's zone.
        Cases queued for interviewers are not the dialler's and are left out.
        """
        settings = self.queue.settings_for(questionnaire_id)
        return [
            NotDue(queued.case_id, reason)
            for queued in _of(self.store.queued_cases(), questionnaire_id)
            if queued.taken_by == AUTOMATED_CASES
            and (reason := self._reason(queued, settings, now)) is not None
        ]

    def _reason(
        self, queued: QueuedCase, settings: FieldworkSettings, now: dt.datetime
    ) -> str | None:
        rules = settings.calling
        if queued.final:
            # the case's disposition by the rules (a supervisor's change standing), not its last code
            disposition = queued.override or case_disposition(
                queued.facts, settings.dispositions, rules
            )
            return f"finished ({disposition}): never called again"
        if queued.held_by == self.actor:
            return "an automated call to it is going on"
        if queued.held_by is not None:
            return "held by an interviewer"
        if queued.facts.interview_finished:
            return "its interview is finished: never called again"
        if queued.automated_calls_left is not None and queued.automated_calls_left <= 0:
            return "its wave step's automated calls (max_attempts) have all been placed"
        if queued.window_start is None or queued.window_end is None:
            return "no window to call it in yet"
        zone = rules.zone(queued.facts.zone)
        local = queued.window_start.astimezone(zone)
        when = f"{local:%a %d %b %H:%M} {zone.key}"
        if queued.window_start > now:
            if not within_hours(now, zone, rules):
                return f"outside calling hours in the respondent's time; due {when}"
            return f"resting after its last outcome (retry delay); due {when}"
        spaced = queued.automated_not_before
        if spaced is not None and spaced > now:
            local = spaced.astimezone(zone)
            return f"its wave step's retry_after has not passed; not before {local:%a %d %b %H:%M}"
        if queued.window_end <= now:
            return "its window has ended; the next is worked out at the next run"
        if queued.window_interviewer is not None:
            return f"kept for interviewer {queued.window_interviewer}"
        if not queued.facts.numbers:
            return "no working number off the do-not-call list"
        return None  # due: the run's limit stopped before it


def _of(cases: Iterable[QueuedCase], questionnaire_id: str) -> list[QueuedCase]:
    return [queued for queued in cases if queued.questionnaire_id == questionnaire_id]
