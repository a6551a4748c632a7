"""An attempt's calls as they stand now, with the respondent's leg of each: the case screen's live status.

The console asks this every two seconds while a call is going, and once more
for the end-of-call picker, so it is one read transaction of three indexed
statements: the attempt with whoever holds its case, the attempt's calls, and
the status callbacks of the calls' respondent legs.

The respondent's leg is the hard part. Twilio's ``<Dial>`` gives it a sid of
its own, which nothing tells us in advance, so its callbacks are stored under
that sid with the call's id and ``leg: respondent`` in their payload
(:class:`instrument_phone.ledger.StoreLedger`), and with the call's id in
``call_events.call_id``, which is indexed: they are read by that.

They were once found by the primary key instead, among the callbacks stored
after the call's own first one, on the reasoning that the respondent is
dialled only once the interviewer has answered. But the reasoning was about
when the calls happen, not when their callbacks are stored: Twilio posts each
leg's callbacks on requests of their own, and a slow, failed or retried
delivery of the interviewer's leg lands after the respondent's (PostgreSQL's
ids do not even follow commit order). Such a leg was missing from the screen
until the call's own first callback came, and its earlier callbacks for good.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from instrument.store.fieldwork_records import CallRecord
from instrument.store.plumbing import StoreBase
from instrument.store.schema import attempts, call_events, calls, case_queue

__all__ = ["LegEvent", "LiveAttemptRead", "LiveCallReads"]

RESPONDENT_LEG = "respondent"
"""The ``leg`` the webhooks mark the respondent's callbacks with."""


@dataclass(frozen=True, slots=True)
class LegEvent:
    """One stored status callback of a call's respondent leg.

    ``payload`` holds Twilio's own fields only (no numbers: the webhooks keep
    an allow-list): ``CallDuration``, ``AnsweredBy``, ``SequenceNumber``...
    """

    call_id: int
    provider_sid: str
    status: str
    at: dt.datetime | None
    received_at: dt.datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LiveAttemptRead:
    """An attempt's rows for its live call status.

    ``held_by``: who holds the case through this attempt (None when nobody
    does: coded, released, or held through another attempt). ``legs``: the
    respondent legs' callbacks in the order they were stored.
    """

    attempt_id: int
    case_id: str
    interviewer: str
    ended_at: dt.datetime | None
    held_by: str | None
    calls: tuple[CallRecord, ...]
    legs: tuple[LegEvent, ...]


class LiveCallReads(StoreBase):
    """:meth:`live_calls`."""

    def live_calls(self, attempt_id: int) -> LiveAttemptRead | None:
        """The attempt, its calls and their respondent legs' callbacks, in one transaction.

        None for an unknown attempt.
        """
        with self._transaction() as connection:
            attempt = connection.execute(
                sa.select(
                    attempts.c.case_id,
                    attempts.c.interviewer,
                    attempts.c.ended_at,
                    case_queue.c.held_by,
                    case_queue.c.held_attempt_id,
                )
                .select_from(attempts)
                .join(case_queue, case_queue.c.case_id == attempts.c.case_id, isouter=True)
                .where(attempts.c.id == attempt_id)
            ).one_or_none()
            if attempt is None:
                return None
            rows = connection.execute(
                sa.select(calls).where(calls.c.attempt_id == attempt_id).order_by(calls.c.id)
            ).all()
            found = tuple(CallRecord(**row._asdict()) for row in rows)
            legs = _respondent_legs(connection, found)
        held = attempt.held_by if attempt.held_attempt_id == attempt_id else None
        return LiveAttemptRead(
            attempt_id=attempt_id,
            case_id=str(attempt.case_id),
            interviewer=str(attempt.interviewer),
            ended_at=attempt.ended_at,
            held_by=None if held is None else str(held),
            calls=found,
            legs=legs,
        )


def _respondent_legs(
    connection: sa.Connection, found: tuple[CallRecord, ...]
) -> tuple[LegEvent, ...]:
    """The respondent legs' callbacks of these calls, in the order they were stored."""
    placed = [c.id for c in found if c.provider != "manual"]
    if not placed:
        return ()
    sids = [c.provider_sid for c in found if c.provider_sid is not None]
    rows = connection.execute(
        sa.select(
            call_events.c.call_id,
            call_events.c.provider_sid,
            call_events.c.status,
            call_events.c.at,
            call_events.c.received_at,
            call_events.c.payload,
        )
        .where(
            call_events.c.call_id.in_(placed),
            call_events.c.provider_sid.not_in(sids),  # not the call's own leg
            call_events.c.payload["leg"].as_string() == RESPONDENT_LEG,
        )
        .order_by(call_events.c.id)
    ).all()
    return tuple(
        LegEvent(
            call_id=int(row.call_id),
            provider_sid=str(row.provider_sid),
            status=str(row.status),
            at=row.at,
            received_at=row.received_at,
            payload=dict(row.payload or {}),
        )
        for row in rows
    )
