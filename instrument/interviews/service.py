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
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from instrument.engine import Engine, EngineError, Event, StaleSubmission, State, Step
from instrument.interviews.access import Gone, InterviewAccess, status_of
from instrument.interviews.links import LinkOperations
from instrument.interviews.notices import Listener
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
    InterviewWithdrawn,
    NewEvent,
    StaleRevision,
    Store,
)

__all__ = ["AnswerReader", "InterviewService", "status_of"]

_AMEND_TRIES = 3
"""Fresh reads an amendment makes when other saves keep landing first."""

AnswerReader = Callable[[Step], Answers]
"""Reads what the person entered, in terms of the step they were shown."""


def _without_nul(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Answers without NUL characters, which no person types and PostgreSQL cannot store in text."""
    for value in values.values():
        if value.__class__ is str and "\x00" in value:
            break
    else:
        return values
    return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in values.items()}


class InterviewService(LinkOperations, InterviewAccess):
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
        one_per_case: bool = False,
    ) -> Saved:
        """Begin an interview on the newest version of a questionnaire, and store it.

        The case's preload values (dependent data: what the panel already
        knows) come from the store when ``case_id`` names a stored case and
        ``preload`` is not given. :raises EngineError: the questionnaire does
        not run in ``mode`` or has no ``language``, or a preload value is not
        valid; :class:`~instrument.store.CaseWithdrawn` for a withdrawn case.
        ``one_per_case``: the case's interview already stored, whatever its mode,
        is returned instead of starting another (decided atomically by the store,
        so two callers at once share one; see ``Store.create_interview``).
        """
        survey = self.surveys[questionnaire_id]
        if case_id is not None:
            stored = self.case_preload(questionnaire_id, case_id)  # refuses a withdrawn case
            preload = stored if preload is None else preload
        state = survey.engine.start(
            now=now, seed=secrets.randbits(31), mode=mode, language=language, case=preload
        )
        new_id = str(uuid.uuid4())
        record = self.store.create_interview(
            survey.version_id,
            mode=mode,
            language=state.language,
            state=state.to_json(),
            case_id=case_id,
            is_test=is_test,
            now=now,
            interview_id=new_id,
            one_per_case=one_per_case,
        )
        if record.id != new_id:  # the case's interview, started before (one_per_case)
            try:
                return self._saved(self._current(record.id), show_next)
            except Gone:
                raise LookupError(f"interview {record.id} holds no answers any more") from None
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
        except Gone as gone:
            return gone.outcome
        self._cache.put(snapshot)
        return self.info(snapshot)

    def show(
        self,
        interview_id: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        revision: int | None = None,
    ) -> Shown | Unavailable:
        """The step to show now. An unfinished interview started in another mode carries on in ``mode``.

        ``revision``: the interview's stored revision as the caller has just read it from the
        store (an automated call reads it with the call's row, in one statement), which proves
        a kept snapshot current as the service's own read of it would; None: the service reads it.
        """
        try:
            snapshot = self._current(interview_id, revision)
            snapshot = self._in_mode(snapshot, mode, actor, now)
        except Gone as gone:
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
        except Gone as gone:
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
            extra = self._paradata(seen, step, action, client, now, snapshot.questionnaire)
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
        return self._move(
            interview_id, seen, "back", lambda e, s: e.back(s, now=now), mode, actor, now, client,
            show_next,
        )  # fmt: skip

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
        return self._move(
            interview_id, seen, "jump", lambda e, s: e.jump(s, key, now=now), mode, actor, now,
            client, show_next,
        )  # fmt: skip

    def remove_item(
        self,
        interview_id: str,
        seen: Seen,
        list_id: str,
        item: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        client: Mapping[str, Any] | None = None,
        show_next: bool = False,
    ) -> Saved | Replayed | Stale | Unavailable:
        """Remove person ``item`` from list ``list_id`` on the list's summary page the person saw
        (the engine's ``remove_item``); stale if that page is not the current one."""

        def remove(engine: Engine, state: State) -> list[Event]:
            return engine.remove_item(state, list_id, item, now=now, actor=actor)

        return self._move(interview_id, seen, "remove", remove, mode, actor, now, client, show_next)

    def switch_language(
        self, interview_id: str, language: str, *, mode: str, actor: str, now: dt.datetime
    ) -> Saved | Shown | Stale | Unavailable:
        """Carry on in another of the questionnaire's languages (a no-op on a finished interview).

        :raises EngineError: the questionnaire has no such language.
        """
        try:
            snapshot = self._in_mode(self._current(interview_id), mode, actor, now)
        except Gone as gone:
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
        except Gone as gone:
            return gone.outcome
        if behind is not None:
            return behind
        events = snapshot.engine.finish(snapshot.state, now=now)
        if not events:
            self._cache.put(snapshot)
            return Stale(self.info(snapshot))
        return self._commit(snapshot, events, seen, actor, now, (), False)

    # -- changing what is stored, out of turn --------------------------------

    def amend(
        self,
        interview_id: str,
        change: Callable[[Engine, State], tuple[list[Event], list[NewEvent]]],
        *,
        key: str,
        actor: str,
        now: dt.datetime,
    ) -> Saved | Replayed | Stale | Unavailable:
        """Change a stored interview for something learnt after its page was answered.

        Not an action on a page anyone saw (those are :meth:`answer`,
        :meth:`back` ...): a fact that arrives later, such as the provider
        saying a recorded answer's recording came to nothing. ``change`` is
        given the interview as stored, changes its state and returns the
        engine's events with any paradata; no events means nothing to change
        (:class:`Stale`, nothing written). The save is a compare-and-set on the
        stored revision, tried again on a fresh read when another save lands in
        between, and idempotent under ``key``: the same amendment again is
        :class:`Replayed`. The interview's page and position do not move; a
        person on it is told their page is stale only if they act on it.
        """
        for _ in range(_AMEND_TRIES):
            try:
                snapshot = self._checked(interview_id)  # read afresh: never the kept object
            except Gone as gone:
                return gone.outcome
            events, paradata = change(snapshot.engine, snapshot.state)
            if not events:
                return Stale(self.info(snapshot))
            try:
                result = self._save(
                    snapshot, events, expected=snapshot.revision, key=key, actor=actor, now=now,
                    extra=paradata,
                )  # fmt: skip
            except StaleRevision:
                continue  # saved elsewhere a moment ago: change the newer state
            except InterviewWithdrawn:
                return Unavailable(interview_id, "withdrawn")
            if result.replayed:
                return Replayed(self.info(snapshot))
            return self._saved(snapshot, show_next=False)
        return Stale(self.info(snapshot))

    # -- moving back ---------------------------------------------------------

    def _move(
        self,
        interview_id: str,
        seen: Seen,
        action: str,
        move: Callable[[Engine, State], list[Event]],
        mode: str,
        actor: str,
        now: dt.datetime,
        client: Mapping[str, Any] | None,
        show_next: bool,
    ) -> Saved | Replayed | Stale | Unavailable:
        """Move the interview from the page the person saw (back, jump, remove from a list)."""
        try:
            snapshot, behind = self._at(interview_id, seen, mode, actor, now)
        except Gone as gone:
            return gone.outcome
        if behind is not None:
            return behind
        engine, state = snapshot.engine, snapshot.state
        step = engine.current_step(state, texts=False)
        if step.token != seen.token or (action == "back" and not step.can_go_back):
            self._cache.put(snapshot)
            return Stale(self.info(snapshot))
        try:
            events = move(engine, state)
        except EngineError:
            return Stale(self.info(snapshot))
        extra = self._paradata(seen, step, action, client, now, snapshot.questionnaire)
        return self._commit(snapshot, events, seen, actor, now, extra, show_next)
