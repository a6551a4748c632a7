"""What fills see: answers as fill values, and the helpers ``label()`` and ``plural()``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from instrument.values import DK, REFUSED

__all__ = [
    "FILL_GLOBALS",
    "MISSING",
    "NOT_VARIABLES",
    "ChoiceValue",
    "ChoiceValues",
    "MissingFill",
    "fill_value",
    "label_of",
    "plural",
]

FILL_GLOBALS = frozenset({"label", "plural", "loop"})
"""Names that a fill may use besides the questionnaire's variables."""

NOT_VARIABLES = frozenset({"label", "plural"})


class ChoiceValue(int):
    """A chosen option's code inside a fill: compares and prints as its code,
    while ``label(x)`` can still say which option it was, in the interview's language."""

    label_text: str

    def __new__(cls, code: int, label_text: str) -> "ChoiceValue":
        obj = super().__new__(cls, code)
        obj.label_text = label_text
        return obj


class ChoiceValues(tuple):  # type: ignore[type-arg]
    """The codes chosen in a multiple choice, with their labels; prints as ``1, 3``."""

    label_text: str

    def __new__(cls, codes: tuple[int, ...], label_text: str) -> "ChoiceValues":
        obj = super().__new__(cls, codes)
        obj.label_text = label_text
        return obj

    def __str__(self) -> str:
        return ", ".join(str(c) for c in self)


def label_of(value: Any) -> str:
    """The ``label()`` helper of fills: the label of a chosen option (or options)."""
    return getattr(value, "label_text", "")


class MissingFill:
    """A missing answer inside a fill: prints as nothing, and, as in the expression
    language, every comparison with it is false (``{% if n > 0 %}`` is simply not taken).
    Arithmetic on it stays missing instead of raising in the middle of a page."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""

    def __html__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Any:
        return iter(())

    def __hash__(self) -> int:
        return 0

    def _false(self, other: Any) -> bool:
        return False

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __contains__ = _false  # type: ignore[assignment]

    def _same(self, *args: Any) -> "MissingFill":
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __neg__ = __pos__ = __abs__ = _same


MISSING = MissingFill()


def fill_value(value: Any) -> Any:
    """What a variable shows as inside a fill."""
    if value is None or value is DK or value is REFUSED:
        return MISSING
    if isinstance(value, dt.date):
        return value.strftime("%-d %B %Y")
    if isinstance(value, ChoiceValues):
        return value
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def plural(n: Any, one: str, many: str) -> str:
    """The ``plural(n, 'child', 'children')`` helper of fills."""
    return one if n == 1 else many
