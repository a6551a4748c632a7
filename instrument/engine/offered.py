"""What a question offers now: the options its ``choice_filter`` leaves, its default, its date limits.

The step lists only these options and a submit refuses any other code, so a
district outside the region answered earlier can be neither seen nor stored.
The full list stays in the questionnaire: exports keep every code and label.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any

from instrument.engine.answers import Coerced
from instrument.engine.context import Context
from instrument.engine.messages import message
from instrument.expressions import CompiledExpression
from instrument.model import Question
from instrument.values import DK, REFUSED

__all__ = ["date_limits", "default_value", "offered_codes", "refuse_unoffered"]


def offered_codes(question: Question, ctx: Context) -> frozenset[int] | None:
    """The codes offered now, or None when every option is (no filter, or nothing to filter by).

    A filter whose value is missing (not asked, don't know, refused) does not
    narrow the list: a respondent who does not know the region still chooses
    a district from all of them. Options without the attribute are always offered.
    """
    offered: frozenset[int] | None = None
    for choice_filter in question.choice_filter:
        value = choice_filter.value.evaluate(ctx)
        if value is None or value is DK or value is REFUSED:
            continue
        index = _index(question, choice_filter.attribute)
        codes = index.get(value, frozenset()) | index.get(_ALWAYS, frozenset())
        offered = codes if offered is None else offered & codes
    return offered


def refuse_unoffered(
    question: Question,
    result: Coerced,
    ctx: Context,
    language: str,
    messages: Callable[..., str] = message,
) -> Coerced:
    """``result`` unless it holds a code the filter does not offer now (then an error, worded by
    ``messages``: the questionnaire's interface texts when the engine calls)."""
    value = result.value
    if result.error is not None or not isinstance(value, (int, tuple)) or isinstance(value, bool):
        return result
    offered = offered_codes(question, ctx)
    if offered is None:
        return result
    chosen = value if isinstance(value, tuple) else (value,)
    if all(code in offered for code in chosen):
        return result
    return Coerced(None, messages(language, "not_an_option"))


def default_value(question: Question, ctx: Context) -> Any:
    """The question's default now (None when it has none or it is missing): shown, never stored."""
    default = question.default
    value = default if isinstance(default, tuple) else default.evaluate(ctx) if default else None
    if value is DK or value is REFUSED or value == ():
        return None
    return value


def date_limits(question: Question, ctx: Context) -> tuple[Any, Any]:
    """A date question's min and max now: dates, "today", or None where a relative limit's
    date is missing (then it limits nothing)."""
    return _limit(question.min, ctx), _limit(question.max, ctx)


def _limit(limit: Any, ctx: Context) -> Any:
    if isinstance(limit, CompiledExpression):
        value = limit.evaluate(ctx)
        return value if isinstance(value, dt.date) else None
    return limit


_ALWAYS: Any = object()
"""The index's key for options that lack the attribute (offered whatever the value)."""


@functools.lru_cache(maxsize=256)
def _index(question: Question, attribute: str) -> Mapping[Any, frozenset[int]]:
    """Attribute value -> the codes of the options having it, built once per question."""
    assert question.choices is not None
    found: dict[Any, set[int]] = {}
    for option in question.choices.options:
        value = option.attribute(attribute)
        values = (_ALWAYS,) if value is None else value if isinstance(value, tuple) else (value,)
        for single in values:
            found.setdefault(single, set()).add(option.code)
    return {key: frozenset(codes) for key, codes in found.items()}
