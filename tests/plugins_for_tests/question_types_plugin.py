"""A "percent" question type: a number from 0 to 100, typed as "45%" or "45"."""

from __future__ import annotations

from typing import Any

from instrument import hookimpl
from instrument.plugin_types import QuestionType


def coerce_percent(raw: Any) -> float:
    text = str(raw).strip().removesuffix("%").strip()
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not a percentage") from None


def validate_percent(value: float) -> str | None:
    return None if 0 <= value <= 100 else "a percentage is between 0 and 100"


@hookimpl
def register_question_types() -> list[QuestionType]:
    return [QuestionType("percent", "float", coerce_percent, validate_percent)]
