"""A call's recording consent, stored once, and the recording a "yes" started.

The respondent's decision is kept on the call (``calls.recording``: true,
false, or null while never asked) with the moment it was keyed
(``recording_at``). It is written once: :meth:`CallRecording.set_call_recording`
updates the row only ``WHERE recording IS NULL``, in one statement, so a
double click or a second tab that keys the other answer a moment later
changes nothing and is told what was stored first. That one statement is the
whole race: PostgreSQL re-reads the condition after the first writer commits,
and SQLite runs writers one after another.

The decision is stored before anything is asked of the provider, and stays
stored if the provider then fails: what the respondent said is a fact about
the call whether or not a recording followed. The recording's id is added
afterwards (:meth:`CallRecording.set_recording_sid`), and only to a call whose
stored decision is a yes.

How far the recording got is ``recording_status``. A yes is stored with
"starting": the request that stored it asks the provider. If the provider will
not start it, "failed" and why (:meth:`~CallRecording.recording_failed`); the
interviewer may then try again while the call lasts, and
:meth:`~CallRecording.claim_recording_start` lets exactly one request do so
(compare-and-set back to "starting": a double press sends one request, and
never one for a call that has its recording). A "starting" older than
:data:`STALE_START` is taken to be a request whose server died, and may be
claimed again. Then the provider's own status callbacks move it on
(:meth:`~CallRecording.record_recording_event`): each stored once in
``call_events``, and only forward: in-progress, then completed, absent or
failed, the first of those standing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from instrument.store.fieldwork_records import CallRecord
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import calls

__all__ = [
    "RECORDING_EVENT_STATUSES",
    "STALE_START",
    "CallRecording",
    "RecordingDecision",
    "RecordingEvent",
]

RECORDING_EVENT_STATUSES: Final = {"in-progress": 1, "completed": 2, "absent": 2, "failed": 2}
"""The provider's recording statuses, ranked: a status moves only to a higher rank, so a late
in-progress changes nothing and the first of the final ones (2) stands."""

STALE_START: Final = dt.timedelta(seconds=30)
"""A "starting" this old was left by a request that never finished (its server stopped): the
request itself gives up within seconds (instrument_phone.telephony.dialer.RECORDING_RETRY)."""

_ERROR_LENGTH: Final = 300
_RECORDING_LEG: Final = "recording"
"""The ``leg`` a recording's callbacks are stored with in ``call_events`` (no call leg reads them)."""


@dataclass(frozen=True, slots=True)
class RecordingEvent:
    """What :meth:`CallRecording.record_recording_event` did.

    ``stored``: the callback is new (False: a retry of one stored before).
    ``applied``: it moved the call's recording status (False for a retry, a
    late one, or a recording that is not the call's).
    """

    stored: bool
    applied: bool
    status: str | None


@dataclass(frozen=True, slots=True)
class RecordingDecision:
    """A call's stored consent decision.

    ``stored``: this request stored it; False when one before it had (a
    double click, a second tab), and ``consent`` is then that earlier
    decision, which stands.
    """

    call_id: int
    consent: bool
    at: dt.datetime | None
    recording_sid: str | None
    stored: bool


