"""The first text of an interview by text, and the tries of a wave's ``sms_interview`` step.

Two records, each kept by the side that knows it:

- **The first text** (``sms_interview_attempts``, the text-message mode's outbox): the turn
  that holds the invitation words and the first question is stored with a row ``to_send``
  in one transaction (:meth:`SmsAttempts.record_first_text`, the conversation's turn as
  :meth:`~instrument.store.ivr_calls.IvrCalls.record_ivr_turn` stores one), and the
  row is set from the channel's answer when it comes (:meth:`SmsAttempts.finish_first_text`:
  ``sent`` with the provider's id, ``failed``, ``refused``, ``unknown``). A row found still
  ``to_send`` by a caller that holds the case and has waited out the try's lease is a text
  whose worker stopped before the channel had it: :meth:`SmsAttempts.claim_first_text` takes
  it (or a ``failed`` one) for one more try by compare-and-set on its state and tries, so only
  one caller sends it again.
- **The step's tries** (the worker's ``panel_messages`` row of the step, kind
  ``sms_interview``): recorded ``sending`` before each try with the member checked again in
  the same transaction, as every message is (:meth:`SmsAttempts.begin_sms_step`); then
  ``failed`` (a passing failure, to be tried again by the plan's rule) or ``done`` with what
  happened (:meth:`SmsAttempts.end_sms_step`, :meth:`SmsAttempts.close_sms_step`). A try is
  taken up again by compare-and-set on the same row, as a failed message is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.fieldwork_records import dialect_insert
from instrument.store.nul import refuse_nul, refuse_nul_in_json
from instrument.store.panel_work import ClaimedMember, _stop_reasons, action_insert
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    FIRST_TEXT_STATES,
    ivr_calls,
    ivr_turns,
    panel_messages,
    sms_interview_attempts,
)

__all__ = ["SMS_INTERVIEW", "FirstText", "SmsAttempts"]

SMS_INTERVIEW: Final = "sms_interview"
"""The ``panel_messages.kind`` of a wave's ``sms_interview`` step."""

_ANSWERED: Final = tuple(s for s in FIRST_TEXT_STATES if s != "to_send")

sia = sms_interview_attempts


@dataclass(frozen=True, slots=True)
class FirstText:
    """A first text as recorded: its conversation turn, its text's TwiML, where it stands."""

    call_sid: str
    seq: int
    case_id: str
    state: str
    attempts: int
    provider_id: str | None
    error: str | None
    twiml: str
    updated_at: dt.datetime


