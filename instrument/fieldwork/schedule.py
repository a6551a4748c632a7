"""When a case may be called next, on which number, and what its disposition is.

The store hands over a case's history as plain facts (its attempts, its
appointment, its numbers) and stores the :class:`Window` computed here; "next
case" is then a query for rows whose window is open now, in :func:`queue_key`
order. Recomputing the window from the whole history after every attempt,
instead of keeping counters in the database, makes the rules one function that
a test can drive on a frozen clock.

The rules, in the order they apply:

1. Never again (None): the interview is finished (on any mode), the case is on
   the do-not-call list, an outcome was final, the case refused
   ``max_refusals`` times, or no number still works.
2. A hard appointment not yet past its grace period is the window, from its
   time; a soft one is its part of that day within calling hours. An
   appointment is a promise to the respondent: it is kept even when the
   attempt limits are reached.
3. Never again once ``max_attempts_per_case`` attempts were made, or every
   working number has had ``max_attempts_per_number``.
4. Otherwise the first calling-hours interval, in the respondent's local time,
   after every outcome's retry delay (a refusal's at least the cool-off), and
   outside parts of the day already tried ``max_attempts_per_part`` times
   while another part has not been tried at all.

The search for that interval steps through local days and stops after
:data:`SEARCH_DAYS`, so it always ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from .calling import CallingRules, PartOfDay, local_intervals, to_utc, within_hours
from .dispositions import ELIGIBLE_CLASSES, Disposition, RateClass

WindowKind = Literal["hard", "soft", "normal"]
KIND_ORDER: Mapping[str, int] = {"hard": 0, "soft": 1, "normal": 2}
"""How :func:`queue_key` ranks the kinds of window (the store's ORDER BY uses the same)."""

SEARCH_DAYS = 366
"""Local days searched for an open interval before giving up (a week is always enough
when some day has calling hours; the bound only keeps a broken configuration finite)."""


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (UTC), not {at!r}")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class AttemptFact:
    """One coded attempt: when it started, its outcome and the number dialled (rank)."""

    at: datetime
    disposition: str
    number_rank: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _aware(self.at, "an attempt's time"))


@dataclass(frozen=True)
class AppointmentFact:
    """An appointment still to be kept.

    A hard appointment is a time promised to the respondent (``at``), perhaps by
    one interviewer; a soft one is a part of a day in the respondent's zone
    ("Tuesday evening").
    """

    kind: Literal["hard", "soft"]
    at: datetime | None = None
    day: date | None = None
    part: str | None = None
    interviewer: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "hard":
            if self.at is None:
                raise ValueError("a hard appointment needs its time (at)")
            object.__setattr__(self, "at", _aware(self.at, "an appointment's time"))
        elif self.kind == "soft":
            if self.day is None or not self.part:
                raise ValueError("a soft appointment needs a day and a part of the day")
        else:
            raise ValueError(f"an appointment is hard or soft, not {self.kind!r}")


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about one case.

    ``numbers`` are the ranks (1 = first choice) of the numbers still thought to
    work; ``interview_started`` (beyond the contract) lets a case whose calls
    ended without an outcome of its own be coded a partial.
    """

    case_id: str | int
    zone: str
    priority: int = 0
    numbers: tuple[int, ...] = (1,)
    attempts: tuple[AttemptFact, ...] = ()
    appointment: AppointmentFact | None = None
    do_not_call: bool = False
    interview_finished: bool = False
    interview_started: bool = False


@dataclass(frozen=True)
class Window:
    """The next interval (UTC) in which a case may be called, and why."""

    start: datetime
    end: datetime
    kind: WindowKind
    interviewer: str | None = None

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("a window must start before it ends")
        if self.kind not in KIND_ORDER:
            raise ValueError(f"a window is hard, soft or normal, not {self.kind!r}")

    def open_at(self, now: datetime) -> bool:
        return self.start <= now < self.end


def _ordered(facts: CaseFacts) -> list[AttemptFact]:
    return sorted(facts.attempts, key=lambda a: a.at)


def _never_again(facts: CaseFacts, rules: CallingRules, table: Mapping[str, Disposition]) -> bool:
    if facts.interview_finished or facts.do_not_call:
        return True
    outcomes = [table[a.disposition] for a in facts.attempts]
    if any(d.final for d in outcomes):
        return True
    return sum(d.refusal for d in outcomes) >= rules.max_refusals


def working_numbers(facts: CaseFacts, table: Mapping[str, Disposition] | None = None) -> list[int]:
    """The case's numbers in priority order, without those an outcome showed dead."""
    dead = set()
    if table is not None:
        dead = {a.number_rank for a in facts.attempts if table[a.disposition].number_dead}
    return sorted(rank for rank in set(facts.numbers) if rank not in dead)


