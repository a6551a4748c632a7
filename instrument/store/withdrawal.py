"""Withdrawal: a respondent's answers (personal ones too), preload values and contact details deleted, a tombstone kept.

What remains of each interview is its row without answers (questionnaire
version, mode, language, times, status ``withdrawn``), so response rates still
add up and nobody is invited again by mistake. The revision moves on, so a
save still in flight is refused, and any later save raises
:class:`InterviewWithdrawn`. The answer-event log is otherwise never rewritten.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from instrument.store.fieldwork_numbers import forget_fieldwork
from instrument.store.interviews import Interviews
from instrument.store.ivr_calls import forget_ivr_calls
from instrument.store.nul import NUL
from instrument.store.plumbing import utc
from instrument.store.recording_deletions import list_recordings_of
from instrument.store.records import WithdrawalReport
from instrument.store.schema import (
    access_tokens,
    answer_events,
    cases,
    contacts,
    idempotency_keys,
    interviews,
    personal_answers,
    questionnaire_versions,
)

__all__ = ["Withdrawals", "withdraw_in"]

WITHDRAWN = ("interview_withdrawn", "case_withdrawn")
"""Why a withdrawal lists recordings for deletion: an interview alone, or a whole case."""


def _empty_preload(connection: sa.Connection, case_id: str, now: dt.datetime) -> int:
    """Empty a case's preload values and mark it withdrawn; how many values there were.

    A case not stored yet but with interviews gets a row of its own, empty and
    withdrawn, so that importing it later is refused too.
    """
    preload = connection.scalar(
        sa.select(cases.c.preload).where(cases.c.id == case_id).with_for_update()
    )
    if preload is None:
        questionnaire_id = connection.scalar(
            sa.select(questionnaire_versions.c.questionnaire_id)
            .select_from(
                interviews.join(
                    questionnaire_versions,
                    interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
                )
            )
            .where(interviews.c.case_id == case_id)
            .limit(1)
        )
        if questionnaire_id is not None:
            connection.execute(
                cases.insert().values(
                    id=case_id,
                    questionnaire_id=questionnaire_id,
                    preload={},
                    created_at=now,
                    updated_at=now,
                    withdrawn_at=now,
                )
            )
        return 0
    connection.execute(
        cases.update()
        .where(cases.c.id == case_id)
        .values(
            preload={},
            updated_at=now,
            withdrawn_at=sa.func.coalesce(cases.c.withdrawn_at, now),
        )
    )
    return len(preload) if isinstance(preload, dict) else 1


class Withdrawals(Interviews):
    """:meth:`withdraw` (a case) and :meth:`withdraw_interview` (one open-link interview)."""

    def withdraw(self, case_id: str, *, now: dt.datetime | None = None) -> WithdrawalReport:
        """Delete a case's answers, preload values and contact details, keeping a tombstone.

        In one transaction, for every interview of the case: delete its
        events, idempotency keys and personal answers, empty its state, export row and last
        answer, set status
        ``withdrawn`` and bump its revision (so any save still in flight is
        refused); empty the case's preload values; delete the case's contact
        row; expire its access tokens; delete its phone numbers, call-queue
        row and appointments, and empty the notes on its attempts
        (:func:`~instrument.store.fieldwork_numbers.forget_fieldwork`).
        What remains is the interview row
        without answers (questionnaire version, mode, times), and the case
        row without preload values, so response rates still add up.
        """
        if NUL in case_id:
            return WithdrawalReport(case_id=case_id)  # no stored id holds one
        return self._withdraw(interviews.c.case_id == case_id, case_id=case_id, now=now)

    def withdraw_interview(
        self, interview_id: str, *, now: dt.datetime | None = None
    ) -> WithdrawalReport:
        """Withdraw one interview (an open-link respondent has no case id); as :meth:`withdraw`.

        The case's contact details and preload values, which its other
        interviews may need, are left alone.
        """
        record = self.load_interview(interview_id)
        return self._withdraw(
            interviews.c.id == interview_id, case_id=record.case_id, now=now, whole_case=False
        )

    def _withdraw(
        self,
        which: sa.ColumnElement[bool],
        *,
        case_id: str | None,
        now: dt.datetime | None,
        whole_case: bool = True,
    ) -> WithdrawalReport:
        now = utc(now)
        with self._transaction(write=True) as connection:
            return withdraw_in(connection, which, case_id=case_id, now=now, whole_case=whole_case)


def withdraw_in(
    connection: sa.Connection,
    which: sa.ColumnElement[bool],
    *,
    case_id: str | None,
    now: dt.datetime,
    whole_case: bool = True,
) -> WithdrawalReport:
    """What :meth:`Withdrawals.withdraw` does, inside the caller's transaction.

    For a withdrawal that is part of a larger change which must stand or fall
    with it (a panel member's "delete my answers too": every case of the
    member and the member's own record in one transaction).
    """
    ids = tuple(
        connection.scalars(
            sa.select(interviews.c.id).where(which).order_by(interviews.c.id).with_for_update()
        )
    )
    events_deleted = personal_deleted = 0
    # Before the answers go: the recordings they (and the case's calls) name, to delete at the
    # provider, listed in this transaction (instrument.store.recording_deletions).
    whole = case_id if whole_case else None
    recordings_listed = list_recordings_of(
        connection, ids, case_id=whole, reason=WITHDRAWN[whole is not None], now=now
    )
    if ids:
        events_deleted = connection.execute(
            answer_events.delete().where(answer_events.c.interview_id.in_(ids))
        ).rowcount
        connection.execute(
            idempotency_keys.delete().where(idempotency_keys.c.interview_id.in_(ids))
        )
        personal_deleted = connection.execute(
            personal_answers.delete().where(personal_answers.c.interview_id.in_(ids))
        ).rowcount
        forget_ivr_calls(connection, ids)  # a call's state holds what was keyed
        connection.execute(
            interviews.update()
            .where(interviews.c.id.in_(ids))
            .values(
                state={},
                export_row=None,
                last_answered=None,  # the answer log is gone: nothing was answered
                status="withdrawn",
                revision=interviews.c.revision + 1,
                updated_at=now,
                finished_at=sa.func.coalesce(interviews.c.finished_at, now),
            )
        )
    contacts_deleted = preload_values_deleted = 0
    fieldwork: dict[str, int] = {}
    if case_id is not None and whole_case:
        contacts_deleted = connection.execute(
            contacts.delete().where(contacts.c.case_id == case_id)
        ).rowcount
        preload_values_deleted = _empty_preload(connection, case_id, now)
        fieldwork = forget_fieldwork(connection, case_id)
    token_match = []
    if case_id is not None and whole_case:
        token_match.append(access_tokens.c.case_id == case_id)
    if ids:
        token_match.append(access_tokens.c.interview_id.in_(ids))
    tokens_revoked = 0
    if token_match:
        tokens_revoked = connection.execute(
            access_tokens.update()
            .where(
                sa.or_(*token_match),
                sa.or_(access_tokens.c.expires_at.is_(None), access_tokens.c.expires_at > now),
            )
            .values(expires_at=now)
        ).rowcount
    return WithdrawalReport(
        case_id=case_id,
        interview_ids=ids,
        events_deleted=events_deleted,
        contacts_deleted=contacts_deleted,
        tokens_revoked=tokens_revoked,
        preload_values_deleted=preload_values_deleted,
        personal_answers_deleted=personal_deleted,
        recordings_listed=recordings_listed,
        **fieldwork,
    )
