"""A loop's count against its max: can the count be larger than the loop can hold?

The engine never drops iterations (it refuses an answer that would make a count
larger than the loop's max), but a respondent with five children should not meet a
questionnaire that can ask about three: ``check`` says so where the loop is written.
The count's largest value is worked out from the expression: a number, a question's
``max`` (or its largest option code), a computed variable's own expression, sums,
differences, ``min``/``max`` and aggregates (which count at most their loop's max).
Anything else (a preload, a product, a condition) is "cannot tell".
"""

from __future__ import annotations

import math
from collections.abc import Callable

from instrument.expressions import CompiledExpression
from instrument.expressions import nodes as n
from instrument.model import Question

__all__ = ["CountBound", "count_bound"]

UNKNOWN = math.inf


class CountBound:
    """The largest value a count can take (``math.inf``: unbounded or cannot tell), and why."""

    __slots__ = ("largest", "unbounded_question")

    def __init__(self, largest: float, unbounded_question: str | None = None) -> None:
        self.largest = largest
        self.unbounded_question = unbounded_question  # a number question with no max


def count_bound(
    count: CompiledExpression,
    question_of: Callable[[str], Question | None],
    loop_max_of: Callable[[str], int | None],
) -> CountBound:
    """How large ``count`` can be, reading questions (and their loops) through the callbacks."""
    unbounded: list[str] = []
    seen: set[str] = set()

    def name_bound(name: str, low: bool) -> float:
        question = question_of(name)
        if question is None or name in seen:
            return -UNKNOWN if low else UNKNOWN
        if question.type == "computed" and question.expr is not None:
            seen.add(name)
            try:
                return bound(question.expr.node, low)
            finally:
                seen.discard(name)
        if question.type == "integer":
            limit = question.min if low else question.max
            if isinstance(limit, int):
                return float(limit)
            if not low:
                unbounded.append(name)
            return -UNKNOWN if low else UNKNOWN
        if question.choices is not None and question.type in ("single", "yesno"):
            codes = question.choices.codes
            return float(min(codes) if low else max(codes))
        return -UNKNOWN if low else UNKNOWN

    def bound(node: n.Node, low: bool) -> float:
        """The node's smallest (``low``) or largest value."""
        if isinstance(node, n.Number):
            return float(node.value)
        if isinstance(node, n.Name):
            return name_bound(node.name, low)
        if isinstance(node, n.Neg):
            return -bound(node.operand, not low)
        if isinstance(node, n.Arith) and set(node.operators) <= {"+", "-"}:
            total = bound(node.operands[0], low)
            for op, operand in zip(node.operators, node.operands[1:]):
                total += bound(operand, low) if op == "+" else -bound(operand, not low)
            return total
        if isinstance(node, n.Call) and node.args:
            if node.function in ("min", "max") and len(node.args) > 1:
                values = [bound(arg, low) for arg in node.args]
                return min(values) if node.function == "min" else max(values)
            if node.function in ("count", "count_if"):
                if low:
                    return 0.0
                loops = {
                    loop_max_of(inner.name)
                    for inner in n.walk(node.args[0])
                    if isinstance(inner, n.Name)
                }
                loops.discard(None)
                return float(max(loops)) if len(loops) == 1 else UNKNOWN  # type: ignore[type-var]
        return -UNKNOWN if low else UNKNOWN

    largest = bound(count.node, False)
    return CountBound(largest, unbounded[0] if unbounded else None)
