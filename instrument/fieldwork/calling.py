"""Calling rules: when respondents may be called, and how hard to try.

The hours are in the *respondent's* local time, because that is what the
MRS Code and Ofcom's persistent-misuse policy care about: nobody is rung at
08:00 because the call centre is an hour ahead, or in the hour a clock change
moved. :func:`local_intervals` turns one local day's hours into UTC instants
with zoneinfo, so the same 09:00 start is 08:00 UTC in British summer time and
09:00 UTC in winter.

Defaults (UK practice, see docs/fieldwork.md): Monday to Friday 09:00-21:00,
Saturday 10:00-16:00, no calls on Sunday; at most 10 attempts a case and 6 a
number; no more than 3 attempts in one part of the day until every part has
been tried; a soft refusal rested 7 days and converted at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[time, time]
"""A local start and end time on one day (start < end; calls do not run past midnight)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names by ``date.weekday()`` (0 = Monday), as the fieldwork file writes them."""


@dataclass(frozen=True)
class PartOfDay:
    """A part of the day (morning, afternoon, evening) that attempts are spread over."""

    name: str
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"part of day {self.name!r} must start before it ends")


DEFAULT_HOURS: Mapping[int, tuple[Interval, ...]] = MappingProxyType(
    {
        **{day: ((time(9), time(21)),) for day in range(5)},
        5: ((time(10), time(16)),),
        6: (),
    }
)
DEFAULT_PARTS = (
    PartOfDay("morning", time(9), time(12)),
    PartOfDay("afternoon", time(12), time(17)),
    PartOfDay("evening", time(17), time(21)),
)


@dataclass(frozen=True)
class CallingRules:
    """How a study calls its cases (every field overridable in its fieldwork file).

    ``max_refusals`` and ``appointment_grace`` go beyond the phase-1 contract:
    refusal conversion is tried a limited number of times (a second soft
    refusal ends the case by default), and a hard appointment stays due for a
    while after its time, not just the minute it names.
    """

    hours: Mapping[int, tuple[Interval, ...]] = field(default_factory=lambda: DEFAULT_HOURS)
    parts_of_day: tuple[PartOfDay, ...] = DEFAULT_PARTS
    max_attempts_per_case: int = 10
    max_attempts_per_number: int = 6
    max_attempts_per_part: int = 3
    refusal_cool_off: timedelta = timedelta(days=7)
    hold_timeout: timedelta = timedelta(minutes=15)
    default_zone: str = "Europe/London"
    max_refusals: int = 2
    appointment_grace: timedelta = timedelta(minutes=30)
    _zone_cache: dict[str, ZoneInfo] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if set(self.hours) - set(range(7)):
            raise ValueError("calling hours are keyed by weekday, 0 (Monday) to 6 (Sunday)")
        hours = {day: tuple(self.hours.get(day, ())) for day in range(7)}
        for day, intervals in hours.items():
            ordered = sorted(intervals)
            for start, end in ordered:
                if not start < end:
                    raise ValueError(f"{WEEKDAYS[day]}: calling hours must start before they end")
            for (_, end), (start, _) in zip(ordered, ordered[1:]):
                if start < end:
                    raise ValueError(f"{WEEKDAYS[day]}: calling hours overlap")
            hours[day] = tuple(ordered)
        object.__setattr__(self, "hours", MappingProxyType(hours))
        names = [part.name for part in self.parts_of_day]
        if len(set(names)) != len(names):
            raise ValueError("parts of the day need distinct names")
        for name in ("max_attempts_per_case", "max_attempts_per_number", "max_attempts_per_part"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_refusals < 1:
            raise ValueError("max_refusals must be at least 1")
        for name in ("refusal_cool_off", "hold_timeout", "appointment_grace"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} cannot be negative")
        self.zone(self.default_zone)

    def zone(self, name: str | None) -> ZoneInfo:
        """The IANA zone ``name`` (the default zone when empty); ValueError if unknown."""
        key = name or self.default_zone
        found = self._zone_cache.get(key)
        if found is None:
            try:
                found = ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {key!r} (an IANA name such as Europe/London)"
                ) from None
            self._zone_cache[key] = found
        return found

    def part_of(self, local: time) -> PartOfDay | None:
        """The part of the day a local time falls in (None: between or outside parts)."""
        for part in self.parts_of_day:
            if part.start <= local < part.end:
                return part
        return None

    def parts_with_hours(self) -> tuple[PartOfDay, ...]:
        """The parts of the day that overlap calling hours on some day of the week."""
        return tuple(
            part
            for part in self.parts_of_day
            if any(
                start < part.end and part.start < end
                for intervals in self.hours.values()
                for start, end in intervals
            )
        )


def to_utc(day: date, local: time, zone: ZoneInfo, *, boundary: str) -> datetime:
    """The UTC instant of a local wall-clock time that starts or ends calling hours.

    Around a clock change a local time can happen never (the spring hour is
    skipped) or twice (the autumn hour is repeated). A time that never happens
    is taken as the instant the clocks jump over it: the first instant whose
    wall clock reads that time or later, exact for a start and for an end. Of
    a time that happens twice, a start takes the second reading and an end the
    first, so that the wall clock reads inside the hours throughout the interval
    (between the two readings it goes back outside them). Neither happens with
    the UK and EU rules, whose clocks change at 01:00 UTC, outside calling hours.
    """
    readings = sorted(
        datetime.combine(day, local, tzinfo=zone).replace(fold=fold).astimezone(UTC)
        for fold in (0, 1)
    )
    if readings[0] == readings[1]:
        return readings[0]
    naive = datetime.combine(day, local)
    if readings[0].astimezone(zone).replace(tzinfo=None) != naive:  # skipped: never on the clock
        return _transition(readings[0], readings[1], zone)
    return readings[1] if boundary == "start" else readings[0]


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second after ``before`` at which the zone's offset has changed."""
    offset = before.astimezone(zone).utcoffset()
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high


def local_intervals(
    rules: CallingRules, zone: ZoneInfo, day: date, *, skip: frozenset[str] = frozenset()
) -> list[tuple[datetime, datetime]]:
    """One local day's calling hours as UTC intervals, without the parts named in ``skip``.

    Leaving parts out is how attempts are spread over the day: a part already
    tried too often is cut out of the hours until the others have had a turn.
    """
    out: list[tuple[datetime, datetime]] = []
    for start, end in rules.hours.get(day.weekday(), ()):
        pieces = [(start, end)]
        for part in rules.parts_of_day:
            if part.name in skip:
                pieces = [piece for p in pieces for piece in _cut(p, part.start, part.end)]
        for a, b in pieces:
            utc_a = to_utc(day, a, zone, boundary="start")
            utc_b = to_utc(day, b, zone, boundary="end")
            if utc_a < utc_b:
                out.append((utc_a, utc_b))
    return out


def _cut(piece: Interval, start: time, end: time) -> list[Interval]:
    """``piece`` without the times from ``start`` to ``end``."""
    a, b = piece
    if end <= a or b <= start:
        return [piece]
    return [p for p in ((a, start), (end, b)) if p[0] < p[1]]


def within_hours(at: datetime, zone: ZoneInfo, rules: CallingRules) -> bool:
    """Whether the instant ``at`` (aware) falls inside the respondent's calling hours."""
    local = at.astimezone(zone)
    return any(a <= at < b for a, b in local_intervals(rules, zone, local.date()))
