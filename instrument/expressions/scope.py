"""What an expression may refer to: value types, variables and the scope it sits in.

The loader builds a :class:`Scope` from the questionnaire and hands it to
:func:`~instrument.expressions.compile_expression`; the type checker needs
nothing else, which keeps the language independent of the questionnaire model.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["NUMERIC", "Scope", "ValueType", "VarInfo", "type_phrase"]


class ValueType(enum.Enum):
    """The static type of a variable or of an expression's result."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    DATE = "date"
    CODE = "code"  # one option code: single choice, yes/no, grid row, experiment arm
    CODES = "codes"  # the codes chosen in a multiple choice (a tuple of ints)


NUMERIC = frozenset({ValueType.INTEGER, ValueType.DECIMAL, ValueType.CODE})
"""Types that can take part in arithmetic (a code counts as a whole number there)."""

_PHRASES = {
    ValueType.BOOLEAN: "true/false",
    ValueType.INTEGER: "a whole number",
    ValueType.DECIMAL: "a number",
    ValueType.TEXT: "text",
    ValueType.DATE: "a date",
    ValueType.CODE: "a choice (an option code)",
    ValueType.CODES: "a multiple choice (several codes)",
}


def type_phrase(value_type: ValueType) -> str:
    """The type as a questionnaire author would say it, for error messages."""
    return _PHRASES[value_type]


@dataclass(frozen=True)
class VarInfo:
    """One variable as the expression language sees it.

    ``label`` is an optional short variable label; :meth:`describe` uses it to
    write "number of children (n_children)" instead of the bare name.
    """

    name: str
    type: ValueType
    codes: frozenset[int] | None = None
    loop: str | None = None
    labels: Mapping[int, str] | None = None
    label: str | None = None


@dataclass(frozen=True)
class Scope:
    """The variables an expression may read, and the loop it sits in (if any).

    Inside a loop, that loop's variables mean "this iteration", and so do the
    variables of the loops around it (inside people of a household, the
    household's answers); other loops' variables may only be used through
    aggregates (sum, count, min, max, count_if). ``parents`` maps each loop
    inside another to the loop around it.
    """

    variables: Mapping[str, VarInfo]
    loop: str | None = None
    parents: Mapping[str, str] = field(default_factory=dict)

    def loops_around(self, loop: str | None) -> tuple[str, ...]:
        """``loop`` and the loops around it, innermost first (empty outside loops)."""
        chain: list[str] = []
        while loop is not None and loop not in chain:
            chain.append(loop)
            loop = self.parents.get(loop)
        return tuple(chain)
