"""Answers that identify a person: beside the interview, never in its state or events.

A question marked ``identifying`` (docs/questionnaire-format.md) asks for
something that identifies a person: a roster's first names, an email typed
during the interview. Its answers are kept here, one row per interview and
variable key, and not in ``interviews.state`` or ``answer_events``: so the
dataset builder, the export rows, the paradata and every export (which read
only those) cannot hold them. The interview service puts them back into the
state it decodes, so fills still show a name during the interview
(:mod:`instrument.interviews.personal`). Withdrawal deletes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import personal_answers

__all__ = ["PersonalAnswers"]


class PersonalAnswers(StoreBase):
    """:meth:`set_personal_answers` and :meth:`personal_answers`."""

    def set_personal_answers(
        self, interview_id: str, values: Mapping[str, Any], *, now: dt.datetime | None = None
    ) -> None:
        """Make ``values`` (variable key -> JSON value) the interview's personal answers.

        Replaces what was there, in one transaction: a key no longer in
        ``values`` (an answer cleared by going back) is deleted with it.
        """
        refuse_nul("interview id", interview_id)
        for key, value in values.items():
            refuse_nul("personal answer variable", key)
            refuse_nul_in_json(f"personal answer {key}", value)
        at = utc(now)
        with self._transaction(write=True) as connection:
            connection.execute(
                personal_answers.delete().where(personal_answers.c.interview_id == interview_id)
            )
            if values:
                connection.execute(
                    personal_answers.insert(),
                    [
                        {"interview_id": interview_id, "variable": k, "value": v, "updated_at": at}
                        for k, v in values.items()
                    ],
                )

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
