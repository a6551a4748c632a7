"""How answers are represented while an interview runs.

Every layer (expressions, engine, modes, dataset builder) shares these few
conventions, so they live in one small module with no dependencies:

* an answered question holds a plain Python value: ``int`` (single choice code,
  integer, yes/no code), ``float`` (decimal), ``str`` (text), ``datetime.date``
  (date) or ``tuple[int, ...]`` (the codes chosen in a multiple choice, in the
  order of the option list);
* a question never answered, or not on the route, holds nothing: lookups give
  ``None``;
* "don't know" and "refused" are the two singletons :data:`DK` and
  :data:`REFUSED`. They are *answers* (a respondent chose them), which is why
  they are not ``None``; they become the missing codes of the missing-value
  frame only when a dataset is built.

Comparisons in the expression language treat ``None``, ``DK`` and ``REFUSED``
alike as missing: any comparison involving them is false.
"""

from __future__ import annotations

import datetime as _dt
import enum
from typing import Any, Final

__all__ = [
    "Special",
    "DK",
    "REFUSED",
    "is_missing",
    "is_special",
    "to_json",
    "from_json",
]


class Special(enum.Enum):
    """A non-substantive answer a respondent or interviewer chose."""

    DK = "dk"
    REFUSED = "refused"

    def __repr__(self) -> str:  # short and stable in test output
        return f"<{self.value}>"


DK: Final = Special.DK
REFUSED: Final = Special.REFUSED


def is_special(value: Any) -> bool:
    """True for don't know or refused."""
    return value is DK or value is REFUSED


def is_missing(value: Any) -> bool:
    """True when a value carries no substantive answer (None, DK, refused)."""
    return value is None or value is DK or value is REFUSED


# --- JSON form ---------------------------------------------------------------
# Interview state is stored as JSON, so answers need a lossless JSON form.
# Plain JSON types stand for themselves; the rest are tagged one-key objects,
# which no answer type can produce on its own.


def to_json(value: Any) -> Any:
    """Encode an answer value as JSON-compatible data, losslessly."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Special):
        return {"$special": value.value}
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$codes": list(value)}
    raise TypeError(f"cannot store an answer of type {type(value).__name__}: {value!r}")


def from_json(data: Any) -> Any:
    """Decode what :func:`to_json` produced."""
    if isinstance(data, dict):
        if "$special" in data:
            return Special(data["$special"])
        if "$date" in data:
            return _dt.date.fromisoformat(data["$date"])
        if "$codes" in data:
            return tuple(data["$codes"])
        raise ValueError(f"unknown stored answer form: {data!r}")
    return data
