"""A date question's ``min`` and ``max``: fixed, today, or relative to today or another date.

``min: today - 120 years``, ``max: today``, ``min: visit_date``,
``max: start_date + 6 months`` or any expression giving a date
(``add_days(last_interview, 1)``). A relative limit is compiled into an
expression over ``today()`` or the named date, so the engine works it out per
interview; a limit whose date is missing (a preload the case lacks) limits
nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from instrument.diagnostics import did_you_mean
from instrument.expressions import ValueType
from instrument.yamlsrc import YMap, YNode, YScalar

from .expressions import Expressions
from .state import Site

_RELATIVE = re.compile(
    r"\s*(?P<base>today|[A-Za-z][A-Za-z0-9_]*)(\(\))?"
    r"\s*(?:(?P<sign>[+-])\s*(?P<n>[0-9]{1,5})\s*(?P<unit>days?|weeks?|months?|years?))?\s*\Z"
)
_AMOUNT = re.compile(r"[+-]\s*[0-9]+\s*[A-Za-z]+\s*\Z")
_FUNCTION = {"day": "add_days", "week": "add_days", "month": "add_months", "year": "add_years"}


def relative_source(text: str) -> str | None:
    """``today - 120 years`` -> ``add_years(today(), -120)``; None when ``text`` is not that form."""
    found = _RELATIVE.fullmatch(text)
    if found is None:
        return None
    base = "today()" if found["base"] == "today" else found["base"]
    if found["unit"] is None:
        return base
    unit = found["unit"].rstrip("s")
    amount = int(found["n"]) * (7 if unit == "week" else 1)
    sign = "-" if found["sign"] == "-" else ""
    return f"{_FUNCTION[unit]}({base}, {sign}{amount})"


class DateLimits(Expressions):
    """Reads the limits of a date question."""

    def date_bounds(self, m: YMap, what: str, site: Site) -> tuple[Any, Any]:
        low = self.date_limit(m.get("min"), "min", what, site)
        high = self.date_limit(m.get("max"), "max", what, site)
        if isinstance(low, dt.date) and isinstance(high, dt.date) and low > high:
            self.err(m.where("min"), f"{what} has min {low} after max {high}")
        return low, high

    def date_limit(self, node: YNode | None, key: str, what: str, site: Site) -> Any:
        """A date, "today", a compiled expression giving a date, or None (with an error)."""
        if node is None:
            return None
        value = node.value if isinstance(node, YScalar) else None
        if value == "today" or isinstance(value, dt.date):
            return value
        if not isinstance(value, str) or not value.strip():
            self.err(node.pos, _ADVICE.format(key=key, what=what))
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
        relative = relative_source(value)
        if relative is None and _AMOUNT.search(value):  # today - 3 fortnights, a misspelt unit
            self.err(node.pos, _ADVICE.format(key=key, what=what))
            return None
        if relative is not None and relative.isidentifier() and relative not in self.vars:
            known = [name for name, meta in self.vars.items() if meta.info.type is ValueType.DATE]
            self.err(
                node.pos,
                _ADVICE.format(key=key, what=what)
                + f"; '{relative}' is not a variable{did_you_mean(relative, known)}",
            )
            return None
        source = node if relative is None else YScalar(relative, node.pos)
        compiled = self.expression(source, f"the {key} of {what}", site, ValueType.DATE)
        return compiled


_ADVICE = (
    "the {key} of {what} must be a date like 2024-01-31, today, a date relative to today or to "
    "an earlier date (today - 120 years, start_date + 6 months), or an expression giving a date"
)
