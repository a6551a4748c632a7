"""The abstract syntax tree of the expression language.

These nodes are ours, not Lark's and not Python's: every later stage (type
checking, compiling to closures, warnings, plain-English descriptions, and the
loader's dependency graph) works on them. Each node records the span of source
text it came from (``start`` inclusive, ``end`` exclusive) so errors can point
at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "And",
    "Arith",
    "Boolean",
    "Call",
    "Compare",
    "Membership",
    "Name",
    "Neg",
    "Node",
    "Not",
    "Number",
    "Or",
    "String",
    "children",
    "unparse",
    "walk",
]


@dataclass(frozen=True, slots=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Number(Node):
    value: int | float


@dataclass(frozen=True, slots=True)
class String(Node):
    value: str


@dataclass(frozen=True, slots=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Arith(Node):
    """A left-to-right chain of one precedence level: ``a + b - c`` or ``a * b / c``.

    Kept n-ary (rather than nested binary nodes) so a long sum does not make a
    deep tree.
    """

    operands: tuple[Node, ...]
    operators: tuple[str, ...]  # len(operators) == len(operands) - 1


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Membership(Node):
    """``left in [items]`` or ``left not in [items]``."""

    left: Node
    items: tuple[Node, ...]
    negated: bool
    list_start: int
    list_end: int


@dataclass(frozen=True, slots=True)
class And(Node):
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]
    name_end: int  # the function name spans start..name_end


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in source order."""
    if isinstance(node, (Neg, Not)):
        return (node.operand,)
    if isinstance(node, (Arith, And, Or)):
        return node.operands
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, Membership):
        return (node.left, *node.items)
    if isinstance(node, Call):
        return node.args
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (iterative, so never deep)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


_PRECEDENCE = {Or: 1, And: 2, Not: 3, Compare: 4, Membership: 4, Neg: 7}


def _precedence(node: Node) -> int:
    if isinstance(node, Arith):
        return 5 if node.operators[0] in "+-" else 6
    return _PRECEDENCE.get(type(node), 8)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unparse(node: Node) -> str:
    """Canonical source text for a tree; parsing it again gives the same tree shape."""

    def wrap(child: Node, minimum: int) -> str:
        text = unparse(child)
        return f"({text})" if _precedence(child) < minimum else text

    if isinstance(node, Number):
        if isinstance(node.value, float):
            # never exponent notation: the grammar has none
            text = format(Decimal(repr(node.value)), "f")
            return text if "." in text else text + ".0"
        return str(node.value)
    if isinstance(node, String):
        return _quote(node.value)
    if isinstance(node, Boolean):
        return "true" if node.value else "false"
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Neg):
        return "-" + wrap(node.operand, 7)
    if isinstance(node, Not):
        return "not " + wrap(node.operand, 3)
    if isinstance(node, Arith):
        level = _precedence(node)
        parts = [wrap(node.operands[0], level + 1)]
        for op, operand in zip(node.operators, node.operands[1:]):
            parts.append(f" {op} {wrap(operand, level + 1)}")
        return "".join(parts)
    if isinstance(node, Compare):
        return f"{wrap(node.left, 5)} {node.op} {wrap(node.right, 5)}"
    if isinstance(node, Membership):
        items = ", ".join(unparse(item) for item in node.items)
        keyword = "not in" if node.negated else "in"
        return f"{wrap(node.left, 5)} {keyword} [{items}]"
    if isinstance(node, (And, Or)):
        level = _precedence(node)
        joiner = " and " if isinstance(node, And) else " or "
        return joiner.join(wrap(operand, level + 1) for operand in node.operands)
    if isinstance(node, Call):
        return f"{node.function}({', '.join(unparse(arg) for arg in node.args)})"
    raise TypeError(f"not an expression node: {node!r}")
