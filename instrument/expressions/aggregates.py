"""Aggregates over a loop's iterations: ``sum``, ``count``, ``count_if``, one-argument ``min``/``max``."""

from __future__ import annotations

from . import nodes as n
from . import runtime as rt
from .checker import CheckerBase, Typed
from .scope import NUMERIC, ValueType
from .signatures import FUNCTIONS, is_aggregate_call

__all__ = ["Aggregates"]


T = ValueType


class Aggregates(CheckerBase):
    """Checks that an aggregate goes over exactly one loop, and compiles it."""

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
