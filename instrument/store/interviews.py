"""Interviews: starting one and reading it back (saving is :mod:`instrument.store.saves`).

Reading is on every page turn, so its statements are built once here: building
a Core statement costs more CPU than running it (coercions, cache key), and a
statement built once is compiled once and its cache key memoised on it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import INTERVIEW_COLUMNS, PLAIN_COLUMNS, StoreBase, utc
from instrument.store.records import InterviewNotFound, InterviewRecord
from instrument.store.schema import case_queue, cases, interviews, questionnaire_versions

__all__ = ["Interviews", "interview_select", "load_in"]

_B_ID = sa.bindparam("b_id", type_=sa.String())

_LOAD: Final = (
    sa.select(
        *PLAIN_COLUMNS,
        # The state as its JSON text: decoded here, and kept as text by the cache.
        sa.cast(interviews.c.state, sa.Text).label("state"),
        questionnaire_versions.c.questionnaire_id,
        questionnaire_versions.c.version,
    )
    .select_from(
        interviews.join(
            questionnaire_versions,
            interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
        )
    )
    .where(interviews.c.id == _B_ID)
)

_REVISION_OF: Final = sa.select(interviews.c.revision).where(interviews.c.id == _B_ID)

_VERSION_LABELS: Final = sa.select(
    questionnaire_versions.c.questionnaire_id, questionnaire_versions.c.version
).where(questionnaire_versions.c.id == sa.bindparam("b_version_id", type_=sa.Integer()))


def interview_select() -> sa.Select[Any]:
    """Whole interviews with their questionnaire id and version label, to filter further."""
    return sa.select(*INTERVIEW_COLUMNS).select_from(
        interviews.join(
            questionnaire_versions,
            interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
        )
    )


# Starting an interview's statements, built once (building them cost about as much as running them).
_B_CASE = sa.bindparam("b_case_id", type_=sa.String())
_LOCK_CASE: Final = sa.select(cases.c.id).where(cases.c.id == _B_CASE).with_for_update()
_CASE_FIRST_INTERVIEW: Final = (
    sa.select(interviews.c.id)
    .where(interviews.c.case_id == _B_CASE, interviews.c.status != "withdrawn")
    .order_by(interviews.c.started_at, interviews.c.id)
    .limit(1)
)
_LOAD_IN: Final = interview_select().where(interviews.c.id == _B_ID)
_NEW_INTERVIEW: Final = interviews.insert().values(
    id=_B_ID,
    questionnaire_version_id=sa.bindparam("b_version_id"),
    case_id=sa.bindparam("b_case"),
    mode=sa.bindparam("b_mode"),
    language=sa.bindparam("b_language"),
    status="active",
    is_test=sa.bindparam("b_is_test"),
    state=sa.bindparam("b_state", type_=interviews.c.state.type),
    revision=0,
    started_at=sa.bindparam("b_now", type_=interviews.c.started_at.type),
    updated_at=sa.bindparam("b_now", type_=interviews.c.updated_at.type),
    finished_at=None,
)


def _case_interview(connection: sa.Connection, case_id: str) -> str | None:
    """The case's oldest interview that is not withdrawn, read under a lock on the case's row."""
    locked = connection.execute(_LOCK_CASE, {"b_case_id": case_id}).one_or_none()
    if locked is None:
        raise LookupError(f"no case {case_id!r}")
    return connection.scalar(_CASE_FIRST_INTERVIEW, {"b_case_id": case_id})


def case_interview_language(case_id: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """The language the case's interview speaks now (its oldest not withdrawn, the one every
    mode resumes), as a scalar subquery over ``case_id``: NULL for a case without one.

    What the respondent hears from the study beside the interview (a recording's consent, a
    voicemail message) is said in it: a respondent who switched to Welsh on an inbound call
    is answered in Welsh, whatever language the case was queued in.
    """
    return (
        sa.select(interviews.c.language)
        .where(interviews.c.case_id == case_id, interviews.c.status != "withdrawn")
        .order_by(interviews.c.started_at, interviews.c.id)
        .limit(1)
        .scalar_subquery()
    )


def load_in(connection: sa.Connection, interview_id: str) -> InterviewRecord:
    """One interview, read inside the caller's transaction; :class:`InterviewNotFound` if none."""
    row = connection.execute(_LOAD_IN, {"b_id": interview_id}).one_or_none()
    if row is None:
        raise InterviewNotFound(interview_id)
    return InterviewRecord(**row._asdict())


