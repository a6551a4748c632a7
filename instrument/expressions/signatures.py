"""The built-in functions of the expression language: their names, arities and examples.

The checker reads this table for names and argument counts, and its messages and
``docs/expressions.md`` use the examples; the warning analysis and ``describe()``
ask :func:`is_aggregate_call` which calls go over a loop.
"""

from __future__ import annotations

from . import nodes as n

__all__ = ["AGGREGATES", "FUNCTIONS", "is_aggregate_call"]


# name -> (fewest arguments, most arguments or None, an example for messages and docs)
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "selected": (2, 2, "selected(drinks, 3)"),
    "count_selected": (1, 1, "count_selected(drinks)"),
    "if": (3, 3, "if(age >= 18, 1, 2)"),
    "coalesce": (2, None, "coalesce(income, 0)"),
    "empty": (1, 1, "empty(income)"),
    "answered": (1, 1, "answered(income)"),
    "is_dk": (1, 1, "is_dk(income)"),
    "is_refused": (1, 1, "is_refused(income)"),
    "len": (1, 1, "len(comment)"),
    "regex": (2, 2, "regex(postcode, '^[A-Z]{1,2}[0-9]')"),
    "today": (0, 0, "today()"),
    "date": (1, 1, "date('2024-01-31')"),
    "days_between": (2, 2, "days_between(start_date, today())"),
    "years_between": (2, 2, "years_between(birth_date, today())"),
    "add_days": (2, 2, "add_days(start_date, 7)"),
    "add_months": (2, 2, "add_months(start_date, 6)"),
    "add_years": (2, 2, "add_years(today(), -120)"),
    "age": (1, 2, "age(birth_date) or age(birth_date, interview_date)"),
    "year": (1, 1, "year(birth_date)"),
    "month": (1, 1, "month(birth_date)"),
    "day": (1, 1, "day(birth_date)"),
    "abs": (1, 1, "abs(change)"),
    "round": (1, 2, "round(income / 12, 2)"),
    "min": (1, None, "min(a, b) or min(child_age)"),
    "max": (1, None, "max(a, b) or max(child_age)"),
    "sum": (1, 1, "sum(child_age)"),
    "count": (1, 1, "count(child_age)"),
    "count_if": (1, 1, "count_if(child_age < 5)"),
    "sum_known": (1, 1, "sum_known(child_age)"),
    "count_if_known": (1, 1, "count_if_known(child_age < 5)"),
    "min_known": (1, 1, "min_known(child_age)"),
    "max_known": (1, 1, "max_known(child_age)"),
}

AGGREGATES = frozenset(
    {"sum", "count", "count_if", "sum_known", "count_if_known", "min_known", "max_known"}
)
"""Always aggregates; ``min`` and ``max`` are aggregates only with one argument.

The ``*_known`` ones go over the known values only: the author's explicit choice, since the
others are missing when anything they go over is unknown (see runtime.py)."""


def is_aggregate_call(node: n.Node) -> bool:
    return isinstance(node, n.Call) and (
        node.function in AGGREGATES or (node.function in ("min", "max") and len(node.args) == 1)
    )
