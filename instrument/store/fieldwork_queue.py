"""The call queue: cases waiting for their next call, and "next case" for fifty interviewers at once.

``case_queue`` has one row per case fielded by phone, with the window in
which it may be called next (worked out by the rules layer,
``instrument.fieldwork.schedule.next_window``, and stored here) and who holds
it. :meth:`Queue.claim_next_case` never hands one case to two interviewers:

* PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks the first row no
  other transaction is taking, so fifty claims at once take fifty different
  rows without waiting on each other;
* SQLite: the transaction starts with ``BEGIN IMMEDIATE`` (the write lock is
  taken before the row is read), so claims run one after the other and each
  sees the previous one's hold.

Both then set the hold only ``WHERE held_by IS NULL``, a second guard that
costs nothing.

One statement does it, ``ORDER BY ... LIMIT 1 FOR UPDATE SKIP LOCKED``,
because the partial index ``ix_case_queue_order`` holds the free cases in
queue order: PostgreSQL walks it and stops at the first row it can lock
(without the index it had to sort every free case below the lock on each
press). An earlier version read 64 candidates and locked them one statement
each; fifty interviewers pressing at once then spent most of their
statements on cases someone else was locking. A case held past the timeout (its interviewer vanished) is
listed by :meth:`~Queue.stale_holds` and freed by :meth:`~Queue.release_hold`,
which codes the open attempt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.fieldwork_calls import end_manual_calls
from instrument.store.fieldwork_numbers import refuse_withdrawn
from instrument.store.fieldwork_records import Claim, StaleHold, WindowLike, dialect_insert
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    QUEUE_ORDER,
    TAKEN_BY,
    WINDOW_KINDS,
    UTCDateTime,
    attempts,
    case_queue,
    cases,
    do_not_call,
    interviews,
    members,
    phone_numbers,
    wave_members,
)

__all__ = [
    "AUTOMATED_CASES",
    "INTERVIEWER_CASES",
    "HandOver",
    "Queue",
    "first_automated_case",
    "first_free_case",
    "free_held_case",
    "window_values",
]

INTERVIEWER_CASES: Final = TAKEN_BY[0]
"""``case_queue.taken_by`` of a case interviewers take through "next case" (the default)."""
AUTOMATED_CASES: Final = TAKEN_BY[1]
"""``case_queue.taken_by`` of a case only the automated dialler takes."""


@dataclass(frozen=True, slots=True)
class HandOver:
    """What :meth:`Queue.hand_to_dialler` did: the case handed to the dialler, or why not."""

    case_id: str
    handed: bool
    why: str | None = None
    queued: bool = True
    """False: the case is not in the call queue (nothing was changed)."""


def window_values(window: WindowLike | None) -> dict[str, object]:
    """The ``window_*`` columns for ``window`` (all NULL: not callable until a new window is set)."""
    if window is None:
        return {
            "window_start": None,
            "window_end": None,
            "window_kind": None,
            "window_interviewer": None,
        }
    if window.kind not in WINDOW_KINDS:
        raise ValueError(f"unknown window kind {window.kind!r}; use one of {WINDOW_KINDS}")
    start, end = utc(window.start), utc(window.end)
    if end <= start:
        raise ValueError(f"a window ends after it starts ({start} .. {end})")
    return {
        "window_start": start,
        "window_end": end,
        "window_kind": window.kind,
        "window_interviewer": window.interviewer,
    }


_DIALLABLE = (
    sa.exists()
    .where(
        phone_numbers.c.case_id == case_queue.c.case_id,
        phone_numbers.c.working.is_(True),
        ~sa.exists().where(do_not_call.c.e164 == phone_numbers.c.e164),
    )
    .correlate(case_queue)
)
"""The case has a working number that is not on the do-not-call list."""

NO_SORT = sa.func.set_config("enable_sort", "off", True)
"""PostgreSQL, for the rest of the claim's transaction: walk ``ix_case_queue_order`` rather than
sort. The planner picks between the two on its row estimates, and those are wrong whenever the
statistics are older than the windows (after an import, the morning after): believing almost
no window open, it sorted every callable case on each press (30 ms for 10,000, not 0.1 ms).
PostgreSQL has no index hints; this setting, local to the transaction, is how one says it.
(SQLite cannot mistake the windows' index for it: see ``schema.ENDED_INDEX_FENCE``.)"""

# The claim's statements, built once (building a statement and its cache key on every press
# cost about as much CPU as running it). Parameters: interviewer, now, taken_by (who may take
# the case: an interviewer's claim never gets a case for the automated dialler, nor the other
# way round), case_id, attempt_id.
_WHO: Final = sa.bindparam("interviewer", type_=sa.String())
_NOW: Final = sa.bindparam("now", type_=UTCDateTime())
_FIRST_FREE: Final = (
    sa.select(case_queue, cases.c.questionnaire_id)
    .join(cases, cases.c.id == case_queue.c.case_id)
    .where(
        case_queue.c.taken_by == sa.bindparam("taken_by", type_=sa.String()),
        case_queue.c.final.is_(False),
        case_queue.c.held_by.is_(None),
        case_queue.c.window_start <= _NOW,
        case_queue.c.window_end > _NOW,
        sa.or_(
            case_queue.c.window_interviewer.is_(None),
            case_queue.c.window_interviewer == _WHO,
        ),
        _DIALLABLE,
    )
    .order_by(*QUEUE_ORDER)
    .limit(1)
    .with_for_update(skip_locked=True, of=case_queue)
)
_FIRST_FREE_OF: Final = _FIRST_FREE.where(
    cases.c.questionnaire_id == sa.bindparam("questionnaire_id", type_=sa.String())
)
""":data:`_FIRST_FREE` among one questionnaire's cases (a worker placing one study's automated
calls). Still one walk down ``ix_case_queue_order``: another study's free cases are passed over
row by row, as cases without a diallable number are."""
_FINISHED_INTERVIEW: Final = (
    sa.exists()
    .where(
        interviews.c.case_id == case_queue.c.case_id,
        # literals: constants of the statement, not an expanding list bound at each claim
        interviews.c.status.in_(
            [sa.literal_column("'complete'"), sa.literal_column("'screened_out'")]
        ),
        interviews.c.is_test.is_(False),
    )
    .correlate(case_queue)
)
"""The case's interview is finished (complete or screened out), on whatever mode."""
_PANEL_STOPPED: Final = (
    sa.exists()
    .where(
        wave_members.c.case_id == case_queue.c.case_id,
        sa.or_(
            wave_members.c.stopped_at.is_not(None),
            wave_members.c.closed_at.is_not(None),
            sa.exists().where(
                members.c.id == wave_members.c.member_id, members.c.status != "active"
            ),
        ),
    )
    .correlate(case_queue)
)
"""The case is a panel member's who stopped contact (the stop link), whose case the wave closed,
or who is no longer active (the same facts the fieldwork worker checks before a message)."""
_FIRST_AUTOMATED: Final = _FIRST_FREE_OF.where(
    sa.or_(case_queue.c.automated_calls_left.is_(None), case_queue.c.automated_calls_left > 0),
    sa.or_(
        case_queue.c.automated_not_before.is_(None),
        case_queue.c.automated_not_before <= _NOW,
    ),
    ~_FINISHED_INTERVIEW,
    ~_PANEL_STOPPED,
)
"""The dialler's claim (``taken_by`` 'automated', one questionnaire): :data:`_FIRST_FREE_OF`, and
never a case whose wave step's calls are used up or whose spacing has not passed, whose
interview is finished (it may have been finished on the web since its window was worked out),
or whose member stopped contact: nobody is called after they finished or said stop, even
before the rules see it. An interviewer reads the case screen before dialling; the dialler
has no one to read it, so these are asked in the claim itself, row by row as the walk down
``ix_case_queue_order`` passes (the cases' ``interviews.case_id`` and ``wave_members.case_id``
are indexed)."""
_OWN_HOLD: Final = (
    sa.select(case_queue, cases.c.questionnaire_id)
    .join(cases, cases.c.id == case_queue.c.case_id)
    .where(
        case_queue.c.final.is_(False),
        case_queue.c.held_by == _WHO,
        case_queue.c.held_attempt_id.is_not(None),
    )
    .order_by(case_queue.c.held_since, case_queue.c.case_id)
    .limit(1)
)
_CLAIM_LOCK: Final = sa.select(
    sa.func.pg_advisory_xact_lock(sa.func.hashtext(sa.bindparam("lock_key", type_=sa.String()))),
    NO_SORT,
)
_START_ATTEMPT: Final = (
    attempts.insert()
    .values(
        case_id=sa.bindparam("b_case_id"),
        interviewer=sa.bindparam("b_interviewer"),
        started_at=sa.bindparam("b_now", type_=UTCDateTime()),
    )
    .returning(attempts.c.id)
)
_HOLD: Final = (
    case_queue.update()
    .where(case_queue.c.case_id == sa.bindparam("b_case_id"), case_queue.c.held_by.is_(None))
    .values(
        held_by=sa.bindparam("b_interviewer"),
        held_since=sa.bindparam("b_now", type_=UTCDateTime()),
        held_attempt_id=sa.bindparam("b_attempt_id"),
        attempts=case_queue.c.attempts + 1,
        updated_at=sa.bindparam("b_now", type_=UTCDateTime()),
    )
)
"""Insert and update name their parameters apart from the columns (SQLAlchemy's rule)."""
_HOLD_AUTOMATED: Final = _HOLD.values(
    automated_calls_left=case_queue.c.automated_calls_left - 1,
    automated_not_before=sa.bindparam("b_not_before", type_=UTCDateTime()),
)
"""The dialler's hold takes one of the step's calls (NULL stays NULL: no step limit) and puts
off the next automated call by the step's spacing, counted from this claim."""
_GIVE_BACK: Final = (
    case_queue.update()
    .where(case_queue.c.case_id == sa.bindparam("b_case_id"))
    .values(
        automated_calls_left=case_queue.c.automated_calls_left + 1,
        automated_not_before=None,
    )
)


def first_free_case(
    interviewer: str, now: dt.datetime, taken_by: str = INTERVIEWER_CASES
) -> sa.Select[Any]:
    """The statement that locks and returns the first callable case no one else is taking.

    Callable: free, inside its window, the window not reserved for someone
    else, and a working number not on the do-not-call list. One statement: the free cases are walked in queue order down
    ``ix_case_queue_order`` and the first one that is callable, diallable and
    not being locked by another transaction is locked (``SKIP LOCKED``; on
    PostgreSQL the conditions are checked again on the row as locked, so a
    case claimed a moment earlier is passed over, never handed out twice).
    SQLite runs write transactions one at a time (``BEGIN IMMEDIATE``), so
    there the first callable case is simply the one. (A test asks both
    databases' planners how they run it: down the index, with no sort.)
    The claim runs :data:`_FIRST_FREE`, this statement built once, with the
    values as parameters.
    """
    return _FIRST_FREE.params(interviewer=interviewer, now=now, taken_by=taken_by)


def first_automated_case(dialler: str, now: dt.datetime, questionnaire_id: str) -> sa.Select[Any]:
    """The dialler's claim statement (:data:`_FIRST_AUTOMATED`) with its values, for its plan."""
    return _FIRST_AUTOMATED.params(
        interviewer=dialler, now=now, taken_by=AUTOMATED_CASES, questionnaire_id=questionnaire_id
    )


def free_held_case(
    connection: sa.Connection,
    case_id: str,
    attempt_id: int | None,
    *,
    disposition: str,
    window: WindowLike | None,
    final: bool,
    now: dt.datetime,
) -> bool:
    """Free a case held through ``attempt_id`` and code that attempt, in the caller's transaction.

    False, changing nothing, when the case is not held through that attempt
    (coded or released meanwhile). One spelling of "release" for the
    timeout's release and the supervisor's (instrument.store.fieldwork_audit).
    """
    held_through = (
        case_queue.c.held_attempt_id.is_(None)
        if attempt_id is None
        else case_queue.c.held_attempt_id == attempt_id
    )
    released = connection.execute(
        case_queue.update()
        .where(case_queue.c.case_id == case_id, case_queue.c.held_by.is_not(None), held_through)
        .values(
            held_by=None,
            held_since=None,
            held_attempt_id=None,
            disposition=disposition,
            final=final,
            **window_values(window),
            updated_at=now,
        )
    ).rowcount
    if released != 1:
        return False
    if attempt_id is not None:
        connection.execute(
            attempts.update()
            .where(attempts.c.id == attempt_id, attempts.c.ended_at.is_(None))
            .values(ended_at=now, disposition=disposition)
        )
        end_manual_calls(connection, attempt_id, now)
    return True


def _own_hold(connection: sa.Connection, interviewer: str, dialect: str) -> sa.Row[Any] | None:
    """The case ``interviewer`` holds already, if any, with claims by the same person serialised.

    "Next case" pressed twice at once by one interviewer (a double click, two
    tabs) must not leave two cases held, one of them stranded until the hold
    times out. SQLite's ``BEGIN IMMEDIATE`` already runs claims one at a time;
    on PostgreSQL a transaction-scoped advisory lock on the interviewer's name
    does it for that interviewer only, so other interviewers never wait.
    """
    if dialect == "postgresql":
        connection.execute(_CLAIM_LOCK, {"lock_key": "claim:" + interviewer})
    return connection.execute(_OWN_HOLD, {"interviewer": interviewer}).one_or_none()


def _claim_of(row: sa.Row[Any], attempt_id: int, attempts: int, *, resumed: bool = False) -> Claim:
    return Claim(
        case_id=row.case_id,
        attempt_id=attempt_id,
        window_kind=row.window_kind,
        window_interviewer=row.window_interviewer,
        priority=row.priority,
        zone=row.zone,
        language=row.language,
        disposition=row.disposition,
        attempts=attempts,
        resumed=resumed,
        questionnaire_id=row.questionnaire_id,
    )


class Queue(StoreBase):
    """:meth:`enqueue_case`, :meth:`claim_next_case`, :meth:`stale_holds`, :meth:`release_hold`."""

    def enqueue_case(
        self,
        case_id: str,
        *,
        zone: str,
        language: str | None,
        priority: int = 0,
        window: WindowLike | None,
        now: dt.datetime | None = None,
        taken_by: str = INTERVIEWER_CASES,
    ) -> None:
        """Put a case in the queue, or change its zone, language, priority, window and taker.

        Its outcome so far, attempt count and any hold are kept. The case must
        be stored (``put_case``) first; :class:`CaseWithdrawn` if it was withdrawn.
        ``taken_by``: interviewers, or ``automated`` (the dialler, with no wave
        step's limits).
        """
        if taken_by not in TAKEN_BY:
            raise ValueError(f"unknown taker {taken_by!r}; use one of {TAKEN_BY}")
        for field, text in (("case id", case_id), ("zone", zone), ("language", language)):
            refuse_nul(field, text)
        values = {
            "zone": zone,
            "language": language,
            "priority": priority,
            **window_values(window),
            "taken_by": taken_by,
            "automated_calls_left": None,
            "automated_spacing_s": None,
            "automated_not_before": None,
            "updated_at": utc(now),
        }
        statement = dialect_insert(self.dialect, case_queue)
        statement = statement.on_conflict_do_update(
            index_elements=[case_queue.c.case_id],
            set_={name: statement.excluded[name] for name in values},
        )
        with self._transaction(write=True) as connection:
            refuse_withdrawn(connection, case_id)
            connection.execute(
                statement,
                {"case_id": case_id, "final": False, "attempts": 0, "disposition": None, **values},
            )

    def hand_to_dialler(
        self,
        case_id: str,
        *,
        calls: int | None,
        spacing: dt.timedelta | None,
        dialler: str,
        now: dt.datetime | None = None,
    ) -> HandOver:
        """Make a queued case the automated dialler's (``taken_by`` 'automated'), if it may be.

        ``calls`` is how many automated calls may be placed to it from now (None: as many as
        the calling rules allow), ``spacing`` the least time between two. Left as it is, and
        said why: a case not in the queue, final, held by an interviewer (``dialler`` is the
        dialler's own name: its hold is no obstacle), or with an appointment to keep
        (its window is a hard or soft one): an appointment is a person's promise to call
        back at that time, and the dialler's claim never takes a window kept for an
        interviewer anyway. The check and the change are one transaction, under the row's
        lock, so an interviewer's "next case" at the same moment either took the case first
        (and keeps it) or finds it gone.
        """
        if calls is not None and calls < 0:
            raise ValueError(f"calls must be at least 0, not {calls}")
        seconds = None if spacing is None else int(spacing.total_seconds())
        now = utc(now)
        with self._transaction(write=True) as connection:
            row = connection.execute(
                sa.select(
                    case_queue.c.final,
                    case_queue.c.disposition,
                    case_queue.c.held_by,
                    case_queue.c.window_kind,
                    case_queue.c.window_start,
                )
                .where(case_queue.c.case_id == case_id)
                .with_for_update()
            ).one_or_none()
            if row is None:
                return HandOver(case_id, False, "not in the call queue", queued=False)
            if row.final:
                return HandOver(case_id, False, f"final ({row.disposition}): never called again")
            if row.held_by is not None and row.held_by != dialler:
                return HandOver(
                    case_id, False, f"held by interviewer {row.held_by}: left with them"
                )
            if row.window_kind in ("hard", "soft"):
                when = f"{row.window_start:%Y-%m-%d %H:%M} UTC"
                return HandOver(
                    case_id,
                    False,
                    f"a {row.window_kind} appointment ({when}) is kept by the interviewers",
                )
            connection.execute(
                case_queue.update()
                .where(case_queue.c.case_id == case_id)
                .values(
                    taken_by=AUTOMATED_CASES,
                    automated_calls_left=calls,
                    automated_spacing_s=seconds,
                    automated_not_before=None,
                    updated_at=now,
                )
            )
        return HandOver(case_id, True, None)

    def give_back_automated_call(self, case_id: str) -> None:
        """Return the step's call a claim took when no call rang (not placed, no number).

        The claim counts a call before it is dialled, so two workers can never place more
        than the step allows; a call the provider refused, or a case with no number to dial,
        did not reach anyone and should not use up the member's calls.
        """
        with self._transaction(write=True) as connection:
            connection.execute(_GIVE_BACK, {"b_case_id": case_id})

    def set_window(
        self, case_id: str, *, window: WindowLike | None, now: dt.datetime | None = None
    ) -> None:
        """Give a queued case a new window (None: not callable until one is set)."""
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                case_queue.update()
                .where(case_queue.c.case_id == case_id)
                .values(**window_values(window), updated_at=utc(now))
            )
            if updated.rowcount != 1:
                raise LookupError(f"case {case_id!r} is not in the call queue")

    def queue_row(self, case_id: str) -> dict[str, object] | None:
        """A case's queue row as a dict (for the supervisor's view and tests), or None."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(case_queue).where(case_queue.c.case_id == case_id)
            ).one_or_none()
        return None if row is None else row._asdict()

    def claim_next_case(
        self,
        interviewer: str,
        *,
        now: dt.datetime | None = None,
        resume: bool = False,
        questionnaire_id: str | None = None,
        taken_by: str = INTERVIEWER_CASES,
    ) -> Claim | None:
        """Hand ``interviewer`` the first callable case and start an attempt on it; None if none.

        Callable: not final, not held, ``window_start <= now < window_end``,
        the window not reserved for someone else, and a working number not on
        the do-not-call list. First: a due hard appointment, then a soft one,
        then higher priority, then the earliest window. With ``resume``, an
        interviewer who holds a case already gets that one back with its open
        attempt (``resumed``), however many presses arrive at once (what the
        call-queue service asks for; without it, one person may hold several
        cases, as workers that place automated calls do). With ``questionnaire_id``,
        only that questionnaire's cases are handed out. Only cases ``taken_by`` that
        kind of caller are (``case_queue.taken_by``: interviewers by default, or
        ``"automated"`` for the automated dialler). The dialler's claim names its
        questionnaire and also passes over cases whose wave step's calls are used up or
        not yet spaced out, whose interview is finished and whose member stopped contact
        (:data:`_FIRST_AUTOMATED`); it takes one of the step's calls and sets the next
        call's earliest time in the same transaction.
        """
        if taken_by not in TAKEN_BY:
            raise ValueError(f"unknown taker {taken_by!r}; use one of {TAKEN_BY}")
        refuse_nul("interviewer", interviewer)
        now = utc(now)
        with self._transaction(write=True) as connection:
            if resume:
                held = _own_hold(connection, interviewer, self.dialect)
            else:
                held = None
                if self.dialect == "postgresql":
                    connection.execute(sa.select(NO_SORT))
            if held is not None:
                return _claim_of(held, int(held.held_attempt_id), held.attempts, resumed=True)
            who: dict[str, object] = {"interviewer": interviewer, "now": now, "taken_by": taken_by}
            first, hold = _FIRST_FREE, _HOLD
            if questionnaire_id is not None:
                first, who["questionnaire_id"] = _FIRST_FREE_OF, questionnaire_id
            if taken_by == AUTOMATED_CASES:
                if questionnaire_id is None:
                    raise ValueError("the dialler claims one questionnaire's cases at a time")
                first, hold = _FIRST_AUTOMATED, _HOLD_AUTOMATED
            row = connection.execute(first, who).one_or_none()
            if row is None:
                return None
            this: dict[str, object] = {
                "b_case_id": row.case_id,
                "b_interviewer": interviewer,
                "b_now": now,
            }
            attempt_id = int(connection.execute(_START_ATTEMPT, this).scalar_one())
            this["b_attempt_id"] = attempt_id
            if hold is _HOLD_AUTOMATED:
                spacing = dt.timedelta(seconds=row.automated_spacing_s or 0)
                this["b_not_before"] = now + spacing if spacing else None
            held = connection.execute(hold, this).rowcount
            if held != 1:  # cannot happen under the lock; refuse rather than hand it out twice
                raise RuntimeError(f"case {row.case_id!r} was taken while locked")
        return _claim_of(row, attempt_id, row.attempts + 1)

    def stale_holds(self, now: dt.datetime, timeout: dt.timedelta) -> list[StaleHold]:
        """Cases held since ``now - timeout`` or earlier, oldest first, with their questionnaire.

        The questionnaire comes in the same read: "next case" judges every hold
        by its study's timeout, and one more read per hold made it cost fifty
        statements with fifty interviewers at work.
        """
        cutoff = utc(now) - timeout
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(
                    case_queue.c.case_id,
                    case_queue.c.held_attempt_id,
                    case_queue.c.held_by,
                    case_queue.c.held_since,
                    cases.c.questionnaire_id,
                )
                .join(cases, cases.c.id == case_queue.c.case_id)
                .where(case_queue.c.held_by.is_not(None), case_queue.c.held_since <= cutoff)
                .order_by(case_queue.c.held_since, case_queue.c.case_id)
            ).all()
        return [
            StaleHold(
                row.case_id, row.held_attempt_id, row.held_by, row.held_since, row.questionnaire_id
            )
            for row in rows
        ]

    def release_hold(
        self,
        case_id: str,
        attempt_id: int | None,
        *,
        disposition: str,
        window: WindowLike | None,
        final: bool = False,
        now: dt.datetime | None = None,
    ) -> bool:
        """Free a case held by ``attempt_id``, coding that attempt ``disposition`` if still open.

        False when the case is no longer held by that attempt (its interviewer
        coded it meanwhile, or it was released already): nothing changes then.
        """
        refuse_nul("disposition", disposition)
        now = utc(now)
        with self._transaction(write=True) as connection:
            return free_held_case(
                connection, case_id, attempt_id, disposition=disposition, window=window,
                final=final, now=now,
            )  # fmt: skip
