"""Storing finished interviews in bulk: simulated test data, migrations from other systems.

Nobody else can be editing these interviews, so there is no compare-and-set:
each batch of interviews and all their events go in one transaction, one
multi-row insert per table, instead of two durable transactions per interview.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from instrument.store.engine import PreSerialized, compact_json
from instrument.store.nul import refuse_nul, refuse_nul_in_events, refuse_nul_in_json
from instrument.store.personal import personal_rows, refuse_nul_in_personal
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import ImportedInterview, last_answered
from instrument.store.schema import (
    FINISHED_STATUSES,
    INTERVIEW_STATUSES,
    answer_events,
    interviews,
    personal_answers,
    questionnaire_versions,
)

__all__ = ["InterviewImports"]


def _refuse_nul_in_item(item: ImportedInterview, value_texts: list[str | None] | None) -> None:
    """An imported interview's texts but its state, checked before its batch is written."""
    for field, text in (
        ("mode", item.mode),
        ("language", item.language),
        ("case id", item.case_id),
        ("interview id", item.interview_id),
        ("export row", item.export_row),
    ):
        refuse_nul(field, text)
    refuse_nul_in_events(item.events, value_texts)
    refuse_nul_in_personal(item.personal)


class InterviewImports(StoreBase):
    """:meth:`import_interviews`."""

    def import_interviews(
        self,
        version_id: int,
        items: Iterable[ImportedInterview],
        *,
        batch_size: int = 1000,
        now: dt.datetime | None = None,
    ) -> int:
        """Store finished interviews in bulk, with their events; returns how many.

        For test data (``instrument simulate --database``) and migrations from
        other systems, where nobody else can be editing these interviews: each
        batch of ``batch_size`` interviews and all their events go in one
        transaction with one multi-row insert per table, instead of two
        durable transactions per interview. An interview's identifying
        answers (``ImportedInterview.personal``) go to ``personal_answers``
        in the same transaction, never into its state.
        """
        now = utc(now)
        with self._transaction() as connection:
            if (
                connection.scalar(
                    sa.select(questionnaire_versions.c.id).where(
                        questionnaire_versions.c.id == version_id
                    )
                )
                is None
            ):
                raise LookupError(f"no questionnaire version {version_id}")
        total = 0
        batch: list[ImportedInterview] = []
        for item in items:
            batch.append(item)
            if len(batch) >= batch_size:
                total += self._import_batch(version_id, batch, now)
                batch = []
        if batch:
            total += self._import_batch(version_id, batch, now)
        return total

    def _import_batch(
        self, version_id: int, batch: Sequence[ImportedInterview], now: dt.datetime
    ) -> int:
        interview_rows = []
        event_rows = []
        personal_answer_rows = []
        for item in batch:
            if item.status not in INTERVIEW_STATUSES or item.status == "withdrawn":
                raise ValueError(f"cannot import an interview with status {item.status!r}")
            # Serialised here to look for NULs, then written as this text (not serialised again).
            value_texts = (
                [None if e.value is None else compact_json(e.value) for e in item.events]
                if self._own_json
                else None
            )
            _refuse_nul_in_item(item, value_texts)
            state_text = compact_json(item.state) if self._own_json else None
            refuse_nul_in_json("state", item.state, state_text)
            new_id = item.interview_id or str(uuid.uuid4())
            started = utc(item.started_at) if item.started_at else now
            finished = utc(item.finished_at) if item.finished_at else None
            interview_rows.append(
                {
                    "id": new_id,
                    "questionnaire_version_id": version_id,
                    "case_id": item.case_id,
                    "mode": item.mode,
                    "language": item.language,
                    "status": item.status,
                    "is_test": item.is_test,
                    "state": item.state if state_text is None else PreSerialized(state_text),
                    "export_row": item.export_row,
                    "revision": 1,
                    "last_seq": len(item.events),
                    "last_answered": last_answered(item.events),
                    "started_at": started,
                    "updated_at": finished or started,
                    "finished_at": finished if item.status in FINISHED_STATUSES else None,
                }
            )
            personal_answer_rows += personal_rows(new_id, item.personal, now)
            for seq, event in enumerate(item.events, start=1):
                text = value_texts[seq - 1] if value_texts is not None else None
                event_rows.append(
                    {
                        "interview_id": new_id,
                        "seq": seq,
                        "kind": event.kind,
                        "variable": event.variable,
                        "value": event.value if text is None else PreSerialized(text),
                        "mode": event.mode or item.mode,
                        "actor": event.actor,
                        "at": utc(event.at) if event.at is not None else started,
                    }
                )
        with self._transaction(write=True) as connection:
            connection.execute(interviews.insert(), interview_rows)
            if event_rows:
                connection.execute(answer_events.insert(), event_rows)
            if personal_answer_rows:
                connection.execute(personal_answers.insert(), personal_answer_rows)
        return len(interview_rows)
