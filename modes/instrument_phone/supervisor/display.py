"""How the supervisor's pages write times, lengths and rates, so every page writes them alike."""

from __future__ import annotations

import datetime as dt

__all__ = ["length", "percent", "when"]


def when(value: dt.datetime | None) -> str:
    """A time as supervisors read it: ``Fri 1 May 2026 10:00 BST`` (its zone's abbreviation).

    The abbreviation is shown because a supervisor may read times in a zone
    other than the respondent's or the interviewer's.
    """
    if value is None:
        return "—"
    return f"{value:%a} {value.day} {value:%b %Y %H:%M %Z}"


def length(value: dt.timedelta | None) -> str:
    """A length of time in minutes and seconds (an interview's, a call's)."""
    if value is None:
        return "—"
    minutes, seconds = divmod(round(value.total_seconds()), 60)
    return f"{minutes} min {seconds:02d} s"


def percent(value: float | None) -> str:
    """A rate as a percentage with one decimal; a rate with no denominator yet is a dash."""
    return "—" if value is None else f"{100 * value:.1f}%"
