"""Where the attempt's calls stand now, and the outcome the telephony suggests for the picker.

The interviewer's case screen follows a call placed through a provider as its
status callbacks arrive (``calls`` for the interviewer's leg, the respondent's
leg beside it: see :mod:`instrument.store.fieldwork_live`), and the
end-of-call picker pre-selects what the line said: busy, no answer, a failed
call, an answering machine. Both come from here, composed over a
:class:`~instrument.callqueue.CallQueue` (``LiveCalls(queue)``), so the console
reads no store and the two agree on which leg counts.

Which leg counts: in the bridge, the call record follows the interviewer's
own phone, which Twilio rings first; the respondent is dialled only once the
interviewer answers, on a leg of its own. So the respondent's leg says what
happened to the respondent, and the call's own status only what happened to
the interviewer's phone. When the interviewer's phone was busy or did not
answer, nobody called the respondent, and nothing is suggested for the case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from instrument.fieldwork import suggested_outcome
from instrument.store.fieldwork_calls import STATUS_RANK
from instrument.store.fieldwork_live import LegEvent, LiveAttemptRead

if TYPE_CHECKING:
    from instrument.callqueue.service import CallQueue

__all__ = [
    "PHASES",
    "AttemptCalls",
    "CallSuggestion",
    "LegStatus",
    "LiveCall",
    "LiveCalls",
    "leg_status",
    "suggest",
]

_FINAL: Final = 4
_ANSWERED: Final = 3

PHASES: Final = (
    "ringing_you",  # the interviewer's own phone is ringing
    "ringing_respondent",  # the interviewer answered; the respondent's phone is ringing
    "connected",  # the respondent answered
    "machine",  # an answering machine or fax answered (answering-machine detection)
    "busy",  # the respondent's line was busy
    "no_answer",  # the respondent did not answer
    "failed",  # the call to the respondent failed (a carrier's or the number's fault)
    "cancelled",  # the call ended before the respondent answered
    "ended",  # the call ended (after a conversation, or before anyone was dialled)
    "you_busy",  # the interviewer's own line was busy: the respondent was not dialled
    "you_no_answer",  # the interviewer did not answer: the respondent was not dialled
    "you_failed",  # the call to the interviewer's phone failed
    "by_hand",  # dialled by hand: nothing reports its progress
)
"""Where a call stands, as the case screen says it (the console has words for each)."""

_RESPONDENT_END: Final = {
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "cancelled",
    "completed": "ended",
}
_YOUR_END: Final = {
    "busy": "you_busy",
    "no-answer": "you_no_answer",
    "failed": "you_failed",
    "canceled": "ended",
    "completed": "ended",
}


def _rank(status: str | None) -> int:
    return STATUS_RANK.get(status or "", -1)


def _duration(payload: object) -> int | None:
    value = payload.get("CallDuration") if isinstance(payload, dict) else None
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class LegStatus:
    """Where the respondent's leg of a call stands, from its callbacks."""

    status: str
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: int | None
    answered_by: str | None

    @property
    def final(self) -> bool:
        return _rank(self.status) >= _FINAL


def leg_status(events: Sequence[LegEvent]) -> LegStatus | None:
    """A leg's status from its callbacks as stored, by the call record's own rule.

    Forward only, whatever order Twilio delivered them in: a late ``ringing``
    after ``in-progress`` changes nothing, and the first final status stands.
    None for a leg with no callback.
    """
    if not events:
        return None
    status: str | None = None
    answered_at = ended_at = None
    duration = None
    answered_by = None
    for event in events:
        when = event.at or event.received_at
        rank = _rank(event.status)
        answered_by = event.payload.get("AnsweredBy") or answered_by
        if rank == _ANSWERED and answered_at is None:
            answered_at = when
        if _rank(status) >= _FINAL:
            continue
        if rank > _rank(status):
            status = event.status
        if rank == _FINAL:
            ended_at = ended_at or when
            found = _duration(dict(event.payload))
            duration = found if found is not None else duration
    if status is None:
        if answered_by is None:
            return None  # only statuses nobody ranks: nothing to say
        status = "in-progress"  # answering-machine detection heard someone or something answer
    return LegStatus(status, answered_at, ended_at, duration, answered_by)


