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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from instrument.store.fieldwork_records import CallRecord
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import calls

__all__ = ["CallRecording", "RecordingDecision"]


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
    """:meth:`set_call_recording`, :meth:`set_recording_sid`, :meth:`latest_call`."""

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
        with self._transaction(write=True) as connection:
            row = connection.execute(
                calls.update()
                .where(calls.c.id == call_id, calls.c.recording.is_(None))
                .values(recording=consent, recording_at=now)
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

    def set_recording_sid(self, call_id: int, recording_sid: str) -> bool:
        """Keep the provider's id of the recording started on a call whose decision is a yes.

        False, and nothing written, when the call's decision is not a yes or
        it has a recording already (only one is started per call).
        """
        refuse_nul("recording sid", recording_sid)
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                calls.update()
                .where(
                    calls.c.id == call_id,
                    calls.c.recording == sa.true(),
                    calls.c.recording_sid.is_(None),
                )
                .values(recording_sid=recording_sid)
                .returning(calls.c.id)
            ).scalar_one_or_none()
        return updated is not None

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
