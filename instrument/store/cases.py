"""Cases: the pseudonymous unit a personal link belongs to, with its preload values.

A case carries the values of the questionnaire's ``preload:`` variables (what
a panel already knows about the respondent: last wave's answers, the sample
frame's region), so every mode can start the case's interview with them. No
personal data: names, emails and phone numbers stay in ``contacts``, and the
case id is pseudonymous. Withdrawal empties a case's preload values.

Kept minimal on purpose: the telephone issue extends this table (phone numbers
go to contacts, call outcomes to their own tables).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.engine import PreSerialized, compact_json
from instrument.store.nul import NUL, refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import CaseBelongsElsewhere, CaseRecord, CaseWithdrawn
from instrument.store.schema import cases, interviews

__all__ = ["Cases", "checked_case", "upsert_cases"]

_GET_CASE: Final = sa.select(cases).where(
    cases.c.id == sa.bindparam("b_case_id", type_=sa.String())
)
"""A case with its preloads (read when every interview of a case starts), built once."""

_MAX_CASE_ID: Final = cases.c.id.type.length
_MAX_QUESTIONNAIRE_ID: Final = cases.c.questionnaire_id.type.length


def checked_case(
    case_id: str, questionnaire_id: str, preload: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """A case's preload values and their JSON text, after the checks every way of storing a case makes.

    ValueError for an empty or too long id, or a NUL character anywhere
    (:class:`NulCharacterRefused`); TypeError for preload that is not plain JSON.
    """
    if not case_id or len(case_id) > _MAX_CASE_ID:
        raise ValueError(f"a case id has 1 to {_MAX_CASE_ID} characters, not {len(case_id)}")
    if not questionnaire_id or len(questionnaire_id) > _MAX_QUESTIONNAIRE_ID:
        raise ValueError(f"a questionnaire id has 1 to {_MAX_QUESTIONNAIRE_ID} characters")
    refuse_nul("case id", case_id)
    refuse_nul("questionnaire id", questionnaire_id)
    values = dict(preload)
    wrong_keys = [key for key in values if not isinstance(key, str)]
    if wrong_keys:
        raise TypeError(f"preload keys are variable names (text), not {wrong_keys[0]!r}")
    try:
        text = compact_json(values)
    except TypeError as exc:
        raise TypeError(f"preload values must be plain JSON: {exc}") from None
    refuse_nul_in_json("preload", values, text)
    return values, text


def upsert_cases(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (id) DO UPDATE`` for the backend (both have it; the spelling is per dialect)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(cases)
    return statement.on_conflict_do_update(
        index_elements=[cases.c.id],
        set_={
            "questionnaire_id": statement.excluded.questionnaire_id,
            "preload": statement.excluded.preload,
            "updated_at": statement.excluded.updated_at,
        },
    )


class Cases(StoreBase):
    """:meth:`put_case` and :meth:`get_case`."""

    def put_case(
        self,
        case_id: str,
        questionnaire_id: str,
        preload: Mapping[str, Any],
        *,
        now: dt.datetime | None = None,
    ) -> CaseRecord:
        """Store a case with its preload values, or replace them (``created_at`` is kept).

        ``preload`` maps the questionnaire's preload variable names to plain
        JSON values (strings, numbers, booleans, null, lists and objects of
        them); anything else is a TypeError. ValueError for an empty or too
        long id, or a NUL character anywhere (:class:`NulCharacterRefused`).
        :class:`CaseWithdrawn` if the case was withdrawn (a withdrawal is never
        undone by importing the case again); :class:`CaseBelongsElsewhere` if
        the id is stored for another questionnaire. Nothing is written then.
        """
        values, text = checked_case(case_id, questionnaire_id, preload)
        now = utc(now)
        with self._transaction(write=True) as connection:
            stored = connection.execute(
                sa.select(cases.c.questionnaire_id, cases.c.withdrawn_at)
                .where(cases.c.id == case_id)
                .with_for_update()
            ).one_or_none()
            if stored is not None and stored.withdrawn_at is not None:
                raise CaseWithdrawn(
                    f"case {case_id!r} was withdrawn on {stored.withdrawn_at:%Y-%m-%d}; "
                    "it is not imported again"
                )
            if stored is not None and stored.questionnaire_id != questionnaire_id:
                raise CaseBelongsElsewhere(
                    f"case {case_id!r} belongs to questionnaire {stored.questionnaire_id!r}"
                )
            connection.execute(
                upsert_cases(self.dialect),
                {
                    "id": case_id,
                    "questionnaire_id": questionnaire_id,
                    "preload": PreSerialized(text) if self._own_json else values,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        case = self.get_case(case_id)
        assert case is not None
        return case

    def get_case(self, case_id: str) -> CaseRecord | None:
        """A case with its preload values, or None."""
        if NUL in case_id:
            return None  # no stored id holds one (see instrument.store.nul)
        row = self._read_one(_GET_CASE, {"b_case_id": case_id})
        return None if row is None else CaseRecord(**row._asdict())

    def unfinished_cases(self, questionnaire_id: str) -> list[str]:
        """The questionnaire's cases not withdrawn whose interview (if any) is not finished,
        oldest first: those a mode that contacts people itself (texts, calls) may still ask."""
        finished = sa.exists().where(
            interviews.c.case_id == cases.c.id, interviews.c.finished_at.is_not(None)
        )
        query = (
            sa.select(cases.c.id)
            .where(
                cases.c.questionnaire_id == questionnaire_id,
                cases.c.withdrawn_at.is_(None),
                ~finished,
            )
            .order_by(cases.c.created_at, cases.c.id)
        )
        with self._transaction() as connection:
            return [str(row.id) for row in connection.execute(query)]
