"""The interview service: one place that runs an interview turn, for every mode.

Web pages, interviewer screens, telephone webhooks, the panel's workers and
tests all start, show, answer, go back in, switch the language of and finish
interviews through :class:`InterviewService`. Each operation takes the time
and the actor, loads the interview, calls the engine, saves with
compare-and-set on the revision and returns one typed outcome (see
:mod:`instrument.interviews.outcomes`). A mode renders steps and reads what
the person entered; it never touches the store or decides whether an answer
counts, so no mode can lose or double an answer in its own way.

What keeps answers safe, once for all modes:

* an interview always runs on the questionnaire version it started with;
* a save is one compare-and-set on the revision the person saw, carrying the
  engine's events and the action's idempotency key: a resent action is
  recognised and not written twice (:class:`Replayed`), and an action on a
  page that is no longer current writes nothing (:class:`Stale`);
* the decoded interview is kept for the next request (one cache, with the
  rules in :mod:`instrument.interviews.snapshots`);
* listeners hear about starts, answers and completions after the save.

This package imports no web framework or telephony library.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from instrument.engine import EngineError, Event, StaleSubmission, State, Step
from instrument.interviews.links import LinkOperations
from instrument.interviews.notices import Listener, notices_for
from instrument.interviews.outcomes import (
    Answers,
    InterviewInfo,
    Rejected,
    Replayed,
    Saved,
    Seen,
    Shown,
    Stale,
    Unavailable,
)
from instrument.interviews.snapshots import Snapshot, SnapshotCache
from instrument.interviews.surveys import Surveys
from instrument.store import (
    InterviewNotFound,
    InterviewWithdrawn,
    NewEvent,
    SaveResult,
    StaleRevision,
    Store,
    engine_events,
)

__all__ = ["AnswerReader", "InterviewService", "status_of"]

AnswerReader = Callable[[Step], Answers]
"""Reads what the person entered, in terms of the step they were shown."""

_STATUS_OF_OUTCOME = {
    "complete": "complete",
    "screened_out": "screened_out",
    "partial": "abandoned",
}


def status_of(state: State) -> str:
    """The store status for an engine state (an unfinished interview is ``active``)."""
    if state.outcome is None:
        return "active"
    return _STATUS_OF_OUTCOME.get(state.outcome, "complete")


def _without_nul(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Answers without NUL characters, which no person types and PostgreSQL cannot store in text."""
    if not any(isinstance(v, str) and "\x00" in v for v in values.values()):
        return values
    return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in values.items()}


class _Gone(Exception):
    """The interview is unknown or withdrawn (becomes :class:`Unavailable`)."""

    def __init__(self, outcome: Unavailable) -> None:
        self.outcome = outcome