class CallRecording(StoreBase):
    """The consent decision and the recording: stored once, and only forward."""

    if TYPE_CHECKING:  # provided by CallRecords (fieldwork_calls.py)

        def record_call_event(
            self,
            provider_sid: str,
            *,
            event_key: str,
            status: str,
            at: dt.datetime | None,
            payload: Mapping[str, Any],
            now: dt.datetime | None = None,
        ) -> bool: ...

    def set_call_recording(
        self, call_id: int, consent: bool, *, now: dt.datetime | None = None
    ) -> RecordingDecision:
        """Store the respondent's decision on recording call ``call_id``, unless one is stored.

        LookupError for an unknown call; TypeError for a consent that is not a
        bool (a form's "no" must never be read as true).
        """
        if not isinstance(consent, bool):
            raise TypeError(f"consent is True or False, not {consent!r}")
        now = utc(now)
        decided = (calls.c.recording, calls.c.recording_at, calls.c.recording_sid)
        values: dict[str, Any] = {"recording": consent, "recording_at": now}
        if consent:  # the request storing the yes starts the recording
            values.update(recording_status="starting", recording_changed_at=now)
        with self._transaction(write=True) as connection:
            row = connection.execute(
                calls.update()
                .where(calls.c.id == call_id, calls.c.recording.is_(None))
                .values(**values)
                .returning(*decided)
            ).one_or_none()
            stored = row is not None
            if row is None:
                row = connection.execute(
                    sa.select(*decided).where(calls.c.id == call_id)
                ).one_or_none()
                if row is None:
                    raise LookupError(f"no call {call_id}")
        return RecordingDecision(
            call_id, bool(row.recording), row.recording_at, row.recording_sid, stored
        )

    def set_recording_sid(
        self, call_id: int, recording_sid: str, *, now: dt.datetime | None = None
    ) -> bool:
        """Keep the provider's id of the recording started on a call whose decision is a yes.

        Its status becomes in-progress, unless a callback got there first and
        took it further. True also when the call has this recording already (a
        callback named it before the provider's answer came); False, and nothing
        written, when the decision is not a yes or the call has another
        recording (only one is started per call).
        """
        refuse_nul("recording sid", recording_sid)
        not_started = sa.or_(
            calls.c.recording_status.is_(None), calls.c.recording_status.in_(("starting", "failed"))
        )
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                calls.update()
                .where(
                    calls.c.id == call_id,
                    calls.c.recording == sa.true(),
                    calls.c.recording_sid.is_(None),
                )
                .values(
                    recording_sid=recording_sid,
                    recording_status=sa.case(
                        (not_started, "in-progress"), else_=calls.c.recording_status
                    ),
                    recording_error=None,
                    recording_changed_at=utc(now),
                )
                .returning(calls.c.id)
            ).scalar_one_or_none()
            if updated is not None:
                return True
            stored = connection.execute(
                sa.select(calls.c.recording_sid).where(calls.c.id == call_id)
            ).scalar_one_or_none()
        return stored == recording_sid

    def claim_recording_start(self, call_id: int, *, now: dt.datetime | None = None) -> bool:
        """Let this request start the recording of a consented call again: True for one only.

        Only for a yes with no recording, a call not ended, and no other
        request starting one now (a "starting" older than :data:`STALE_START`
        was abandoned). A compare-and-set in one statement, so of two presses
        at once, one is told True and sends the request, the other False.
        """
        now = utc(now)
        with self._transaction(write=True) as connection:
            claimed = connection.execute(
                calls.update()
                .where(
                    calls.c.id == call_id,
                    calls.c.recording == sa.true(),
                    calls.c.recording_sid.is_(None),
                    calls.c.ended_at.is_(None),
                    sa.or_(
                        calls.c.recording_status.is_(None),
                        calls.c.recording_status == "failed",
                        sa.and_(
                            calls.c.recording_status == "starting",
                            calls.c.recording_changed_at < now - STALE_START,
                        ),
                    ),
                )
                .values(recording_status="starting", recording_changed_at=now)
                .returning(calls.c.id)
            ).scalar_one_or_none()
        return claimed is not None

    def recording_failed(
        self, call_id: int, reason: str, *, now: dt.datetime | None = None
    ) -> bool:
        """The provider would not start the recording: "failed", and why (the yes stays).

        False, and nothing written, unless the call's recording was "starting"
        with no recording known (a callback may have named one meanwhile: a
        request that timed out can still have started it).
        """
        refuse_nul("reason", reason)
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                calls.update()
                .where(
                    calls.c.id == call_id,
                    calls.c.recording_sid.is_(None),
                    calls.c.recording_status == "starting",
                )
                .values(
                    recording_status="failed",
                    recording_error=reason[:_ERROR_LENGTH],
                    recording_changed_at=utc(now),
                )
                .returning(calls.c.id)
            ).scalar_one_or_none()
        return updated is not None

    def record_recording_event(
        self,
        call_id: int,
        *,
        recording_sid: str,
        call_sid: str | None = None,
        status: str,
        at: dt.datetime | None,
        duration_s: int | None,
        url: str | None,
        error: str | None,
        payload: Mapping[str, Any],
        now: dt.datetime | None = None,
    ) -> RecordingEvent:
        """Store one of the provider's callbacks about the recording of call ``call_id``, once.

        Stored in ``call_events`` under ``<recording sid>:recording:<status>``
        (a retry is the same key: stored once), then applied to the call, under
        its row lock, only forward (:data:`RECORDING_EVENT_STATUSES`), so a
        retry applied again changes nothing (and mends a server that stopped
        between the two), and
        only to a yes whose recording is this one or not yet known (a request
        that timed out may have started it), and, given ``call_sid``, only if
        that is the call's provider sid. Its length is kept from the callback
        that ends it, its URL as a reference.
        """
        if status not in RECORDING_EVENT_STATUSES:
            raise ValueError(f"unknown recording status {status!r}")
        for field, text in (("url", url), ("error", error)):
            if text is not None:
                refuse_nul(field, text)
        now = utc(now)
        stored = self.record_call_event(
            recording_sid,
            event_key=f"{recording_sid}:{_RECORDING_LEG}:{status}",
            status=status,
            at=at,
            payload={**payload, "leg": _RECORDING_LEG, "call_id": str(call_id)},
            now=now,
        )  # its sid is no call's: no call's own status is worked out from it
        with self._transaction(write=True) as connection:
            call = connection.execute(
                sa.select(
                    calls.c.provider_sid, calls.c.recording, calls.c.recording_sid,
                    calls.c.recording_status, calls.c.recording_url,
                )
                .where(calls.c.id == call_id)
                .with_for_update()
            ).one_or_none()  # fmt: skip
            if call is None or call.recording is not True:
                return RecordingEvent(stored=stored, applied=False, status=None)
            if call_sid is not None and call.provider_sid != call_sid:
                return RecordingEvent(stored, applied=False, status=call.recording_status)
            if call.recording_sid not in (None, recording_sid):
                return RecordingEvent(stored, applied=False, status=call.recording_status)
            rank = 0 if call.recording_sid is None else _rank(call.recording_status)
            if RECORDING_EVENT_STATUSES[status] <= rank:
                if url and call.recording_url is None:
                    connection.execute(
                        calls.update().where(calls.c.id == call_id).values(recording_url=url)
                    )
                return RecordingEvent(stored, applied=False, status=call.recording_status)
            values: dict[str, Any] = {
                "recording_sid": recording_sid,
                "recording_status": status,
                "recording_changed_at": now,
                "recording_error": None if error is None else error[:_ERROR_LENGTH],
            }
            if url:
                values["recording_url"] = url
            if duration_s is not None and RECORDING_EVENT_STATUSES[status] == 2:
                values["recording_duration_s"] = duration_s
            connection.execute(calls.update().where(calls.c.id == call_id).values(**values))
        return RecordingEvent(stored, applied=True, status=status)

    def latest_call(self, attempt_id: int) -> CallRecord | None:
        """The attempt's most recent call (the one the interviewer is on, if any), or None.

        One indexed read without a transaction of its own: the console asks
        it before a script page of a study that records.
        """
        row = self._read_one(
            sa.select(calls)
            .where(calls.c.attempt_id == sa.bindparam("attempt_id"))
            .order_by(calls.c.id.desc())
            .limit(1),
            {"attempt_id": attempt_id},
        )
        return None if row is None else CallRecord(**row._asdict())


def _rank(status: str | None) -> int:
    return RECORDING_EVENT_STATUSES.get(status or "", 0)
