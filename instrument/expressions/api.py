"""The front door: compile an expression once, evaluate it many times."""

from __future__ import annotations

from typing import Any

from . import nodes as n
from .analysis import find_warnings
from .compiler import Checked, check
from .context import EvalContext
from .describe import describe as _describe
from .errors import ExpressionError, ExpressionWarning
from .parser import parse
from .scope import NUMERIC, Scope, ValueType, type_phrase

__all__ = ["CompiledExpression", "compile_expression"]

T = ValueType

# expected type -> result types also accepted there
_ACCEPTED = {
    T.DECIMAL: {T.DECIMAL, T.INTEGER, T.CODE},
    T.INTEGER: {T.INTEGER, T.CODE},
    T.CODE: {T.CODE, T.INTEGER},
}


class CompiledExpression:
    """A checked expression turned into a closure; immutable and safe to share between threads.

    ``evaluate(ctx)`` runs it; ``references`` lists every variable it reads (the
    loader's dependency graph); ``warnings`` holds static findings such as a
    condition that can never be true; ``describe()`` says it in plain English.
    """

    __slots__ = ("_checked", "_fn", "_scope", "node", "references", "source", "type", "warnings")

    source: str
    type: ValueType
    references: frozenset[str]
    warnings: tuple[ExpressionWarning, ...]
    node: n.Node

    def __init__(
        self, source: str, checked: Checked, scope: Scope, warnings: tuple[ExpressionWarning, ...]
    ) -> None:
        setter = object.__setattr__
        setter(self, "source", source)
        setter(self, "type", checked.typed.type)
        setter(self, "references", frozenset(checked.references))
        setter(self, "warnings", warnings)
        setter(self, "node", checked.node)
        setter(self, "_fn", checked.typed.fn)
        setter(self, "_checked", checked)
        setter(self, "_scope", scope)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a CompiledExpression cannot be changed")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a CompiledExpression cannot be changed")

    def evaluate(self, ctx: EvalContext) -> Any:
        """The expression's value in this context (a condition gives True or False)."""
        return self._fn(ctx)

    def describe(self) -> str:
        """The expression in plain English, using variable and option labels."""
        return _describe(self._checked, self._scope)

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r}, type={self.type.name})"


def compile_expression(
    source: str, scope: Scope, expected: ValueType | None = ValueType.BOOLEAN
) -> CompiledExpression:
    """Parse, type-check and compile ``source``; raise :class:`ExpressionError` on any problem.

    ``expected`` is the type the caller needs (BOOLEAN for ``when``/checks,
    INTEGER for a loop ``count``, a computed variable's type, or None for any).
    """
    node = parse(source)
    checked = check(node, source, scope)
    _check_expected(source, checked, expected)
    warnings = tuple(find_warnings(checked)) if checked.typed.type is T.BOOLEAN else ()
    return CompiledExpression(source, checked, scope, warnings)


def _check_expected(source: str, checked: Checked, expected: ValueType | None) -> None:
    actual = checked.typed.type
    if expected is None or actual is expected or actual in _ACCEPTED.get(expected, ()):
        return
    node = checked.node
    text = " ".join(source[node.start : node.end].split())
    if len(text) > 40:
        text = text[:37] + "..."
    if expected is T.BOOLEAN:
        if actual in (T.INTEGER, T.DECIMAL):
            hint = f"{text} > 0"
        elif actual is T.CODE:
            codes = checked.typed.codes
            hint = f"{text} == {min(codes) if codes else 1}"
        elif actual is T.CODES:
            hint = f"count_selected({text}) > 0"
        else:
            hint = f"answered({text})"
        message = (
            f"a condition must be true or false, but {text} is {type_phrase(actual)}; "
            f"did you mean {hint}?"
        )
    else:
        message = f"this must give {type_phrase(expected)}, but {text} is {type_phrase(actual)}"
        if expected in NUMERIC and actual is T.CODES:
            message += f"; did you mean count_selected({text})?"
    raise ExpressionError(message, node.start, max(1, node.end - node.start))
