"""The engine's own messages (validation errors, prompts, missing-value labels).

Questionnaire authors write their own check messages; these are the built-in
ones every questionnaire shares. The words live in the translation catalogue
(:mod:`instrument.catalogue`, domain ``engine``); this is the engine's lookup
into it, so a language lacking a message falls back to English.
"""

from __future__ import annotations

from instrument import catalogue

__all__ = ["message"]

_ENGINE = catalogue.domain("engine")

message = _ENGINE.text
"""``message(language, key, **values)``: a built-in message in ``language`` (falling back to
English), with values filled in. The catalogue's own lookup, as the web mode's ``ui`` is."""
