"""Aggregates over a loop's iterations: ``sum``, ``count``, ``count_if``, one-argument ``min``/``max``."""

from __future__ import annotations

from . import loop_aggregates as rt
from . import nodes as n
from .checker import CheckerBase, Typed
from .scope import NUMERIC, ValueType
from .signatures import FUNCTIONS, is_aggregate_call

__all__ = ["Aggregates"]


T = ValueType

_HANDLE_MISSING = frozenset({"empty", "answered", "is_dk", "is_refused", "coalesce"})
"""Functions whose result is known whatever the answers they read: they decide about missing ones."""


class Aggregates(CheckerBase):
    """Checks that an aggregate goes over exactly one loop, and compiles it."""

    def aggregate(self, node: n.Call) -> Typed:
        strict = not node.function.endswith("_known")
        name = node.function.removesuffix("_known")
        argument = node.args[0]
        loops = self.innermost(self.bare_loops(argument))
        if not loops:
            if name in ("min", "max"):
                message = (
                    f"{node.function}() with one argument gives the {'smallest' if name == 'min' else 'largest'} "
                    f"value of a loop variable over the loop's iterations, but "
                    f"{self.text(argument)} uses no loop variable; to compare values give two "
                    f"or more, e.g. {name}(a, b)"
                )
            else:
                message = (
                    f"{node.function}() works over the iterations of a loop, but {self.text(argument)} "
                    f"uses no variable asked in a loop, e.g. {FUNCTIONS[node.function][2]}"
                )
            raise self.error(message, argument)
        if len(loops) > 1:
            listed = " and ".join(f"'{loop}'" for loop in sorted(loops))
            raise self.error(
                f"{node.function}() can only go over one loop, but {self.text(argument)} mixes variables of "
                f"the loops {listed}",
                argument,
            )
        (loop,) = loops
        self.aggregate_loops[id(node)] = loop
        names = tuple(sorted(self.bare_names(argument, loop)))
        if name == "count_if":
            typed = self.condition(argument, loop, f"the argument of {node.function}()")
            return Typed(T.INTEGER, rt.aggregate_count_if(loop, typed.fn, names, strict))
        if name == "count":
            typed = self.visit(argument, loop)
            return Typed(T.INTEGER, rt.aggregate_count(loop, typed.fn))
        if name == "sum":
            typed = self.arg(node, 0, loop, NUMERIC, "a number")
            zero = 0.0 if typed.type is T.DECIMAL else 0
            result = T.DECIMAL if typed.type is T.DECIMAL else T.INTEGER
            return Typed(result, rt.aggregate_sum(loop, typed.fn, zero, names, strict))
        typed = self.arg(node, 0, loop, NUMERIC | {T.DATE}, "a number or a date")
        result = T.INTEGER if typed.type is T.CODE else typed.type
        pick = min if name == "min" else max
        return Typed(result, rt.aggregate_pick(loop, typed.fn, pick, names, strict))

    def bare_loops(self, node: n.Node) -> set[str]:
        """Loops whose variables the node reads directly (not inside a nested aggregate)."""
        found: set[str] = set()
        for name in self._bare(node):
            var = self.variables.get(name)
            if var is not None and var.loop is not None:
                found.add(var.loop)
        return found

    def bare_names(self, node: n.Node, loop: str) -> set[str]:
        """The variables of ``loop`` whose unknown answer makes an iteration's value unknown.

        Not those read only by a function that deals with missing answers itself
        (``answered(child_age)``, ``coalesce(child_age, 0)``): the author said what
        an unknown answer means there.
        """
        return {
            name
            for name in self._bare(node, _HANDLE_MISSING)
            if (var := self.variables.get(name)) is not None and var.loop == loop
        }

    @staticmethod
    def _bare(node: n.Node, skip: frozenset[str] = frozenset()) -> list[str]:
        names = []
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, n.Name):
                names.append(current.name)
            elif not is_aggregate_call(current) and not (
                isinstance(current, n.Call) and current.function in skip
            ):
                stack.extend(n.children(current))
        return names
