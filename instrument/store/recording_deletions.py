"""Recordings to delete at the telephony provider: listed with each withdrawal, worked off later.

A recording is personal data the provider holds (Twilio keeps an
interviewer's call recorded after the respondent's yes, and an automated
call's recorded free-text answer); the store keeps only its id. When a
withdrawal deletes a case's (or an interview's) answers, the recordings they
belong to must go too, and the provider may be unreachable just then. So the
withdrawal lists them in ``recording_deletions``, in its own transaction
(:func:`list_recordings_of`, called by
:func:`~instrument.store.withdrawal.withdraw_in`, which every withdrawal runs):
the list stands or falls with the withdrawal, and nothing depends on a
network call inside it. Found there:

- the case's calls' recordings (``calls.recording_sid``, and any other
  recording whose callbacks came under one of its calls' ids: a start tried
  again can make a second; source ``call``); the calls stay, as outcomes, but
  their ``recording_url`` is emptied;
- every recording the interviews' answers name (``recording:<sid>``, source
  ``answer``): in the answer log, the identifying answers kept apart, and
  the automated calls' stored states (a recording made but not yet
  submitted); those recordings' own status callbacks in ``call_events`` are
  deleted, since nothing of the interview is left for them to describe.

Only ids are listed, never a URL. A recording listed before is not listed
again (the sid is unique). The fieldwork worker then claims what is due
(:meth:`RecordingDeletions.claim_recording_deletions`, ``FOR UPDATE SKIP
LOCKED`` under a lease, so several workers never ask twice at once and a dead
one's claims lapse), asks the provider with no transaction open, and records
each answer: ``deleted`` or ``gone`` (the provider has no such recording:
deleted before, or never made) is done; a failure is tried again after
:func:`retry_delay`, one minute doubling to six hours, with the error kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.ivr.recording import LOST_STATUSES, REFERENCE_PROVIDER, recording_sids_in
from instrument.store.fieldwork_records import dialect_insert
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    RECORDING_OUTCOMES,
    answer_events,
    call_events,
    calls,
    ivr_calls,
    personal_answers,
    recording_deletions,
)

__all__ = [
    "CLAIM_LEASE",
    "RETRY_FIRST",
    "RETRY_LONGEST",
    "ListedRecording",
    "RecordingDeletionCounts",
    "RecordingDeletionRecord",
    "RecordingDeletions",
    "RecordingToDelete",
    "list_recordings_of",
    "retry_delay",
]

RETRY_FIRST: Final = dt.timedelta(minutes=1)
"""How long a deletion that failed waits before its second try; each later wait is twice the last."""
RETRY_LONGEST: Final = dt.timedelta(hours=6)
"""The longest wait between two tries: a provider down for a day is asked four times an hour at
worst, and a recording is never given up on."""
CLAIM_LEASE: Final = dt.timedelta(minutes=5)
"""How long a worker holds the deletions it claimed: one REST request each, ten seconds at most."""
_ERROR_LENGTH: Final = 300


def retry_delay(tries: int) -> dt.timedelta:
    """The wait after the ``tries``-th failed try: 1, 2, 4 ... minutes, at most six hours."""
    if tries < 1:
        raise ValueError(f"a wait follows a try, not {tries}")
    if tries > 16:  # 2**15 minutes is far past the cap already
        return RETRY_LONGEST
    return min(RETRY_FIRST * 2 ** (tries - 1), RETRY_LONGEST)


@dataclass(frozen=True, slots=True)
class ListedRecording:
    """A recording a withdrawal found: who holds it, its id, and where it was named."""

    provider: str
    recording_sid: str
    source: str
    interview_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingToDelete:
    """A deletion a worker claimed: ask ``provider`` to delete ``recording_sid``; ``tries``
    counts this one."""

    id: int
    provider: str
    recording_sid: str
    tries: int


@dataclass(frozen=True, slots=True)
class RecordingDeletionRecord:
    """One row of the list, as stored (an id of a recording, never its URL)."""

    id: int
    provider: str
    recording_sid: str
    source: str
    reason: str
    case_id: str | None
    interview_id: str | None
    requested_at: dt.datetime
    state: str
    tries: int
    next_try_at: dt.datetime | None
    claimed_by: str | None
    last_tried_at: dt.datetime | None
    last_error: str | None
    outcome: str | None
    done_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RecordingDeletionCounts:
    """How the list stands: ``pending`` (of which ``due`` now and ``failing``, tried at least
    once), ``done``, and when the next pending one is due."""

    pending: int
    due: int
    failing: int
    done: int
    next_try_at: dt.datetime | None


def list_recordings_of(
    connection: sa.Connection,
    interview_ids: Sequence[str],
    *,
    case_id: str | None,
    reason: str,
    now: dt.datetime,
) -> int:
    """List for deletion the recordings of a withdrawal, inside its transaction; how many new.

    Call it before the answers are deleted. ``case_id`` (None: an interview
    withdrawn on its own) brings the case's calls' recordings too. Empties the
    calls' ``recording_url`` and deletes the listed answers' recording
    callbacks (see the module docstring).
    """
    found: dict[str, ListedRecording] = {}
    if case_id is not None:
        for row in connection.execute(
            sa.select(calls.c.provider, calls.c.recording_sid).where(
                calls.c.case_id == case_id, calls.c.recording_sid.is_not(None)
            )
        ):
            found.setdefault(
                row.recording_sid, ListedRecording(row.provider, row.recording_sid, "call")
            )
        # A second recording a retried start made is known only by its callbacks, which are
        # stored under the call's id (docs/telephone.md): a recording's sid starts RE.
        for row in connection.execute(
            sa.select(calls.c.provider, call_events.c.provider_sid)
            .join(calls, calls.c.id == call_events.c.call_id)
            .where(calls.c.case_id == case_id, call_events.c.provider_sid.like("RE%"))
        ):
            found.setdefault(
                row.provider_sid, ListedRecording(row.provider, row.provider_sid, "call")
            )
        connection.execute(
            calls.update()
            .where(calls.c.case_id == case_id, calls.c.recording_url.is_not(None))
            .values(recording_url=None)
        )
    answered: dict[str, str] = {}  # recording sid -> the interview whose data named it
    if interview_ids:
        named = (
            sa.select(answer_events.c.interview_id, answer_events.c.value).where(
                answer_events.c.interview_id.in_(interview_ids), answer_events.c.value.is_not(None)
            ),
            sa.select(personal_answers.c.interview_id, personal_answers.c.value).where(
                personal_answers.c.interview_id.in_(interview_ids)
            ),
            sa.select(ivr_calls.c.interview_id, ivr_calls.c.state).where(
                ivr_calls.c.interview_id.in_(interview_ids), ivr_calls.c.state.is_not(None)
            ),
        )
        for statement in named:
            for interview_id, value in connection.execute(statement):
                for sid in recording_sids_in(value):
                    answered.setdefault(sid, interview_id)
    for sid, interview_id in sorted(answered.items()):
        found.setdefault(sid, ListedRecording(REFERENCE_PROVIDER, sid, "answer", interview_id))
    if answered:  # their callbacks describe recordings of answers that are no more
        connection.execute(call_events.delete().where(call_events.c.provider_sid.in_(answered)))
    return _insert(connection, found.values(), case_id=case_id, reason=reason, now=now)


def _insert(
    connection: sa.Connection,
    recordings: Iterable[ListedRecording],
    *,
    case_id: str | None,
    reason: str,
    now: dt.datetime,
) -> int:
    rows = [
        {
            "provider": r.provider,
            "recording_sid": r.recording_sid,
            "source": r.source,
            "reason": reason,
            "case_id": case_id,
            "interview_id": r.interview_id,
            "requested_at": now,
            "state": "pending",
            "tries": 0,
            "next_try_at": now,
        }
        for r in recordings
    ]
    if not rows:
        return 0
    statement = (
        dialect_insert(connection.dialect.name, recording_deletions)
        .on_conflict_do_nothing(index_elements=[recording_deletions.c.recording_sid])
        .returning(recording_deletions.c.id)
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
    return sum(connection.execute(statement, row).scalar_one_or_none() is not None for row in rows)


class RecordingDeletions(StoreBase):
    """The worker's side of the list: claim what is due, record each answer; and reading it."""

    def claim_recording_deletions(
        self,
        worker: str,
        *,
        providers: Sequence[str],
        now: dt.datetime,
        limit: int = 50,
        lease: dt.timedelta = CLAIM_LEASE,
    ) -> list[RecordingToDelete]:
        """Claim up to ``limit`` pending deletions of ``providers`` whose next try has come.

        Claiming counts the try and moves ``next_try_at`` to the end of the
        lease, so another worker skips them (and takes them over if this one
        dies); :meth:`recording_deletion_done` or
        :meth:`recording_deletion_failed` then says how it went.
        """
        refuse_nul("worker", worker)
        now = utc(now)
        if not providers:
            return []
        rd = recording_deletions
        due = (
            sa.select(rd.c.id, rd.c.provider, rd.c.recording_sid, rd.c.tries)
            .where(rd.c.state == "pending", rd.c.next_try_at <= now, rd.c.provider.in_(providers))
            .order_by(rd.c.next_try_at, rd.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._transaction(write=True) as connection:
            rows = connection.execute(due).all()
            if rows:
                connection.execute(
                    rd.update()
                    .where(rd.c.id.in_([row.id for row in rows]))
                    .values(
                        tries=rd.c.tries + 1,
                        next_try_at=now + lease,
                        claimed_by=worker,
                        last_tried_at=now,
                    )
                )
        return [RecordingToDelete(r.id, r.provider, r.recording_sid, r.tries + 1) for r in rows]

    def recording_deletion_done(self, deletion_id: int, outcome: str, *, now: dt.datetime) -> bool:
        """The provider no longer holds the recording (``deleted``, or ``gone`` before): done.

        False when it was done already (another worker that took over a
        lapsed claim got there first): nothing changes.
        """
        if outcome not in RECORDING_OUTCOMES:
            raise ValueError(f"a deletion is done as one of {RECORDING_OUTCOMES}, not {outcome!r}")
        rd = recording_deletions
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                rd.update()
                .where(rd.c.id == deletion_id, rd.c.state == "pending")
                .values(state="done", outcome=outcome, done_at=utc(now), next_try_at=None)
                .returning(rd.c.id)
            ).scalar_one_or_none()
        return updated is not None

    def recording_deletion_failed(
        self, deletion_id: int, error: str, *, now: dt.datetime
    ) -> dt.datetime | None:
        """The provider did not delete it: keep why, and when to try again (returned).

        None when the deletion is not pending (done meanwhile by another worker).
        """
        refuse_nul("error", error)
        now = utc(now)
        rd = recording_deletions
        with self._transaction(write=True) as connection:
            tries = connection.execute(
                sa.select(rd.c.tries)
                .where(rd.c.id == deletion_id, rd.c.state == "pending")
                .with_for_update()
            ).scalar_one_or_none()
            if tries is None:
                return None
            again = now + retry_delay(max(tries, 1))
            connection.execute(
                rd.update()
                .where(rd.c.id == deletion_id)
                .values(next_try_at=again, last_error=error[:_ERROR_LENGTH])
            )
        return again

    def recording_deletions(
        self, *, case_id: str | None = None, state: str | None = None, limit: int = 1000
    ) -> list[RecordingDeletionRecord]:
        """Rows of the list, oldest first: one case's, or all; pending or done, or both."""
        rd = recording_deletions
        statement = sa.select(rd).order_by(rd.c.requested_at, rd.c.id).limit(limit)
        if case_id is not None:
            statement = statement.where(rd.c.case_id == case_id)
        if state is not None:
            statement = statement.where(rd.c.state == state)
        with self._transaction() as connection:
            return [
                RecordingDeletionRecord(**row._asdict()) for row in connection.execute(statement)
            ]

    def recording_deletion_counts(self, *, now: dt.datetime) -> RecordingDeletionCounts:
        """How the list stands now, counted in one statement."""
        rd = recording_deletions
        pending = rd.c.state == "pending"

        def count(*where: sa.ColumnElement[bool]) -> Any:
            return sa.func.count().filter(sa.and_(*where))

        with self._transaction() as connection:
            row = connection.execute(
                sa.select(
                    count(pending).label("pending"),
                    count(pending, rd.c.next_try_at <= utc(now)).label("due"),
                    count(pending, rd.c.tries > 0).label("failing"),
                    count(rd.c.state == "done").label("done"),
                    sa.func.min(
                        sa.case((pending, rd.c.next_try_at)), type_=rd.c.next_try_at.type
                    ).label("next_try_at"),
                )
            ).one()
        return RecordingDeletionCounts(
            int(row.pending), int(row.due), int(row.failing), int(row.done), row.next_try_at
        )

    def lost_recording(self, recording_sid: str) -> str | None:
        """``absent`` or ``failed`` if a callback said the recording came to nothing, else None.

        For the automated calls' webhooks: a recording's status callback may
        come before the turn that would store a reference to it.
        """
        found = self._read_one(
            sa.select(call_events.c.status)
            .where(
                call_events.c.provider_sid == sa.bindparam("sid"),
                call_events.c.status.in_(sorted(LOST_STATUSES)),
            )
            .order_by(call_events.c.id)
            .limit(1),
            {"sid": recording_sid},
        )
        return None if found is None else str(found.status)
