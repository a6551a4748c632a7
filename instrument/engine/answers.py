"""Turning what a person entered into a typed answer, or a clear error.

Every mode hands the engine what it received, as typed values or as the strings
a form or keypad produced; the rules for what counts as a whole number or a
real date live here once, so a web page and a phone call can never disagree.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, NamedTuple

from instrument.engine.messages import message
from instrument.model import Question
from instrument.values import DK, REFUSED

__all__ = ["Coerced", "coerce_answer", "is_empty_input"]

Messages = Callable[..., str]
"""``messages(language, key, **values)``: the engine's texts (a questionnaire's own, or ours)."""
Say = Callable[..., str]
"""``say(key, **values)``: the engine's texts in the interview's language."""


MAX_DIGITS = 30
"""Longer numbers are not answers anyone types (and Python refuses to parse >4,300 digits)."""


class Coerced(NamedTuple):
    """A typed answer (``value``) or why there is none (``error``); one per answer given."""

    value: Any = None
    error: str | None = None


def is_empty_input(raw: Any) -> bool:
    if raw is None:
        return True
    kind = type(raw)
    if kind is int or kind is float:  # the common case, first
        return False
    if kind is str or isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, (list, tuple, set, frozenset)):
        return all(is_empty_input(r) for r in raw)
    if isinstance(raw, Mapping):
        return all(is_empty_input(v) for v in raw.values())
    return False


def coerce_answer(
    question: Question,
    raw: Any,
    language: str,
    today: dt.date,
    messages: Messages = message,
    limits: tuple[Any, Any] | None = None,
) -> Coerced:
    """Coerce one raw input for ``question`` (not a grid; grids are coerced per row).

    ``messages`` words the errors: the questionnaire's interface texts when the engine calls.
    ``limits`` are a date question's min and max as this interview has them (see
    :func:`instrument.engine.offered.date_limits`); without them only fixed limits apply.
    """
    if raw is DK or raw is REFUSED:
        return Coerced(raw)
    if is_empty_input(raw):
        return Coerced(None)
    if question.custom is not None:
        return _custom(question, raw)
    say = partial(messages, language)
    kind = question.type
    if kind in ("single", "yesno"):
        return _code(question, raw, say)
    if kind == "multi":
        return _codes(question, raw, say)
    if kind == "integer":
        return _number(question, raw, say, integer=True)
    if kind == "decimal":
        return _number(question, raw, say, integer=False)
    if kind in ("text", "long_text"):
        return _text(question, raw, say)
    if kind == "date":
        return _date(question, raw, say, today, limits)
    raise ValueError(f"question '{question.id}' of type {kind} takes no answer")


def _custom(question: Question, raw: Any) -> Coerced:
    """A plugin's answer type: its own coercion and validation, its own messages."""
    try:
        value = question.custom.coerce(raw)
    except (ValueError, TypeError) as exc:
        return Coerced(None, str(exc) or "Enter a valid answer")
    problem = question.custom.validate(value) if question.custom.validate is not None else None
    return Coerced(None, problem) if problem else Coerced(value)


def coerce_code(
    question: Question, raw: Any, language: str, messages: Messages = message
) -> Coerced:
    """A single option code (also used for each row of a grid)."""
    if raw is DK or raw is REFUSED:
        return Coerced(raw)
    say = partial(messages, language)
    if is_empty_input(raw):
        return Coerced(None)
    return _code(question, raw, say)


_INTEGER = re.compile(r"\s*-?\d+\s*")


def _as_int(raw: Any) -> int | None:
    if type(raw) is int:
        return raw
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and len(raw) <= MAX_DIGITS and _INTEGER.fullmatch(raw):
        return int(raw)
    return None


def _code(question: Question, raw: Any, say: Say) -> Coerced:
    code = _as_int(raw)
    assert question.choices is not None
    if code is None or code not in question.choices.codes:
        return Coerced(None, say("not_an_option"))
    return Coerced(code)


