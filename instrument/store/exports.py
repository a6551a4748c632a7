"""Reading a questionnaire's interviews in bulk: what exports, reports and counts read.

Streams run in one read transaction, so an export sees a consistent snapshot
while fieldwork carries on writing, and fetch their rows in batches (a
server-side cursor on PostgreSQL), so memory stays flat for 100,000 interviews.
Consume a stream to the end or close it: it holds a connection until then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

import sqlalchemy as sa

from instrument.store.interviews import interview_select
from instrument.store.nul import NUL
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import ExportRecord, InterviewRecord
from instrument.store.schema import INTERVIEW_STATUSES, interviews, questionnaire_versions

__all__ = ["Exports", "interview_filter"]


def interview_filter(
    stmt: sa.Select[Any],
    questionnaire_id: str,
    statuses: Collection[str] | None,
    include_test: bool,
    since: dt.datetime | None,
) -> sa.Select[Any]:
    """``stmt`` (joined to the versions) narrowed to one questionnaire's interviews, oldest first."""
    stmt = stmt.where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
    if statuses is not None:
        unknown = set(statuses) - set(INTERVIEW_STATUSES)
        if unknown:
            raise ValueError(f"unknown interview statuses {sorted(unknown)}")
        stmt = stmt.where(interviews.c.status.in_(list(statuses)))
    if not include_test:
        stmt = stmt.where(interviews.c.is_test.is_(False))
    if since is not None:
        stmt = stmt.where(interviews.c.updated_at >= utc(since))
    return stmt.order_by(interviews.c.started_at, interviews.c.id)


def _versions_join() -> sa.Join:
    return interviews.join(
        questionnaire_versions,
        interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
    )


class Exports(StoreBase):
    """Streams of interviews and export records, and counts by status."""

    def iter_interviews(
        self,
        questionnaire_id: str,
        *,
        statuses: Collection[str] | None = None,
        include_test: bool = False,
        since: dt.datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[InterviewRecord]:
        """Stream the interviews of a questionnaire (all its versions), oldest first.

        ``statuses`` limits to those statuses (all if None); test interviews
        are left out unless ``include_test``; ``since`` keeps interviews
        *updated* at or after that time. Rows arrive ``batch_size`` at a time
        (a server-side cursor on PostgreSQL), so memory stays flat for
        100,000 interviews. The read runs in one transaction, so the stream
        is a consistent snapshot on PostgreSQL and in SQLite's WAL mode.
        """
        if NUL in questionnaire_id:
            return  # no stored id holds one (see instrument.store.nul)
        stmt = interview_filter(interview_select(), questionnaire_id, statuses, include_test, since)
        with self._transaction() as connection:
            result = connection.execute(stmt.execution_options(yield_per=batch_size))
            for row in result:
                yield InterviewRecord(**row._asdict())

    def iter_export_records(
        self,
        questionnaire_id: str,
        *,
        export_keys: Collection[str] = (),
        statuses: Collection[str] | None = None,
        include_test: bool = False,
        since: dt.datetime | None = None,
        batch_size: int = 5000,
    ) -> Iterator[ExportRecord]:
        """Stream what an export needs of each interview, oldest first (filters as :meth:`iter_interviews`).

        Each record carries the interview's stored export row; one whose row
        begins with one of ``export_keys`` (all of one length) comes without
        its state (``{}``): the export reads the row instead, and the
        database sends and decodes no state for it. No times are read except
        ``updated_at`` when selecting by ``since``.
        """
        if NUL in questionnaire_id:
            return
        keys = sorted(set(export_keys))
        if len({len(key) for key in keys}) > 1:
            raise ValueError("export keys must all have the same length")
        state: sa.ColumnElement[Any] = interviews.c.state
        if keys:
            state = sa.type_coerce(
                sa.case(
                    (sa.func.substr(interviews.c.export_row, 1, len(keys[0])).in_(keys), sa.null()),
                    else_=interviews.c.state,
                ),
                interviews.c.state.type,
            )
        stmt = sa.select(
            interviews.c.id,
            interviews.c.questionnaire_version_id,
            questionnaire_versions.c.content_hash,
            interviews.c.status,
            interviews.c.is_test,
            interviews.c.updated_at if since is not None else sa.null().label("updated_at"),
            interviews.c.export_row,
            state.label("state"),
        ).select_from(_versions_join())
        stmt = interview_filter(stmt, questionnaire_id, statuses, include_test, since)
        make = ExportRecord._make
        with self._transaction() as connection:
            result = connection.execute(stmt.execution_options(yield_per=batch_size))
            for row in result:
                record = make(row)
                yield record if record.state is not None else record._replace(state={})

    def count_by_status(
        self, questionnaire_id: str, *, include_test: bool = False
    ) -> dict[str, int]:
        """Interviews of a questionnaire per status; every status is present, zeros included."""
        counts = dict.fromkeys(INTERVIEW_STATUSES, 0)
        if NUL in questionnaire_id:
            return counts
        stmt = (
            sa.select(interviews.c.status, sa.func.count())
            .select_from(_versions_join())
            .where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
            .group_by(interviews.c.status)
        )
        if not include_test:
            stmt = stmt.where(interviews.c.is_test.is_(False))
        with self._transaction() as connection:
            for status, count in connection.execute(stmt):
                counts[status] = count
        return counts
