"""Adds a ``pounds`` filter and a ``survey_name`` global for text fills."""

from __future__ import annotations

from typing import Any

from instrument import hookimpl


def pounds(value: Any) -> str:
    return f"£{float(value):,.2f}"


@hookimpl
def prepare_text_environment(env: Any) -> None:
    env.filters["pounds"] = pounds
    env.globals["survey_name"] = "Household Panel"
