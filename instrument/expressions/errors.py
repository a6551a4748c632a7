"""Errors and warnings that point into the expression's source text.

Both carry a 0-based character offset and a length so the loader can turn them
into ``file:line:col`` for the questionnaire author.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExpressionError", "ExpressionWarning"]


class ExpressionError(Exception):
    """The expression cannot be used: bad syntax, unknown name, wrong type, ..."""

    def __init__(self, message: str, offset: int = 0, length: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.offset = max(0, offset)
        self.length = max(1, length)


@dataclass(frozen=True)
class ExpressionWarning:
    """Something legal but almost certainly a mistake, e.g. a condition that is never true."""

    message: str
    offset: int
    length: int
