"""The scheduler on random clocks, zones, hours and histories (hypothesis).

Whatever the zone (half-hour and 45-minute offsets, clock changes at midnight
or at 02:00, southern-hemisphere summers) and whatever the calling hours, a
normal window opens no earlier than every retry delay allows, every instant of
it is inside the calling hours read on the respondent's own wall clock, and it
is the first such instant: one microsecond before it the case was not
callable. The wall-clock check reads ``astimezone`` only, not the code under
test's conversion of hours to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrument.fieldwork.calling import DEFAULT_HOURS, CallingRules
from instrument.fieldwork.dispositions import DEFAULT_DISPOSITIONS
from instrument.fieldwork.schedule import AttemptFact, CaseFacts, next_window, parts_to_skip

ZONES = [
    "Europe/London", "Europe/Berlin", "America/New_York", "America/Havana", "America/Santiago",
    "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham",
]  # fmt: skip
RETRIED = [code for code, d in DEFAULT_DISPOSITIONS.items() if not d.final]
TABLE = DEFAULT_DISPOSITIONS
START = datetime(2026, 1, 1, tzinfo=UTC)
CHANGES = [
    datetime(2026, month, day, tzinfo=UTC)
    for month, day in [(3, 8), (3, 29), (4, 5), (9, 6), (9, 27), (10, 4), (10, 25), (11, 1)]
]  # 2026's clock changes in the zones above (US and Cuba, EU, southern hemisphere)


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    """0, 1 or 2 intervals on a quarter-hour grid, sorted and apart."""
    count = draw(st.sampled_from([0, 2, 2, 4]))
    points = sorted(draw(st.sets(st.integers(0, 95), min_size=count, max_size=count)))
    as_time = [time(p * 15 // 60, p * 15 % 60) for p in points]
    return tuple(zip(as_time[0::2], as_time[1::2]))


@st.composite
def rules(draw: st.DrawFn) -> CallingRules:
    hours = DEFAULT_HOURS if draw(st.booleans()) else {d: draw(day_hours()) for d in range(7)}
    return CallingRules(
        hours=hours,
        max_attempts_per_case=draw(st.integers(1, 15)),
        max_attempts_per_number=draw(st.integers(1, 8)),
        max_attempts_per_part=draw(st.integers(1, 4)),
        max_refusals=draw(st.integers(1, 3)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[CaseFacts, datetime]:
    if draw(st.booleans()):  # anywhere in the year, or within two days of a clock change
        now = START + timedelta(minutes=draw(st.integers(0, 365 * 24 * 60)))
    else:
        change = draw(st.sampled_from(CHANGES))
        now = change + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 2 * 24 * 60)))
    attempts = tuple(
        AttemptFact(
            now - timedelta(minutes=draw(st.integers(0, 20 * 24 * 60))),
            draw(st.sampled_from(RETRIED)),
            draw(st.integers(1, 2)),
        )
        for _ in range(draw(st.integers(0, 12)))
    )
    zone = draw(st.sampled_from(ZONES))
    return CaseFacts("c", zone, numbers=(1, 2), attempts=attempts), now


def _callable_by_wall_clock(
    at: datetime, zone: ZoneInfo, rules: CallingRules, skip: set[str]
) -> bool:
    local = at.astimezone(zone)
    wall = local.time()
    in_hours = any(a <= wall < b for a, b in rules.hours.get(local.weekday(), ()))
    part = rules.part_of(wall)
    return in_hours and (part is None or part.name not in skip)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), calling=rules())
def test_a_normal_window_is_the_first_callable_instant_after_every_delay(
    case: tuple[CaseFacts, datetime], calling: CallingRules
) -> None:
    facts, now = case
    window = next_window(facts, calling, TABLE, now)
    if window is None:
        return
    assert window.kind == "normal" and window.start < window.end
    earliest = now
    for attempt in facts.attempts:
        outcome = TABLE[attempt.disposition]
        rest = outcome.retry_after or timedelta(0)
        if outcome.refusal:
            rest = max(rest, calling.refusal_cool_off)
        earliest = max(earliest, attempt.at + rest)
    assert window.start >= earliest
    assert window.start - earliest < timedelta(days=8)  # some part with hours comes within a week
    zone = ZoneInfo(facts.zone)
    skip = parts_to_skip(facts, calling, zone)  # tested on its own in test_fieldwork_schedule
    middle = window.start + (window.end - window.start) / 2
    for instant in (window.start, middle, window.end - timedelta(microseconds=1)):
        assert _callable_by_wall_clock(instant, zone, calling, skip), (instant, facts.zone)
    before = window.start - timedelta(microseconds=1)
    if before >= earliest and _callable_by_wall_clock(before, zone, calling, skip):
        # only where the hours start in a repeated hour: the window opens at its second reading
        assert window.start.astimezone(zone).fold == 1, (window, facts.zone)
    assert len(facts.attempts) < calling.max_attempts_per_case
    assert sum(TABLE[a.disposition].refusal for a in facts.attempts) < calling.max_refusals
