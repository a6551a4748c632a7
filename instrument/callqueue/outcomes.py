"""What the call-queue service takes in and hands back: typed outcomes, as the interview service does.

Each operation returns exactly one outcome, so the interviewer's console (and
a test) never reads meaning into an exception or a None:

* :class:`Claimed` / :class:`NoCase`: "next case";
* :class:`CallPlaced` / :class:`Refused`: dialling a number;
* :class:`Coded` / :class:`AlreadyCoded` / :class:`Refused`: the end of a call
  (a double click or a second tab gets :class:`AlreadyCoded`, and nothing doubles).

:class:`Dialer` is what a telephony provider must offer; the phone mode
implements it with Twilio, and None means "dialled by hand".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from instrument.fieldwork import Window

__all__ = [
    "AlreadyCoded",
    "AppointmentRequest",
    "CallPlaced",
    "Claimed",
    "Coded",
    "Dialer",
    "InterviewerStats",
    "NoCase",
    "Overview",
    "Refused",
]


class Dialer(Protocol):
    """Places and ends calls through a provider (the phone mode's Twilio bridge)."""

    def place(self, to_e164: str, call_id: int) -> str:
        """Dial ``to_e164`` for our call ``call_id``; the provider's id of the call (its sid)."""
        ...

    def hang_up(self, sid: str) -> None:
        """End the provider's call ``sid``."""
        ...


@dataclass(frozen=True, slots=True)
class Claimed:
    """A case handed to the interviewer, with the attempt opened for it.

    ``resumed``: the interviewer already held this case (a refresh or a
    second press of "next case"); no new attempt was opened.
    """

    case_id: str
    attempt_id: int
    questionnaire_id: str
    window_kind: str | None
    zone: str
    language: str | None
    attempts: int
    resumed: bool = False
    kind: Literal["claimed"] = "claimed"


@dataclass(frozen=True, slots=True)
class NoCase:
    """No case may be called by this interviewer now (``reason`` says why, for the screen)."""

    reason: str
    kind: Literal["no_case"] = "no_case"


@dataclass(frozen=True, slots=True)
class CallPlaced:
    """A call was recorded (and handed to the dialer). ``again``: it had been placed before."""

    call_id: int
    attempt_id: int
    number_rank: int
    provider: Literal["twilio", "manual"]
    provider_sid: str | None
    again: bool = False
    kind: Literal["placed"] = "placed"


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing was done; ``messages`` say why, in words for the interviewer."""

    messages: tuple[str, ...]
    kind: Literal["refused"] = "refused"


@dataclass(frozen=True, slots=True)
class Coded:
    """The attempt was coded; ``window`` is the case's next one (None: never called again)."""

    attempt_id: int
    case_id: str
    disposition: str
    final: bool
    window: Window | None
    appointment_id: int | None = None
    kind: Literal["coded"] = "coded"


@dataclass(frozen=True, slots=True)
class AlreadyCoded:
    """The attempt had been coded before (a double click, a refresh, a second tab): nothing changed."""

    attempt_id: int
    case_id: str
    disposition: str | None
    kind: Literal["already_coded"] = "already_coded"


@dataclass(frozen=True, slots=True)
class AppointmentRequest:
    """An appointment as the interviewer books it.

    Hard: ``at`` is the wall-clock time the interviewer typed, in their own
    ``zone`` (naive), or an aware instant; ``only_me`` keeps the call for the
    interviewer who booked it. Soft: ``day`` and ``part`` (a part of the day's
    name) in the respondent's zone, because "Tuesday evening" is theirs.
    """

    kind: Literal["hard", "soft"]
    at: dt.datetime | None = None
    zone: str | None = None
    day: dt.date | None = None
    part: str | None = None
    only_me: bool = False


@dataclass(frozen=True, slots=True)
class Overview:
    """The supervisor's view of the sample now (counts only; no names, no numbers).

    ``by_disposition``: each case's current disposition as the rules work it
    out (a supervisor's change wins until the case is called again);
    ``attempts_per_case``: how many cases have had 0, 1, 2, ... attempts.
    """

    cases: int
    by_disposition: Mapping[str, int]
    final: int
    held: int
    callable_now: int
    appointments_today: int
    attempts_per_case: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class InterviewerStats:
    """One interviewer's work between two instants.

    ``hours``: time spent in attempts (from "next case" to the outcome);
    ``mean_interview_length``: the mean length of the attempts they coded
    complete, the time the respondent was being interviewed on the phone.
    """

    interviewer: str
    attempts: int
    calls: int
    completes: int
    hours: float
    completes_per_hour: float | None
    mean_interview_length: dt.timedelta | None
