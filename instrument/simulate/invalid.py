"""Inputs the engine must reject, and the bounds valid answers are drawn within.

Per page a simulated respondent may slip in one invalid input for a random
question: a code not offered, a number out of range or malformed, a date that
cannot exist, a text too long, an exclusive option with others, don't know
where it is not allowed. The run loop checks that the engine refuses it
and flags that very key.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from instrument.engine import QuestionView, Step
from instrument.values import DK, REFUSED

__all__ = ["bounds", "date_bounds", "invalid_input", "other_code"]


def other_code(view: QuestionView) -> int | None:
    """The code of the question's other-specify option, if it has one."""
    for option in view.options:
        if option.other_specify:
            return option.code
    return None


def bounds(view: QuestionView) -> tuple[int, int]:
    """Whole-number bounds of a number question (a span of 100 where a bound is not set)."""
    low, high = view.min, view.max
    if low is None and high is None:
        low, high = 0, 100
    elif low is None:
        low = high - 100
    elif high is None:
        high = low + 100
    return int(-(-low // 1)), int(high // 1)  # ceil, floor


def date_bounds(view: QuestionView, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last date a date question takes (80 years either way where not set)."""
    low = today if view.min == "today" else view.min
    high = today if view.max == "today" else view.max
    if low is None:
        low = (high or today) - dt.timedelta(days=365 * 80)
    if high is None:
        high = low + dt.timedelta(days=365 * 80)
    return low, high


def invalid_input(
    rng: random.Random, today: dt.date, step: Step, answers: dict[str, Any]
) -> tuple[str, str, Any] | None:
    """One input the engine must reject, for a random question of the page."""
    candidates: list[tuple[QuestionView, str]] = []
    for view in step.questions:
        if view.rows:
            candidates.extend((view, row.key) for row in view.rows)
        elif view.key:
            candidates.append((view, view.key))
    if not candidates:
        return None
    view, key = candidates[int(rng.random() * len(candidates))]
    options: list[tuple[str, Any]] = []
    if not view.allow_dk:
        options.append(("dk_not_allowed", DK))
    if not view.allow_refused:
        options.append(("refused_not_allowed", REFUSED))
    kind = "grid" if view.rows else view.type
    if kind in ("single", "yesno", "grid", "multi"):
        codes = [o.code for o in view.options]
        bad = max(codes) + 1 + int(rng.random() * 50)
        options.append(("not_an_option", [bad] if kind == "multi" else bad))
        options.append(("malformed", "two" if kind != "multi" else ["1x"]))
    if kind == "multi":
        exclusive = [o.code for o in view.options if o.exclusive]
        plain = [o.code for o in view.options if not o.exclusive]
        if exclusive and plain:
            options.append(("exclusive_combined", [rng.choice(plain), rng.choice(exclusive)]))
        if view.max_choices is not None and len(plain) > view.max_choices:
            options.append(("too_many_choices", rng.sample(plain, view.max_choices + 1)))
        if view.min_choices is not None and view.min_choices > 1:
            options.append(("too_few_choices", rng.sample(plain, view.min_choices - 1)))
        other = other_code(view)
        if other is not None and view.other_key is not None:
            options.append(("other_text_missing", [other]))
    if kind in ("single",) and view.other_key is not None:
        other = other_code(view)
        if other is not None:
            options.append(("other_text_missing", other))
    if kind in ("integer", "decimal"):
        if view.max is not None:
            options.append(("out_of_range", view.max + 1 + int(rng.random() * 100)))
        if view.min is not None:
            options.append(("out_of_range", str(view.min - 1 - int(rng.random() * 100))))
        options.append(("malformed", rng.choice(("12abc", "1.2.3", "--4", "one", "1e5"))))
    if kind == "integer":
        low, high = bounds(view)
        options.append(("not_whole", f"{rng.randint(low, max(low, high - 1))}.5"))
    if kind == "decimal":
        places = view.places if view.places is not None else 2
        low, high = bounds(view)
        base = rng.randint(low, max(low, high - 1))
        options.append(("too_many_places", f"{base}.{'1' * (places + 1)}"))
    if kind in ("text", "long_text"):
        limit = view.max_length or (200 if kind == "text" else 2000)
        options.append(("too_long", "y" * (limit + 1 + int(rng.random() * 10))))
    if kind == "date":
        first, last = date_bounds(view, today)
        if view.min is not None:
            options.append(
                (
                    "date_out_of_range",
                    (first - dt.timedelta(days=1 + int(rng.random() * 900))).isoformat(),
                )
            )
        if view.max is not None:
            options.append(
                ("date_out_of_range", last + dt.timedelta(days=1 + int(rng.random() * 900)))
            )
        options.append(
            (
                "impossible_date",
                rng.choice(
                    (
                        {"day": "31", "month": "2", "year": "2001"},
                        "2021-13-01",
                        "yesterday",
                        {"day": "1", "month": "1", "year": "85"},
                    )
                ),
            )
        )
    if not options:
        return None
    name, value = options[int(rng.random() * len(options))]
    if name == "other_text_missing":
        assert view.other_key is not None
        answers.pop(view.other_key, None)
    elif view.other_key is not None:
        answers.pop(view.other_key, None)  # the invalid code is not the other option
    return key, name, value
