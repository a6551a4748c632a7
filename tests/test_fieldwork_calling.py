"""Calling hours in the respondent's local time, on a frozen clock across the 2026 clock changes.

UK and EU clocks go forward at 01:00 UTC on the last Sunday of March (29 March
2026) and back at 01:00 UTC on the last Sunday of October (25 October 2026).
A 09:00 local start is then 08:00 UTC in London's summer and 09:00 UTC in its
winter; 07:00 and 08:00 UTC in Berlin.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from instrument.fieldwork.calling import CallingRules, PartOfDay, local_intervals, within_hours
from instrument.fieldwork.dispositions import DEFAULT_DISPOSITIONS
from instrument.fieldwork.schedule import AttemptFact, CaseFacts, Window, next_window

RULES = CallingRules()
TABLE = DEFAULT_DISPOSITIONS


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(zone: str, now: datetime, *attempts: AttemptFact, rules: CallingRules = RULES) -> Window:
    found = next_window(CaseFacts("c", zone, attempts=attempts), rules, TABLE, now)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("zone", "now", "start", "end"),
    [
        # Friday before the spring change: winter time
        ("Europe/London", utc(2026, 3, 27, 6), utc(2026, 3, 27, 9), utc(2026, 3, 27, 21)),
        ("Europe/Berlin", utc(2026, 3, 27, 6), utc(2026, 3, 27, 8), utc(2026, 3, 27, 20)),
        # Saturday evening before the change: no Sunday calls, so Monday in summer time
        ("Europe/London", utc(2026, 3, 28, 17), utc(2026, 3, 30, 8), utc(2026, 3, 30, 20)),
        ("Europe/Berlin", utc(2026, 3, 28, 17), utc(2026, 3, 30, 7), utc(2026, 3, 30, 19)),
        # Saturday before the autumn change: summer time, Saturday hours 10:00-16:00
        ("Europe/London", utc(2026, 10, 24, 6), utc(2026, 10, 24, 9), utc(2026, 10, 24, 15)),
        ("Europe/Berlin", utc(2026, 10, 24, 6), utc(2026, 10, 24, 8), utc(2026, 10, 24, 14)),
        # ... and the Monday after it: winter time again
        ("Europe/London", utc(2026, 10, 24, 17), utc(2026, 10, 26, 9), utc(2026, 10, 26, 21)),
        ("Europe/Berlin", utc(2026, 10, 24, 17), utc(2026, 10, 26, 8), utc(2026, 10, 26, 20)),
    ],
)
def test_nine_o_clock_local_follows_the_clock_change(
    zone: str, now: datetime, start: datetime, end: datetime
) -> None:
    found = window(zone, now)
    assert (found.start, found.end, found.kind) == (start, end, "normal")


def test_a_retry_delay_that_crosses_the_change() -> None:
    # no answer on Saturday 28 March 15:30 GMT: 3 hours later Saturday's hours are over,
    # Sunday has none, Monday opens at 09:00 BST = 08:00 UTC
    tried = AttemptFact(utc(2026, 3, 28, 15, 30), "no_answer", 1)
    assert window("Europe/London", utc(2026, 3, 28, 15, 31), tried).start == utc(2026, 3, 30, 8)
    # a soft refusal on Friday 23 October 11:00 BST rests a week: Friday 30th, 11:00 GMT
    refused = AttemptFact(utc(2026, 10, 23, 10), "refusal_soft", 1)
    assert window("Europe/London", utc(2026, 10, 23, 10, 5), refused).start == utc(2026, 10, 30, 10)


SUNDAY_NIGHT = CallingRules(hours={6: ((time(0, 30), time(3, 30)),)}, parts_of_day=())


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "length"),
    [
        # 00:30 GMT to 03:30 BST: the hour from 01:00 to 02:00 local never happens
        ("Europe/London", date(2026, 3, 29), utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 30), 2),
        # 00:30 BST to 03:30 GMT: the hour from 01:00 to 02:00 local happens twice
        ("Europe/London", date(2026, 10, 25), utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 3, 30), 4),
        ("Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 1, 30), 2),
        ("Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 24, 22, 30), utc(2026, 10, 25, 2, 30), 4),
    ],
)  # fmt: skip
def test_a_window_that_spans_the_change(
    zone: str, day: date, start: datetime, end: datetime, length: int
) -> None:
    from zoneinfo import ZoneInfo

    assert local_intervals(SUNDAY_NIGHT, ZoneInfo(zone), day) == [(start, end)]
    found = window(zone, start - timedelta(hours=12), rules=SUNDAY_NIGHT)
    assert (found.start, found.end) == (start, end)
    assert found.end - found.start == timedelta(hours=length)


def test_hours_that_begin_or_end_in_the_skipped_or_repeated_hour() -> None:
    from zoneinfo import ZoneInfo

    rules = CallingRules(hours={6: ((time(1, 30), time(5)),)}, parts_of_day=())
    london = ZoneInfo("Europe/London")
    # 01:30 never happens on 29 March: the hours open when the clocks jump from 01:00 GMT to
    # 02:00 BST (01:00 UTC), the first instant the wall clock reads 01:30 or later; never at
    # 00:30 UTC (00:30 GMT, before the hours)
    assert local_intervals(rules, london, date(2026, 3, 29)) == [
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 4))
    ]
    # 01:30 happens twice on 25 October: the hours open at the second (01:30 GMT); from the
    # first (01:30 BST) the clock would read 01:30-02:00 and then 01:00-01:30 again, outside
    assert local_intervals(rules, london, date(2026, 10, 25)) == [
        (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 5))
    ]
    early = CallingRules(hours={6: ((time(0), time(1, 30)),)}, parts_of_day=())
    # ending in the skipped hour: at the jump; ending in the repeated hour: at its first 01:30
    assert local_intervals(early, london, date(2026, 3, 29)) == [
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 1))
    ]
    assert local_intervals(early, london, date(2026, 10, 25)) == [
        (utc(2026, 10, 24, 23), utc(2026, 10, 25, 0, 30))
    ]


def test_every_window_on_an_hourly_clock_through_both_weekends_is_inside_local_hours() -> None:
    """A frozen clock stepped hour by hour: every window opens inside the local hours."""
    for zone_name in ("Europe/London", "Europe/Berlin"):
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(zone_name)
        for first in (utc(2026, 3, 26), utc(2026, 10, 22)):
            for hour in range(24 * 6):
                now = first + timedelta(hours=hour)
                found = window(zone_name, now)
                assert found.start >= now
                assert within_hours(found.start, zone, RULES)
                assert within_hours(found.end - timedelta(seconds=1), zone, RULES)
                local_start = found.start.astimezone(zone)
                if found.start > now:  # opened at the start of a day's hours
                    assert local_start.time() in (time(9), time(10)), (zone_name, now)
                assert local_start.weekday() != 6  # never on a Sunday


def test_rules_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="start before they end"):
        CallingRules(hours={0: ((time(21), time(9)),)})
    with pytest.raises(ValueError, match="overlap"):
        CallingRules(hours={0: ((time(9), time(13)), (time(12), time(15)))})
    with pytest.raises(ValueError, match="weekday"):
        CallingRules(hours={7: ((time(9), time(13)),)})
    with pytest.raises(ValueError, match="unknown time zone"):
        CallingRules(default_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="at least 1"):
        CallingRules(max_attempts_per_case=0)
    with pytest.raises(ValueError, match="distinct names"):
        CallingRules(parts_of_day=(PartOfDay("a", time(9), time(12)),) * 2)
    with pytest.raises(ValueError, match="start before it ends"):
        PartOfDay("late", time(21), time(9))


def test_unknown_zone_and_naive_time_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Nowhere/Town'"):
        next_window(CaseFacts("c", "Nowhere/Town"), RULES, TABLE, utc(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="aware"):
        next_window(CaseFacts("c", "Europe/London"), RULES, TABLE, datetime(2026, 1, 5, 12))
    # an empty zone is the study's default zone
    assert window("", utc(2026, 7, 6, 6)).start == utc(2026, 7, 6, 8)


def test_no_calling_hours_at_all_ends_the_search() -> None:
    never = CallingRules(hours={})
    assert next_window(CaseFacts("c", "Europe/London"), never, TABLE, utc(2026, 1, 5)) is None
