"""The runner: what every mode's blueprint shares (store, engines, clock).

A mode never talks to the store or builds engines itself. It asks the runner
to start, load and save interviews, so that the rules which keep answers safe
live in one place for the web, the telephone and anything a plugin adds:

* an interview always runs on the questionnaire version it started with (an
  older version is loaded from the source text the store kept);
* a save is one compare-and-set on the interview's revision, carrying the
  engine's events and an idempotency key (see docs/store.md);
* the engine's events become rows of the store's event log, and plugins hear
  about starts, answers and completions through ``interview_event``.

This module imports no web framework: a Twilio webhook or a test can use it
as well as a Flask view.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from instrument.dataset.rows import RowCoder
from instrument.engine import Engine, Event, State
from instrument.loader import load_questionnaire_text
from instrument.model import Questionnaire
from instrument.plugin_types import InterviewEvent
from instrument.store import InterviewRecord, NewEvent, SaveResult, Store
from instrument.store.events import engine_events, jsonable

__all__ = ["Loaded", "Runner", "Survey", "status_of", "to_store_events"]

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


def to_store_events(events: Iterable[Event], *, actor: str = "respondent") -> list[NewEvent]:
    """The engine's events as rows for the store's log (the one shared mapping)."""
    return engine_events(events, actor=actor)


_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Survey:
    """A questionnaire being served: its model, its engine and its stored version."""

    questionnaire: Questionnaire
    engine: Engine
    version_id: int

    @property
    def id(self) -> str:
        return self.questionnaire.id


@dataclass
class Loaded:
    """An interview read from the store, with its live engine state."""

    record: InterviewRecord
    state: State
    engine: Engine

    @property
    def questionnaire(self) -> Questionnaire:
        return self.engine.q


class _Kept:
    """Interviews a request finished with, decoded, for the next request of the same respondent.

    Showing a page and answering it would each decode the interview's state
    from JSON and rebuild the engine's ``State`` (about a tenth of a page
    turn's CPU). A request that is done with an interview it saved or showed
    hands it over here; the next request takes it out, so that a kept object
    is only ever used by one request at a time (two requests for the same
    interview at once: the second reads it from the store as usual). Whoever
    takes one must prove it current before trusting it: by its revision
    (:meth:`Store.revision_of`) or by a compare-and-set save.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, interview_id: str) -> Loaded | None:
        with self._lock:
            return self._items.pop(interview_id, None)

    def put(self, loaded: Loaded) -> None:
        with self._lock:
            self._items[loaded.record.id] = loaded
            while len(self._items) > self._size:
                self._items.popitem(last=False)


KEPT_INTERVIEWS = 512
"""Interviews per worker process kept decoded between requests (see :class:`_Kept`)."""


