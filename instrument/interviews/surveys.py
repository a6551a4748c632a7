"""The questionnaires an interview service runs, and the engines of their stored versions.

An interview always runs on the questionnaire version it started with. The
newest version of each served questionnaire is loaded at start-up; an older
one is loaded from the source text the store kept, the first time one of its
interviews is touched, with the same fill filters and question types as the
newest (so a plugin's filter works in every version).

Each version also has a :class:`~instrument.dataset.RowCoder`: every save
stores the dataset row its state gives, so that exports need not decode states.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from instrument.dataset.rows import RowCoder
from instrument.engine import Engine, State
from instrument.loader import LoadOptions, load_questionnaire_text
from instrument.model import Questionnaire
from instrument.store import Store

__all__ = ["Survey", "Surveys"]

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


class Surveys(Mapping[str, Survey]):
    """The served questionnaires by id, and an engine for any stored version.

    Thread-safe: a web worker's threads share one.
    """

    def __init__(
        self,
        store: Store,
        served: Mapping[str, Survey],
        *,
        options: LoadOptions | None = None,
    ) -> None:
        self._store = store
        self._served = dict(served)
        self._options = options or LoadOptions()
        self._engines: dict[int, Engine] = {s.version_id: s.engine for s in self._served.values()}
        self._row_coders: dict[int, RowCoder] = {}
        self._lock = threading.Lock()

    @classmethod
    def serve(
        cls,
        store: Store,
        questionnaires: list[Questionnaire],
        *,
        options: LoadOptions | None = None,
    ) -> Surveys:
        """Store each questionnaire's source text as a version (once) and serve its newest version."""
        served: dict[str, Survey] = {}
        for questionnaire in questionnaires:
            if questionnaire.id in served:
                raise ValueError(f"two questionnaires have the id {questionnaire.id!r}")
            version = store.add_questionnaire_version(
                questionnaire.id, questionnaire.version, questionnaire.source_text
            )
            served[questionnaire.id] = Survey(questionnaire, Engine(questionnaire), version.id)
        return cls(store, served, options=options)

    @classmethod
    def stored(
        cls, store: Store, questionnaire_id: str, *, options: LoadOptions | None = None
    ) -> Surveys:
        """Serve the newest version of ``questionnaire_id`` that the store holds.

        :raises LookupError: the store holds no version of it.
        """
        versions = store.list_questionnaire_versions(questionnaire_id)
        if not versions:
            known = ", ".join(store.questionnaire_ids()) or "none"
            raise LookupError(
                f"the database holds no questionnaire {questionnaire_id!r} (it holds: {known}); "
                "give the questionnaire file instead"
            )
        newest = versions[-1]
        catalogue = cls(store, {}, options=options)
        engine = catalogue.engine_for(newest.id)
        catalogue._served[questionnaire_id] = Survey(engine.q, engine, newest.id)
        return catalogue

    # -- Mapping -------------------------------------------------------------

    def __getitem__(self, questionnaire_id: str) -> Survey:
        return self._served[questionnaire_id]

    def get(self, questionnaire_id: str, default: Any = None) -> Any:  # looked up every request
        return self._served.get(questionnaire_id, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._served)

    def __len__(self) -> int:
        return len(self._served)

    # -- versions ------------------------------------------------------------

    def engine_for(self, version_id: int) -> Engine:
        """The engine of a stored questionnaire version, loading an older one on first use."""
        engine = self._engines.get(version_id)
        if engine is not None:
            return engine
        version = self._store.get_questionnaire_version(version_id)
        result = load_questionnaire_text(
            version.source_text, f"<stored version {version_id}>", **self._options.as_kwargs()
        )
        if result.questionnaire is None:
            raise RuntimeError(f"stored questionnaire version {version_id} no longer loads")
        engine = Engine(result.questionnaire)
        with self._lock:
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
                with self._lock:
                    coder = self._row_coders.setdefault(version_id, coder)
            return coder.encode(state)
        except Exception:  # never let the cache cost a respondent their answers
            _log.exception(
                "could not code the export row of an interview on version %s; saved without one",
                version_id,
            )
            return None
