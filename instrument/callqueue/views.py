"""The case screen's data: who to call, on which numbers, and what happened before.

This is the one place the call-queue service reads the respondent's name and
numbers (the personal-data tables), because the interviewer must see them to
make the call; nothing here is written anywhere else. Times come as aware
datetimes in both zones that matter: the interviewer's (when will I call?)
and the respondent's (what time is it for them?).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from instrument.fieldwork import DispositionTable
from instrument.store import AppointmentRecord, AttemptRecord, CallRecord, Store

__all__ = ["AppointmentView", "AttemptView", "CallView", "CaseView", "NumberView", "build_view"]


@dataclass(frozen=True, slots=True)
class NumberView:
    rank: int
    e164: str
    working: bool
    do_not_call: bool

    @property
    def diallable(self) -> bool:
        return self.working and not self.do_not_call


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: int
    number_rank: int
    provider: str
    status: str
    placed_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: int | None
    recording: bool | None = None  # the consent decision (None: never asked)
    recording_status: str | None = None  # how far the recording got (CallRecord's)
    recording_duration_s: int | None = None
    recording_missing: bool = False  # consented, not recorded (CallRecord.recording_missing)


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One attempt; times in the interviewer's zone. ``label``: the outcome's words."""

    attempt_id: int
    interviewer: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    disposition: str | None
    label: str | None
    note: str | None
    calls: tuple[CallView, ...]


@dataclass(frozen=True, slots=True)
class AppointmentView:
    """An open appointment: a hard one's time in both zones, a soft one's day and part."""

    appointment_id: int
    kind: str
    at_viewer: dt.datetime | None
    at_respondent: dt.datetime | None
    day: dt.date | None
    part: str | None
    interviewer: str | None
    made_by: str


@dataclass(frozen=True, slots=True)
class CaseView:
    """Everything the interviewer's case screen shows (``name`` and ``numbers`` are personal).

    ``interview_started`` / ``interview_finished``: what the end-of-call
    picker needs to offer the outcomes that fit (:meth:`CallQueue.outcomes_fitting`).
    """

    case_id: str
    questionnaire_id: str
    name: str | None
    numbers: tuple[NumberView, ...]
    language: str | None
    zone: str
    respondent_now: dt.datetime
    viewer_zone: str
    disposition: str | None
    disposition_label: str | None
    held_by: str | None
    attempts: tuple[AttemptView, ...]
    appointments: tuple[AppointmentView, ...]
    interview_id: str | None
    interview_status: str | None
    interview_modes: tuple[str, ...]
    interview_started: bool = False
    interview_finished: bool = False


def _calls_by_attempt(calls: Sequence[CallRecord], zone: ZoneInfo) -> dict[int, list[CallView]]:
    out: dict[int, list[CallView]] = {}
    for call in calls:
        out.setdefault(call.attempt_id, []).append(
            CallView(
                call_id=call.id,
                number_rank=call.number_rank,
                provider=call.provider,
                status=call.status,
                placed_at=call.placed_at.astimezone(zone),
                answered_at=None if call.answered_at is None else call.answered_at.astimezone(zone),
                ended_at=None if call.ended_at is None else call.ended_at.astimezone(zone),
                duration_s=call.duration_s,
                recording=call.recording,
                recording_status=call.recording_status,
                recording_duration_s=call.recording_duration_s,
                recording_missing=call.recording_missing,
            )
        )
    return out


def _attempt_view(
    attempt: AttemptRecord, calls: list[CallView], table: DispositionTable, zone: ZoneInfo
) -> AttemptView:
    code = attempt.disposition
    return AttemptView(
        attempt_id=attempt.id,
        interviewer=attempt.interviewer,
        started_at=attempt.started_at.astimezone(zone),
        ended_at=None if attempt.ended_at is None else attempt.ended_at.astimezone(zone),
        disposition=code,
        label=table[code].label if code in table else code,
        note=attempt.note,
        calls=tuple(calls),
    )


def _appointment_view(
    record: AppointmentRecord, viewer: ZoneInfo, respondent: ZoneInfo
) -> AppointmentView:
    return AppointmentView(
        appointment_id=record.id,
        kind=record.kind,
        at_viewer=None if record.at is None else record.at.astimezone(viewer),
        at_respondent=None if record.at is None else record.at.astimezone(respondent),
        day=record.day,
        part=record.part,
        interviewer=record.interviewer,
        made_by=record.made_by,
    )


def build_view(
    store: Store,
    case_id: str,
    questionnaire_id: str,
    table: DispositionTable,
    *,
    zone_of: Callable[[str], ZoneInfo],
    viewer_zone: ZoneInfo,
    now: dt.datetime,
) -> CaseView:
    """Read a queued case's screen (LookupError when the case is not in the call queue).

    ``zone_of`` turns the case's stored zone into a ``ZoneInfo`` (the study's
    calling rules know its default), so the screen is the only read.
    """
    screen = store.case_screen(case_id)
    if screen is None:
        raise LookupError(f"case {case_id!r} is not in the call queue")
    row = screen.queue
    respondent_zone = zone_of(str(row["zone"]))
    numbers = tuple(NumberView(n.rank, n.e164, n.working, n.do_not_call) for n in screen.numbers)
    calls = _calls_by_attempt(screen.calls, viewer_zone)
    attempts = tuple(
        _attempt_view(a, calls.get(a.id, []), table, viewer_zone) for a in screen.attempts
    )
    appointments = tuple(
        _appointment_view(a, viewer_zone, respondent_zone) for a in screen.appointments
    )
    interview = screen.interview
    modes: tuple[str, ...] = ()
    if interview is not None:
        modes = screen.answer_modes or (interview.mode,)
    code = row["disposition"]
    assert isinstance(code, str | None)
    return CaseView(
        case_id=case_id,
        questionnaire_id=questionnaire_id,
        name=screen.name,
        numbers=numbers,
        language=row["language"],  # type: ignore[arg-type]
        zone=respondent_zone.key,
        respondent_now=now.astimezone(respondent_zone),
        viewer_zone=viewer_zone.key,
        disposition=code,
        disposition_label=table[code].label if code is not None and code in table else code,
        held_by=row["held_by"],  # type: ignore[arg-type]
        attempts=attempts,
        appointments=appointments,
        interview_id=None if interview is None else interview.id,
        interview_status=None if interview is None else interview.status,
        interview_modes=modes,
        interview_started=screen.interview_started,
        interview_finished=screen.interview_finished,
    )