def next_number(
    facts: CaseFacts, rules: CallingRules, table: Mapping[str, Disposition] | None = None
) -> int | None:
    """The rank of the number to dial next, or None when no number may be dialled.

    The first working number (by rank) below ``max_attempts_per_number``. For
    a case with an appointment, the number the appointment was made on (the
    last one dialled) if it still works, whatever its count: the respondent
    expects the call there.
    """
    working = working_numbers(facts, table)
    attempts = _ordered(facts)
    if facts.appointment is not None and working:
        last = attempts[-1].number_rank if attempts else None
        return last if last in working else working[0]
    per_number = Counter(a.number_rank for a in attempts)
    for rank in working:
        if per_number[rank] < rules.max_attempts_per_number:
            return rank
    return None


def _retry_at(facts: CaseFacts, rules: CallingRules, table: Mapping[str, Disposition]) -> datetime:
    """The earliest time every outcome's rest allows (a refusal rests at least the cool-off)."""
    earliest = datetime.min.replace(tzinfo=UTC)
    for attempt in facts.attempts:
        outcome = table[attempt.disposition]
        delay = outcome.retry_after or timedelta(0)
        if outcome.refusal:
            delay = max(delay, rules.refusal_cool_off)
        earliest = max(earliest, attempt.at + delay)
    return earliest


def parts_to_skip(facts: CaseFacts, rules: CallingRules, zone: ZoneInfo) -> frozenset[str]:
    """Parts of the day tried ``max_attempts_per_part`` times while another is untried."""
    tried: Counter[str] = Counter()
    for attempt in facts.attempts:
        part = rules.part_of(attempt.at.astimezone(zone).time())
        if part is not None:
            tried[part.name] += 1
    callable_parts = rules.parts_with_hours()
    if all(tried[p.name] for p in callable_parts):
        return frozenset()
    return frozenset(p.name for p in callable_parts if tried[p.name] >= rules.max_attempts_per_part)


def first_open(
    rules: CallingRules, zone: ZoneInfo, earliest: datetime, skip: frozenset[str] = frozenset()
) -> tuple[datetime, datetime] | None:
    """The first calling-hours interval (UTC) that is still open at or after ``earliest``."""
    day = earliest.astimezone(zone).date()
    for offset in range(SEARCH_DAYS):
        for start, end in local_intervals(rules, zone, day + timedelta(days=offset), skip=skip):
            if end > earliest:
                return max(start, earliest), end
    return None


def _part(rules: CallingRules, name: str | None) -> PartOfDay:
    for part in rules.parts_of_day:
        if part.name == name:
            return part
    known = ", ".join(p.name for p in rules.parts_of_day)
    raise ValueError(f"unknown part of the day {name!r} (the parts are {known})")