def _codes(question: Question, raw: Any, say: Say) -> Coerced:
    assert question.choices is not None
    items: Iterable[Any] = raw if isinstance(raw, (list, tuple, set, frozenset)) else [raw]
    chosen: set[int] = set()
    for item in items:
        if is_empty_input(item):
            continue
        code = _as_int(item)
        if code is None or code not in question.choices.codes:
            return Coerced(None, say("not_an_option"))
        chosen.add(code)
    if not chosen:
        return Coerced(None)
    order = [o.code for o in question.choices.options if o.code in chosen]
    return Coerced(tuple(order))


_NUMBER = re.compile(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\Z")


def _number(question: Question, raw: Any, say: Say, *, integer: bool) -> Coerced:
    error_key = "enter_number" if integer else "enter_decimal"
    if isinstance(raw, bool):
        return Coerced(None, say(error_key))
    if isinstance(raw, (int, float)):
        value: int | float = raw
        if isinstance(raw, float) and not math.isfinite(raw):
            return Coerced(None, say(error_key))
        text = repr(raw)
    else:
        text = str(raw).strip().replace(" ", "")
        if len(text) > 4000 or not _NUMBER.match(text):  # int() refuses over 4,300 digits
            return Coerced(None, say(error_key))
        text = text.replace(",", "")
        value = float(text) if "." in text else int(text)
    low, high = question.min, question.max
    if abs(value) >= 10**MAX_DIGITS:  # a number, but not one anyone means: say what is allowed
        if low is None and high is None:
            return Coerced(None, say(error_key))
        return Coerced(None, _bounds_message(say, low, high))
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                return Coerced(None, say(error_key))
            value = int(value)
    else:
        if "." in text and len(text.split(".", 1)[1].rstrip("0")) > question.places:
            return Coerced(None, say("too_many_places", places=question.places))
        value = float(value)
    if (low is not None and value < low) or (high is not None and value > high):
        return Coerced(None, _bounds_message(say, low, high))
    return Coerced(value)


def _bounds_message(say: Say, low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return say("between", min=_show(low), max=_show(high))
    if low is not None:
        return say("at_least", min=_show(low))
    return say("at_most", max=_show(high))


def _show(number: Any) -> str:
    return f"{number:,}" if isinstance(number, int) else str(number)


def _text(question: Question, raw: Any, say: Say) -> Coerced:
    text = str(raw).strip()
    if question.type == "text":
        text = " ".join(text.split())
    text = text.replace("\r\n", "\n")
    limit = question.max_length or 0
    if limit and len(text) > limit:
        return Coerced(None, say("too_long", max_length=limit, length=len(text)))
    return Coerced(text)


def _date(
    question: Question, raw: Any, say: Say, today: dt.date, limits: tuple[Any, Any] | None
) -> Coerced:
    value: dt.date | None = None
    if isinstance(raw, dt.datetime):
        value = raw.date()
    elif isinstance(raw, dt.date):
        value = raw
    elif isinstance(raw, Mapping):
        value = _date_from_parts(raw.get("year"), raw.get("month"), raw.get("day"))
    elif isinstance(raw, (list, tuple)) and len(raw) == 3:
        value = _date_from_parts(raw[2], raw[1], raw[0])  # day, month, year as people say it
    elif isinstance(raw, str):
        try:
            value = dt.date.fromisoformat(raw.strip())
        except ValueError:
            value = None
    if value is None:
        return Coerced(None, say("enter_date"))
    low, high = limits or (question.min, question.max)
    low = today if low == "today" else low if isinstance(low, dt.date) else None
    high = today if high == "today" else high if isinstance(high, dt.date) else None
    if low is not None and value < low:
        return Coerced(None, say("date_after", min=low.strftime("%-d %B %Y")))
    if high is not None and value > high:
        return Coerced(None, say("date_before", max=high.strftime("%-d %B %Y")))
    return Coerced(value)


def _date_from_parts(year: Any, month: Any, day: Any) -> dt.date | None:
    parts = [_as_int(p) for p in (year, month, day)]
    if any(p is None for p in parts):
        return None
    y, m, d = parts
    if y is not None and y < 100:  # a two-digit year is ambiguous: refuse it
        return None
    try:
        return dt.date(y, m, d)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        return None


__all__ += ["coerce_code", "DK", "REFUSED"]
