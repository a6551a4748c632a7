"""Keeping the queue's windows true before anyone is handed a case.

The store answers "next case" from the window stored on each row; the rules
layer decides what that window is. Two things make a stored window stale, and
both are put right at the start of every "next case" (cheap: one indexed
query each when there is nothing to do):

* a hold whose interviewer vanished: the case is released after the study's
  ``hold_timeout``, its open attempt coded ``hold_expired`` (not final: the
  case is tried again) and the release written to the audit log;
* a window that has ended without a call (the evening passed, the
  appointment's grace ran out): the case's next window is worked out again
  from its whole history. Renewing is compare-and-set on the old window's
  end, so fifty interviewers renewing at once write each row once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from instrument.fieldwork import AttemptFact, CaseFacts, case_disposition, next_window
from instrument.fieldwork.schedule import hold_expired
from instrument.fieldwork.settings import FieldworkSettings
from instrument.store import StaleHold, Store
from instrument.store.fieldwork_reports import QueuedCase, Renewal

__all__ = ["HOLD_EXPIRED", "SYSTEM_ACTOR", "Scheduling"]

HOLD_EXPIRED = "hold_expired"
"""The outcome given to an attempt whose interviewer vanished (not final; see the disposition table)."""

_KEPT_CASES = 100_000
"""How many cases' questionnaires are kept (a few megabytes) before the memo starts again."""

RENEW_BATCH = 200
"""Ended windows renewed per "next case" at most: the morning after, when every window of the
evening before has ended, the work is spread over the first presses instead of one long one."""

SWEEP_EVERY = dt.timedelta(seconds=5)
"""How long a process goes between looking for stale holds and ended windows when it last found
no backlog. Looking costs two or three indexed reads; done on every press by fifty interviewers
it was a good part of what "next case" cost, and a window that ended a few seconds ago only
means its case waits those seconds (it is not callable meanwhile, never wrongly callable)."""

SYSTEM_ACTOR = "system"
"""Who the audit log names for what the service did on its own (a stale hold released)."""


def with_attempt(facts: CaseFacts, at: dt.datetime, disposition: str, rank: int) -> CaseFacts:
    """The case's facts as they will be once the open attempt is coded ``disposition``."""
    return dataclasses.replace(
        facts, attempts=(*facts.attempts, AttemptFact(at, disposition, rank))
    )


