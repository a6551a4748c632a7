"""Dates and times on the console in the interviewer's language ("Sul 25 Hyd 14:05 GMT").

``strftime`` writes English day and month names whatever the page's language,
so a Welsh interviewer read "Sun 25 Oct" among Welsh words. The names come
from the Unicode CLDR through Babel (already used for languages' own names),
in the interviewer's language, falling back to English for a language CLDR
does not know. The zone stays the abbreviation the zone database gives
(GMT, BST, CET): it names the clock, not a word of the language.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

__all__ = ["local_day", "local_time"]

_TIME = "EEE d MMM HH:mm"
_TIME_NO_WEEKDAY = "d MMM HH:mm"
_DAY = "EEE d MMM"


@functools.lru_cache(maxsize=64)
def _locale(language: str) -> Any:
    """Babel's locale for a language tag (``cy``, ``cy-GB``, ``en``); English when unknown."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse((language or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def local_time(
    value: dt.datetime | None, language: str, *, zone: bool = True, weekday: bool = True
) -> str:
    """``value`` on its own clock: weekday, day, month, hours and minutes, then its zone."""
    if value is None:
        return ""
    from babel.dates import format_datetime

    pattern = _TIME if weekday else _TIME_NO_WEEKDAY
    text = format_datetime(value, pattern, tzinfo=value.tzinfo, locale=_locale(language))
    return f"{text} {value.strftime('%Z')}" if zone and value.tzinfo is not None else text


def local_day(value: dt.date | None, language: str) -> str:
    """A day (a soft appointment's): weekday, day and month."""
    if value is None:
        return ""
    from babel.dates import format_date

    return str(format_date(value, _DAY, locale=_locale(language)))
