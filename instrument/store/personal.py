"""Answers that identify a person: beside the interview, never in its state or events.

A question marked ``identifying`` (docs/questionnaire-format.md) asks for
something that identifies a person: a roster's first names, an email typed
during the interview. Its answers are kept here, one row per interview and
variable key, and not in ``interviews.state`` or ``answer_events``: so the
dataset builder, the export rows, the paradata and every export (which read
only those) cannot hold them. The interview service puts them back into the
state it decodes, so fills still show a name during the interview
(:mod:`instrument.dataset.personal`). Withdrawal deletes them.

They are written only as part of the interview's own save (a
:class:`~instrument.store.records.PersonalChange` given to ``save_interview``,
in its transaction or its one statement), so the state and the personal
answers land together or not at all, and a replayed, stale or withdrawn save
writes neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase
from instrument.store.records import PersonalChange
from instrument.store.schema import personal_answers

__all__ = ["PersonalAnswers", "personal_rows", "refuse_nul_in_personal", "write_personal"]


class PersonalAnswers(StoreBase):
    """:meth:`personal_answers` (and :meth:`personal_answers_of`, for exports); they are
    written by ``save_interview`` and ``import_interviews``."""

    def personal_answers(self, interview_id: str) -> dict[str, Any]:
        """The interview's personal answers by variable key (empty when it has none)."""
        if NUL in interview_id:
            return {}
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(personal_answers.c.variable, personal_answers.c.value).where(
                    personal_answers.c.interview_id == interview_id
                )
            )
            return {variable: value for variable, value in rows.all()}  # noqa: C416 (Rows)

    def personal_answers_of(self, interview_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The personal answers of many interviews at once, by interview id (those with none
        are absent).

        For an export that codes stored states: it merges them back in memory so
        values derived from them come out as in the interview, and writes none of
        them (``build_dataset(personal=...)``). One query per call.
        """
        wanted = sorted({i for i in interview_ids if NUL not in i})
        found: dict[str, dict[str, Any]] = {}
        if not wanted:
            return found
        stmt = sa.select(
            personal_answers.c.interview_id, personal_answers.c.variable, personal_answers.c.value
        ).where(personal_answers.c.interview_id.in_(sa.bindparam("ids", expanding=True)))
        with self._transaction() as connection:
            for interview_id, variable, value in connection.execute(stmt, {"ids": wanted}):
                found.setdefault(interview_id, {})[variable] = value
        return found


def refuse_nul_in_personal(put: Mapping[str, Any], drop: Iterable[str] = ()) -> None:
    """Personal answers' keys and values checked for NULs before a save or import sends anything."""
    for key in drop:
        refuse_nul("personal answer variable", key)
    for key, value in put.items():
        refuse_nul("personal answer variable", key)
        refuse_nul_in_json(f"personal answer {key}", value)


def personal_rows(
    interview_id: str, put: Mapping[str, Any], now: dt.datetime
) -> list[dict[str, Any]]:
    """Rows of ``personal_answers`` for an interview's answers ``put``."""
    return [
        {"interview_id": interview_id, "variable": k, "value": v, "updated_at": now}
        for k, v in put.items()
    ]


def write_personal(
    connection: sa.Connection, interview_id: str, change: PersonalChange, now: dt.datetime
) -> None:
    """Apply ``change`` inside the caller's transaction (the save's, after its compare-and-set).

    The rows it replaces are deleted and inserted again: two plain statements
    that mean the same on SQLite and PostgreSQL (PostgreSQL's one-statement save
    does the same with an upsert, see ``DirectStatements.save_sql``).
    """
    gone = [*change.drop, *change.put]
    if gone:
        connection.execute(
            personal_answers.delete().where(
                personal_answers.c.interview_id == interview_id,
                personal_answers.c.variable.in_(gone),
            )
        )
    if change.put:
        connection.execute(personal_answers.insert(), personal_rows(interview_id, change.put, now))
