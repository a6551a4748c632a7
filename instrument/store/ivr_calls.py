"""Automated calls: where each call's flow stands, the turns answered, and inbound access codes.

A call is one ``ivr_calls`` row, keyed by the provider's call sid: the
interview and case it runs, its direction, the call flow's state
(:class:`instrument.ivr.flow.FlowState` as JSON) and the number of the last
webhook turn answered. Every turn answered is an ``ivr_turns`` row with the
TwiML it was answered with, stored in the same transaction as the call's new
state: a retried or duplicated webhook (same call, same turn number) finds the
turn and is answered with the same bytes, and a late one (an older number)
too, so nothing is stored twice and nothing moves back. Two copies of one
request racing both try to insert the turn; the second insert does nothing
and both answer with the first one's TwiML.

A webhook turn costs two statements here, its read and its write (and the
interview's save between them is the interview service's): the read brings the
call, the turn's TwiML if it was answered and the interview's stored revision,
with no BEGIN/COMMIT; on PostgreSQL the turn and the call's new state are one
statement (a data-modifying CTE, atomic on its own) sent through psycopg
directly, as the page turn's save is (:mod:`instrument.store.pg_direct`); on
SQLite, one short write transaction. ``tests/test_ivr_turn_statements.py``
bounds what a turn sends.

No phone number is stored here: the caller's number is at most a hint, and
the rate limits that use it hash it first (in the webhooks, not here).

Access codes (the digits an invitation gives a respondent to call in with)
are ``access_tokens`` rows of purpose :data:`ACCESS_CODE_PURPOSE`. A code is
short, so an unkeyed hash of it would be undone by trying every code: it is
stored as HMAC-SHA256 under a key derived from the instance's secret
(:func:`access_code_key`), which is not in the database. Several keys may be
given when looking one up, newest first, so the secret can be rotated.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson
import sqlalchemy as sa

from instrument.store.engine import compact_json
from instrument.store.fieldwork_records import dialect_insert
from instrument.store.interviews import case_interview_language
from instrument.store.nul import NUL, refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import AccessToken
from instrument.store.schema import (
    IVR_DIRECTIONS,
    access_tokens,
    attempts,
    case_queue,
    cases,
    interviews,
    ivr_calls,
    ivr_turns,
)

__all__ = [
    "ACCESS_CODE_PURPOSE",
    "CODE_DIGITS",
    "IvrCallRecord",
    "IvrCalls",
    "IvrTurnRead",
    "OutboundCase",
    "access_code_key",
    "forget_ivr_calls",
]

ACCESS_CODE_PURPOSE: Final = "ivr_code"
"""The ``access_tokens.purpose`` of an inbound call's access code."""

CODE_DIGITS: Final = 10
"""Digits in an access code: 10 billion codes, so guessing one of 100,000 live codes takes
about 100,000 tries, which the webhooks' limits (a few a call, a few an hour a caller) forbid."""

_KEY_LABEL: Final = b"instrument ivr access code v1"
_ISSUE_TRIES: Final = 5


