"""Simulated interviews stored as test data, in batches (``instrument simulate --database``).

Each interview goes in with its events and its export row, as the web and
telephone modes store theirs, and marked as a test, so exports leave them out
unless asked (``--include-test``). Made-up answers to identifying questions
are kept apart as the interview service keeps real ones: split off by the same
:meth:`~instrument.dataset.personal.PersonalKeys.for_store` into
``personal_answers``, never in the stored state, events or export row.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from instrument.engine import Event
from instrument.model import Questionnaire
from instrument.simulate.run import SimulatedInterview
from instrument.store import NewEvent, Store, status_for_outcome

__all__ = ["SimulationStorer", "StoreFailed", "events_for_store"]


class StoreFailed(Exception):
    """Storing stopped after ``stored`` interviews (the cause is chained)."""

    def __init__(self, stored: int) -> None:
        super().__init__(f"stored {stored}")
        self.stored = stored


def events_for_store(
    events: Iterable[Event], *, default_actor: str = "respondent"
) -> list[NewEvent]:
    """The engine's events as rows for the store's event log (the shared mapping)."""
    from instrument.store import engine_events

    return engine_events(events, actor=default_actor)


class SimulationStorer:
    """Stores finished simulated interviews in batches through ``Store.import_interviews``.

    One transaction per batch (interviews and all their events as multi-row
    inserts) instead of two durable commits per interview: 100,000 test
    interviews become practical on SQLite and PostgreSQL alike.
    """

    BATCH = 1000

    def __init__(
        self, store: Store, version_id: int, where: str, questionnaire: Questionnaire
    ) -> None:
        from instrument.dataset.personal import personal_keys
        from instrument.dataset.rows import RowCoder

        self.store = store
        self.version_id = version_id
        self.where = where
        # Each interview is stored with its export row, as the web and phone modes store it.
        self.rows = RowCoder(questionnaire)
        self.personal = personal_keys(questionnaire)
        self.stored = 0
        self.seconds = 0.0
        self._pending: list[Any] = []

    @classmethod
    def open(cls, url: str, questionnaire: Questionnaire) -> SimulationStorer:
        from instrument.store import open_store, resolve_url

        store = open_store(url)
        try:
            version = store.add_questionnaire_version(
                questionnaire.id, questionnaire.version, questionnaire.source_text
            )
        except Exception:
            store.close()
            raise
        return cls(
            store, version.id, resolve_url(url).render_as_string(hide_password=True), questionnaire
        )

    def __call__(self, interview: SimulatedInterview) -> None:
        from instrument.store import ImportedInterview

        state = interview.state
        actor = (
            next((e.data.get("actor") for e in interview.events if e.kind == "answer"), None)
            or "respondent"
        )
        kept = self.personal.for_store(
            state, events_for_store(interview.events, default_actor=actor)
        )
        self._pending.append(
            ImportedInterview(
                state=kept.state,
                status=status_for_outcome(state.outcome),
                mode=state.mode,
                language=state.language,
                events=kept.events,
                is_test=True,
                started_at=interview.started_at,
                finished_at=state.finished_at,
                export_row=self.rows.encode(state),  # the full state: derived values as drawn
                personal=kept.personal,
            )
        )
        if len(self._pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what is pending in one transaction."""
        if not self._pending:
            return
        began = time.perf_counter()
        try:
            self.stored += self.store.import_interviews(
                self.version_id, self._pending, batch_size=self.BATCH
            )
        except Exception as exc:
            raise StoreFailed(self.stored) from exc
        finally:
            self._pending = []
        self.seconds += time.perf_counter() - began

    def close(self) -> None:
        self.store.close()
