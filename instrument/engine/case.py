"""Case data (preloads) checked and typed before an interview starts with it.

A case arrives from a sample file, a panel's profile or a personal link, as
JSON-ish values. Each must be a preload the questionnaire declares, of the
declared type (a whole number, a decimal, text, a date, or one of a single
choice's codes): anything else is a caller's mistake, refused with the name
and value at fault, so fills and conditions never meet a wrongly typed preload.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from instrument.engine.errors import EngineError
from instrument.model import Questionnaire

__all__ = ["typed_case"]


def typed_case(questionnaire: Questionnaire, case: Mapping[str, Any]) -> dict[str, Any]:
    """The case's values typed as the questionnaire declares them (``None`` values left out).

    :raises EngineError: for a name that is not a preload or a value not of its type.
    """
    known = {p.id: p for p in questionnaire.preload}
    result: dict[str, Any] = {}
    for name, value in case.items():
        preload = known.get(name)
        if preload is None:
            raise EngineError(
                f"case data has '{name}', which is not a preload variable of '{questionnaire.id}'"
            )
        if value is None:
            continue
        kind = preload.type
        try:
            if kind == "integer":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError("it is not a whole number")
                value = int(value)
            elif kind == "decimal":
                value = float(value)
            elif kind == "text":
                value = str(value)
            elif kind == "date":
                if isinstance(value, dt.datetime):
                    value = value.date()
                elif not isinstance(value, dt.date):
                    value = dt.date.fromisoformat(str(value))
            elif kind == "single":
                value = int(value)
                if preload.choices is not None and value not in preload.choices.codes:
                    raise ValueError(f"{value} is not one of its codes")
        except (TypeError, ValueError) as exc:
            raise EngineError(
                f"case data '{name}' = {value!r} is not a valid {kind}: {exc}"
            ) from None
        result[name] = value
    return result
