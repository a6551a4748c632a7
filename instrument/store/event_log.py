"""Reading the append-only answer-event log (it is written only by saves and imports).

One interview's events for a review screen, or every event of a questionnaire
in one query for the paradata export. What an event row holds is decided in
:mod:`instrument.store.events`, the one mapping from engine events to rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import sqlalchemy as sa

from instrument.store.nul import NUL
from instrument.store.plumbing import StoreBase
from instrument.store.records import AnswerEvent
from instrument.store.schema import answer_events, interviews, questionnaire_versions

__all__ = ["EventLog"]


class EventLog(StoreBase):
    """:meth:`events_for` and :meth:`iter_events`."""

    def events_for(self, interview_id: str) -> list[AnswerEvent]:
        """The interview's event log in seq order."""
        if NUL in interview_id:
            return []  # no stored id holds one (see instrument.store.nul)
        stmt = (
            sa.select(answer_events)
            .where(answer_events.c.interview_id == interview_id)
            .order_by(answer_events.c.seq)
        )
        with self._transaction() as connection:
            return [AnswerEvent(**row._asdict()) for row in connection.execute(stmt)]

    def iter_events(
        self,
        questionnaire_id: str,
        *,
        kinds: Collection[str] | None = None,
        include_test: bool = False,
        batch_size: int = 5000,
    ) -> Iterator[AnswerEvent]:
        """Stream every event of a questionnaire's interviews, by interview then seq.

        One query for the whole questionnaire, for exports such as the
        paradata file, instead of one :meth:`events_for` per interview.
        """
        if NUL in questionnaire_id:
            return
        stmt = (
            sa.select(answer_events)
            .select_from(
                answer_events.join(
                    interviews, answer_events.c.interview_id == interviews.c.id
                ).join(
                    questionnaire_versions,
                    interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
                )
            )
            .where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
            .order_by(answer_events.c.interview_id, answer_events.c.seq)
        )
        if kinds is not None:
            stmt = stmt.where(answer_events.c.kind.in_(list(kinds)))
        if not include_test:
            stmt = stmt.where(interviews.c.is_test.is_(False))
        with self._transaction() as connection:
            for row in connection.execute(stmt.execution_options(yield_per=batch_size)):
                yield AnswerEvent(**row._asdict())
