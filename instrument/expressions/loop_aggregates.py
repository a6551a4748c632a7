"""Closures for aggregates over a loop's iterations (``sum``, ``count``, ``count_if``, ``min``, ``max``).

An aggregate over answers that are not known is not known: when the loop's number of
iterations is unknown (its count was don't know, say), or an iteration's value depends on
an answer that is don't know, refused or not given, the result is missing (None), never a
count or total of what happens to be known. ``strict=False`` (the ``*_known`` functions)
is the author's explicit choice to go over the known values only. ``names`` are the loop
variables the argument reads: an iteration is unknown when one of them is.

Kept apart from :mod:`instrument.expressions.runtime` (the closures of single values),
which the type checker's aggregate rules (``aggregates.py``) do not otherwise need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from instrument.values import DK, REFUSED

from .runtime import Fn


def _unknown_iteration(iteration: Any, names: Sequence[str]) -> bool:
    for name in names:
        if iteration.unknown(name):
            return True
    return False


def aggregate_sum(loop: str, fn: Fn, zero: float, names: Sequence[str], strict: bool) -> Fn:
    def total(ctx: Any) -> Any:
        if strict and not ctx.iterations_known(loop):
            return None
        result = zero
        try:
            for iteration in ctx.iterations(loop):
                value = fn(iteration)
                if value is None or value is DK or value is REFUSED:
                    if strict and _unknown_iteration(iteration, names):
                        return None
                    continue
                result += value
        except (ArithmeticError, ValueError):
            return None
        return result

    return total


def aggregate_pick(
    loop: str, fn: Fn, pick: Callable[..., Any], names: Sequence[str], strict: bool
) -> Fn:
    def extreme(ctx: Any) -> Any:
        if strict and not ctx.iterations_known(loop):
            return None
        present = []
        for iteration in ctx.iterations(loop):
            value = fn(iteration)
            if not (value is None or value is DK or value is REFUSED):
                present.append(value)
            elif strict and _unknown_iteration(iteration, names):
                return None
        return pick(present) if present else None

    return extreme


def aggregate_count(loop: str, fn: Fn) -> Fn:
    """``count(e)`` counts the iterations where ``e`` is known, so only unknown iterations make it missing."""

    def count(ctx: Any) -> int | None:
        if not ctx.iterations_known(loop):
            return None
        number = 0
        for iteration in ctx.iterations(loop):
            value = fn(iteration)
            if not (value is None or value is DK or value is REFUSED):
                number += 1
        return number

    return count


def aggregate_count_if(loop: str, fn: Fn, names: Sequence[str], strict: bool) -> Fn:
    def count_if(ctx: Any) -> int | None:
        if strict and not ctx.iterations_known(loop):
            return None
        number = 0
        for iteration in ctx.iterations(loop):
            if fn(iteration) is True:
                number += 1
            elif strict and _unknown_iteration(iteration, names):
                return None
        return number

    return count_if