class InterviewService(LinkOperations):
    """Runs interview turns on one store for the questionnaires in ``surveys``.

    :param store: the opened store.
    :param surveys: the served questionnaires, and engines for stored versions.
    :param listener: told about each start, answer, move and finish after it
        is stored (see :mod:`instrument.interviews.notices`); None: nobody listens.
    :param cache: the snapshot cache (default: 512 interviews per process).
    """

    def __init__(
        self,
        store: Store,
        surveys: Surveys,
        *,
        listener: Listener | None = None,
        cache: SnapshotCache | None = None,
    ) -> None:
        self.store = store
        self.surveys = surveys
        self._listener = listener
        self._cache = cache if cache is not None else SnapshotCache()

    # -- starting ------------------------------------------------------------

    def start(
        self,
        questionnaire_id: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        language: str | None = None,
        case_id: str | None = None,
        preload: Mapping[str, Any] | None = None,
        is_test: bool = False,
        show_next: bool = False,
    ) -> Saved:
        """Begin an interview on the newest version of a questionnaire, and store it.

        The case's preload values (dependent data: what the panel already
        knows) come from the store when ``case_id`` names a stored case and
        ``preload`` is not given. :raises EngineError: the questionnaire does
        not run in ``mode`` or has no ``language``, or a preload value is not valid.
        """
        survey = self.surveys[questionnaire_id]
        if preload is None and case_id is not None:
            preload = self.case_preload(questionnaire_id, case_id)
        state = survey.engine.start(
            now=now, seed=secrets.randbits(31), mode=mode, language=language, case=preload
        )
        record = self.store.create_interview(
            survey.version_id,
            mode=mode,
            language=state.language,
            state=state.to_json(),
            case_id=case_id,
            is_test=is_test,
            now=now,
        )
        snapshot = Snapshot(record, state, survey.engine)
        self._tell("started", record.id, now, mode, {"questionnaire": questionnaire_id})
        return self._saved(snapshot, show_next)

    # -- reading -------------------------------------------------------------

    def load(self, interview_id: str) -> Snapshot:
        """The interview as stored now, decoded (for staff tools and tests; modes use :meth:`show`).

        :raises InterviewNotFound: no such interview; ``LookupError``: withdrawn.
        """
        return self._read(interview_id)

    def about(self, interview_id: str) -> InterviewInfo | Unavailable:
        """What a mode may know of an interview (its status, language, mode), without a step."""
        try:
            snapshot = self._current(interview_id)
        except _Gone as gone:
            return gone.outcome
        self._cache.put(snapshot)
        return self.info(snapshot)

    def show(
        self, interview_id: str, *, mode: str, actor: str, now: dt.datetime
    ) -> Shown | Unavailable:
        """The step to show now. An unfinished interview started in another mode carries on in ``mode``."""
        try:
            snapshot = self._current(interview_id)
            snapshot = self._in_mode(snapshot, mode, actor, now)
        except _Gone as gone:
            return gone.outcome
        step = snapshot.engine.current_step(snapshot.state)
        self._cache.put(snapshot)  # showing never changes a state: it is still the stored one
        return Shown(self.info(snapshot), step)

    # -- acting on a step ----------------------------------------------------

    def answer(
        self,
        interview_id: str,
        seen: Seen,
        read: AnswerReader,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        action: str = "continue",
        client: Mapping[str, Any] | None = None,
        show_next: bool = False,
    ) -> Saved | Replayed | Stale | Rejected | Unavailable:
        """Answer the page the person saw.

        ``read`` turns what they entered into answers for that page's step
        (with the soft warnings they chose to accept). ``client`` (e.g.
        ``{"device": "mobile"}``): recorded as paradata with the times the
        page was shown and submitted, under ``action``.
        """
        try:
            snapshot, behind = self._at(interview_id, seen, mode, actor, now)
        except _Gone as gone:
            return gone.outcome
        if behind is not None:
            return behind
        engine, state = snapshot.engine, snapshot.state
        step = engine.current_step(state)
        answers = read(step)
        if answers.problems:
            self._cache.put(snapshot)  # nothing was submitted: still the stored state
            return Rejected(self.info(snapshot), step, errors=tuple(answers.problems))
        try:
            result = engine.submit(
                state,
                _without_nul(answers.values),
                now=now,
                token=seen.token,
                confirm=answers.confirmed,
                actor=actor,
            )
        except (StaleSubmission, EngineError):
            return Stale(self.info(snapshot))
        if result.accepted:
            extra = self._paradata(seen, step, action, client, now)
            return self._commit(snapshot, result.events, seen, actor, now, extra, show_next)
        if result.errors and all(p.kind == "prompt" for p in result.errors):
            return self._remember_prompt(snapshot, result.events, result.errors, seen, actor, now)
        return Rejected(
            self.info(snapshot), step, errors=tuple(result.errors), warnings=tuple(result.warnings)
        )

    def back(
        self,
        interview_id: str,
        seen: Seen,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        client: Mapping[str, Any] | None = None,
        show_next: bool = False,
    ) -> Saved | Replayed | Stale | Unavailable:
        """Return to the previous page from the page the person saw; its answers stay filled in."""
        return self._move(interview_id, seen, None, mode, actor, now, client, show_next)

    def jump(
        self,
        interview_id: str,
        seen: Seen,
        key: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        client: Mapping[str, Any] | None = None,
        show_next: bool = False,
    ) -> Saved | Replayed | Stale | Unavailable:
        """Go back to the page that asked ``key`` (a variable key or page id) to change it."""
        return self._move(interview_id, seen, key, mode, actor, now, client, show_next)

    def switch_language(
        self, interview_id: str, language: str, *, mode: str, actor: str, now: dt.datetime
    ) -> Saved | Shown | Stale | Unavailable:
        """Carry on in another of the questionnaire's languages (a no-op on a finished interview).

        :raises EngineError: the questionnaire has no such language.
        """
        try:
            snapshot = self._in_mode(self._current(interview_id), mode, actor, now)
        except _Gone as gone:
            return gone.outcome
        state = snapshot.state
        if state.finished or state.language == language:
            self._cache.put(snapshot)
            return Shown(self.info(snapshot), snapshot.engine.current_step(state))
        events = snapshot.engine.switch_language(state, language, now=now)
        return self._commit(snapshot, events, None, actor, now, (), False)

    def finish(
        self,
        interview_id: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        seen: Seen | None = None,
    ) -> Saved | Replayed | Stale | Unavailable:
        """Close an unfinished interview as partial (a break-off coded by an interviewer or a worker)."""
        try:
            if seen is None:
                snapshot, behind = self._current(interview_id), None
            else:
                snapshot, behind = self._at(interview_id, seen, mode, actor, now)
        except _Gone as gone:
            return gone.outcome
        if behind is not None:
            return behind
        events = snapshot.engine.finish(snapshot.state, now=now)
        if not events:
            self._cache.put(snapshot)
            return Stale(self.info(snapshot))
        return self._commit(snapshot, events, seen, actor, now, (), False)

    # -- the parts -----------------------------------------------------------

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
        return Snapshot(record, State.from_json(record.state), engine)

    def _checked(self, interview_id: str) -> Snapshot:
        try:
            return self._read(interview_id)
        except InterviewNotFound:
            raise _Gone(Unavailable(interview_id, "unknown")) from None
        except LookupError:
            raise _Gone(Unavailable(interview_id, "withdrawn")) from None

    def _current(self, interview_id: str) -> Snapshot:
        """The stored interview: the kept snapshot if its revision is still the stored one."""
        kept = self._cache.take(interview_id)
        if kept is not None and self.store.revision_of(interview_id) == kept.revision:
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
            raise _Gone(Unavailable(snapshot.id, "withdrawn")) from None
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
        if snapshot is None or snapshot.revision != seen.revision:
            snapshot = self._checked(interview_id)
        if not snapshot.state.finished and snapshot.state.mode != mode:
            snapshot = self._in_mode(self._checked(interview_id), mode, actor, now)
        if snapshot.revision != seen.revision:
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
                state=snapshot.state.to_json(),
                status=record.status,
                mode=record.mode,
                idempotency_key=seen.key,
            )
        except (StaleRevision, InterviewWithdrawn):
            return Stale(info)
        return Replayed(info) if result.replayed else Stale(info)

    def _move(
        self,
        interview_id: str,
        seen: Seen,
        key: str | None,
        mode: str,
        actor: str,
        now: dt.datetime,
        client: Mapping[str, Any] | None,
        show_next: bool,
    ) -> Saved | Replayed | Stale | Unavailable:
        try:
            snapshot, behind = self._at(interview_id, seen, mode, actor, now)
        except _Gone as gone:
            return gone.outcome
        if behind is not None:
            return behind
        engine, state = snapshot.engine, snapshot.state
        step = engine.current_step(state, texts=False)
        if step.token != seen.token or (key is None and not step.can_go_back):
            self._cache.put(snapshot)
            return Stale(self.info(snapshot))
        try:
            events = (
                engine.back(state, now=now) if key is None else engine.jump(state, key, now=now)
            )
        except EngineError:
            return Stale(self.info(snapshot))
        extra = self._paradata(seen, step, "back" if key is None else "jump", client, now)
        return self._commit(snapshot, events, seen, actor, now, extra, show_next)

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
            except _Gone as gone:
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
        """Save the snapshot's state with its events; on a real save, move its record on."""
        state = snapshot.state
        version_id = snapshot.record.questionnaire_version_id
        result = self.store.save_interview(
            snapshot.id,
            expected_revision=expected,
            state=state.to_json(),
            status=status_of(state),
            mode=state.mode,
            language=state.language,
            events=[*engine_events(events, actor=actor), *extra],
            idempotency_key=key,
            now=now,
            export_row=self.surveys.export_row(version_id, state),
        )
        if not result.replayed:
            assert result.record is not None
            snapshot.record = result.record
            for kind, at, mode, data in notices_for(events, state.mode):
                self._tell(kind, snapshot.id, at, mode, data)
        return result

    @staticmethod
    def _paradata(
        seen: Seen,
        step: Step,
        action: str,
        client: Mapping[str, Any] | None,
        now: dt.datetime,
    ) -> list[NewEvent]:
        """When the page was shown and when it was submitted, with the client's details."""
        if client is None:
            return []
        page = {"page": step.page_id, "visit": step.token, **client}
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