def access_code_key(secret: str | bytes) -> bytes:
    """The key access codes are hashed under, derived from the instance's secret (its
    ``SECRET_KEY``): a key of its own, so the hashes reveal nothing signed with the secret."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()


def _code_hash(code: str, key: bytes) -> str:
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


class OutboundCase(NamedTuple):
    """The case an automated call we placed is for (see :meth:`IvrCalls.outbound_case`)."""

    case_id: str
    questionnaire_id: str
    language: str | None


@dataclass(frozen=True, slots=True)
class IvrCallRecord:
    """One automated call as stored (no phone number)."""

    call_sid: str
    interview_id: str | None
    case_id: str | None
    attempt_id: int | None
    direction: str
    state: Mapping[str, Any] | None
    seq: int
    code_failures: int
    created_at: dt.datetime
    updated_at: dt.datetime
    ended_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class IvrTurnRead:
    """What one webhook request needs first: the call, the TwiML of its turn if answered, and
    the stored revision of the call's interview (None without one), all read by one statement.

    The revision is what the interview service proves a kept interview current by
    (``InterviewService.show(..., revision=)``), so a turn need not read it again.
    """

    call: IvrCallRecord | None
    twiml: str | None
    revision: int | None = None


_CALL_COLUMNS: Final = tuple(ivr_calls.c)
_CALL_NAMES: Final = tuple(c.name for c in _CALL_COLUMNS)


def _call(row: Any) -> IvrCallRecord:
    return IvrCallRecord(**{name: getattr(row, name) for name in _CALL_NAMES})


# The statements of every webhook turn, built once (a select built per request cost more of
# a turn's CPU than sending it). SQLite runs them through Core; PostgreSQL sends the same
# reads and the turn's write as fixed SQL through psycopg (``DirectStatements.first_row``).
_TURN_READ: Final = (
    sa.select(*_CALL_COLUMNS, ivr_turns.c.twiml, interviews.c.revision)
    .select_from(
        ivr_calls.outerjoin(
            ivr_turns,
            sa.and_(
                ivr_turns.c.call_sid == ivr_calls.c.call_sid,
                ivr_turns.c.seq == sa.bindparam("b_seq"),
            ),
        ).outerjoin(interviews, interviews.c.id == ivr_calls.c.interview_id)
    )
    .where(ivr_calls.c.call_sid == sa.bindparam("b_sid"))
)
_PG_TURN_READ: Final = (
    "SELECT "
    + ", ".join(f"c.{name}" if name != "state" else "CAST(c.state AS TEXT)" for name in _CALL_NAMES)
    + ", t.twiml, i.revision FROM ivr_calls c"
    " LEFT JOIN ivr_turns t ON t.call_sid = c.call_sid AND t.seq = %(b_seq)s"
    " LEFT JOIN interviews i ON i.id = c.interview_id"
    " WHERE c.call_sid = %(b_sid)s"
)
_STATE_AT: Final = _CALL_NAMES.index("state")
_TIMES_AT: Final = tuple(_CALL_NAMES.index(n) for n in ("created_at", "updated_at", "ended_at"))

_PG_RECORD_TURN: Final = (
    "WITH turn AS (INSERT INTO ivr_turns (call_sid, seq, twiml, created_at)"
    " VALUES (%(b_sid)s, %(b_seq)s, %(b_twiml)s, %(b_now)s)"
    " ON CONFLICT (call_sid, seq) DO NOTHING RETURNING seq),"
    " moved AS (UPDATE ivr_calls SET state = CAST(%(b_state)s AS JSON), seq = %(b_seq)s,"
    " updated_at = %(b_now)s,"
    " interview_id = COALESCE(CAST(%(b_interview)s AS VARCHAR), interview_id),"
    " case_id = COALESCE(CAST(%(b_case)s AS VARCHAR), case_id),"
    " code_failures = COALESCE(CAST(%(b_failures)s AS INTEGER), code_failures),"
    " ended_at = CASE WHEN %(b_ended)s THEN COALESCE(ended_at, %(b_now)s) ELSE ended_at END"
    " WHERE call_sid = %(b_sid)s AND seq < %(b_seq)s AND EXISTS (SELECT 1 FROM turn))"
    " SELECT EXISTS (SELECT 1 FROM turn),"
    " (SELECT twiml FROM ivr_turns WHERE call_sid = %(b_sid)s AND seq = %(b_seq)s)"
)
"""Store a turn once, and move the call on only when this statement stored it: one statement,
atomic without BEGIN/COMMIT. When the turn was stored before, the last column is its TwiML
(NULL when the copy that stored it committed after this statement began: read again)."""

_PG_END_CALL: Final = (
    "UPDATE ivr_calls SET ended_at = %(b_now)s, updated_at = %(b_now)s"
    " WHERE call_sid = %(b_sid)s AND ended_at IS NULL RETURNING seq"
)

_PG_TURN_TWIML: Final = "SELECT twiml FROM ivr_turns WHERE call_sid = %(b_sid)s AND seq = %(b_seq)s"


@functools.cache
def _turn_insert(dialect: str) -> Any:
    """The turn's insert through Core (SQLite), doing nothing for a turn stored before."""
    return (
        dialect_insert(dialect, ivr_turns)
        .on_conflict_do_nothing(index_elements=[ivr_turns.c.call_sid, ivr_turns.c.seq])
        .returning(ivr_turns.c.seq)
    )


