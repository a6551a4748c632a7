"""The webhooks' view of the store: which number a bridge dials, where a callback goes.

A thin adapter over the store's fieldwork methods (``get_call``,
``phone_numbers_of``, ``is_do_not_call``, ``set_call_sid``,
``record_call_event``, ``record_recording_event``), so the webhook module
depends on the questions it asks
(:class:`~instrument_phone.telephony.webhooks.CallLedger`) rather than on the
whole store.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instrument_phone.telephony.webhooks import CallEvent, RecordingCallback

__all__ = ["StoreLedger"]


class StoreLedger:
    """:class:`~instrument_phone.telephony.webhooks.CallLedger` over a :class:`~instrument.store.Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def bridge_number(self, call_id: int, call_sid: str) -> str | None:
        """The respondent's number for call *call_id* placed as Twilio call *call_sid*.

        None (nothing is dialled) when the call is unknown, belongs to another
        Twilio call, has ended, or its number is no longer working or is on the
        do-not-call list: the list is honoured at the last moment too, since
        a respondent may have asked while the interviewer's phone rang.
        The sid is stored here if the REST answer has not been yet (Twilio
        can fetch the TwiML before ``calls.create`` returns).
        """
        call = self.store.get_call(call_id)
        if call is None or call.provider != "twilio" or call.ended_at is not None:
            return None
        if call.provider_sid is None:
            try:
                self.store.set_call_sid(call_id, call_sid)
            except ValueError:  # set meanwhile to another sid, or the sid is another call's
                return None
        elif call.provider_sid != call_sid:
            return None
        for number in self.store.phone_numbers_of(call.case_id):
            if number.rank == call.number_rank:
                if not number.working or self.store.is_do_not_call(number.e164):
                    return None
                return str(number.e164)
        return None

    def record_event(self, event: CallEvent, *, now: dt.datetime) -> bool:
        """Store one callback once (the store updates the call of that sid, forward only).

        The respondent's leg has a sid of its own (``ParentCallSid`` is the
        call's): its events are kept under that sid, marked with the leg and
        the call id, so the call record follows the interviewer's leg as
        placed and the respondent's progress stays readable beside it.
        """
        stored = dict(event.payload)
        stored["call_id"] = str(event.call_id)
        if event.leg is not None:
            stored["leg"] = event.leg
        return bool(
            self.store.record_call_event(
                event.provider_sid,
                event_key=event.event_key,
                status=event.status,
                at=event.at,
                payload=stored,
                now=now,
            )
        )

    def record_recording(self, callback: RecordingCallback, *, now: dt.datetime) -> bool:
        """Store one recording status callback once; the store moves the call's recording
        status forward only, and only for this call's own recording."""
        return bool(
            self.store.record_recording_event(
                callback.call_id,
                recording_sid=callback.recording_sid,
                call_sid=callback.call_sid,
                status=callback.status,
                at=callback.at,
                duration_s=callback.duration_s,
                url=callback.url,
                error=callback.error,
                payload=dict(callback.payload),
                now=now,
            ).stored
        )