class Interviews(StoreBase):
    """Creating interviews and reading their current snapshot."""

    def create_interview(
        self,
        version_id: int,
        *,
        mode: str,
        language: str,
        state: dict[str, Any],
        case_id: str | None = None,
        is_test: bool = False,
        now: dt.datetime | None = None,
        interview_id: str | None = None,
        one_per_case: bool = False,
    ) -> InterviewRecord:
        """Start an interview at revision 0 on questionnaire version ``version_id``.

        ``one_per_case`` (with ``case_id``): a case fielded in several modes has
        one interview, so if the case has one that is not withdrawn, that one is
        returned (the oldest) and nothing is created. Two callers at once are
        serialised on the case's row (``FOR UPDATE`` on PostgreSQL, the write
        lock on SQLite), so they never create two; LookupError for an unknown case.
        """
        now = utc(now)
        for field, text in (
            ("mode", mode),
            ("language", language),
            ("case id", case_id),
            ("interview id", interview_id),
        ):
            refuse_nul(field, text)
        refuse_nul_in_json("state", state)
        new_id = interview_id or str(uuid.uuid4())
        with self._transaction(write=True) as connection:
            exists = connection.execute(_VERSION_LABELS, {"b_version_id": version_id}).first()
            if exists is None:
                raise LookupError(f"no questionnaire version {version_id}")
            if one_per_case and case_id is not None:
                existing = _case_interview(connection, case_id)
                if existing is not None:
                    return load_in(connection, existing)
            connection.execute(
                _NEW_INTERVIEW,
                {"b_id": new_id, "b_version_id": version_id, "b_case": case_id, "b_mode": mode,
                 "b_language": language, "b_is_test": is_test, "b_state": state, "b_now": now},
            )  # fmt: skip
            return load_in(connection, new_id)

    def load_interview(self, interview_id: str) -> InterviewRecord:
        """The interview as stored now; :class:`InterviewNotFound` if unknown.

        One statement, without BEGIN/COMMIT. The store keeps no copies: the
        interview service keeps the decoded interviews of a worker process
        (:mod:`instrument.interviews.snapshots`) and proves them current with
        :meth:`revision_of`.
        """
        if NUL in interview_id:
            raise InterviewNotFound(interview_id)  # no stored id holds one
        row = self._read_one(_LOAD, {"b_id": interview_id})
        if row is None:
            raise InterviewNotFound(interview_id)
        values = row._asdict()
        state_text = values.pop("state")
        self._version_labels[row.questionnaire_version_id] = (row.questionnaire_id, row.version)
        return InterviewRecord(**values, state=json.loads(state_text))

    def revision_of(self, interview_id: str) -> int | None:
        """The interview's stored revision (None if there is no such interview): one small read.

        For callers that keep an interview in memory between requests: an
        equal revision proves the kept copy is the stored one (rows are never
        deleted and every change to one raises it).
        """
        if NUL in interview_id:
            return None  # no stored id holds one
        if self._direct is not None:
            return self._direct.revision_of(interview_id)
        current = self._read_one(_REVISION_OF, {"b_id": interview_id})
        return None if current is None else int(current.revision)

    def _labels(self, version_id: int) -> tuple[str, str]:
        """``(questionnaire_id, version)`` of a questionnaire version (rows never change)."""
        labels = self._version_labels.get(version_id)
        if labels is None:
            row = self._read_one(_VERSION_LABELS, {"b_version_id": version_id})
            if row is None:
                raise LookupError(f"no questionnaire version {version_id}")
            labels = self._version_labels.setdefault(version_id, (row[0], row[1]))
        return labels

    def case_language(self, case_id: str) -> str | None:
        """The language a case speaks: its interview's now (:func:`case_interview_language`),
        else the one the call queue fields it in; None for neither (the study's default)."""
        if NUL in case_id:
            return None
        queued = (
            sa.select(case_queue.c.language)
            .where(case_queue.c.case_id == case_id)
            .scalar_subquery()
        )
        query = sa.select(sa.func.coalesce(case_interview_language(sa.literal(case_id)), queued))
        with self._transaction() as connection:
            found = connection.scalar(query)
        return str(found) if found is not None else None

    def interviews_for_case(self, case_id: str) -> list[InterviewRecord]:
        """Every interview of one case, oldest first (a case may span waves or restarts)."""
        if NUL in case_id:
            return []
        stmt = (
            interview_select()
            .where(interviews.c.case_id == case_id)
            .order_by(interviews.c.started_at, interviews.c.id)
        )
        with self._transaction() as connection:
            return [InterviewRecord(**row._asdict()) for row in connection.execute(stmt)]
