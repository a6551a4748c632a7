"""Static warnings: conditions that can never be true, or are always true.

These are legal expressions, so they are warnings, not errors; but a routing
condition that can never be true hides every item under it, which an author
wants to hear about at ``instrument check`` rather than in the field.

What is detected (all statically visible, nothing is guessed):

* a condition that folds to a constant (``1 == 2``, ``true``);
* within one ``and`` chain, constraints on the same variable that cannot hold
  together: ``x == 1 and x == 2``, ``x > 5 and x < 3``, ``x in [1, 2] and x == 3``,
  ``empty(x) and x > 1``, a choice compared outside its codes (``parent > 2`` when
  the codes are 1 and 2), and ``x in []``;
* an ``or`` all of whose parts can never be true.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import nodes as n
from .compiler import Checked, is_aggregate_call
from .errors import ExpressionWarning
from .scope import ValueType

__all__ = ["find_warnings"]

_STATES = frozenset({"none", "dk", "refused", "value"})


def find_warnings(checked: Checked) -> list[ExpressionWarning]:
    analysis = _Analysis(checked)
    root = checked.node
    if checked.typed.type is ValueType.BOOLEAN and checked.typed.pure:
        if checked.typed.value is True:
            return [_warning("this condition is always true", root)]
        return [_warning("this condition can never be true", root)]
    warnings = []
    stack: list[tuple[n.Node, bool]] = [(root, True)]
    while stack:
        node, is_root = stack.pop()
        if analysis.never(node):
            message = (
                "this condition can never be true" if is_root else "this part can never be true"
            )
            reason = analysis.reasons.get(id(node))
            warnings.append(_warning(message + (f": {reason}" if reason else ""), node))
            continue
        stack.extend((child, False) for child in reversed(n.children(node)))
    return warnings


def _warning(message: str, node: n.Node) -> ExpressionWarning:
    return ExpressionWarning(message, node.start, max(1, node.end - node.start))


@dataclass
class _Constraint:
    """Everything one ``and`` chain says about one variable."""

    states: set[str] = field(default_factory=lambda: set(_STATES))
    allowed: set[Any] | None = None  # the value must be one of these
    excluded: set[Any] = field(default_factory=set)
    low: tuple[Any, bool] | None = None  # (bound, strict)
    high: tuple[Any, bool] | None = None


class _Analysis:
    def __init__(self, checked: Checked) -> None:
        self.info = checked.info
        self.reasons: dict[int, str] = {}
        self.variables: dict[str, Any] = {}
        self._never: dict[int, bool] = {}

    def typed(self, node: n.Node) -> Any:
        return self.info.get(id(node))

    def never(self, node: n.Node) -> bool:
        key = id(node)
        if key not in self._never:
            self._never[key] = self._compute_never(node)
        return self._never[key]

    def _compute_never(self, node: n.Node) -> bool:
        typed = self.typed(node)
        if typed is None or typed.type is not ValueType.BOOLEAN:
            return False
        if typed.pure:
            return typed.value is False
        if isinstance(node, n.Or):
            return all(self.never(op) for op in node.operands)
        if isinstance(node, n.And):
            return any(self.never(op) for op in node.operands) or self.contradictory(
                node, list(node.operands)
            )
        if isinstance(node, (n.Compare, n.Membership, n.Call)) and not is_aggregate_call(node):
            return self.contradictory(node, [node])
        return False

    # --- constraint collection ---------------------------------------------------------

    def contradictory(self, where: n.Node, conjuncts: list[n.Node]) -> bool:
        constraints: dict[str, _Constraint] = {}
        for conjunct in conjuncts:
            for name, apply in self.constraints_of(conjunct):
                apply(constraints.setdefault(name, self.initial(name)))
        for name, constraint in constraints.items():
            reason = self.unsatisfiable(name, constraint)
            if reason:
                self.reasons[id(where)] = reason
                return True
        return False

    def initial(self, name: str) -> _Constraint:
        constraint = _Constraint()
        typed = self.variables.get(name)
        if typed is not None and typed.type is ValueType.CODE and typed.codes:
            constraint.allowed = set(typed.codes)
        return constraint

    def constraints_of(self, node: n.Node) -> list[tuple[str, Any]]:
        """(variable, function that narrows its constraint) pairs implied by one conjunct."""
        if isinstance(node, n.Compare):
            left, right = self.typed(node.left), self.typed(node.right)
            op = node.op
            if left is not None and left.name and right is not None and right.pure:
                name, value = left.name, right.value
            elif right is not None and right.name and left is not None and left.pure:
                name, value = right.name, left.value
                op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            else:
                return []
            self.remember(name, left if left.name else right)
            return [(name, lambda c: _narrow(c, op, value))]
        if isinstance(node, n.Membership):
            left = self.typed(node.left)
            if left is None or not left.name:
                return []
            self.remember(left.name, left)
            values = {self.typed(item).value for item in node.items}
            if node.negated:
                return [(left.name, lambda c: _value_only(c, excluded=values))]
            return [(left.name, lambda c: _value_only(c, allowed=values))]
        if isinstance(node, n.Call) and node.args:
            first = self.typed(node.args[0])
            if first is None or not first.name:
                return []
            self.remember(first.name, first)
            states = {
                "empty": {"none"},
                "answered": {"value"},
                "is_dk": {"dk"},
                "is_refused": {"refused"},
            }.get(node.function)
            if states is not None:
                return [(first.name, lambda c: c.states.intersection_update(states))]
            if node.function == "selected" and first.type is ValueType.CODE:
                code = self.typed(node.args[1]).value
                return [(first.name, lambda c: _narrow(c, "==", code))]
        return []

    def remember(self, name: str, typed: Any) -> None:
        self.variables.setdefault(name, typed)

    def unsatisfiable(self, name: str, c: _Constraint) -> str | None:
        if not c.states:
            return f"these tests of whether {name} is answered contradict each other"
        if c.states != {"value"}:
            return None
        typed = self.variables.get(name)
        try:
            if c.allowed is not None:
                left = [v for v in c.allowed if v not in c.excluded and _within(v, c.low, c.high)]
                if not left:
                    if typed is not None and typed.type is ValueType.CODE and typed.codes:
                        return f"no option of {name} passes all of these tests"
                    return f"no value of {name} passes all of these tests"
                return None
            low, high = c.low, c.high
            if typed is not None and typed.type is ValueType.INTEGER:
                low, high = _integer_bounds(low, high)
            if low is not None and high is not None:
                if low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])):
                    return f"no value of {name} passes all of these tests"
                if low[0] == high[0] and low[0] in c.excluded:
                    return f"no value of {name} passes all of these tests"
        except TypeError:  # values of kinds that do not order: say nothing
            return None
        return None


def _value_only(
    c: _Constraint, allowed: set[Any] | None = None, excluded: set[Any] | None = None
) -> None:
    c.states &= {"value"}
    if allowed is not None:
        c.allowed = set(allowed) if c.allowed is None else c.allowed & set(allowed)
    if excluded:
        c.excluded |= excluded


def _narrow(c: _Constraint, op: str, value: Any) -> None:
    if value is None:  # a comparison with a missing constant is never true
        c.states.clear()
        return
    if op == "==":
        _value_only(c, allowed={value})
    elif op == "!=":
        _value_only(c, excluded={value})
    elif op in (">", ">="):
        _value_only(c)
        bound = (value, op == ">")
        if c.low is None or bound[0] > c.low[0] or (bound[0] == c.low[0] and bound[1]):
            c.low = bound
    else:
        _value_only(c)
        bound = (value, op == "<")
        if c.high is None or bound[0] < c.high[0] or (bound[0] == c.high[0] and bound[1]):
            c.high = bound


def _within(value: Any, low: tuple[Any, bool] | None, high: tuple[Any, bool] | None) -> bool:
    if low is not None and (value < low[0] or (low[1] and value == low[0])):
        return False
    return high is None or not (value > high[0] or (high[1] and value == high[0]))


def _integer_bounds(
    low: tuple[Any, bool] | None, high: tuple[Any, bool] | None
) -> tuple[tuple[Any, bool] | None, tuple[Any, bool] | None]:
    """For a whole-number variable, x > 5 means x >= 6 and x < 2.5 means x <= 2."""
    if low is not None and isinstance(low[0], (int, float)) and math.isfinite(low[0]):
        value, strict = low
        smallest = (
            math.floor(value) + 1 if strict and value == math.floor(value) else math.ceil(value)
        )
        low = (smallest, False)
    if high is not None and isinstance(high[0], (int, float)) and math.isfinite(high[0]):
        value, strict = high
        largest = (
            math.ceil(value) - 1 if strict and value == math.ceil(value) else math.floor(value)
        )
        high = (largest, False)
    return low, high
