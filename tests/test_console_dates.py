"""The console's dates in the interviewer's language (modes/instrument_phone/console/dates.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from instrument_phone.console.dates import local_day, local_time

LONDON, BERLIN = ZoneInfo("Europe/London"), ZoneInfo("Europe/Berlin")
AT = dt.datetime(2026, 10, 23, 9, 0, tzinfo=dt.UTC)  # a Friday: 10:00 BST, 11:00 CEST


def test_day_and_month_names_follow_the_language_and_the_zone_stays_its_abbreviation() -> None:
    assert local_time(AT.astimezone(LONDON), "en") == "Fri 23 Oct 10:00 BST"
    assert local_time(AT.astimezone(LONDON), "cy") == "Gwen 23 Hyd 10:00 BST"
    assert local_time(AT.astimezone(BERLIN), "cy-GB") == "Gwen 23 Hyd 11:00 CEST"
    assert local_time(AT.astimezone(BERLIN), "cy", zone=False) == "Gwen 23 Hyd 11:00"
    assert local_time(AT.astimezone(BERLIN), "cy", weekday=False) == "23 Hyd 11:00 CEST"


def test_across_the_october_change_the_clock_and_its_name_change_together() -> None:
    after = dt.datetime(2026, 10, 26, 10, 0, tzinfo=dt.UTC)  # Monday: GMT and CET again
    assert local_time(after.astimezone(LONDON), "en") == "Mon 26 Oct 10:00 GMT"
    assert local_time(after.astimezone(BERLIN), "cy") == "Llun 26 Hyd 11:00 CET"


def test_unknown_languages_fall_back_to_english_and_nothing_shows_as_nothing() -> None:
    assert local_time(AT.astimezone(LONDON), "xx-YY") == "Fri 23 Oct 10:00 BST"
    assert local_time(None, "cy") == ""
    assert local_day(dt.date(2026, 5, 4), "cy") == "Llun 4 Mai"
    assert local_day(dt.date(2026, 5, 4), "en") == "Mon 4 May"
    assert local_day(None, "en") == ""
