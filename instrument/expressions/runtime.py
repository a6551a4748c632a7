"""Closure factories: the compiled form of each kind of node.

The type checker has already guaranteed the operand types, so these closures
only deal with *missing* values (None, DK, REFUSED) and with arithmetic that
cannot produce a number (division by zero, overflow), which yields None instead
of raising: a live interview must never crash on a routing condition.

Hot shapes (a variable compared with a constant, two-operand and/or) get their
own closures because a typical condition is evaluated for every page view.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import operator
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from instrument.values import DK, REFUSED

Fn = Callable[[Any], Any]

_ORDER = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_ARITH = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}


def is_missing(value: Any) -> bool:
    return value is None or value is DK or value is REFUSED


def constant(value: Any) -> Fn:
    return lambda ctx: value


def variable(name: str) -> Fn:
    def read(ctx: Any) -> Any:
        return ctx.get(name)

    return read


# --- comparisons: false whenever an operand is missing ---------------------------------


def compare_var_const(name: str, op: str, const: Any) -> Fn:
    """``name <op> const`` with const never missing: the hottest shape there is."""
    if op == "==":
        # None, DK and REFUSED never equal a substantive constant, so no test is needed
        def equal(ctx: Any) -> bool:
            return ctx.get(name) == const

        return equal
    compare = _ORDER[op]

    def ordered(ctx: Any) -> bool:
        value = ctx.get(name)
        if value is None or value is DK or value is REFUSED:
            return False
        return compare(value, const)

    return ordered


def compare_fn_const(fn: Fn, op: str, const: Any) -> Fn:
    compare = _ORDER[op]

    def compare_const(ctx: Any) -> bool:
        value = fn(ctx)
        if value is None or value is DK or value is REFUSED:
            return False
        return compare(value, const)

    return compare_const


def compare_fn_fn(left: Fn, op: str, right: Fn) -> Fn:
    compare = _ORDER[op]

    def compare_both(ctx: Any) -> bool:
        a = left(ctx)
        if a is None or a is DK or a is REFUSED:
            return False
        b = right(ctx)
        if b is None or b is DK or b is REFUSED:
            return False
        return compare(a, b)

    return compare_both


def member(fn: Fn, values: frozenset[Any], negated: bool) -> Fn:
    if not negated:
        # a missing value is never among literal items
        def is_in(ctx: Any) -> bool:
            return fn(ctx) in values

        return is_in

    def not_in(ctx: Any) -> bool:
        value = fn(ctx)
        if value is None or value is DK or value is REFUSED:
            return False
        return value not in values

    return not_in


# --- logic: missing counts as false ------------------------------------------------------


def all_of(fns: Sequence[Fn]) -> Fn:
    if len(fns) == 2:
        a, b = fns
        return lambda ctx: a(ctx) is True and b(ctx) is True
    funcs = tuple(fns)

    def every(ctx: Any) -> bool:
        for fn in funcs:
            if fn(ctx) is not True:
                return False
        return True

    return every


def any_of(fns: Sequence[Fn]) -> Fn:
    if len(fns) == 2:
        a, b = fns
        return lambda ctx: a(ctx) is True or b(ctx) is True
    funcs = tuple(fns)

    def some(ctx: Any) -> bool:
        for fn in funcs:
            if fn(ctx) is True:
                return True
        return False

    return some


def negate(fn: Fn) -> Fn:
    return lambda ctx: fn(ctx) is not True


# --- arithmetic: missing in, None out ----------------------------------------------------


def arithmetic(fns: Sequence[Fn], ops: Sequence[str]) -> Fn:
    if len(fns) == 2:
        a, b = fns
        apply = _ARITH[ops[0]]

        def binary(ctx: Any) -> Any:
            x = a(ctx)
            if x is None or x is DK or x is REFUSED:
                return None
            y = b(ctx)
            if y is None or y is DK or y is REFUSED:
                return None
            try:
                return apply(x, y)
            except (ArithmeticError, ValueError):
                return None

        return binary
    first = fns[0]
    rest = tuple(zip((_ARITH[op] for op in ops), fns[1:]))

    def chain(ctx: Any) -> Any:
        total = first(ctx)
        if total is None or total is DK or total is REFUSED:
            return None
        try:
            for apply, fn in rest:
                value = fn(ctx)
                if value is None or value is DK or value is REFUSED:
                    return None
                total = apply(total, value)
        except (ArithmeticError, ValueError):
            return None
        return total

    return chain


def negative(fn: Fn) -> Fn:
    def minus(ctx: Any) -> Any:
        value = fn(ctx)
        if value is None or value is DK or value is REFUSED:
            return None
        return -value

    return minus


def unary(fn: Fn, apply: Callable[[Any], Any]) -> Fn:
    """A one-argument function of a value: None when the value is missing or has no result."""

    def call(ctx: Any) -> Any:
        value = fn(ctx)
        if value is None or value is DK or value is REFUSED:
            return None
        try:
            return apply(value)
        except (ArithmeticError, ValueError):
            return None

    return call


def binary(a: Fn, b: Fn, apply: Callable[[Any, Any], Any]) -> Fn:
    def call(ctx: Any) -> Any:
        x = a(ctx)
        if x is None or x is DK or x is REFUSED:
            return None
        y = b(ctx)
        if y is None or y is DK or y is REFUSED:
            return None
        try:
            return apply(x, y)
        except (ArithmeticError, ValueError):
            return None

    return call


# --- helpers used by functions -----------------------------------------------------------


def years_between(start: dt.date, end: dt.date) -> int:
    """Whole years completed from start to end, like an age; negative when end is earlier."""
    if end < start:
        return -years_between(end, start)
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years


def add_days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)  # OverflowError becomes None in the caller


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (earlier if negative), or the month's last day if it is
    shorter: 31 January plus one month is 28 or 29 February, 29 February plus a year 28 February."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise ValueError("a date out of range")  # becomes None in the caller
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def round_half_up(value: float, places: int | None) -> int | float | None:
    """Round halves away from zero (2.5 -> 3, 2.675 -> 2.68), as people expect, not Python's
    banker's rounding. With no places the result is a whole number."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if places is None else value
    if isinstance(value, int) and (places is None or places >= 0):
        return value if places is None else float(value)
    if places is not None and not -400 <= places <= 400:
        return float(value) if places > 0 else (None if places is None else 0.0)
    with localcontext() as context:
        # enough digits for any float or a 2,000-character integer
        context.prec = 3000
        context.Emax = 100000
        context.Emin = -100000
        try:
            rounded = Decimal(repr(value) if isinstance(value, float) else value).quantize(
                Decimal(1).scaleb(-(places or 0)), rounding=ROUND_HALF_UP
            )
        except InvalidOperation:
            return None
    return int(rounded) if places is None else float(rounded)


def smallest(fns: Sequence[Fn], pick: Callable[..., Any]) -> Fn:
    """min/max of several values, skipping missing ones; None if all are missing."""
    funcs = tuple(fns)

    def call(ctx: Any) -> Any:
        present = [
            v for v in (fn(ctx) for fn in funcs) if not (v is None or v is DK or v is REFUSED)
        ]
        return pick(present) if present else None

    return call


def as_decimal(fn: Fn) -> Fn:
    """Make a result typed DECIMAL a float even when it came from a whole-number branch."""

    def decimal(ctx: Any) -> Any:
        value = fn(ctx)
        if value.__class__ is int:
            try:
                return float(value)
            except OverflowError:  # a whole number beyond any float has no decimal value
                return None
        return value

    return decimal


def first_present(fns: Sequence[Fn]) -> Fn:
    funcs = tuple(fns)

    def call(ctx: Any) -> Any:
        for fn in funcs:
            value = fn(ctx)
            if not (value is None or value is DK or value is REFUSED):
                return value
        return None

    return call
