"""Source text to our own AST, with friendly syntax errors.

Lark does the parsing (LALR, so parsing itself never recurses); this module
guards the limits first, builds the parser once per process, and turns Lark's
exceptions and tree into :class:`ExpressionError` and :mod:`.nodes` objects.
Nothing here ever hands source text to Python's ``eval`` or ``compile``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import nodes as n
from .errors import ExpressionError

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse"]

MAX_LENGTH = 2000
"""Longest accepted source text, in characters."""

MAX_DEPTH = 50
"""Deepest accepted nesting of brackets, operators and function calls."""

_parser: Lark | None = None


def _get_parser() -> Lark:
    """The Lark parser, built on first use and then shared (building it is the slow part)."""
    global _parser
    if _parser is None:
        grammar = resources.files(__package__).joinpath("grammar.lark").read_text("utf-8")
        _parser = Lark(
            grammar,
            parser="lalr",
            lexer="basic",
            propagate_positions=True,
            maybe_placeholders=False,
        )
    return _parser


def parse(source: str) -> n.Node:
    """Parse an expression into our AST; raise :class:`ExpressionError` if it is not valid."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type(source).__name__}", 0, 1)
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is too long ({len(source)} characters; at most {MAX_LENGTH})",
            MAX_LENGTH,
            len(source) - MAX_LENGTH,
        )
    if not source.strip():
        raise ExpressionError("the expression is empty", 0, max(1, len(source)))
    _check_bracket_depth(source)
    try:
        tree = _get_parser().parse(source)
    except UnexpectedInput as error:
        raise _syntax_error(source, error) from None
    except LarkError as error:  # any other parser complaint: still ours to report
        raise ExpressionError(f"cannot read this expression: {error}", 0, len(source)) from None
    _check_tree_depth(tree)
    return _Builder(source).build(tree)


# --- limits --------------------------------------------------------------------------


def _check_bracket_depth(source: str) -> None:
    """Reject deeply nested brackets before Lark sees them (cheap, and outside strings)."""
    depth = 0
    quote = ""
    escaped = False
    for index, char in enumerate(source):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"the expression is nested too deeply (more than {MAX_DEPTH} levels)", index, 1
                )
        elif char in ")]":
            depth -= 1


def _check_tree_depth(tree: Tree) -> None:
    """Reject deep trees (e.g. ``not not not ...``) without recursing ourselves."""
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is nested too deeply (more than {MAX_DEPTH} levels)",
                node.meta.start_pos,
                max(1, node.meta.end_pos - node.meta.start_pos),
            )
        stack.extend((child, depth + 1) for child in node.children)


# --- syntax errors -------------------------------------------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a number",
    "STRING": "a text in quotes",
    "TRUE": "true",
    "FALSE": "false",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "AND": "and",
    "OR": "or",
    "COMP_OP": "a comparison (==, <, ...)",
    "$END": "the end",
}

_OPERAND_STARTS = {"NAME", "INT", "DECIMAL", "STRING", "TRUE", "FALSE", "IF", "LPAR", "MINUS"}


def _syntax_error(source: str, error: UnexpectedInput) -> ExpressionError:
    if isinstance(error, UnexpectedCharacters):
        return _bad_character(source, error.pos_in_stream)
    if isinstance(error, UnexpectedToken):
        return _bad_token(source, error.token, set(error.expected))
    position = getattr(error, "pos_in_stream", None) or len(source)
    return ExpressionError("the expression is incomplete", min(position, len(source)), 1)


def _bad_character(source: str, pos: int) -> ExpressionError:
    char = source[pos]
    following = source[pos + 1 : pos + 2]
    if char == "=":
        return ExpressionError("use == to compare (a single = is not an operator)", pos, 1)
    if char == "&":
        return ExpressionError("use 'and' to combine conditions", pos, 2 if following == "&" else 1)
    if char == "|":
        return ExpressionError("use 'or' to combine conditions", pos, 2 if following == "|" else 1)
    if char == "!":
        return ExpressionError(
            "use 'not' to negate a condition (and != for 'is not equal')", pos, 1
        )
    if char in "'\"":
        return ExpressionError(
            f"this text is never closed: add a matching {char} at its end", pos, len(source) - pos
        )
    if char == ".":
        before = source[pos - 1 : pos]
        if before and (before.isalnum() or before in ")_"):
            if before.isdigit():
                return ExpressionError(
                    "a decimal number needs digits after the point, like 2.5", pos, 1
                )
            return ExpressionError("there is no attribute access ('.') in expressions", pos, 1)
        return ExpressionError("a decimal number needs digits before the point, like 0.5", pos, 1)
    if char == "_":
        return ExpressionError("a name must start with a letter", pos, 1)
    if char in "{}":
        return ExpressionError(
            "braces are not part of the expression language (fills use {{ }} in texts only)", pos, 1
        )
    return ExpressionError(f"unexpected character {char!r}", pos, 1)


