"""Shared set-up for the fieldwork store tests: cases with numbers, in the queue, callable now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from instrument.store import Store

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday morning in London


@dataclass(frozen=True)
class Win:
    """Stands in for instrument.fieldwork.schedule.Window (read by attribute by the store)."""

    start: dt.datetime
    end: dt.datetime
    kind: str = "normal"
    interviewer: str | None = None


def open_window(hours: int = 8, **kwargs: object) -> Win:
    return Win(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=hours), **kwargs)  # type: ignore[arg-type]


def add_case(
    store: Store,
    case_id: str,
    *,
    numbers: tuple[str, ...] = (),
    window: Win | None = None,
    priority: int = 0,
    questionnaire: str = "phone_study",
) -> None:
    """A stored case with ``numbers`` (default: one made from its index), queued with ``window``."""
    store.put_case(case_id, questionnaire, {}, now=T0)
    if not numbers:
        digits = "".join(ch for ch in case_id if ch.isdigit()) or "0"
        numbers = (f"+4420{int(digits):08d}",)
    store.set_phone_numbers(case_id, numbers, T0)
    store.enqueue_case(
        case_id,
        zone="Europe/London",
        language="en",
        priority=priority,
        window=window if window is not None else open_window(),
        now=T0,
    )
