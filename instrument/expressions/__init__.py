"""The expression language of survey-instrument questionnaires.

Conditions (``when``, ``error_if``, ``warn_if``), loop counts and computed
variables are written in a small language of our own: parsed by a Lark LALR
grammar (``grammar.lark``) into our own AST, type-checked against the
questionnaire's variables, and compiled once into Python closures. Source text
never reaches Python's ``eval``/``compile``; there is no attribute access and
no subscripting; length and nesting depth are capped.

A comparison involving a missing value (unanswered, don't know, refused) is
false. See ``docs/expressions.md`` for the language as authors see it.
"""

from __future__ import annotations

from .api import CompiledExpression, compile_expression
from .context import EvalContext, MappingContext
from .errors import ExpressionError, ExpressionWarning
from .nodes import Node, unparse
from .parser import MAX_DEPTH, MAX_LENGTH, parse
from .scope import Scope, ValueType, VarInfo

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "CompiledExpression",
    "EvalContext",
    "ExpressionError",
    "ExpressionWarning",
    "MappingContext",
    "Node",
    "Scope",
    "ValueType",
    "VarInfo",
    "compile_expression",
    "parse",
    "unparse",
]
