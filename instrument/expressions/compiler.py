"""Type checking and compilation to closures, in one walk over our AST.

Every node is checked against the :class:`Scope` (names, types, option codes,
loops) and turned into a closure ``fn(ctx) -> value``. Sub-expressions that read
no variable and not ``today()`` are evaluated once here (constant folding), so
``date('2024-01-31')`` or ``60 * 60`` cost nothing at run time.

The checker records what it learnt about each node in :class:`Typed`; the
warning analysis and :meth:`describe` read that record afterwards.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from instrument.values import DK, REFUSED

from . import nodes as n
from . import runtime as rt
from .errors import ExpressionError
from .scope import NUMERIC, Scope, ValueType, VarInfo, type_phrase

__all__ = ["AGGREGATES", "FUNCTIONS", "Checked", "Typed", "check", "is_aggregate_call"]

T = ValueType


@dataclass(slots=True)
class Typed:
    """What the checker knows about one node."""

    type: ValueType
    fn: rt.Fn
    codes: frozenset[int] | None = None
    labels: Mapping[int, str] | None = None
    name: str | None = None  # set when the node is a bare variable
    pure: bool = False  # reads no variable and not today(): its value is known now
    value: Any = None  # that value, when pure


@dataclass
class Checked:
    """The result of checking a whole expression."""

    node: n.Node
    typed: Typed
    info: dict[int, Typed] = field(default_factory=dict)  # id(node) -> Typed
    aggregate_loops: dict[int, str] = field(default_factory=dict)  # id(call) -> loop id
    references: set[str] = field(default_factory=set)


# name -> (fewest arguments, most arguments or None, an example for messages and docs)
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "selected": (2, 2, "selected(drinks, 3)"),
    "count_selected": (1, 1, "count_selected(drinks)"),
    "if": (3, 3, "if(age >= 18, 1, 2)"),
    "coalesce": (2, None, "coalesce(income, 0)"),
    "empty": (1, 1, "empty(income)"),
    "answered": (1, 1, "answered(income)"),
    "is_dk": (1, 1, "is_dk(income)"),
    "is_refused": (1, 1, "is_refused(income)"),
    "len": (1, 1, "len(comment)"),
    "regex": (2, 2, "regex(postcode, '^[A-Z]{1,2}[0-9]')"),
    "today": (0, 0, "today()"),
    "date": (1, 1, "date('2024-01-31')"),
    "days_between": (2, 2, "days_between(start_date, today())"),
    "years_between": (2, 2, "years_between(birth_date, today())"),
    "add_days": (2, 2, "add_days(start_date, 7)"),
    "year": (1, 1, "year(birth_date)"),
    "month": (1, 1, "month(birth_date)"),
    "day": (1, 1, "day(birth_date)"),
    "abs": (1, 1, "abs(change)"),
    "round": (1, 2, "round(income / 12, 2)"),
    "min": (1, None, "min(a, b) or min(child_age)"),
    "max": (1, None, "max(a, b) or max(child_age)"),
    "sum": (1, 1, "sum(child_age)"),
    "count": (1, 1, "count(child_age)"),
    "count_if": (1, 1, "count_if(child_age < 5)"),
}

AGGREGATES = frozenset({"sum", "count", "count_if"})
"""Always aggregates; ``min`` and ``max`` are aggregates only with one argument."""

_ORDINALS = ("first", "second", "third", "fourth", "fifth")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_aggregate_call(node: n.Node) -> bool:
    return isinstance(node, n.Call) and (
        node.function in AGGREGATES or (node.function in ("min", "max") and len(node.args) == 1)
    )


def check(node: n.Node, source: str, scope: Scope) -> Checked:
    """Type-check and compile a parsed expression; raise :class:`ExpressionError` if wrong."""
    checker = _Checker(source, scope)
    typed = checker.visit(node, scope.loop)
    return Checked(node, typed, checker.info, checker.aggregate_loops, checker.references)


class _Checker:
    def __init__(self, source: str, scope: Scope) -> None:
        self.source = source
        self.scope = scope
        self.variables = scope.variables
        self.info: dict[int, Typed] = {}
        self.aggregate_loops: dict[int, str] = {}
        self.references: set[str] = set()

    # --- helpers -----------------------------------------------------------------------

    def error(self, message: str, node: n.Node) -> ExpressionError:
        return ExpressionError(message, node.start, max(1, node.end - node.start))

    def text(self, node: n.Node) -> str:
        """The node's own source text, shortened for use inside a message."""
        text = " ".join(self.source[node.start : node.end].split())
        return text if len(text) <= 40 else text[:37] + "..."

    def visit(self, node: n.Node, loop: str | None) -> Typed:
        method: Callable[[Any, str | None], Typed] = getattr(self, "_" + type(node).__name__)
        typed = method(node, loop)
        if typed.pure and not isinstance(node, (n.Number, n.String, n.Boolean)):
            typed.value = typed.fn(None)  # pure closures never touch the context
            typed.fn = rt.constant(typed.value)
        self.info[id(node)] = typed
        return typed

    def condition(self, node: n.Node, loop: str | None, where: str) -> Typed:
        """Visit a node that must be true/false, with a helpful error if it is not."""
        typed = self.visit(node, loop)
        if typed.type is not T.BOOLEAN:
            raise self.error(self.not_a_condition(node, typed, where), node)
        return typed

    def not_a_condition(self, node: n.Node, typed: Typed, where: str) -> str:
        text = self.text(node)
        if typed.type in (T.INTEGER, T.DECIMAL):
            hint = f"{text} > 0"
        elif typed.type is T.CODE:
            code = min(typed.codes) if typed.codes else 1
            hint = f"{text} == {code}"
        elif typed.type is T.CODES:
            hint = f"count_selected({text}) > 0"
        else:
            hint = f"answered({text})"
        return f"{where} must be true or false, but {text} is {type_phrase(typed.type)}; did you mean {hint}?"

    # --- leaves ------------------------------------------------------------------------

    def _Number(self, node: n.Number, loop: str | None) -> Typed:
        value_type = T.DECIMAL if isinstance(node.value, float) else T.INTEGER
        return Typed(value_type, rt.constant(node.value), pure=True, value=node.value)

    def _String(self, node: n.String, loop: str | None) -> Typed:
        return Typed(T.TEXT, rt.constant(node.value), pure=True, value=node.value)

    def _Boolean(self, node: n.Boolean, loop: str | None) -> Typed:
        return Typed(T.BOOLEAN, rt.constant(node.value), pure=True, value=node.value)

    def _Name(self, node: n.Name, loop: str | None) -> Typed:
        var = self.lookup(node)
        if var.loop is not None and var.loop != loop:
            where = "outside that loop" if loop is None else f"in the loop '{loop}'"
            raise self.error(
                f"{node.name} is asked in the loop '{var.loop}', so {where} it stands for one value "
                f"per iteration; use it inside sum(), count(), min(), max() or count_if(), "
                f"e.g. count({node.name})",
                node,
            )
        self.references.add(node.name)
        return Typed(var.type, rt.variable(node.name), var.codes, var.labels, name=node.name)

    def lookup(self, node: n.Name) -> VarInfo:
        var = self.variables.get(node.name)
        if var is not None:
            return var
        name = node.name
        if name in FUNCTIONS:
            fewest = FUNCTIONS[name][0]
            call = f"{name}()" if fewest == 0 else f"{name}(...), e.g. {FUNCTIONS[name][2]}"
            raise self.error(f"{name} is a function: write {call}", node)
        if name.lower() in ("true", "false"):
            raise self.error(f"unknown name {name!r}; did you mean {name.lower()}?", node)
        message = f"unknown variable {name!r}"
        close = difflib.get_close_matches(name, list(self.variables), n=1)
        if not close:
            folded = {key.lower(): key for key in self.variables}
            if name.lower() in folded:
                close = [folded[name.lower()]]
        if close:
            message += f"; did you mean {close[0]!r}?"
        raise self.error(message, node)

    # --- operators ---------------------------------------------------------------------

    def _Neg(self, node: n.Neg, loop: str | None) -> Typed:
        operand = self.visit(node.operand, loop)
        if operand.type not in NUMERIC:
            raise self.error(
                f"only a number can be negative, but {self.text(node.operand)} is "
                f"{type_phrase(operand.type)}",
                node.operand,
            )
        result = T.DECIMAL if operand.type is T.DECIMAL else T.INTEGER
        return Typed(result, rt.negative(operand.fn), pure=operand.pure)

    def _Not(self, node: n.Not, loop: str | None) -> Typed:
        operand = self.condition(node.operand, loop, "the value after 'not'")
        return Typed(T.BOOLEAN, rt.negate(operand.fn), pure=operand.pure)

    def _And(self, node: n.And, loop: str | None) -> Typed:
        return self._logic(node, loop, "and", rt.all_of)

    def _Or(self, node: n.Or, loop: str | None) -> Typed:
        return self._logic(node, loop, "or", rt.any_of)

    def _logic(self, node: n.And | n.Or, loop: str | None, word: str, build: Any) -> Typed:
        parts = [self.condition(op, loop, f"each side of '{word}'") for op in node.operands]
        return Typed(T.BOOLEAN, build([p.fn for p in parts]), pure=all(p.pure for p in parts))

    def _Arith(self, node: n.Arith, loop: str | None) -> Typed:
        parts = [self.visit(op, loop) for op in node.operands]
        is_text = all(p.type is T.TEXT for p in parts) and set(node.operators) == {"+"}
        if not is_text:
            for part, operand in zip(parts, node.operands):
                if part.type in NUMERIC:
                    continue
                if part.type is T.DATE:
                    hint = "; for dates use add_days(d, n) or days_between(a, b)"
                elif part.type is T.TEXT and set(node.operators) == {"+"}:
                    hint = "; + joins two texts, or adds two numbers, not a mix"
                elif part.type is T.CODES:
                    hint = f"; did you mean count_selected({self.text(operand)})?"
                else:
                    hint = ""
                raise self.error(
                    f"arithmetic needs numbers, but {self.text(operand)} is "
                    f"{type_phrase(part.type)}{hint}",
                    operand,
                )
        if is_text:
            result = T.TEXT
        elif "/" in node.operators or any(p.type is T.DECIMAL for p in parts):
            result = T.DECIMAL
        else:
            result = T.INTEGER
        fn = rt.arithmetic([p.fn for p in parts], node.operators)
        return Typed(result, fn, pure=all(p.pure for p in parts))

    def _Compare(self, node: n.Compare, loop: str | None) -> Typed:
        left = self.visit(node.left, loop)
        right = self.visit(node.right, loop)
        self.check_comparable(node, left, right)
        pure = left.pure and right.pure
        if right.pure and left.name is not None:
            fn = rt.compare_var_const(left.name, node.op, right.value)
        elif left.pure and right.name is not None:
            fn = rt.compare_var_const(right.name, rt.FLIPPED[node.op], left.value)
        elif right.pure:
            fn = rt.compare_fn_const(left.fn, node.op, right.value)
        elif left.pure:
            fn = rt.compare_fn_const(right.fn, rt.FLIPPED[node.op], left.value)
        else:
            fn = rt.compare_fn_fn(left.fn, node.op, right.fn)
        if (left.pure and left.value is None) or (right.pure and right.value is None):
            fn = rt.constant(False)  # e.g. x == 1 / 0: a missing operand makes it false
        return Typed(T.BOOLEAN, fn, pure=pure)

    def check_comparable(self, node: n.Compare, left: Typed, right: Typed) -> None:
        for typed, side in ((left, node.left), (right, node.right)):
            if typed.type is T.CODES:
                text = self.text(side)
                raise self.error(
                    f"{text} is a multiple choice and cannot be compared directly; use "
                    f"selected({text}, code) or count_selected({text})",
                    side,
                )
        lt, rt_ = left.type, right.type
        if T.CODE in (lt, rt_):
            if lt is T.CODE and rt_ is T.CODE:
                if left.codes is not None and right.codes is not None and left.codes != right.codes:
                    raise self.error(
                        f"{self.text(node.left)} and {self.text(node.right)} have different "
                        f"options, so comparing them means nothing; compare each with a code",
                        node,
                    )
                return
            code_typed, code_node, other, other_node = (
                (left, node.left, right, node.right)
                if lt is T.CODE
                else (right, node.right, left, node.left)
            )
            if other.type not in NUMERIC:
                raise self.error(
                    f"cannot compare {self.text(code_node)} (a choice) with "
                    f"{type_phrase(other.type)}; compare it with one of its codes",
                    other_node,
                )
            if not other.pure:
                example = min(code_typed.codes) if code_typed.codes else 1
                raise self.error(
                    f"{self.text(code_node)} is a choice: compare it with one of its codes, "
                    f"e.g. {self.text(code_node)} == {example}, not with {self.text(other_node)}",
                    other_node,
                )
            self.check_code(code_node, code_typed, other.value, other_node)
            return
        if lt in NUMERIC and rt_ in NUMERIC:
            return
        if lt is rt_ and lt in (T.TEXT, T.DATE):
            return
        if lt is rt_ is T.BOOLEAN:
            if node.op not in ("==", "!="):
                raise self.error("true/false values can only be compared with == or !=", node)
            return
        hint = ""
        if T.DATE in (lt, rt_) and T.TEXT in (lt, rt_):
            hint = "; write a date as date('2024-01-31')"
        raise self.error(
            f"cannot compare {type_phrase(lt)} ({self.text(node.left)}) with "
            f"{type_phrase(rt_)} ({self.text(node.right)}){hint}",
            node,
        )

    def check_code(self, code_node: n.Node, code_typed: Typed, value: Any, at: n.Node) -> None:
        """A literal compared with a choice must be one of its option codes."""
        text = self.text(code_node)
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{text} is a choice: its codes are whole numbers, not {value!r}", at)
        if code_typed.codes is not None and value not in code_typed.codes:
            listed = ", ".join(str(c) for c in sorted(code_typed.codes))
            message = f"{text} has no option with code {value} (its codes are {listed})"
            if value < 0:
                message += f"; for don't know or refused use is_dk({text}) or is_refused({text})"
            raise self.error(message, at)

    def _Membership(self, node: n.Membership, loop: str | None) -> Typed:
        left = self.visit(node.left, loop)
        if left.type is T.CODES:
            text = self.text(node.left)
            raise self.error(
                f"{text} is a multiple choice; use selected({text}, code) to test for one option",
                node.left,
            )
        values = []
        for item in node.items:
            typed = self.visit(item, loop)
            if not typed.pure:
                raise self.error(
                    "the list after 'in' may only hold fixed values (numbers, texts, dates); "
                    "compare with == to use a variable",
                    item,
                )
            compatible = typed.type in NUMERIC if left.type in NUMERIC else typed.type is left.type
            if not compatible:
                raise self.error(
                    f"{self.text(node.left)} is {type_phrase(left.type)}, but "
                    f"{self.text(item)} is {type_phrase(typed.type)}",
                    item,
                )
            if left.type is T.CODE:
                self.check_code(node.left, left, typed.value, item)
            if typed.value is not None:
                values.append(typed.value)
        fn = rt.member(left.fn, frozenset(values), node.negated)
        return Typed(T.BOOLEAN, fn, pure=left.pure)

    # --- function calls ----------------------------------------------------------------

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

    def arg(
        self,
        node: n.Call,
        index: int,
        loop: str | None,
        allowed: frozenset[ValueType] | set[ValueType],
        what: str,
    ) -> Typed:
        argument = node.args[index]
        typed = self.visit(argument, loop)
        if typed.type not in allowed:
            position = f"its {_ORDINALS[index]} argument" if len(node.args) > 1 else "its argument"
            hint = ""
            if typed.type is T.CODES and (T.INTEGER in allowed or node.function == "len"):
                hint = f"; did you mean count_selected({self.text(argument)})?"
            raise self.error(
                f"{node.function}() needs {what} as {position}, but {self.text(argument)} is "
                f"{type_phrase(typed.type)}{hint}",
                argument,
            )
        return typed

    def pure_of(self, *parts: Typed) -> bool:
        return all(p.pure for p in parts)

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
            pattern = re.compile(pattern_node.value)
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
            return isinstance(value, str) and search(value) is not None

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

    # --- aggregates over a loop --------------------------------------------------------

    def aggregate(self, node: n.Call) -> Typed:
        name = node.function
        argument = node.args[0]
        loops = self.bare_loops(argument)
        if not loops:
            if name in ("min", "max"):
                message = (
                    f"{name}() with one argument gives the {'smallest' if name == 'min' else 'largest'} "
                    f"value of a loop variable over the loop's iterations, but "
                    f"{self.text(argument)} uses no loop variable; to compare values give two "
                    f"or more, e.g. {name}(a, b)"
                )
            else:
                message = (
                    f"{name}() works over the iterations of a loop, but {self.text(argument)} "
                    f"uses no variable asked in a loop, e.g. {FUNCTIONS[name][2]}"
                )
            raise self.error(message, argument)
        if len(loops) > 1:
            listed = " and ".join(f"'{loop}'" for loop in sorted(loops))
            raise self.error(
                f"{name}() can only go over one loop, but {self.text(argument)} mixes variables of "
                f"the loops {listed}",
                argument,
            )
        (loop,) = loops
        self.aggregate_loops[id(node)] = loop
        if name == "count_if":
            typed = self.condition(argument, loop, "the argument of count_if()")
            return Typed(T.INTEGER, rt.aggregate_count_if(loop, typed.fn))
        if name == "count":
            typed = self.visit(argument, loop)
            return Typed(T.INTEGER, rt.aggregate_count(loop, typed.fn))
        if name == "sum":
            typed = self.arg(node, 0, loop, NUMERIC, "a number")
            if typed.type is T.DECIMAL:
                return Typed(T.DECIMAL, rt.aggregate_sum(loop, typed.fn, 0.0))
            return Typed(T.INTEGER, rt.aggregate_sum(loop, typed.fn, 0))
        typed = self.arg(node, 0, loop, NUMERIC | {T.DATE}, "a number or a date")
        result = T.INTEGER if typed.type is T.CODE else typed.type
        return Typed(result, rt.aggregate_pick(loop, typed.fn, min if name == "min" else max))

    def bare_loops(self, node: n.Node) -> set[str]:
        """Loops whose variables the node reads directly (not inside a nested aggregate)."""
        found: set[str] = set()
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, n.Name):
                var = self.variables.get(current.name)
                if var is not None and var.loop is not None:
                    found.add(var.loop)
            elif not is_aggregate_call(current):
                stack.extend(n.children(current))
        return found