class SmsAttempts(StoreBase):
    """First texts of interviews by text, and the tries of ``sms_interview`` steps."""

    # ------------------------------------------------------------------ the first text

    def record_first_text(
        self,
        call_sid: str,
        seq: int,
        twiml: str,
        *,
        state: Mapping[str, Any],
        now: dt.datetime,
        interview_id: str,
        case_id: str,
    ) -> bool:
        """Store the conversation's turn ``seq`` (the first text's TwiML, the conversation's
        new state, now running ``case_id``) and the text ``to_send``, in one transaction;
        False when the turn was stored before (another start took it: nothing changes).

        The turn is stored as :meth:`~instrument.store.ivr_calls.IvrCalls.record_ivr_turn`
        stores any: once under (call sid, turn), the conversation moved only forward.
        """
        now = utc(now)
        for what, text in (("call sid", call_sid), ("case id", case_id)):
            refuse_nul(what, text)
        turn = (
            dialect_insert(self.dialect, ivr_turns)
            .values(call_sid=call_sid, seq=seq, twiml=twiml, created_at=now)
            .on_conflict_do_nothing(index_elements=[ivr_turns.c.call_sid, ivr_turns.c.seq])
            .returning(ivr_turns.c.seq)
        )
        with self._transaction(write=True) as connection:
            if connection.execute(turn).first() is None:
                return False
            connection.execute(
                ivr_calls.update()
                .where(ivr_calls.c.call_sid == call_sid, ivr_calls.c.seq < seq)
                .values(
                    state=dict(state),
                    seq=seq,
                    interview_id=interview_id,
                    case_id=case_id,
                    updated_at=now,
                )
            )
            connection.execute(
                sia.insert().values(
                    call_sid=call_sid,
                    seq=seq,
                    case_id=case_id,
                    state="to_send",
                    attempts=1,
                    provider_id=None,
                    error=None,
                    created_at=now,
                    updated_at=now,
                    sent_at=None,
                )
            )
        return True

    def first_text(self, call_sid: str, case_id: str) -> FirstText | None:
        """The newest first text of ``case_id`` in the conversation ``call_sid``, or None."""
        query = (
            sa.select(
                sia.c.call_sid,
                sia.c.seq,
                sia.c.case_id,
                sia.c.state,
                sia.c.attempts,
                sia.c.provider_id,
                sia.c.error,
                ivr_turns.c.twiml,
                sia.c.updated_at,
            )
            .join(
                ivr_turns,
                sa.and_(ivr_turns.c.call_sid == sia.c.call_sid, ivr_turns.c.seq == sia.c.seq),
            )
            .where(sia.c.call_sid == call_sid, sia.c.case_id == case_id)
            .order_by(sia.c.seq.desc())
            .limit(1)
        )
        with self._transaction() as connection:
            row = connection.execute(query).one_or_none()
        return None if row is None else FirstText(*row)

    def claim_first_text(self, text: FirstText, *, now: dt.datetime) -> bool:
        """Take ``text`` (as read: ``to_send`` or ``failed``) for one more try; False when it
        moved meanwhile (another caller took it, or its answer came)."""
        if text.state not in ("to_send", "failed"):
            return False
        with self._transaction(write=True) as connection:
            changed = connection.execute(
                sia.update()
                .where(
                    sia.c.call_sid == text.call_sid,
                    sia.c.seq == text.seq,
                    sia.c.state == text.state,
                    sia.c.attempts == text.attempts,
                )
                .values(state="to_send", attempts=sia.c.attempts + 1, updated_at=utc(now))
            ).rowcount
        return bool(changed)

    def finish_first_text(
        self,
        call_sid: str,
        seq: int,
        *,
        state: str,
        now: dt.datetime,
        provider_id: str | None = None,
        error: str | None = None,
        untried: bool = False,
    ) -> bool:
        """Set a first text ``to_send`` from its channel's answer; False if it was not.

        ``untried``: never handed over (the channel's settings failed first), so the try it was
        recorded as is given back.
        """
        if state not in _ANSWERED:
            raise ValueError(f"a first text's answer is one of {_ANSWERED}, not {state!r}")
        refuse_nul("provider id", provider_id)
        refuse_nul("error", error)
        now = utc(now)
        with self._transaction(write=True) as connection:
            changed = connection.execute(
                sia.update()
                .where(sia.c.call_sid == call_sid, sia.c.seq == seq, sia.c.state == "to_send")
                .values(
                    state=state,
                    provider_id=provider_id,
                    error=None if error is None else error[:300],
                    attempts=sia.c.attempts - (1 if untried else 0),
                    updated_at=now,
                    sent_at=now if state == "sent" else None,
                )
            ).rowcount
        return bool(changed)

    # ------------------------------------------------------------------ the step's tries

    def begin_sms_step(
        self,
        worker: str,
        member: ClaimedMember,
        *,
        step: str,
        key: str,
        now: dt.datetime,
        max_attempts: int,
        lease: dt.timedelta,
    ) -> tuple[int, int] | str:
        """Record a try of the member's ``sms_interview`` step ``sending`` and commit: (the
        row's id, its tries counting this one), or why not to try (as
        :meth:`PanelWork.record_messages` says: the member stopped, ``claim lost``,
        ``recorded before``).

        One transaction: the member is read again; the row is inserted under its key, or
        taken up by compare-and-set when it failed for a passing reason, or its try began
        more than ``lease`` ago and was never answered (its worker stopped), with tries left.
        """
        now = utc(now)
        for what, text in (("worker", worker), ("step", step), ("key", key)):
            refuse_nul(what, text)
        pm = panel_messages
        insert = action_insert(
            self.dialect, worker, member, SMS_INTERVIEW, step, key, now, "sending"
        )
        again = (
            pm.update()
            .where(
                pm.c.idempotency_key == key,
                pm.c.kind == SMS_INTERVIEW,
                pm.c.attempts < max_attempts,
                sa.or_(
                    pm.c.state == "failed",
                    sa.and_(pm.c.state == "sending", pm.c.updated_at <= now - lease),
                ),
            )
            .values(state="sending", attempts=pm.c.attempts + 1, claimed_by=worker, updated_at=now)
            .returning(pm.c.id, pm.c.attempts)
        )
        with self._transaction(write=True) as connection:
            why = _stop_reasons(connection, worker, [member], now).get(
                (member.wave_id, member.member_id)
            )
            if why is not None:
                return why
            row = connection.execute(insert).first() or connection.execute(again).first()
        if row is None:
            return "recorded before"
        return int(row[0]), int(row[1])

    def end_sms_step(
        self,
        message_id: int,
        tries: int,
        *,
        state: str,
        now: dt.datetime,
        detail: Mapping[str, Any],
        error: str | None = None,
        untried: bool = False,
    ) -> bool:
        """Set the try ``tries`` of a step recorded by :meth:`begin_sms_step`: ``done`` (what
        happened in ``detail``) or ``failed`` (to be tried again); False if it moved meanwhile.
        ``untried``: the channel never had it (its settings failed): the try is given back."""
        if state not in ("done", "failed"):
            raise ValueError(f"a try ends done or failed, not {state!r}")
        refuse_nul_in_json("detail", dict(detail))
        refuse_nul("error", error)
        pm = panel_messages
        with self._transaction(write=True) as connection:
            changed = connection.execute(
                pm.update()
                .where(pm.c.id == message_id, pm.c.state == "sending", pm.c.attempts == tries)
                .values(
                    state=state,
                    detail=dict(detail),
                    error=None if error is None else error[:2000],
                    attempts=pm.c.attempts - (1 if untried else 0),
                    updated_at=utc(now),
                )
            ).rowcount
        return bool(changed)

    def close_sms_step(
        self,
        worker: str,
        member: ClaimedMember,
        *,
        step: str,
        key: str,
        now: dt.datetime,
        detail: Mapping[str, Any],
    ) -> bool:
        """Record the member's ``sms_interview`` step carried out with no try now (``detail``
        says why): a new ``done`` row, or the step's row of earlier tries made ``done``;
        False when it was done before."""
        now = utc(now)
        for what, text in (("worker", worker), ("step", step), ("key", key)):
            refuse_nul(what, text)
        refuse_nul_in_json("detail", dict(detail))
        insert = action_insert(
            self.dialect, worker, member, SMS_INTERVIEW, step, key, now, "done", detail
        )
        pm = panel_messages
        with self._transaction(write=True) as connection:  # the row of earlier tries, or a new one
            changed = connection.execute(
                pm.update()
                .where(
                    pm.c.idempotency_key == key,
                    pm.c.kind == SMS_INTERVIEW,
                    pm.c.state.in_(("failed", "sending")),
                )
                .values(state="done", detail=dict(detail), claimed_by=worker, updated_at=now)
            ).rowcount
            return bool(changed) or connection.execute(insert).first() is not None
