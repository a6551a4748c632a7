"""A whole sample of cases stored in one transaction: all of it, or none of it.

``instrument cases import`` used to store a file case by case (a case, its
name, its numbers, its place in the queue: about ten transactions a row), so a
crash half-way left half a sample, and 10,000 cases took twenty minutes on
PostgreSQL, most of it waiting for commits. Here every table is written with
one statement per table and chunk (``executemany``, which psycopg pipelines),
inside one transaction; a case that turns out withdrawn or another
questionnaire's under the transaction's lock rolls everything back.

Windows are not worked out here: the store does not know the calling rules.
Each queued case gets an empty window (not callable), and the caller sets the
windows from the rules afterwards (:meth:`FieldworkReports.renew_windows`);
should it never get that far, "next case" renews every window that is empty
anyway, so nothing is lost but a moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.cases import checked_case, upsert_cases
from instrument.store.engine import PreSerialized
from instrument.store.fieldwork_queue import AUTOMATED_CASES, INTERVIEWER_CASES, window_values
from instrument.store.fieldwork_records import check_e164, dialect_insert
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import CaseBelongsElsewhere, CaseWithdrawn
from instrument.store.schema import TAKEN_BY, case_queue, cases, contacts, phone_numbers

__all__ = ["CaseImports", "ImportedCase"]

CHUNK: Final = 500
"""Case ids per ``IN (...)`` list and rows per ``executemany``: well under SQLite's and
PostgreSQL's limits on bound parameters."""


