"""The case screen's live call status, and the outcome the telephony suggests at the end of a call.

While a call placed through Twilio is going, the case screen's status region
(``role="status"``) says where it stands: ringing you, ringing the respondent,
connected, the respondent's line busy, no answer, ended after 3 min 12 s.
``console.js`` asks :meth:`LiveViews.calls_json` every two seconds for as
long as a call is going, and stops when it has ended; without JavaScript a
"refresh call status" link reloads the case screen, whose region says the
same. The words are the console's (the catalogue's ``phone`` domain, in the
interviewer's language); where the call stands comes from the call-queue
service (:class:`~instrument.callqueue.live.LiveCalls`), from the status
callbacks of both legs.

The JSON is the interviewer's only: the attempt must be one this browser
was handed and whose case the signed-in interviewer still holds (404 for
anyone else, and once the call is coded). It names numbers by their rank on
the case, never the number itself, nor Twilio's sids.

:func:`suggested_outcome` gives the end-of-call picker the outcome the
attempt's last call implies (busy, no answer, a failed call, an answering
machine), with the words that say why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, jsonify

from instrument.callqueue.live import AttemptCalls, LiveCall, LiveCalls
from instrument_phone.console.words import Say

if TYPE_CHECKING:
    from instrument.fieldwork import Disposition
    from instrument_phone.console.views import Console

__all__ = ["LiveStatus", "LiveViews", "Suggested", "phase_words", "suggested_outcome"]

POLL_SECONDS = 2
"""How often console.js asks while a call is going (the template tells it)."""

_PHASE_KEYS = {
    "ringing_you": "live_ringing_you",
    "ringing_respondent": "live_ringing_respondent",
    "connected": "live_connected",
    "machine": "live_machine",
    "busy": "live_busy",
    "no_answer": "live_no_answer",
    "failed": "live_failed",
    "cancelled": "live_cancelled",
    "ended": "live_ended",
    "you_busy": "live_you_busy",
    "you_no_answer": "live_you_no_answer",
    "you_failed": "live_you_failed",
    "by_hand": "live_by_hand",
}
"""The catalogue key saying each phase (:data:`instrument.callqueue.live.PHASES`)."""

_REASON_KEYS = {
    "busy": "suggest_busy",
    "no-answer": "suggest_no_answer",
    "failed": "suggest_failed",
    "machine": "suggest_machine",
    "fax": "suggest_fax",
}


def phase_words(call: LiveCall, say: Say) -> str:
    """Where ``call`` stands, in words: "Ringing the respondent", "Ended after 3 min 12 s"."""
    phase = call.phase
    if phase == "ended" and call.talk_seconds is not None:
        minutes, seconds = divmod(max(call.talk_seconds, 0), 60)
        if minutes:
            return say("live_ended_minutes", minutes=minutes, seconds=seconds)
        return say("live_ended_seconds", seconds=seconds)
    return say(_PHASE_KEYS.get(phase, "live_ended"))


def _iso(at: dt.datetime | None) -> str | None:
    return None if at is None else at.astimezone(dt.UTC).isoformat()


def _call_json(call: LiveCall, say: Say) -> dict[str, Any]:
    leg = call.respondent
    return {
        "call_id": call.call_id,
        "number_rank": call.number_rank,
        "provider": call.provider,
        "status": call.status,
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration_s": call.duration_s,
        "respondent_status": None if leg is None else leg.status,
        "respondent_answered_at": None if leg is None else _iso(leg.answered_at),
        "respondent_ended_at": None if leg is None else _iso(leg.ended_at),
        "respondent_duration_s": None if leg is None else leg.duration_s,
        "answered_by": None if leg is None else leg.answered_by,
        "going": call.going,
        "phase": call.phase,
        "text": phase_words(call, say),
    }


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What the case screen's status region shows on load: the current call's words."""

    text: str
    going: bool
    poll_seconds: int = POLL_SECONDS


@dataclass(frozen=True, slots=True)
class Suggested:
    """The outcome the end-of-call picker pre-selects from the telephony, and why, in words."""

    code: str
    text: str


class LiveViews:
    """The JSON of an attempt's calls, and the case screen's status on load."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.calls = LiveCalls(console.queue)

    def _mine(self, attempt_id: int) -> AttemptCalls | None:
        self.console.taken_case(attempt_id)  # 404 for an attempt this browser was not handed
        return self.calls.calls_for(attempt_id, interviewer=self.console.me)

    def calls_json(self, attempt_id: int) -> Response:
        """``GET .../attempt/<id>/calls.json``: each call's status, both legs; the current words."""
        found = self._mine(attempt_id)
        if found is None:
            abort(404)
        say = self.console.say()
        current = found.current
        response = jsonify(
            {
                "attempt_id": found.attempt_id,
                "going": found.going,
                "phase": None if current is None else current.phase,
                "text": None if current is None else phase_words(current, say),
                "calls": [_call_json(c, say) for c in found.calls],
            }
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def status(self, attempt_id: int) -> LiveStatus | None:
        """The case screen's status region on load; None when no call went through a provider."""
        found = self._mine(attempt_id)
        current = None if found is None else found.current
        if found is None or current is None:
            return None
        return LiveStatus(phase_words(current, self.console.say()), found.going)

    def register(self, bp: Blueprint) -> None:
        """Add the JSON's route and the case screen's ``call_status(attempt_id)`` to ``bp``."""
        bp.add_url_rule(
            "/attempt/<int:attempt_id>/calls.json", "calls", self.calls_json, methods=["GET"]
        )
        bp.context_processor(lambda: {"call_status": self.status})


def suggested_outcome(
    console: Console, attempt_id: int, offered: Iterable[Disposition]
) -> Suggested | None:
    """The offered outcome the attempt's last call implies, with "Suggested from the call: ..."."""
    found = LiveCalls(console.queue).suggestion(attempt_id, [d.code for d in offered])
    if found is None:
        return None
    say = console.say()
    return Suggested(found.code, say("suggested_from_call", reason=say(_REASON_KEYS[found.reason])))
