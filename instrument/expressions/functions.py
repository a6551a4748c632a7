"""Function calls: the arity check, then one method per built-in function (``_fn_<name>``)."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from typing import Any

from instrument.values import DK, REFUSED

from . import nodes as n
from . import runtime as rt
from .aggregates import Aggregates
from .checker import Typed
from .errors import ExpressionError
from .patterns import MAX_SUBJECT, UnsafePattern, compile_pattern
from .scope import NUMERIC, ValueType, type_phrase
from .signatures import FUNCTIONS, is_aggregate_call

__all__ = ["Functions"]

_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


T = ValueType


class Functions(Aggregates):
    """Checks and compiles calls of the built-in functions."""

    def _Call(self, node: n.Call, loop: str | None) -> Typed:
        name = node.function
        if name not in FUNCTIONS:
            message = f"unknown function {name!r}"
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            if name in self.variables:
                message = f"{name} is a variable, not a function"
            elif close:
                message += f"; did you mean {close[0]}()?"
            raise ExpressionError(message, node.start, node.name_end - node.start)
        fewest, most, example = FUNCTIONS[name]
        count = len(node.args)
        if name == "sum" and count > 1:
            raise self.error(
                "sum() adds up one loop variable over the loop's iterations, e.g. "
                "sum(child_age); to add values together write a + b",
                node,
            )
        if count < fewest or (most is not None and count > most):
            if most is None:
                wanted = f"at least {fewest} argument{'s' * (fewest != 1)}"
            elif fewest == most:
                wanted = f"{fewest} argument{'s' * (fewest != 1)}" if fewest else "no arguments"
            else:
                wanted = f"{fewest} or {most} arguments"
            raise self.error(f"{name}() takes {wanted}, e.g. {example}; got {count}", node)
        if is_aggregate_call(node):
            return self.aggregate(node)
        return getattr(self, "_fn_" + name)(node, loop)

    def _fn_selected(self, node: n.Call, loop: str | None) -> Typed:
        question = self.arg(node, 0, loop, {T.CODE, T.CODES}, "a choice question")
        code_node = node.args[1]
        code = self.visit(code_node, loop)
        if not code.pure or code.type not in NUMERIC:
            raise self.error(
                "selected() needs an option code (a whole number) as second argument", code_node
            )
        self.check_code(node.args[0], question, code.value, code_node)
        value = code.value
        get = question.fn
        if question.type is T.CODES:

            def chosen(ctx: Any) -> bool:
                codes = get(ctx)
                if codes is None or codes is DK or codes is REFUSED:
                    return False
                return value in codes
        else:

            def chosen(ctx: Any) -> bool:
                return get(ctx) == value

        return Typed(T.BOOLEAN, chosen, pure=question.pure)

    def _fn_count_selected(self, node: n.Call, loop: str | None) -> Typed:
        question = self.arg(node, 0, loop, {T.CODE, T.CODES}, "a choice question")
        get = question.fn
        if question.type is T.CODES:

            def number(ctx: Any) -> int:
                codes = get(ctx)
                if codes is None or codes is DK or codes is REFUSED:
                    return 0
                return len(codes)
        else:

            def number(ctx: Any) -> int:
                return 0 if rt.is_missing(get(ctx)) else 1

        return Typed(T.INTEGER, number, pure=question.pure)

    def _fn_if(self, node: n.Call, loop: str | None) -> Typed:
        cond = self.condition(node.args[0], loop, "the first argument of if()")
        yes = self.visit(node.args[1], loop)
        no = self.visit(node.args[2], loop)
        result, codes = self.unify(node, [yes, no], node.args[1:])
        test, a, b = cond.fn, yes.fn, no.fn

        def fn(ctx):
            return a(ctx) if test(ctx) is True else b(ctx)

        if result is T.DECIMAL and T.DECIMAL in (yes.type, no.type) and yes.type is not no.type:
            fn = rt.as_decimal(fn)
        return Typed(result, fn, codes, yes.labels or no.labels, pure=self.pure_of(cond, yes, no))

    def _fn_coalesce(self, node: n.Call, loop: str | None) -> Typed:
        parts = [self.visit(arg, loop) for arg in node.args]
        result, codes = self.unify(node, parts, node.args)
        labels = next((p.labels for p in parts if p.labels), None)
        fn = rt.first_present([p.fn for p in parts])
        if result is T.DECIMAL and any(p.type is not T.DECIMAL for p in parts):
            fn = rt.as_decimal(fn)
        return Typed(result, fn, codes, labels, pure=self.pure_of(*parts))

    def unify(
        self, node: n.Call, parts: list[Typed], args: tuple[n.Node, ...]
    ) -> tuple[ValueType, frozenset[int] | None]:
        """The common type of the values if() or coalesce() may give."""
        types = {p.type for p in parts}
        if len(types) == 1:
            (only,) = types
            if only in (T.CODE, T.CODES):
                known = {p.codes for p in parts if p.codes is not None}
                if len(known) > 1:
                    return (
                        (T.INTEGER, None)
                        if only is T.CODE
                        else (T.CODES, frozenset().union(*known))
                    )
                return only, (known.pop() if known else None)
            return only, None
        if types <= NUMERIC:
            return (T.DECIMAL if T.DECIMAL in types else T.INTEGER), None
        first = parts[0].type
        for part, arg in zip(parts, args):
            if part.type is not first and not (part.type in NUMERIC and first in NUMERIC):
                raise self.error(
                    f"{node.function}() must give the same kind of value in every case, but "
                    f"{self.text(args[0])} is {type_phrase(first)} and {self.text(arg)} is "
                    f"{type_phrase(part.type)}",
                    arg,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _missing_test(self, node: n.Call, loop: str | None, test: Callable[[Any], bool]) -> Typed:
        value = self.visit(node.args[0], loop)
        get = value.fn
        return Typed(T.BOOLEAN, lambda ctx: test(get(ctx)), pure=value.pure)

    def _fn_empty(self, node: n.Call, loop: str | None) -> Typed:
        return self._missing_test(node, loop, lambda v: v is None)

    def _fn_answered(self, node: n.Call, loop: str | None) -> Typed:
        return self._missing_test(node, loop, lambda v: not (v is None or v is DK or v is REFUSED))

    def _fn_is_dk(self, node: n.Call, loop: str | None) -> Typed:
        return self._missing_test(node, loop, lambda v: v is DK)

    def _fn_is_refused(self, node: n.Call, loop: str | None) -> Typed:
        return self._missing_test(node, loop, lambda v: v is REFUSED)

    def _fn_len(self, node: n.Call, loop: str | None) -> Typed:
        text = self.arg(node, 0, loop, {T.TEXT}, "text")
        return Typed(T.INTEGER, rt.unary(text.fn, len), pure=text.pure)

    def _fn_regex(self, node: n.Call, loop: str | None) -> Typed:
        text = self.arg(node, 0, loop, {T.TEXT}, "text")
        pattern_node = node.args[1]
        if not isinstance(pattern_node, n.String):
            raise self.error(
                "regex() needs the pattern written out in quotes, e.g. '^[0-9]+$'", pattern_node
            )
        try:
            pattern = compile_pattern(pattern_node.value)
        except UnsafePattern as error:  # a ValueError: caught before the others
            raise self.error(
                f"this regular expression could take hours on a long answer: {error}",
                pattern_node,
            ) from None
        except (re.error, RecursionError, OverflowError, ValueError) as error:
            raise self.error(
                f"this regular expression is not valid: {error}", pattern_node
            ) from None
        self.info[id(pattern_node)] = Typed(
            T.TEXT, rt.constant(pattern_node.value), pure=True, value=pattern_node.value
        )
        search = pattern.search
        get = text.fn

        def matches(ctx: Any) -> bool:
            value = get(ctx)
            # a text longer than any answer's default limit is not searched (patterns.py)
            return (
                isinstance(value, str) and len(value) <= MAX_SUBJECT and search(value) is not None
            )

        return Typed(T.BOOLEAN, matches, pure=text.pure)

    def _fn_today(self, node: n.Call, loop: str | None) -> Typed:
        return Typed(T.DATE, lambda ctx: ctx.today)

    def _fn_date(self, node: n.Call, loop: str | None) -> Typed:
        literal = node.args[0]
        if not isinstance(literal, n.String) or not _DATE_TEXT.fullmatch(literal.value):
            raise self.error(
                "date() needs a date written as 'YYYY-MM-DD', e.g. date('2024-01-31')", literal
            )
        try:
            value = dt.date.fromisoformat(literal.value)
        except ValueError:
            raise self.error(f"{literal.value!r} is not a real date", literal) from None
        self.info[id(literal)] = Typed(
            T.TEXT, rt.constant(literal.value), pure=True, value=literal.value
        )
        return Typed(T.DATE, rt.constant(value), pure=True, value=value)

    def _two_dates(self, node: n.Call, loop: str | None, apply: Callable[[Any, Any], Any]) -> Typed:
        a = self.arg(node, 0, loop, {T.DATE}, "a date")
        b = self.arg(node, 1, loop, {T.DATE}, "a date")
        return Typed(T.INTEGER, rt.binary(a.fn, b.fn, apply), pure=self.pure_of(a, b))

    def _fn_days_between(self, node: n.Call, loop: str | None) -> Typed:
        return self._two_dates(node, loop, lambda a, b: (b - a).days)

    def _fn_years_between(self, node: n.Call, loop: str | None) -> Typed:
        return self._two_dates(node, loop, rt.years_between)

    def _fn_add_days(self, node: n.Call, loop: str | None) -> Typed:
        day = self.arg(node, 0, loop, {T.DATE}, "a date")
        days = self.arg(node, 1, loop, {T.INTEGER}, "a whole number of days")
        return Typed(T.DATE, rt.binary(day.fn, days.fn, rt.add_days), pure=self.pure_of(day, days))

    def _fn_add_months(self, node: n.Call, loop: str | None) -> Typed:
        return self._add_months(node, loop, 1)

    def _fn_add_years(self, node: n.Call, loop: str | None) -> Typed:
        return self._add_months(node, loop, 12)

    def _add_months(self, node: n.Call, loop: str | None, months_each: int) -> Typed:
        day = self.arg(node, 0, loop, {T.DATE}, "a date")
        count = self.arg(node, 1, loop, {T.INTEGER}, "a whole number")
        fn = rt.binary(day.fn, count.fn, lambda d, k: rt.add_months(d, k * months_each))
        return Typed(T.DATE, fn, pure=self.pure_of(day, count))

    def _fn_age(self, node: n.Call, loop: str | None) -> Typed:
        """Whole years from a date of birth to the second date, or to the interview's date."""
        born = self.arg(node, 0, loop, {T.DATE}, "a date of birth")
        if len(node.args) == 1:
            get = born.fn

            def age_today(ctx: Any) -> Any:
                birth = get(ctx)
                if not isinstance(birth, dt.date):
                    return None
                return rt.years_between(birth, ctx.today)

            return Typed(T.INTEGER, age_today)
        at = self.arg(node, 1, loop, {T.DATE}, "a date")
        return Typed(
            T.INTEGER, rt.binary(born.fn, at.fn, rt.years_between), pure=self.pure_of(born, at)
        )

    def _date_part(self, node: n.Call, loop: str | None, part: str) -> Typed:
        day = self.arg(node, 0, loop, {T.DATE}, "a date")
        return Typed(T.INTEGER, rt.unary(day.fn, lambda d: getattr(d, part)), pure=day.pure)

    def _fn_year(self, node: n.Call, loop: str | None) -> Typed:
        return self._date_part(node, loop, "year")

    def _fn_month(self, node: n.Call, loop: str | None) -> Typed:
        return self._date_part(node, loop, "month")

    def _fn_day(self, node: n.Call, loop: str | None) -> Typed:
        return self._date_part(node, loop, "day")

    def _fn_abs(self, node: n.Call, loop: str | None) -> Typed:
        value = self.arg(node, 0, loop, NUMERIC, "a number")
        result = T.DECIMAL if value.type is T.DECIMAL else T.INTEGER
        return Typed(result, rt.unary(value.fn, abs), pure=value.pure)

    def _fn_round(self, node: n.Call, loop: str | None) -> Typed:
        value = self.arg(node, 0, loop, NUMERIC, "a number")
        if len(node.args) == 1:
            fn = rt.unary(value.fn, lambda x: rt.round_half_up(x, None))
            return Typed(T.INTEGER, fn, pure=value.pure)
        places = self.arg(node, 1, loop, {T.INTEGER}, "a whole number of decimal places")
        fn = rt.binary(value.fn, places.fn, rt.round_half_up)
        return Typed(T.DECIMAL, fn, pure=self.pure_of(value, places))

    def _fn_min(self, node: n.Call, loop: str | None) -> Typed:
        return self._extreme(node, loop, min)

    def _fn_max(self, node: n.Call, loop: str | None) -> Typed:
        return self._extreme(node, loop, max)

    def _extreme(self, node: n.Call, loop: str | None, pick: Callable[..., Any]) -> Typed:
        parts = [self.visit(arg, loop) for arg in node.args]
        types = {p.type for p in parts}
        if not (types <= NUMERIC or types == {T.DATE}):
            for part, arg in zip(parts, node.args):
                if part.type not in NUMERIC and part.type is not T.DATE:
                    raise self.error(
                        f"{node.function}() compares numbers or dates, but {self.text(arg)} is "
                        f"{type_phrase(part.type)}",
                        arg,
                    )
            raise self.error(f"{node.function}() cannot mix numbers and dates", node)
        if types == {T.DATE}:
            result = T.DATE
        else:
            result = T.DECIMAL if T.DECIMAL in types else T.INTEGER
        fn = rt.smallest([p.fn for p in parts], pick)
        if result is T.DECIMAL and any(p.type is not T.DECIMAL for p in parts):
            fn = rt.as_decimal(fn)
        return Typed(result, fn, pure=self.pure_of(*parts))
