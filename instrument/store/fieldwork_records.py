"""What the fieldwork part of the store hands out and takes in (telephone mode, issue 12).

Kept apart from :mod:`instrument.store.records` so the telephone tables can
grow without touching the records every mode shares. The window and the
appointment a caller passes in are read by attribute (``start``, ``end``,
``kind``, ``interviewer``; ``kind``, ``at``, ``day``, ``part``,
``interviewer``), so the rules layer's frozen dataclasses
(``instrument.fieldwork.schedule.Window`` and ``AppointmentFact``) fit as they
are, and the store does not import the rules layer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final, Protocol

from instrument.store.records import StoreError

__all__ = [
    "AppointmentLike",
    "AppointmentRecord",
    "AttemptRecord",
    "CallRecord",
    "Claim",
    "CodeResult",
    "NumberNotCallable",
    "PhoneNumber",
    "StaleHold",
    "WindowLike",
    "check_e164",
    "dialect_insert",
]

_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")


def check_e164(number: str) -> str:
    """``number`` if it is written in E.164 (``+`` and 7 to 15 digits), else ValueError.

    The store takes numbers already parsed (see ``instrument.interviews.case_file``);
    it only refuses what was plainly never normalised, so lookups by number match.
    """
    if not isinstance(number, str) or not _E164.fullmatch(number):
        raise ValueError(f"{number!r} is not an E.164 number (+ and 7 to 15 digits)")
    return number


def dialect_insert(dialect: str, table: Any) -> Any:
    """An ``INSERT`` that has ``on_conflict_do_*`` on this backend (both have it, spelt per dialect)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class NumberNotCallable(StoreError):
    """The number may not be dialled: not the case's, not working, or on the do-not-call list."""


class WindowLike(Protocol):
    """When a case may be called next (``instrument.fieldwork.schedule.Window`` fits)."""

    @property
    def start(self) -> dt.datetime: ...
    @property
    def end(self) -> dt.datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def interviewer(self) -> str | None: ...


class AppointmentLike(Protocol):
    """An appointment to book (``instrument.fieldwork.schedule.AppointmentFact`` fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> dt.datetime | None: ...
    @property
    def day(self) -> dt.date | None: ...
    @property
    def part(self) -> str | None: ...
    @property
    def interviewer(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """One of a case's numbers (personal data: show it only to the interviewer calling)."""

    rank: int
    e164: str
    working: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """A case handed to one interviewer by ``claim_next_case``, with the attempt it started."""

    case_id: str
    attempt_id: int
    window_kind: str | None
    window_interviewer: str | None
    priority: int
    zone: str
    language: str | None
    disposition: str | None
    attempts: int  # attempts on the case, this one included
    resumed: bool = False  # the interviewer already held it: its open attempt, not a new one
    questionnaire_id: str | None = None  # read with the case, so the caller need not read it again


@dataclass(frozen=True, slots=True)
class StaleHold:
    """A case held longer than the timeout: its interviewer has probably gone."""

    case_id: str
    attempt_id: int | None
    held_by: str
    held_since: dt.datetime
    questionnaire_id: str | None = None  # read with the hold: judging it needs its study's rules


@dataclass(frozen=True, slots=True)
class CodeResult:
    """What ``code_attempt`` did; ``already_coded``: an earlier call coded it and nothing changed."""

    attempt_id: int
    case_id: str
    disposition: str | None
    already_coded: bool
    appointment_id: int | None = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    id: int
    case_id: str
    interviewer: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    disposition: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call (one dialling of one number, by rank: the number itself stays in ``phone_numbers``)."""

    id: int
    attempt_id: int
    case_id: str
    number_rank: int
    provider: str
    provider_sid: str | None
    placed_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: int | None
    status: str
    answered_by: str | None
    recording: bool | None
    recording_at: dt.datetime | None = None  # when the decision was keyed
    recording_sid: str | None = None  # the provider's recording, started after a yes
    # How far that recording got: starting, failed (recording_error says why), then the
    # provider's in-progress, completed, absent or failed; its length and URL (a reference).
    recording_status: str | None = None
    recording_error: str | None = None
    recording_changed_at: dt.datetime | None = None
    recording_duration_s: int | None = None
    recording_url: str | None = None

    @property
    def recording_missing(self) -> bool:
        """Consented, not recorded: a yes whose recording never started or came to nothing."""
        return self.recording is True and (
            self.recording_status in ("failed", "absent")
            or (self.recording_sid is None and self.recording_status != "starting")
        )


@dataclass(frozen=True, slots=True)
class AppointmentRecord:
    id: int
    case_id: str
    kind: str
    at: dt.datetime | None
    day: dt.date | None
    part: str | None
    zone: str
    interviewer: str | None
    made_by: str
    made_at: dt.datetime
    cancelled_at: dt.datetime | None
    attempt_id: int | None
