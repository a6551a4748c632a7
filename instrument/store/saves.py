"""Saving an interview: compare-and-set on its revision, events and idempotency key together.

The save of every page turn. On SQLite it is an UPDATE and two INSERTs inside
``BEGIN IMMEDIATE``; on PostgreSQL one statement sent through psycopg directly
(:mod:`instrument.store.pg_direct`). Either way the UPDATE matches only the
expected revision of an interview that is not withdrawn, and only when it
matched nothing does the store read why (docs/store.md, "Concurrency rules").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.engine import PreSerialized, compact_json
from instrument.store.interviews import Interviews
from instrument.store.nul import (
    NUL,
    escaped_nul_among,
    refuse_nul,
    refuse_nul_in_events,
    refuse_nul_in_json,
)
from instrument.store.personal import refuse_nul_in_personal, write_personal
from instrument.store.plumbing import PLAIN_COLUMNS, KeyAlreadyUsed, TextWithNul, utc
from instrument.store.records import (
    InterviewNotFound,
    InterviewRecord,
    InterviewWithdrawn,
    NewEvent,
    NulCharacterRefused,
    PersonalChange,
    SaveResult,
    StaleRevision,
    StoreError,
    last_answered,
)
from instrument.store.schema import (
    FINISHED_STATUSES,
    INTERVIEW_STATUSES,
    UTCDateTime,
    answer_events,
    idempotency_keys,
    interviews,
)

__all__ = ["InterviewSaves"]

_B_ID = sa.bindparam("b_id", type_=sa.String())
_B_NOW = sa.bindparam("b_now", type_=UTCDateTime())
_B_KEY = sa.bindparam("b_key", type_=sa.String())

# The compare-and-set: one UPDATE that matches only the expected revision of
# an interview that is not withdrawn, moves the revision and the event counter
# on, and returns the new row (minus the state, which the caller holds).
_SAVE: Final = (
    interviews.update()
    .where(
        interviews.c.id == _B_ID,
        interviews.c.revision == sa.bindparam("b_expected", type_=sa.Integer()),
        interviews.c.status != sa.bindparam("b_withdrawn", "withdrawn", type_=sa.String()),
    )
    .values(
        state=sa.bindparam("b_state", type_=interviews.c.state.type),
        export_row=sa.bindparam("b_export_row", type_=sa.Text()),
        status=sa.bindparam("b_status", type_=sa.String()),
        mode=sa.bindparam("b_mode", type_=sa.String()),
        language=sa.func.coalesce(
            sa.bindparam("b_language", type_=sa.String()), interviews.c.language
        ),
        revision=interviews.c.revision + 1,
        updated_at=_B_NOW,
        finished_at=sa.case(
            (
                sa.bindparam("b_finished", type_=sa.Boolean()),
                sa.func.coalesce(interviews.c.finished_at, _B_NOW),
            ),
            else_=sa.null(),
        ),
        last_seq=interviews.c.last_seq + sa.bindparam("b_count", type_=sa.Integer()),
        last_answered=sa.func.coalesce(
            sa.bindparam("b_last_answered", type_=sa.String()), interviews.c.last_answered
        ),
    )
    .returning(*PLAIN_COLUMNS, interviews.c.last_seq)
)

_INSERT_EVENTS: Final = answer_events.insert()
_INSERT_KEY: Final = idempotency_keys.insert()

# Why a save matched nothing: no such interview, a replayed key, withdrawn, or stale.
_WHY_NOT_SAVED: Final = (
    sa.select(
        interviews.c.revision,
        interviews.c.status,
        idempotency_keys.c.revision.label("key_revision"),
        idempotency_keys.c.first_seq,
        idempotency_keys.c.event_count,
    )
    .select_from(
        interviews.outerjoin(
            idempotency_keys,
            sa.and_(
                idempotency_keys.c.interview_id == interviews.c.id,
                idempotency_keys.c.key == _B_KEY,
            ),
        )
    )
    .where(interviews.c.id == _B_ID)
)


def _refuse_nul_in_save(
    interview_id: str,
    mode: str,
    language: str | None,
    idempotency_key: str | None,
    export_row: str | None,
    events: Sequence[NewEvent],
    value_texts: Sequence[str | None],
    state: dict[str, Any],
    state_text: str | None,
) -> None:
    """Every text of a save, checked before anything is sent (see instrument.store.nul).

    Plain ``in`` tests unless one finds a NUL, then the field is named.
    ``value_texts`` and ``state_text`` are the event values and the state as
    they will be written (``state_text`` None: not serialised by the store).
    """
    if NUL in interview_id:
        raise InterviewNotFound(interview_id)  # no stored id holds one
    if (
        NUL in mode
        or (language is not None and NUL in language)
        or (idempotency_key is not None and NUL in idempotency_key)
        or (export_row is not None and NUL in export_row)
    ):
        refuse_nul("mode", mode)
        refuse_nul("language", language)
        refuse_nul("idempotency key", idempotency_key)
        refuse_nul("export row", export_row)
    if events:
        refuse_nul_in_events(events, value_texts)
    refuse_nul_in_json("state", state, state_text)


class InterviewSaves(Interviews):
    """:meth:`save_interview` and how it finds out why a save wrote nothing."""

    def save_interview(
        self,
        interview_id: str,
        *,
        expected_revision: int,
        state: dict[str, Any],
        status: str,
        mode: str,
        events: Sequence[NewEvent] = (),
        idempotency_key: str | None = None,
        now: dt.datetime | None = None,
        language: str | None = None,
        export_row: str | None = None,
        personal: PersonalChange | None = None,
    ) -> SaveResult:
        """Save a new state snapshot and append events, all or nothing.

        In one transaction: lock the interview row; if ``idempotency_key``
        was used before on this interview, return that save's result with
        ``replayed=True`` and write nothing; otherwise require the stored
        revision to equal ``expected_revision`` (else :class:`StaleRevision`,
        nothing written), write the state at revision + 1, append ``events``
        with consecutive seq numbers, and record the key.

        ``export_row`` is the dataset row this state gives (see
        :class:`instrument.dataset.RowCoder`); without one the stored row is
        cleared, so a row is never older than its state.

        ``personal``, when given, is how the interview's identifying answers
        changed (:class:`PersonalChange`): written in the same transaction (on
        PostgreSQL, the same statement) as the state, so both land or neither
        does; a replayed, stale or withdrawn save writes it no more than the
        state. Without it they are left as they are, and nothing is added to
        the save.

        A NUL character anywhere in the state, the events or the other texts
        raises :class:`NulCharacterRefused` (naming where) and writes nothing,
        on every backend; a caller taking answers from people strips or
        refuses NULs before saving.
        """
        if status not in INTERVIEW_STATUSES:
            raise ValueError(f"unknown interview status {status!r}")
        if status == "withdrawn":
            raise ValueError("withdrawal deletes data: use Store.withdraw, not save_interview")
        now = utc(now)
        # Each event value serialised once: looked at for NULs, then written as this text.
        value_texts = [None if item.value is None else compact_json(item.value) for item in events]
        # Serialised once: the same text is checked for NULs and written.
        state_text = compact_json(state) if self._own_json else None
        checks = (interview_id, mode, language, idempotency_key, export_row, events, value_texts)
        if personal is not None:
            refuse_nul_in_personal(personal.put, personal.drop)
        if self._direct is None or state_text is None:
            # Core would store a NUL (SQLite) or fail in the driver: every text is checked here.
            _refuse_nul_in_save(*checks, state, state_text)
        elif escaped_nul_among([state_text, *value_texts]):
            # On PostgreSQL psycopg refuses a raw NUL in a text parameter (caught
            # below); only the JSON texts, where a NUL is escaped, need a look.
            _refuse_nul_in_save(*checks, state, state_text)
        params = {
            "b_id": interview_id,
            "b_expected": expected_revision,
            "b_state": PreSerialized(state_text) if state_text is not None else state,
            "b_export_row": export_row,
            "b_status": status,
            "b_mode": mode,
            "b_language": language,
            "b_now": now,
            "b_finished": status in FINISHED_STATUSES,
            "b_count": len(events),
            "b_last_answered": last_answered(events),
        }
        if self._direct is not None:
            state_json = state_text if state_text is not None else compact_json(state)
            try:
                saved = self._save_in_one_statement(
                    params, state_json, events, value_texts, idempotency_key, mode, now, personal
                )
            except TextWithNul:
                _refuse_nul_in_save(*checks, state, state_text)  # names where it is
                raise NulCharacterRefused("a text of the save") from None
            if saved is None:
                with self._transaction() as connection:
                    return self._not_saved(
                        connection, interview_id, expected_revision, idempotency_key
                    )
            last_seq = saved.pop("last_seq")
            first_seq = last_seq - len(events) + 1 if events else None
            values = saved
        else:
            try:
                row, first_seq = self._save_in_a_transaction(
                    params, events, value_texts, idempotency_key, mode, now, personal
                )
            except KeyAlreadyUsed:
                row = None
            if row is None:
                with self._transaction() as connection:
                    return self._not_saved(
                        connection, interview_id, expected_revision, idempotency_key
                    )
            values = row._asdict()
            del values["last_seq"]
        questionnaire_id, version = self._labels(values["questionnaire_version_id"])
        record = InterviewRecord(
            **values, questionnaire_id=questionnaire_id, version=version, state=state
        )
        return SaveResult(
            interview_id=interview_id,
            revision=values["revision"],
            replayed=False,
            first_seq=first_seq,
            event_count=len(events),
            record=record,
        )

    def _save_in_a_transaction(
        self,
        params: dict[str, Any],
        events: Sequence[NewEvent],
        value_texts: Sequence[str | None],
        idempotency_key: str | None,
        mode: str,
        now: dt.datetime,
        personal: PersonalChange | None,
    ) -> tuple[sa.Row[Any] | None, int | None]:
        """The save as an UPDATE and two INSERTs (and the personal answers' change) in one
        write transaction (SQLite)."""
        with self._transaction(write=True) as connection:
            # Compare-and-set: matches only at the expected revision. SQLite's
            # BEGIN IMMEDIATE holds the write lock throughout.
            row = connection.execute(_SAVE, params).one_or_none()
            if row is None:
                return None, None
            first_seq = row.last_seq - len(events) + 1 if events else None
            if idempotency_key is not None:
                try:
                    connection.execute(
                        _INSERT_KEY,
                        {
                            "interview_id": params["b_id"],
                            "key": idempotency_key,
                            "revision": row.revision,
                            "first_seq": first_seq,
                            "event_count": len(events),
                            "created_at": now,
                        },
                    )
                except sa.exc.IntegrityError as exc:
                    # The key was used at an earlier revision, and this save
                    # carries the current one: undo the UPDATE, answer from the key.
                    raise KeyAlreadyUsed from exc
            if events:
                assert first_seq is not None
                connection.execute(
                    _INSERT_EVENTS,
                    [
                        {
                            "interview_id": params["b_id"],
                            "seq": first_seq + offset,
                            "kind": item.kind,
                            "variable": item.variable,
                            "value": item.value
                            if text is None or not self._own_json
                            else PreSerialized(text),
                            "mode": item.mode or mode,
                            "actor": item.actor,
                            "at": utc(item.at) if item.at is not None else now,
                        }
                        for offset, (item, text) in enumerate(zip(events, value_texts))
                    ],
                )
            if personal is not None:  # after the compare-and-set matched: never on a refused save
                write_personal(connection, params["b_id"], personal, now)
        return row, first_seq

    def _save_in_one_statement(
        self,
        params: dict[str, Any],
        state_json: str,
        events: Sequence[NewEvent],
        value_texts: Sequence[str | None],
        idempotency_key: str | None,
        mode: str,
        now: dt.datetime,
        personal: PersonalChange | None,
    ) -> dict[str, Any] | None:
        """The save as one statement without BEGIN/COMMIT (PostgreSQL; see ``DirectStatements.save_sql``).

        None when it matched nothing or its idempotency key was used before:
        the caller then asks why.
        """
        assert self._direct is not None
        values = dict(params)
        values["b_state"] = state_json
        values["b_key"] = idempotency_key
        names = self._direct.event_keys(len(events))
        for item, text, (kind, variable, value, event_mode, actor, at) in zip(
            events, value_texts, names
        ):
            values[kind] = item.kind
            values[variable] = item.variable
            values[value] = text
            values[event_mode] = item.mode or mode
            values[actor] = item.actor
            values[at] = utc(item.at) if item.at is not None else now
        shape = (0, False)
        if personal is not None:
            shape = (len(personal.put), bool(personal.drop))
            values["b_drop"] = list(personal.drop)
            for n, (variable, value) in enumerate(personal.put.items(), start=1):
                values[f"p{n}_variable"] = variable
                values[f"p{n}_value"] = None if value is None else compact_json(value)
        try:
            return self._direct.save(values, len(events), idempotency_key is not None, shape)
        except KeyAlreadyUsed:
            return None

    @staticmethod
    def _not_saved(
        connection: sa.Connection,
        interview_id: str,
        expected_revision: int,
        idempotency_key: str | None,
    ) -> SaveResult:
        """Why a save wrote nothing, in the order the API promises: unknown, replay, withdrawn, stale.

        Called in the save's own transaction, after its UPDATE matched no row,
        or after a save rolled back because its key was used before. The
        revision only ever grows and withdrawal is final, so whatever made the
        UPDATE miss is still true here.
        """
        why = connection.execute(
            _WHY_NOT_SAVED, {"b_id": interview_id, "b_key": idempotency_key}
        ).one_or_none()
        if why is None:
            raise InterviewNotFound(interview_id)
        if idempotency_key is not None and why.key_revision is not None:
            return SaveResult(
                interview_id=interview_id,
                revision=why.key_revision,
                replayed=True,
                first_seq=why.first_seq,
                event_count=why.event_count,
            )
        if why.status == "withdrawn":
            raise InterviewWithdrawn(f"interview {interview_id} was withdrawn")
        if why.revision != expected_revision:
            raise StaleRevision(interview_id, expected_revision, why.revision)
        raise StoreError(
            f"interview {interview_id} could not be saved at revision {expected_revision}"
        )