@dataclass(frozen=True, slots=True)
class ImportedCase:
    """One case of a sample as it is to be stored.

    ``numbers`` None: the file has no telephone columns, so the case's name,
    numbers and queue place are left as they are; a tuple (possibly empty)
    replaces its numbers, and with at least one number the case is queued.
    ``taken_by`` says who may take it from the queue: interviewers, or the
    automated dialler (``instrument cases import --automated``, a wave's
    automated_call step), then with ``automated_calls`` (calls it may place,
    None: as the calling rules allow) at least ``automated_spacing`` apart.
    Storing a case again sets all three.
    """

    case_id: str
    preload: Mapping[str, Any]
    numbers: tuple[str, ...] | None = None
    name: str | None = None
    zone: str = "Europe/London"
    language: str | None = None
    priority: int = 0
    taken_by: str = INTERVIEWER_CASES
    automated_calls: int | None = None
    automated_spacing: dt.timedelta | None = None

    def __post_init__(self) -> None:
        if self.taken_by not in TAKEN_BY:
            raise ValueError(f"taken_by is one of {', '.join(TAKEN_BY)}, not {self.taken_by!r}")
        automated = self.automated_calls is not None or self.automated_spacing is not None
        if automated and self.taken_by != AUTOMATED_CASES:
            raise ValueError("automated_calls and automated_spacing are for the dialler's cases")

    def queue_taker(self) -> dict[str, object]:
        """The ``case_queue`` columns that say who takes the case, and the dialler's limits."""
        spacing = self.automated_spacing
        return {
            "taken_by": self.taken_by,
            "automated_calls_left": self.automated_calls,
            "automated_spacing_s": None if spacing is None else int(spacing.total_seconds()),
            "automated_not_before": None,
        }


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class CaseImports(StoreBase):
    """:meth:`import_cases` and :meth:`refresh_queue_statistics`."""

    def import_cases(
        self, questionnaire_id: str, sample: Sequence[ImportedCase], *, now: dt.datetime
    ) -> list[str]:
        """Store every case of ``sample`` in one transaction; the ids of those put in the call queue.

        Storing a case again replaces its preload values (and, with telephone
        columns, its name, numbers, zone, language and priority); its history
        and any hold are kept. Every value is checked before anything is sent.

        :raises ValueError: a case id twice in ``sample``, a bad id or number,
            a number twice for one case; TypeError for preload that is not plain JSON.
        :raises CaseWithdrawn: a case of the sample was withdrawn;
        :raises CaseBelongsElsewhere: a case id is stored for another questionnaire.
            Nothing of the sample is stored then.
        """
        now = utc(now)
        ids = [entry.case_id for entry in sample]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"case {twice!r} is given twice")
        case_rows = []
        for entry in sample:
            values, text = checked_case(entry.case_id, questionnaire_id, entry.preload)
            case_rows.append(
                {
                    "id": entry.case_id,
                    "questionnaire_id": questionnaire_id,
                    "preload": PreSerialized(text) if self._own_json else values,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        phoned = [entry for entry in sample if entry.numbers is not None]
        number_rows = []
        for entry in phoned:
            assert entry.numbers is not None
            numbers = [check_e164(number) for number in entry.numbers]
            if len(set(numbers)) != len(numbers):
                raise ValueError(f"case {entry.case_id!r} has the same number twice")
            number_rows.extend(
                {"case_id": entry.case_id, "rank": rank, "e164": e164, "working": True}
                for rank, e164 in enumerate(numbers, start=1)
            )
            for what, text in (
                ("name", entry.name),
                ("zone", entry.zone),
                ("language", entry.language),
            ):
                refuse_nul(what, text)
        named = [
            {"case_id": e.case_id, "name": e.name, "email": None, "phone": None, "updated_at": now}
            for e in phoned
            if e.name is not None
        ]
        queued = [
            {
                "case_id": e.case_id,
                "zone": e.zone,
                "language": e.language,
                "priority": e.priority,
                "final": False,
                "attempts": 0,
                "disposition": None,
                **window_values(None),
                **e.queue_taker(),
                "updated_at": now,
            }
            for e in phoned
            if e.numbers
        ]
        with self._transaction(write=True) as connection:
            for chunk in _chunks(ids):
                self._refuse_taken(connection, questionnaire_id, chunk)
            for chunk in _chunks(case_rows):
                connection.execute(upsert_cases(self.dialect), list(chunk))
            if named:
                statement = dialect_insert(self.dialect, contacts)
                statement = statement.on_conflict_do_update(
                    index_elements=[contacts.c.case_id],
                    set_={
                        "name": statement.excluded.name,
                        "updated_at": statement.excluded.updated_at,
                    },
                )
                for chunk in _chunks(named):
                    connection.execute(statement, list(chunk))
            for chunk in _chunks([e.case_id for e in phoned]):
                connection.execute(phone_numbers.delete().where(phone_numbers.c.case_id.in_(chunk)))
            for chunk in _chunks(number_rows):
                connection.execute(phone_numbers.insert(), list(chunk))
            if queued:
                statement = dialect_insert(self.dialect, case_queue)
                kept = (
                    "zone",
                    "language",
                    "priority",
                    *window_values(None),
                    *ImportedCase("-", {}).queue_taker(),
                    "updated_at",
                )
                statement = statement.on_conflict_do_update(
                    index_elements=[case_queue.c.case_id],
                    set_={name: statement.excluded[name] for name in kept},
                )
                for chunk in _chunks(queued):
                    connection.execute(statement, list(chunk))
        return [row["case_id"] for row in queued]

    def refresh_queue_statistics(self) -> None:
        """Have PostgreSQL count the sample's tables again (nothing to do on SQLite).

        Until autovacuum comes round, the planner's row counts are those from
        before an import; the import's caller asks for this once the windows
        are set, so that every plan made meanwhile knows the new sample.
        """
        if self.dialect == "postgresql":
            with self._transaction(write=True) as connection:
                connection.exec_driver_sql("ANALYZE cases, contacts, phone_numbers, case_queue")

    def _refuse_taken(
        self, connection: sa.Connection, questionnaire_id: str, chunk: Sequence[str]
    ) -> None:
        """Lock the stored ones of ``chunk``; refuse a withdrawn case or another questionnaire's."""
        stored = connection.execute(
            sa.select(cases.c.id, cases.c.questionnaire_id, cases.c.withdrawn_at)
            .where(cases.c.id.in_(chunk))
            .order_by(cases.c.id)
            .with_for_update()
        ).all()
        for row in stored:
            if row.withdrawn_at is not None:
                raise CaseWithdrawn(
                    f"case {row.id!r} was withdrawn on {row.withdrawn_at:%Y-%m-%d}; "
                    "it is not imported again"
                )
            if row.questionnaire_id != questionnaire_id:
                raise CaseBelongsElsewhere(
                    f"case {row.id!r} belongs to questionnaire {row.questionnaire_id!r}"
                )