class Runner:
    """Shared by every mode of one app (``app.extensions["instrument"]``).

    :param store: the opened store.
    :param surveys: the questionnaires served, by id (their newest version).
    :param facade: the plugin facade, for ``interview_event`` (None: nobody listens).
    :param clock: returns the current UTC time; tests pass a fake one.
    """

    def __init__(
        self,
        store: Store,
        surveys: Mapping[str, Survey],
        *,
        facade: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        modes: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.surveys: dict[str, Survey] = dict(surveys)
        self.facade = facade
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.modes = tuple(modes)
        self._engines: dict[int, Engine] = {s.version_id: s.engine for s in self.surveys.values()}
        self._engines_lock = threading.Lock()
        self._row_coders: dict[int, RowCoder] = {}
        self._kept = _Kept(KEPT_INTERVIEWS)
        # Rate limiters (instrument.server.security.RateLimiter), set by the app factory.
        self.token_limiter: Any = None
        self.login_limiter: Any = None

    def now(self) -> dt.datetime:
        return self._clock()

    def survey(self, questionnaire_id: str) -> Survey | None:
        return self.surveys.get(questionnaire_id)

    def engine_for(self, version_id: int) -> Engine:
        """The engine of a stored questionnaire version, loading an older one on first use."""
        engine = self._engines.get(version_id)
        if engine is not None:
            return engine
        version = self.store.get_questionnaire_version(version_id)
        kwargs: dict[str, Any] = {}
        if self.facade is not None:  # the same fill filters and question types as at start-up
            kwargs = {
                "text_environment": self.facade.prepare_text_environment,
                "question_types": dict(self.facade.question_types()),
            }
        result = load_questionnaire_text(
            version.source_text, f"<stored version {version_id}>", **kwargs
        )
        if result.questionnaire is None:
            raise RuntimeError(f"stored questionnaire version {version_id} no longer loads")
        engine = Engine(result.questionnaire)
        with self._engines_lock:
            return self._engines.setdefault(version_id, engine)

    def export_row(self, version_id: int, state: State) -> str | None:
        """The dataset row of ``state``, stored with it so that exports need not decode states.

        A row is only a cache: if coding it fails, the answers are saved
        anyway, without a row (the export then codes the state, and reports
        the problem there), and the failure is logged.
        """
        try:
            coder = self._row_coders.get(version_id)
            if coder is None:
                engine = self.engine_for(version_id)
                coder = RowCoder(engine.q, engine=engine)
                with self._engines_lock:
                    coder = self._row_coders.setdefault(version_id, coder)
            return coder.encode(state)
        except Exception:
            _log.exception(
                "could not code the export row of an interview on version %s; saved without one",
                version_id,
            )
            return None

    # -- interviews ---------------------------------------------------------

    def start(
        self,
        questionnaire_id: str,
        *,
        mode: str,
        language: str | None = None,
        case_id: str | None = None,
        case: Mapping[str, Any] | None = None,
        is_test: bool = False,
    ) -> Loaded:
        """Begin an interview on the newest version of a questionnaire and store it."""
        survey = self.surveys[questionnaire_id]
        now = self.now()
        state = survey.engine.start(
            now=now, seed=secrets.randbits(31), mode=mode, language=language, case=case
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
        self._notify("started", record.id, now, mode, {"questionnaire": questionnaire_id})
        return Loaded(record, state, survey.engine)

    def load(self, interview_id: str, *, recent: bool = False) -> Loaded:
        """Read an interview (:class:`~instrument.store.InterviewNotFound` if unknown).

        An interview handed back with :meth:`keep` is used again if its
        revision is still the stored one (one small read, no decoding).
        ``recent``: this worker's last copy may do, unchecked (see
        :meth:`Store.load_interview`); only before a compare-and-set save.
        """
        kept = self._kept.take(interview_id)
        if kept is not None and (
            recent or self.store.revision_of(interview_id) == kept.record.revision
        ):
            return kept
        record = self.store.load_interview(interview_id, recent=recent)
        engine = self.engine_for(record.questionnaire_version_id)
        state = State.from_json(record.state) if record.state else None
        if state is None:  # a withdrawn interview keeps no state
            raise LookupError(f"interview {interview_id} holds no answers any more")
        return Loaded(record, state, engine)

    def save(
        self,
        loaded: Loaded,
        events: Sequence[Event] = (),
        *,
        expected_revision: int | None = None,
        idempotency_key: str | None = None,
        extra: Sequence[NewEvent] = (),
        actor: str = "respondent",
    ) -> SaveResult:
        """Save ``loaded.state`` with its events, compare-and-set on the revision.

        On success (not a replay) ``loaded.record`` becomes the saved record.

        ``expected_revision`` defaults to the revision the interview was
        loaded at. Raises :class:`~instrument.store.StaleRevision` if someone
        saved in between; nothing is written then.
        """
        state = loaded.state
        now = self.now()
        result = self.store.save_interview(
            loaded.record.id,
            expected_revision=(
                loaded.record.revision if expected_revision is None else expected_revision
            ),
            state=state.to_json(),
            status=status_of(state),
            mode=state.mode,
            language=state.language,
            events=[*to_store_events(events, actor=actor), *extra],
            idempotency_key=idempotency_key,
            now=now,
            export_row=self.export_row(loaded.record.questionnaire_version_id, state),
        )
        if not result.replayed:
            assert result.record is not None
            loaded.record = result.record
            self._notify_events(loaded.record.id, state, events, now)
        return result

    def keep(self, loaded: Loaded) -> None:
        """Hand back an interview this request is done with, as stored at ``loaded.record.revision``.

        Only an interview whose ``state`` is the stored state of that
        revision: one just shown, or just saved (a save that was not a
        replay moves ``loaded.record`` on). The caller must not touch it
        afterwards: the next request of the interview may take it.
        """
        self._kept.put(loaded)

    def replayed(self, interview_id: str, *, revision: int, idempotency_key: str) -> bool:
        """Whether a save with this key already happened (a resent form).

        Asks the store to save nothing at the old revision with the key: it
        answers from the key if it was used, and otherwise refuses the stale
        revision without writing (:class:`StaleRevision`, reported as False).
        """
        from instrument.store import StaleRevision

        record = self.store.load_interview(interview_id)
        row = (
            self.export_row(record.questionnaire_version_id, State.from_json(record.state))
            if record.state
            else None
        )
        try:
            result = self.store.save_interview(
                interview_id,
                expected_revision=revision,
                state=record.state,
                status=record.status,
                mode=record.mode,
                idempotency_key=idempotency_key,
                export_row=row,
            )
        except StaleRevision:
            return False
        return result.replayed

    # -- plugins ------------------------------------------------------------

    def _notify(
        self, kind: str, interview_id: str, at: dt.datetime, mode: str, data: Mapping[str, Any]
    ) -> None:
        if self.facade is None:
            return
        self.facade.interview_event(
            InterviewEvent(kind=kind, interview_id=interview_id, at=at, mode=mode, data=data)
        )

    def _notify_events(
        self, interview_id: str, state: State, events: Sequence[Event], now: dt.datetime
    ) -> None:
        if self.facade is None:
            return
        for event in events:
            if event.kind == "answer":
                self._notify(
                    "answered", interview_id, event.at, state.mode, {"variable": event.key}
                )
            elif event.kind in ("back", "jump"):
                self._notify("moved_back", interview_id, event.at, state.mode, jsonable(event.data))
            elif event.kind == "mode":
                self._notify(
                    "mode_switched", interview_id, event.at, state.mode, jsonable(event.data)
                )
            elif event.kind == "finish":
                outcome = event.data.get("outcome")
                kind = "breakoff" if outcome == "partial" else "completed"
                self._notify(kind, interview_id, event.at, state.mode, {"outcome": outcome})
