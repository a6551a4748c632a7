"""The core of type checking and compilation: the walk over our AST and what it records.

Every node is checked against the :class:`Scope` (names, types, option codes,
loops) and turned into a closure ``fn(ctx) -> value``. Sub-expressions that read
no variable and not ``today()`` are evaluated once here (constant folding), so
``date('2024-01-31')`` or ``60 * 60`` cost nothing at run time.

The checker records what it learnt about each node in :class:`Typed`; the
warning analysis and ``describe()`` read that record afterwards.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import nodes as n
from . import runtime as rt
from .errors import ExpressionError
from .scope import Scope, ValueType, VarInfo, type_phrase
from .signatures import FUNCTIONS

__all__ = ["CheckerBase", "Checked", "Typed"]


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


_ORDINALS = ("first", "second", "third", "fourth", "fifth")


class CheckerBase:
    """What every part of the checker shares: the walk, messages, names and literals.

    :meth:`visit` dispatches on the node's class to a method named after it
    (``_Number``, ``_Arith``, ``_Call`` ...), which the mixins of
    :mod:`.operators`, :mod:`.functions` and :mod:`.aggregates` provide.
    """

    def __init__(self, source: str, scope: Scope) -> None:
        self.source = source
        self.scope = scope
        self.variables = scope.variables
        self.info: dict[int, Typed] = {}
        self.aggregate_loops: dict[int, str] = {}
        self.references: set[str] = set()

    def around(self, loop: str | None) -> tuple[str, ...]:
        """The loops around ``loop`` (a variable of one means its current iteration there)."""
        return self.scope.loops_around(loop)[1:] if self.scope.parents else ()

    def innermost(self, loops: set[str]) -> set[str]:
        """``loops`` without those around another of them: an aggregate goes over the inner one."""
        if len(loops) < 2 or not self.scope.parents:
            return loops
        return {loop for loop in loops if not any(loop in self.around(o) for o in loops)}

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

    def _Number(self, node: n.Number, loop: str | None) -> Typed:
        value_type = T.DECIMAL if isinstance(node.value, float) else T.INTEGER
        return Typed(value_type, rt.constant(node.value), pure=True, value=node.value)

    def _String(self, node: n.String, loop: str | None) -> Typed:
        return Typed(T.TEXT, rt.constant(node.value), pure=True, value=node.value)

    def _Boolean(self, node: n.Boolean, loop: str | None) -> Typed:
        return Typed(T.BOOLEAN, rt.constant(node.value), pure=True, value=node.value)

    def _Name(self, node: n.Name, loop: str | None) -> Typed:
        var = self.lookup(node)
        if var.loop is not None and var.loop != loop and var.loop not in self.around(loop):
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
