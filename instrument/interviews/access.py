"""Reading and saving interviews for the service: the rules that keep answers safe, in one place.

:class:`InterviewAccess` is the half of the interview service that touches the
store and the snapshot cache; :mod:`instrument.interviews.service` holds the
operations modes call. Every read of an interview goes through
:meth:`~InterviewAccess._current` (a kept snapshot proved current by its
revision) or :meth:`~InterviewAccess._at` (a kept snapshot trusted because the
save that follows is a compare-and-set), and every write through
:meth:`~InterviewAccess._save`, which moves the snapshot's record on and tells
the listeners only after the store has it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from instrument.dataset.orders import shown_order
from instrument.dataset.personal import merge, personal_keys
from instrument.engine import Event, State, Step
from instrument.interviews.notices import Listener, notices_for
from instrument.interviews.outcomes import (
    InterviewInfo,
    Rejected,
    Replayed,
    Saved,
    Seen,
    Stale,
    Unavailable,
)
from instrument.interviews.snapshots import Snapshot, SnapshotCache
from instrument.interviews.surveys import Surveys
from instrument.model import Questionnaire
from instrument.store import (
    InterviewNotFound,
    InterviewWithdrawn,
    NewEvent,
    PersonalChange,
    SaveResult,
    StaleRevision,
    Store,
    engine_events,
    status_for_outcome,
)

__all__ = ["Gone", "InterviewAccess", "status_of"]


def status_of(state: State) -> str:
    """The store status for an engine state (an unfinished interview is ``active``)."""
    return status_for_outcome(state.outcome)


class Gone(Exception):
    """The interview is unknown or withdrawn (becomes :class:`Unavailable`)."""

    def __init__(self, outcome: Unavailable) -> None:
        self.outcome = outcome


class InterviewAccess:
    """Loads, checks and saves interviews for the service (see the module docstring)."""

    store: Store
    surveys: Surveys
    _listener: Listener | None
    _cache: SnapshotCache

    @staticmethod
    def info(snapshot: Snapshot) -> InterviewInfo:
        record, state = snapshot.record, snapshot.state
        return InterviewInfo(
            id=record.id,
            questionnaire_id=record.questionnaire_id,
            revision=record.revision,
            status=record.status,
            mode=state.mode,
            language=state.language,
            finished=state.finished,
            case_id=record.case_id,
            is_test=record.is_test,
        )

    def _read(self, interview_id: str) -> Snapshot:
        """The interview from the store (:class:`InterviewNotFound`; LookupError when withdrawn)."""
        record = self.store.load_interview(interview_id)
        if record.status == "withdrawn" or not record.state:
            raise LookupError(f"interview {interview_id} holds no answers any more")
        engine = self.surveys.engine_for(record.questionnaire_version_id)
        if not personal_keys(engine.q):
            return Snapshot(record, State.from_json(record.state), engine)
        # Identifying answers are kept apart: put them back. Read after the row: if a save
        # lands in between, this snapshot's revision is behind and any save from it is refused.
        personal = self.store.personal_answers(interview_id)
        return Snapshot(record, State.from_json(merge(record.state, personal)), engine, personal)

    def _checked(self, interview_id: str) -> Snapshot:
        try:
            return self._read(interview_id)
        except InterviewNotFound:
            raise Gone(Unavailable(interview_id, "unknown")) from None
        except LookupError:
            raise Gone(Unavailable(interview_id, "withdrawn")) from None

    def _current(self, interview_id: str, stored: int | None = None) -> Snapshot:
        """The stored interview: the kept snapshot if its revision is still the stored one.

        ``stored``: the stored revision, read from the store by the caller just now (one
        statement with what it read first); None: read here.
        """
        kept = self._cache.take(interview_id)
        if kept is not None:
            if stored is None:
                stored = self.store.revision_of(interview_id)
            if stored == kept.record.revision:
                return kept
        return self._checked(interview_id)

    def _in_mode(self, snapshot: Snapshot, mode: str, actor: str, now: dt.datetime) -> Snapshot:
        """Switch an unfinished interview begun in another mode to ``mode``, saved (on a current snapshot)."""
        state = snapshot.state
        if state.finished or state.mode == mode:
            return snapshot
        events = snapshot.engine.switch_mode(state, mode, now=now)
        try:
            self._save(snapshot, events, expected=snapshot.revision, key=None, actor=actor, now=now)
        except StaleRevision:  # saved elsewhere a moment ago: start again from the store
            return self._in_mode(self._checked(snapshot.id), mode, actor, now)
        except InterviewWithdrawn:
            raise Gone(Unavailable(snapshot.id, "withdrawn")) from None
        return snapshot

    def _at(
        self, interview_id: str, seen: Seen, mode: str, actor: str, now: dt.datetime
    ) -> tuple[Snapshot, Stale | Replayed | None]:
        """The interview to act on, or why the action cannot be taken.

        The kept snapshot is nearly always current, and the save that follows
        is a compare-and-set, so it is not checked against the database here
        (a stale one is refused by the save). Only when its revision is not
        the one the person saw is the interview read again, and if the stored
        revision is not theirs either, the action was either saved before (a
        resend: :class:`Replayed`) or taken on an old page (:class:`Stale`).
        """
        snapshot = self._cache.take(interview_id)
        if snapshot is None or snapshot.record.revision != seen.revision:
            snapshot = self._checked(interview_id)
        if not snapshot.state.finished and snapshot.state.mode != mode:
            snapshot = self._in_mode(self._checked(interview_id), mode, actor, now)
        if snapshot.record.revision != seen.revision:
            self._cache.put(snapshot)
            return snapshot, self._behind(snapshot, seen)
        if snapshot.state.finished:
            self._cache.put(snapshot)
            return snapshot, Stale(self.info(snapshot))
        return snapshot, None

    def _behind(self, snapshot: Snapshot, seen: Seen) -> Stale | Replayed:
        """An action on an older revision: a resend of a save that worked, or a stale page.

        Asks the store to save nothing at the old revision under the action's
        key: it answers from the key if that was used, and otherwise refuses
        the stale revision without writing.
        """
        info = self.info(snapshot)
        if seen.key is None:
            return Stale(info)
        record = snapshot.record
        try:
            result = self.store.save_interview(
                record.id,
                expected_revision=seen.revision,
                state=personal_keys(snapshot.questionnaire).split(snapshot.state.to_json())[0],
                status=record.status,
                mode=record.mode,
                idempotency_key=seen.key,
            )
        except (StaleRevision, InterviewWithdrawn):
            return Stale(info)
        return Replayed(info) if result.replayed else Stale(info)

    def _remember_prompt(
        self,
        snapshot: Snapshot,
        events: Sequence[Event],
        prompts: Sequence[Any],
        seen: Seen,
        actor: str,
        now: dt.datetime,
    ) -> Rejected | Stale | Unavailable:
        """The engine remembered a skip prompt (don't know is offered from now on): save that."""
        try:
            result = self._save(
                snapshot, events, expected=seen.revision, key=seen.key, actor=actor, now=now
            )
        except StaleRevision:
            return Stale(self.info(snapshot))
        except InterviewWithdrawn:
            return Unavailable(snapshot.id, "withdrawn")
        if result.replayed:  # the same form twice at once: the other request saved it
            try:
                snapshot = self._checked(snapshot.id)
            except Gone as gone:
                return gone.outcome
        step = snapshot.engine.current_step(snapshot.state)
        self._cache.put(snapshot)
        return Rejected(self.info(snapshot), step, prompts=tuple(prompts), saved=True)

    def _commit(
        self,
        snapshot: Snapshot,
        events: Sequence[Event],
        seen: Seen | None,
        actor: str,
        now: dt.datetime,
        extra: Sequence[NewEvent],
        show_next: bool,
    ) -> Saved | Replayed | Stale | Unavailable:
        expected = snapshot.revision if seen is None else seen.revision
        key = None if seen is None else seen.key
        try:
            result = self._save(
                snapshot, events, expected=expected, key=key, actor=actor, now=now, extra=extra
            )
        except StaleRevision:
            return Stale(self.info(snapshot))
        except InterviewWithdrawn:
            return Unavailable(snapshot.id, "withdrawn")
        if result.replayed:  # the state here was changed but not stored: not kept
            return Replayed(self.info(snapshot))
        return self._saved(snapshot, show_next)

    def _saved(self, snapshot: Snapshot, show_next: bool) -> Saved:
        step = snapshot.engine.current_step(snapshot.state) if show_next else None
        self._cache.put(snapshot)  # as just stored
        return Saved(self.info(snapshot), step)

    def _save(
        self,
        snapshot: Snapshot,
        events: Sequence[Event],
        *,
        expected: int,
        key: str | None,
        actor: str,
        now: dt.datetime,
        extra: Sequence[NewEvent] = (),
    ) -> SaveResult:
        """Save the snapshot's state with its events; on a real save, move its record on.

        Identifying answers are split off (:meth:`PersonalKeys.for_store`) and,
        when they differ from those stored at the snapshot's revision, written by
        the same atomic save: both land or neither does.
        """
        state, record = snapshot.state, snapshot.record
        kept = personal_keys(snapshot.questionnaire).for_store(
            state, [*engine_events(events, actor=actor), *extra]
        )
        result = self.store.save_interview(
            record.id,
            expected_revision=expected,
            state=kept.state,
            status=status_of(state),
            mode=state.mode,
            language=state.language,
            events=kept.events,
            idempotency_key=key,
            now=now,
            # coded from the full state: values derived from identifying answers as they are now
            # (a build coding the stored state merges the personal answers back first)
            export_row=self.surveys.export_row(record.questionnaire_version_id, state),
            personal=PersonalChange.between(snapshot.personal, kept.personal),
        )
        if not result.replayed:
            assert result.record is not None
            snapshot.record = result.record
            snapshot.personal = kept.personal
            for kind, at, mode, data in notices_for(events, state.mode):
                self._tell(kind, record.id, at, mode, data)
        return result

    @staticmethod
    def _paradata(
        seen: Seen,
        step: Step,
        action: str,
        client: Mapping[str, Any] | None,
        now: dt.datetime,
        questionnaire: Questionnaire | None = None,
    ) -> list[NewEvent]:
        """When the page was shown and when it was submitted, with the client's details
        and the order its randomised options and rows were shown in."""
        if client is None:
            return []
        page = {"page": step.page_id, "visit": step.token, **client}
        order = shown_order(step, questionnaire) if questionnaire is not None else ""
        if order:
            page["order"] = order
        return [
            NewEvent(None, {"event": "shown", **page}, kind="paradata", at=seen.shown_at or now),
            NewEvent(
                None, {"event": "submitted", "action": action, **page}, kind="paradata", at=now
            ),
        ]

    def _tell(
        self, kind: str, interview_id: str, at: dt.datetime, mode: str, data: Mapping[str, Any]
    ) -> None:
        if self._listener is not None:
            self._listener(kind, interview_id, at, mode, data)