def _soft_intervals(
    appointment: AppointmentFact, rules: CallingRules, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The calling hours of a soft appointment's day that fall in its part of the day."""
    assert appointment.day is not None
    part = _part(rules, appointment.part)
    out = []
    for start, end in rules.hours.get(appointment.day.weekday(), ()):
        a, b = max(start, part.start), min(end, part.end)
        if a < b:
            utc_a = to_utc(appointment.day, a, zone, boundary="start")
            utc_b = to_utc(appointment.day, b, zone, boundary="end")
            if utc_a < utc_b:
                out.append((utc_a, utc_b))
    return out


def _appointment_window(
    appointment: AppointmentFact, rules: CallingRules, zone: ZoneInfo, now: datetime
) -> Window | None:
    """The appointment's window, or None once it has passed (missed: normal rules apply)."""
    if appointment.kind == "hard":
        assert appointment.at is not None
        end = appointment.at + max(rules.appointment_grace, timedelta(minutes=1))
        if now < end:
            return Window(appointment.at, end, "hard", appointment.interviewer)
        return None
    for start, end in _soft_intervals(appointment, rules, zone):
        if now < end:
            return Window(start, end, "soft", appointment.interviewer)
    return None


def next_window(
    facts: CaseFacts, rules: CallingRules, table: Mapping[str, Disposition], now: datetime
) -> Window | None:
    """The next interval in which the case may be called; None: never call it again."""
    now = _aware(now, "now")
    if _never_again(facts, rules, table) or not working_numbers(facts, table):
        return None
    zone = rules.zone(facts.zone)
    if facts.appointment is not None:
        window = _appointment_window(facts.appointment, rules, zone, now)
        if window is not None:
            return window
    if len(facts.attempts) >= rules.max_attempts_per_case:
        return None
    plain = CaseFacts(facts.case_id, facts.zone, facts.priority, facts.numbers, facts.attempts)
    if next_number(plain, rules, table) is None:
        return None
    earliest = max(now, _retry_at(facts, rules, table))
    found = first_open(rules, zone, earliest, parts_to_skip(facts, rules, zone))
    return None if found is None else Window(found[0], found[1], "normal")


def case_disposition(
    facts: CaseFacts, table: Mapping[str, Disposition], rules: CallingRules
) -> str:
    """The case's disposition now, and its final one when fieldwork ends (queXS's end_case).

    A final outcome wins; an interview finished (in any mode) is a complete.
    A case out of attempts keeps a partial or refusal it had, is otherwise
    ``max_attempts_eligible`` when some outcome showed it eligible and
    ``max_attempts`` when none did. Otherwise the last outcome that showed the
    case eligible (a refusal is not undone by a later no answer), else the last
    outcome; a case never attempted is ``not_attempted``. An interview that was
    started makes a non-contact or unknown case a partial.
    """
    attempts = _ordered(facts)
    finals = [a.disposition for a in attempts if table[a.disposition].final]
    if finals:
        return finals[-1]
    if facts.interview_finished:
        return "complete"
    if not attempts:
        return "not_attempted"
    eligible = [
        a.disposition for a in attempts if table[a.disposition].rate_class in ELIGIBLE_CLASSES
    ]
    if len(attempts) >= rules.max_attempts_per_case:
        if eligible and table[eligible[-1]].rate_class in (RateClass.P, RateClass.R):
            return eligible[-1]
        if facts.interview_started:
            return "partial"
        return "max_attempts_eligible" if eligible else "max_attempts"
    code = eligible[-1] if eligible else attempts[-1].disposition
    weak = (RateClass.NC, RateClass.O, RateClass.UH, RateClass.UO)
    if facts.interview_started and table[code].rate_class in weak:
        return "partial"
    return code


def queue_key(window: Window, priority: int) -> tuple[int, int, datetime]:
    """Sort key for cases whose windows are open: hard appointments, then soft, then
    higher priority, then the window that opened first."""
    return (KIND_ORDER[window.kind], -priority, window.start)


def hold_expired(held_since: datetime, now: datetime, rules: CallingRules) -> bool:
    """Whether an interviewer has held a case too long (it is then released and coded)."""
    return _aware(now, "now") - _aware(held_since, "held_since") >= rules.hold_timeout


def appointment_problem(
    appointment: AppointmentFact, zone_name: str, rules: CallingRules, now: datetime
) -> str | None:
    """Why an appointment cannot be made as given (None: it can).

    Checked when the interviewer books it, so that the scheduler never has to
    choose between a promise and the calling hours.
    """
    now = _aware(now, "now")
    zone = rules.zone(zone_name)
    if appointment.kind == "hard":
        assert appointment.at is not None
        if appointment.at < now:
            return "the appointment's time has passed"
        if not within_hours(appointment.at, zone, rules):
            local = appointment.at.astimezone(zone)
            return f"{local:%A %d %B %H:%M} ({zone.key}) is outside calling hours"
        return None
    try:
        intervals = _soft_intervals(appointment, rules, zone)
    except ValueError as exc:
        return str(exc)
    if not intervals:
        return f"there are no calling hours in the {appointment.part} of {appointment.day:%A %d %B}"
    if intervals[-1][1] <= now:
        return "the appointment's day and part have passed"
    return None