@dataclass(frozen=True, slots=True)
class LiveCall:
    """One call of the attempt: its own (interviewer's) leg and the respondent's.

    Times are aware UTC. No number: ``number_rank`` says which of the case's
    numbers was dialled.
    """

    call_id: int
    number_rank: int
    provider: str
    status: str
    placed_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: int | None
    answered_by: str | None
    respondent: LegStatus | None

    @property
    def going(self) -> bool:
        """Whether callbacks may still change it: placed through a provider and not ended."""
        return self.provider != "manual" and self.ended_at is None and _rank(self.status) < _FINAL

    @property
    def phase(self) -> str:
        """Where the call stands (one of :data:`PHASES`)."""
        if self.provider == "manual":
            return "by_hand"
        leg = self.respondent
        if leg is not None:
            if _is_machine(leg.answered_by):
                return "machine"
            if leg.final:
                return _RESPONDENT_END.get(leg.status, "ended")
            if _rank(leg.status) == _ANSWERED:
                return "connected"
            if not self.going:
                return "cancelled"  # the call ended while the respondent's phone still rang
            return "ringing_respondent"
        if _rank(self.status) >= _FINAL or self.ended_at is not None:
            return _YOUR_END.get(self.status, "ended")
        if _rank(self.status) == _ANSWERED:
            return "ringing_respondent"  # answered; the respondent's first callback is on its way
        return "ringing_you"

    @property
    def talk_seconds(self) -> int | None:
        """How long the call lasted once it ended: the respondent's leg if they answered.

        The bridge's own leg also counts the interviewer's ringing and the
        respondent's; what the interviewer wants to know is how long they
        spoke. None while going, or when nobody says.
        """
        leg = self.respondent
        if leg is not None:
            spoke = leg.answered_at is not None or leg.status == "completed"
            return leg.duration_s if leg.final and spoke else None
        if self.going:
            return None
        return self.duration_s


def _is_machine(answered_by: str | None) -> bool:
    return answered_by is not None and (answered_by.startswith("machine_") or answered_by == "fax")


@dataclass(frozen=True, slots=True)
class AttemptCalls:
    """The calls of one attempt, oldest first."""

    attempt_id: int
    case_id: str
    calls: tuple[LiveCall, ...]

    @property
    def current(self) -> LiveCall | None:
        """The attempt's latest call placed through a provider (the one the screen follows)."""
        placed = [c for c in self.calls if c.provider != "manual"]
        return placed[-1] if placed else None

    @property
    def going(self) -> bool:
        """Whether a call of the attempt is still going (the screen keeps asking while it is)."""
        return any(c.going for c in self.calls)


@dataclass(frozen=True, slots=True)
class CallSuggestion:
    """The outcome a call's telephony implies, and why.

    ``reason``: ``busy``, ``no-answer``, ``failed`` (the final status that
    said so), ``machine`` or ``fax`` (what answering-machine detection heard);
    ``leg``: ``respondent`` or ``call``, whose status it came from.
    """

    code: str
    reason: str
    call_id: int
    leg: str


def suggest(call: LiveCall) -> CallSuggestion | None:
    """The outcome ``call`` implies (:func:`instrument.fieldwork.suggested_outcome`), or None.

    The respondent's leg's final status where there is one, else the call's;
    but a call whose own leg was busy or unanswered before any respondent leg
    reached nobody but the interviewer, and suggests nothing.
    """
    leg = call.respondent
    answered_by = (leg.answered_by if leg is not None else None) or call.answered_by
    if leg is not None and leg.final:
        status, source = leg.status, "respondent"
    elif leg is None and call.status in ("busy", "no-answer"):
        return None  # the interviewer's own phone: the respondent was never dialled
    else:
        status, source = call.status, "call"
    code = suggested_outcome(status, answered_by)
    if code is None:
        return None
    if status in ("busy", "no-answer", "failed"):
        reason = status
    else:
        reason = "fax" if answered_by == "fax" else "machine"
    return CallSuggestion(code, reason, call.call_id, source)


def attempt_calls(read: LiveAttemptRead) -> AttemptCalls:
    """The store's rows worked into :class:`LiveCall` s (each with its respondent leg)."""
    by_call: dict[int, list[LegEvent]] = {}
    for event in read.legs:
        by_call.setdefault(event.call_id, []).append(event)
    return AttemptCalls(
        attempt_id=read.attempt_id,
        case_id=read.case_id,
        calls=tuple(
            LiveCall(
                call_id=c.id,
                number_rank=c.number_rank,
                provider=c.provider,
                status=c.status,
                placed_at=c.placed_at,
                answered_at=c.answered_at,
                ended_at=c.ended_at,
                duration_s=c.duration_s,
                answered_by=c.answered_by,
                respondent=leg_status(by_call.get(c.id, ())),
            )
            for c in read.calls
        ),
    )


class LiveCalls:
    """The live call status and the telephony's suggestion, over a call queue's store.

    Composed rather than mixed into :class:`~instrument.callqueue.CallQueue`:
    ``LiveCalls(queue)``. Reads only; one transaction per call.
    """

    def __init__(self, queue: CallQueue) -> None:
        self.store = queue.store

    def calls_for(self, attempt_id: int, *, interviewer: str) -> AttemptCalls | None:
        """The attempt's calls, for the interviewer who holds its case through it; else None.

        None too for an unknown attempt, a coded one, or one whose case was
        released or handed to someone else: the case screen is theirs only
        while they hold the case.
        """
        read = self.store.live_calls(attempt_id)
        if read is None or read.ended_at is not None or read.held_by != interviewer:
            return None
        return attempt_calls(read)

    def suggestion(self, attempt_id: int, offered: Iterable[str]) -> CallSuggestion | None:
        """What the attempt's last call implies, if that outcome is among ``offered``; else None."""
        read = self.store.live_calls(attempt_id)
        if read is None or not read.calls:
            return None
        found = suggest(attempt_calls(read).calls[-1])
        return found if found is not None and found.code in set(offered) else None