class Scheduling:
    """Stale holds and ended windows (mixed into :class:`~instrument.callqueue.CallQueue`)."""

    store: Store
    settings_for: Callable[[str], FieldworkSettings]
    _questionnaires: dict[str, str]
    _swept_at: dt.datetime | None = None

    def keep_windows_true(self, now: dt.datetime) -> None:
        """Release stale holds and renew ended windows, unless this process did so a moment ago.

        Skipped for :data:`SWEEP_EVERY` after a sweep that left nothing behind;
        while a backlog lasts (the morning after, a full batch of ended windows)
        every call sweeps, as does any call whose clock is earlier than the last
        sweep's (tests, or the clock set back).
        """
        last = self._swept_at
        if last is not None and last <= now < last + SWEEP_EVERY:
            return
        self.release_stale_holds(now)
        renewed = self.renew_ended_windows(now)
        self._swept_at = None if len(renewed) >= RENEW_BATCH else now

    def _questionnaire_of(self, case_id: str) -> str:
        """The case's questionnaire (kept: a case never moves to another questionnaire)."""
        known = self._questionnaires.get(case_id)
        if known is not None:
            return known
        case = self.store.get_case(case_id)
        if case is None:
            raise LookupError(f"no case {case_id!r}")
        if len(self._questionnaires) >= _KEPT_CASES:
            self._questionnaires.clear()
        self._questionnaires[case_id] = case.questionnaire_id
        return case.questionnaire_id

    def _remember_questionnaire(self, case_id: str, questionnaire_id: str | None) -> str:
        """The case's questionnaire, kept when the store gave it with the case (a claim does)."""
        if questionnaire_id is None:
            return self._questionnaire_of(case_id)
        if len(self._questionnaires) >= _KEPT_CASES:
            self._questionnaires.clear()
        self._questionnaires[case_id] = questionnaire_id
        return questionnaire_id

    def _dialled_rank(self, case_id: str, attempt_id: int) -> int:
        """The first number an attempt dialled (rank 1 when it dialled none), as the store's facts count it."""
        ranks = [c.number_rank for c in self.store.calls_of(case_id) if c.attempt_id == attempt_id]
        return min(ranks, default=1)

    def release_stale_holds(self, now: dt.datetime) -> list[StaleHold]:
        """Release every case held past its study's timeout; the holds still standing.

        One read of every hold (there are about as many as interviewers), each
        judged by its own study's timeout.
        """
        standing = []
        for hold in self.store.stale_holds(now, dt.timedelta(0)):
            settings = self.settings_for(
                hold.questionnaire_id or self._questionnaire_of(hold.case_id)
            )
            rules, table = settings.calling, settings.dispositions
            if not hold_expired(hold.held_since, now, rules) or not hold_expired(
                self._held_since(hold), now, rules
            ):
                standing.append(hold)
                continue
            facts = self.store.fieldwork_facts(hold.case_id)
            window = None
            if facts is not None and hold.attempt_id is not None:
                attempt = self.store.attempt(hold.attempt_id)
                started = hold.held_since if attempt is None else attempt.started_at
                rank = self._dialled_rank(hold.case_id, hold.attempt_id)
                facts = with_attempt(facts, started, HOLD_EXPIRED, rank)
            if facts is not None:
                window = next_window(facts, rules, table, now)
            if not self.store.release_hold(
                hold.case_id,
                hold.attempt_id,
                disposition=HOLD_EXPIRED,
                window=window,
                final=window is None,
                now=now,
            ):
                continue  # coded or released by someone else a moment ago
            self.store.audit(
                actor=SYSTEM_ACTOR,
                action="release_stale_hold",
                case_id=hold.case_id,
                before={"held_by": hold.held_by, "held_since": hold.held_since.isoformat()},
                after={
                    "attempt_id": hold.attempt_id,
                    "disposition": HOLD_EXPIRED,
                    "window_start": None if window is None else window.start.isoformat(),
                },
                reason=f"held longer than {rules.hold_timeout}",
                now=now,
            )
        return standing

    def _held_since(self, hold: StaleHold) -> dt.datetime:
        """When a hold past its timeout was last known to be in use: an automated call still
        answering its webhooks keeps its case (an interview by keypad may outlast a timeout
        meant for an interviewer who vanished); anything else, when it was taken. Asked only of
        holds past their timeout, so the sweep reads nothing more while all is well."""
        if hold.attempt_id is None:
            return hold.held_since
        active = self.store.live_ivr_call_activity(hold.attempt_id)
        return hold.held_since if active is None else max(hold.held_since, active)

    def renew_ended_windows(self, now: dt.datetime) -> list[str]:
        """Work out a new window for every free case whose window has ended; the ids looked at."""
        ids = self.store.ended_windows(now, limit=RENEW_BATCH)
        if not ids:
            return []
        renewals = []
        for queued in self.store.queued_cases(ids):
            if not _still_ended(queued, now):
                continue  # claimed or renewed since the ids were listed: its own writer sets it
            settings = self.settings_for(queued.questionnaire_id)
            rules, table = settings.calling, settings.dispositions
            window = next_window(queued.facts, rules, table, now)
            disposition = (
                None if window is not None else case_disposition(queued.facts, table, rules)
            )
            renewals.append(
                Renewal(queued.case_id, queued.window_end, queued.attempts, window, disposition)
            )
        self.store.renew_windows(renewals, now=now)
        return [r.case_id for r in renewals]


def _still_ended(queued: QueuedCase, now: dt.datetime) -> bool:
    """Whether the case is still free and its window still ended, as its facts were read.

    The compare-and-set of a renewal (window end and attempt count) cannot tell
    a case read while held from the same case coded since: the claim counted
    the attempt before the read, and the coded case's new window can end when
    the claimed one did (the same evening). A renewal worked out from facts
    that do not know that call then made the case callable again at once (seen
    with 8 threads at once on SQLite, once in some hundred runs). Such a case
    is skipped here; whoever codes it sets its window.
    """
    if queued.final or queued.held_by is not None:
        return False
    return queued.window_end is None or queued.window_end <= now
