"""A recorded answer whose recording came to nothing is taken back: no answer points at nothing.

An automated call stores a free-text answer as a reference to the recording
the provider made (``recording:<RecordingSid>``, :mod:`instrument.ivr.recording`)
as soon as the ``<Record>`` ends, because the call goes on to the next
question. The provider reports on the recording afterwards, and may say it
holds nothing (:data:`~instrument.ivr.recording.LOST_STATUSES`: ``absent``,
no audio; ``failed``). :func:`forget_lost_recording` then takes the answer
back through the interview service (:meth:`InterviewService.amend`: the
interview's place does not move, the save is a compare-and-set, a repeated
callback changes nothing more): the question becomes not answered (-9, as a
caller who declined to be recorded), an answer event with no value records
that in the log, and a paradata event flags it ``ivr_recording_lost`` with
the provider's status. The webhook that receives the callback calls it; a
reference stored after the callback came (the two race) is refused by the
webhook asking :meth:`Store.lost_recording` first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from instrument.engine import Engine, Event, State
from instrument.interviews.service import InterviewService
from instrument.ivr.recording import LOST, LOST_STATUSES, keys_holding
from instrument.store import NewEvent

__all__ = ["LostRecording", "forget_lost_recording"]


@dataclass(frozen=True, slots=True)
class LostRecording:
    """What :func:`forget_lost_recording` did: the keys taken back (none: nothing held it, or
    it was taken back before), and the service's outcome (``saved``, ``replayed``, ``stale``,
    ``unavailable``)."""

    keys: tuple[str, ...]
    outcome: str


def forget_lost_recording(
    service: InterviewService,
    interview_id: str,
    recording_sid: str,
    *,
    status: str,
    mode: str,
    actor: str,
    now: dt.datetime,
) -> LostRecording:
    """Take back every answer of the interview that is the reference to ``recording_sid``.

    :param status: what the provider said of the recording, one of
        :data:`~instrument.ivr.recording.LOST_STATUSES`.
    :param mode: the mode the answer came from (``ivr``), for the log.
    """
    if status not in LOST_STATUSES:
        raise ValueError(f"a recording is lost when {sorted(LOST_STATUSES)}, not {status!r}")
    taken: list[str] = []

    def take_back(_engine: Engine, state: State) -> tuple[list[Event], list[NewEvent]]:
        keys = keys_holding(state.answers, recording_sid)
        taken[:] = keys
        events: list[Event] = []
        for key in keys:
            state.answers[key] = None
            events.append(Event("answer", now, key, None, {"actor": actor, "mode": mode}))
        if not keys:
            return [], []
        state.changed()
        flags = ";".join(f"{key}:{LOST}" for key in keys)
        paradata = NewEvent(
            None,
            {"event": "recording_lost", "channel": mode, "ivr_flags": flags, "status": status},
            kind="paradata",
            actor=actor,
            mode=mode,
            at=now,
        )
        return events, [paradata]

    outcome = service.amend(
        interview_id, take_back, key=f"recording-lost:{recording_sid}", actor=actor, now=now
    )
    kept = tuple(taken) if outcome.kind == "saved" else ()
    return LostRecording(kept, outcome.kind)
