"""The engine's own messages (validation errors, prompts, missing-value labels).

Questionnaire authors write their own check messages; these are the built-in
ones every questionnaire shares. The words live in the translation catalogue
(:mod:`instrument.catalogue`, domain ``engine``); this is the engine's lookup
into it, so a language lacking a message falls back to English.
"""

from __future__ import annotations

from typing import Any

from instrument import catalogue

__all__ = ["message"]

_ENGINE = catalogue.domain("engine")


def message(language: str, key: str, **values: Any) -> str:
    """A built-in message in ``language`` (falling back to English), with values filled in."""
    return _ENGINE.text(language, key, **values)