_TURN_TWIML: Final = sa.select(ivr_turns.c.twiml).where(
    ivr_turns.c.call_sid == sa.bindparam("b_sid"), ivr_turns.c.seq == sa.bindparam("b_seq")
)


def forget_ivr_calls(connection: sa.Connection, interview_ids: Sequence[str]) -> int:
    """Delete the calls of withdrawn interviews with their turns (their state holds keyed
    answers and their TwiML the questions' fills); inside the withdrawal's transaction."""
    sids = sa.select(ivr_calls.c.call_sid).where(ivr_calls.c.interview_id.in_(interview_ids))
    connection.execute(ivr_turns.delete().where(ivr_turns.c.call_sid.in_(sids)))
    return int(
        connection.execute(
            ivr_calls.delete().where(ivr_calls.c.interview_id.in_(interview_ids))
        ).rowcount
    )


class IvrCalls(StoreBase):
    """Automated calls, their turns, and the access codes inbound callers key."""

    # ------------------------------------------------------------------ calls

    def open_ivr_call(
        self,
        call_sid: str,
        *,
        direction: str,
        now: dt.datetime,
        interview_id: str | None = None,
        case_id: str | None = None,
        attempt_id: int | None = None,
    ) -> IvrCallRecord:
        """The call ``call_sid``, stored now unless it was before (a retried first webhook)."""
        if direction not in IVR_DIRECTIONS:
            raise ValueError(f"direction must be one of {IVR_DIRECTIONS}, got {direction!r}")
        for name, text in (("call sid", call_sid), ("case id", case_id)):
            refuse_nul(name, text)
        now = utc(now)
        insert = dialect_insert(self.dialect, ivr_calls).on_conflict_do_nothing(
            index_elements=[ivr_calls.c.call_sid]
        )
        with self._transaction(write=True) as connection:
            connection.execute(
                insert,
                {
                    "call_sid": call_sid,
                    "interview_id": interview_id,
                    "case_id": case_id,
                    "attempt_id": attempt_id,
                    "direction": direction,
                    "state": None,
                    "seq": -1,
                    "code_failures": 0,
                    "created_at": now,
                    "updated_at": now,
                    "ended_at": None,
                },
            )
            row = connection.execute(
                sa.select(*_CALL_COLUMNS).where(ivr_calls.c.call_sid == call_sid)
            ).one()
        return _call(row)

    def ivr_call(self, call_sid: str) -> IvrCallRecord | None:
        """The stored call, or None."""
        return self.ivr_turn(call_sid, -1).call

    def live_ivr_call_activity(self, attempt_id: int) -> dt.datetime | None:
        """When an automated call of ``attempt_id`` still going last answered a webhook.

        An automated interview may run longer than a study's hold timeout, which is written for
        an interviewer who vanished: the call queue's sweep counts such a hold from here.
        """
        query = sa.select(sa.func.max(ivr_calls.c.updated_at)).where(
            ivr_calls.c.attempt_id == attempt_id, ivr_calls.c.ended_at.is_(None)
        )
        with self._transaction() as connection:
            last = connection.execute(query).scalar_one_or_none()
        return None if last is None else utc(last)

    def ivr_turn(self, call_sid: str, seq: int) -> IvrTurnRead:
        """The call, the TwiML of turn ``seq`` if it was answered, and the call's interview's
        stored revision: one statement, without BEGIN/COMMIT (one snapshot on its own)."""
        if NUL in call_sid:
            return IvrTurnRead(None, None)  # no stored sid holds one
        params = {"b_sid": call_sid, "b_seq": seq}
        if self._direct is not None:
            found = self._direct.first_row(_PG_TURN_READ, params)
            if found is None:
                return IvrTurnRead(None, None)
            values = list(found[: len(_CALL_NAMES)])
            state = values[_STATE_AT]
            values[_STATE_AT] = None if state is None else orjson.loads(state)
            for at in _TIMES_AT:
                values[at] = None if values[at] is None else utc(values[at])
            call = IvrCallRecord(*values)
            return IvrTurnRead(call, found[-2], found[-1])
        row = self._read_one(_TURN_READ, params)
        if row is None:
            return IvrTurnRead(None, None)
        return IvrTurnRead(_call(row), row.twiml, row.revision)

    def record_ivr_turn(
        self,
        call_sid: str,
        seq: int,
        twiml: str,
        *,
        state: Mapping[str, Any] | None,
        now: dt.datetime,
        interview_id: str | None = None,
        case_id: str | None = None,
        code_failures: int | None = None,
        ended: bool = False,
    ) -> str:
        """Store turn ``seq``'s TwiML and the call's new state, once; the TwiML to answer with.

        When the turn was stored before (a retry, or a copy that won the race),
        nothing changes and that first TwiML is returned. The call's state moves
        only forward: a turn older than the last one stored leaves it as it is.
        ``interview_id``/``case_id``: set once an inbound caller's code is good.
        """
        now = utc(now)
        if self._direct is not None:
            for name, text in (("call sid", call_sid), ("TwiML", twiml)):
                refuse_nul(name, text)
            return self._record_turn_direct(
                {
                    "b_sid": call_sid,
                    "b_seq": seq,
                    "b_twiml": twiml,
                    "b_now": now,
                    "b_state": None if state is None else compact_json(state),
                    "b_interview": interview_id,
                    "b_case": case_id,
                    "b_failures": code_failures,
                    "b_ended": ended,
                }
            )
        insert = _turn_insert(self.dialect)
        changes: dict[str, Any] = {"state": state, "seq": seq, "updated_at": now}
        if interview_id is not None:
            changes["interview_id"] = interview_id
        if case_id is not None:
            changes["case_id"] = case_id
        if code_failures is not None:
            changes["code_failures"] = code_failures
        if ended:
            changes["ended_at"] = sa.func.coalesce(ivr_calls.c.ended_at, now)
        with self._transaction(write=True) as connection:
            inserted = connection.execute(
                insert, {"call_sid": call_sid, "seq": seq, "twiml": twiml, "created_at": now}
            ).first()
            if inserted is None:
                return str(
                    connection.execute(_TURN_TWIML, {"b_sid": call_sid, "b_seq": seq}).scalar_one()
                )
            connection.execute(
                ivr_calls.update()
                .where(ivr_calls.c.call_sid == call_sid, ivr_calls.c.seq < seq)
                .values(**changes)
            )
        return twiml

    def _record_turn_direct(self, params: dict[str, Any]) -> str:
        """:meth:`record_ivr_turn` on PostgreSQL: one statement (:data:`_PG_RECORD_TURN`)."""
        assert self._direct is not None
        row = self._direct.first_row(_PG_RECORD_TURN, params)
        assert row is not None
        stored, kept = row
        if stored:
            return str(params["b_twiml"])
        if kept is None:  # the copy that stored it committed while this statement ran
            again = self._direct.first_row(_PG_TURN_TWIML, params)
            assert again is not None
            kept = again[0]
        return str(kept)

    def end_ivr_call(self, call_sid: str, *, now: dt.datetime) -> bool:
        """Mark the call ended (its status callback said so); False if unknown or ended before.

        One statement (on PostgreSQL sent through psycopg directly, without BEGIN/COMMIT): every
        call ends with this callback."""
        if self._direct is not None:
            refuse_nul("call sid", call_sid)
            ended = self._direct.first_row(_PG_END_CALL, {"b_sid": call_sid, "b_now": utc(now)})
            return ended is not None
        with self._transaction(write=True) as connection:
            return bool(
                connection.execute(
                    ivr_calls.update()
                    .where(ivr_calls.c.call_sid == call_sid, ivr_calls.c.ended_at.is_(None))
                    .values(ended_at=utc(now), updated_at=utc(now))
                ).rowcount
            )

    def outbound_case(self, attempt_id: int) -> OutboundCase | None:
        """The case an attempt belongs to, its questionnaire and the language it speaks: its
        interview's where it has one (the caller may have switched it), else the one it is
        fielded in (the call queue's; None when the queue has none: the questionnaire's
        default then)."""
        spoken = sa.func.coalesce(case_interview_language(cases.c.id), case_queue.c.language)
        query = (
            sa.select(cases.c.id, cases.c.questionnaire_id, spoken.label("language"))
            .select_from(
                attempts.join(cases, cases.c.id == attempts.c.case_id).outerjoin(
                    case_queue, case_queue.c.case_id == cases.c.id
                )
            )
            .where(attempts.c.id == attempt_id, cases.c.withdrawn_at.is_(None))
        )
        with self._transaction() as connection:
            row = connection.execute(query).one_or_none()
        if row is None:
            return None
        return OutboundCase(str(row.id), str(row.questionnaire_id), row.language)

    # ------------------------------------------------------------------ access codes

    def issue_access_code(
        self,
        questionnaire_id: str,
        *,
        case_id: str,
        key: bytes,
        now: dt.datetime,
        expires_at: dt.datetime | None = None,
        digits: int = CODE_DIGITS,
    ) -> str:
        """A new access code for ``case_id``, returned in clear this once; only its keyed hash
        is stored. A code that happens to be taken already is drawn again."""
        if digits < 6:
            raise ValueError("an access code needs at least 6 digits")
        for name, text in (("questionnaire id", questionnaire_id), ("case id", case_id)):
            refuse_nul(name, text)
        for _ in range(_ISSUE_TRIES):
            code = "".join(secrets.choice("0123456789") for _ in range(digits))
            insert = (
                dialect_insert(self.dialect, access_tokens)
                .on_conflict_do_nothing(index_elements=[access_tokens.c.token_hash])
                .returning(access_tokens.c.id)
            )
            with self._transaction(write=True) as connection:
                stored = connection.execute(
                    insert,
                    {
                        "token_hash": _code_hash(code, key),
                        "interview_id": None,
                        "case_id": case_id,
                        "questionnaire_id": questionnaire_id,
                        "purpose": ACCESS_CODE_PURPOSE,
                        "created_at": utc(now),
                        "expires_at": utc(expires_at) if expires_at is not None else None,
                        "used_at": None,
                    },
                ).first()
            if stored is not None:
                return code
        raise RuntimeError("no free access code found; use more digits")  # pragma: no cover

    def find_access_code(self, code: str, *, keys: Sequence[bytes]) -> AccessToken | None:
        """The access code's stored row (any of ``keys``, newest first), or None.

        Expiry is reported, not enforced (:meth:`AccessToken.is_expired`).
        """
        if not code.isascii() or not code.isdigit() or len(code) > 20 or not keys:
            return None
        hashes = [_code_hash(code, key) for key in keys]
        row = self._read_one(  # one statement: no BEGIN/COMMIT round trips
            sa.select(access_tokens)
            .where(
                access_tokens.c.token_hash.in_(hashes),
                access_tokens.c.purpose == ACCESS_CODE_PURPOSE,
            )
            .limit(1),
            {},
        )
        if row is None or not any(hmac.compare_digest(row.token_hash, h) for h in hashes):
            return None
        return AccessToken(**row._asdict())
