"""Type checking and compilation to closures, in one walk over our AST.

The checker is one class made of the parts in their modules: the walk, names and
literals (:mod:`.checker`), operators (:mod:`.operators`), function calls
(:mod:`.functions`) and aggregates over loops (:mod:`.aggregates`); the table of
built-in functions is :mod:`.signatures`.
"""

from __future__ import annotations

from . import nodes as n
from .checker import Checked, Typed
from .functions import Functions
from .operators import Operators
from .scope import Scope
from .signatures import AGGREGATES, FUNCTIONS, is_aggregate_call

__all__ = ["AGGREGATES", "FUNCTIONS", "Checked", "Typed", "check", "is_aggregate_call"]


class _Checker(Operators, Functions):
    """Checks and compiles one expression (see :class:`.checker.CheckerBase`)."""


def check(node: n.Node, source: str, scope: Scope) -> Checked:
    """Type-check and compile a parsed expression; raise :class:`ExpressionError` if wrong."""
    checker = _Checker(source, scope)
    typed = checker.visit(node, scope.loop)
    return Checked(node, typed, checker.info, checker.aggregate_loops, checker.references)