def _bad_token(source: str, token: Token, expected: set[str]) -> ExpressionError:
    kind = token.type
    if kind == "$END":
        wanted = _expected_words(expected)
        message = "the expression is incomplete"
        if wanted:
            message += f": expected {wanted}"
        offset = len(source.rstrip()) if source.strip() else 0
        return ExpressionError(message, min(offset, max(len(source) - 1, 0)), 1)
    start = token.start_pos if token.start_pos is not None else 0
    length = max(1, len(token.value))
    after_operand = "NAME" not in expected
    text = token.value
    if kind == "COMP_OP" and after_operand:
        return ExpressionError(
            "comparisons cannot be chained; join them with and, e.g. a < b and b < c",
            start,
            length,
        )
    if kind == "LSQB" and after_operand:
        return ExpressionError(
            "square brackets only follow 'in' or 'not in'; there are no subscripts", start, length
        )
    if expected == {"LSQB"}:
        return ExpressionError(
            "after 'in' or 'not in' comes a list in square brackets, e.g. x in [1, 2]",
            start,
            length,
        )
    if kind in _OPERAND_STARTS and after_operand:
        if kind == "LPAR":
            return ExpressionError(
                "unexpected '(': only a function name may be followed by '('", start, length
            )
        return ExpressionError(
            f"unexpected {text!r}: is an operator (and, or, ==, +, ...) missing before it?",
            start,
            length,
        )
    if kind in {"AND", "OR", "IN", "NOT"} and not after_operand:
        return ExpressionError(f"'{text}' needs a value before it", start, length)
    if kind in {"RPAR", "RSQB", "COMMA"} and not after_operand:
        return ExpressionError(f"a value is missing before {text!r}", start, length)
    wanted = _expected_words(expected)
    message = f"unexpected {text!r}"
    if wanted:
        message += f"; expected {wanted}"
    return ExpressionError(message, start, length)


def _expected_words(expected: set[str]) -> str:
    if "NAME" in expected:
        return "a value (a name, a number, a text in quotes, ...)"
    words = sorted({_TERMINAL_WORDS[t] for t in expected if t in _TERMINAL_WORDS})
    if not words or len(words) > 4:
        return ""
    return " or ".join(words)


# --- Lark tree to our nodes ----------------------------------------------------------

_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


def _unescape(body: str) -> str:
    """Resolve \\\\, \\', \\", \\n, \\t; any other backslash stays, so '\\d+' is a regex."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            following = body[index + 1]
            if following in _ESCAPES:
                out.append(_ESCAPES[following])
            else:
                out.append(char + following)
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


class _Builder:
    """Turns Lark's tree into :mod:`.nodes`; depth was already bounded, so recursion is safe."""

    def __init__(self, source: str) -> None:
        self.source = source

    def build(self, item: Any) -> n.Node:
        if isinstance(item, Token):
            return self._token(item)
        method = getattr(self, "_" + str(item.data))
        return method(item, item.meta.start_pos, item.meta.end_pos)

    def _token(self, token: Token) -> n.Node:
        # the grammar wraps every token that can stand alone in a named rule; be safe anyway
        raise ExpressionError(f"unexpected {token.value!r}", token.start_pos or 0, len(token))

    def _integer(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Number(start, end, int(tree.children[0]))

    def _decimal(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Number(start, end, float(tree.children[0]))

    def _string(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.String(start, end, _unescape(str(tree.children[0])[1:-1]))

    def _true(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Boolean(start, end, True)

    def _false(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Boolean(start, end, False)

    def _name(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Name(start, end, str(tree.children[0]))

    def _neg(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Neg(start, end, self.build(tree.children[-1]))

    def _not_(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Not(start, end, self.build(tree.children[0]))

    def _or_test(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.Or(start, end, tuple(self.build(child) for child in tree.children))

    def _and_test(self, tree: Tree, start: int, end: int) -> n.Node:
        return n.And(start, end, tuple(self.build(child) for child in tree.children))

    def _arith(self, tree: Tree, start: int, end: int) -> n.Node:
        operands = tuple(self.build(child) for child in tree.children[0::2])
        operators = tuple(str(token) for token in tree.children[1::2])
        return n.Arith(start, end, operands, operators)

    _sum = _arith
    _product = _arith

    def _compare(self, tree: Tree, start: int, end: int) -> n.Node:
        left, op, right = tree.children
        return n.Compare(start, end, str(op), self.build(left), self.build(right))

    def _membership(self, tree: Tree, start: int, end: int, negated: bool) -> n.Node:
        left, items = tree.children
        return n.Membership(
            start,
            end,
            self.build(left),
            tuple(self.build(item) for item in items.children),
            negated,
            items.meta.start_pos,
            items.meta.end_pos,
        )

    def _in_(self, tree: Tree, start: int, end: int) -> n.Node:
        return self._membership(tree, start, end, negated=False)

    def _not_in(self, tree: Tree, start: int, end: int) -> n.Node:
        return self._membership(tree, start, end, negated=True)

    def _call(self, tree: Tree, start: int, end: int) -> n.Node:
        name, *args = tree.children
        return n.Call(
            start,
            end,
            str(name),
            tuple(self.build(arg) for arg in args),
            name.end_pos if name.end_pos is not None else start + len(name),
        )
