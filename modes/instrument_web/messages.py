"""The web mode's own words (buttons, headings, its few checks), per language.

Question wording and validation messages come from the questionnaire and
the engine; these are only the words around them. They live in the
translation catalogue (:mod:`instrument.catalogue`, domain ``web``); a
language without an entry falls back to English, word by word.
"""

from __future__ import annotations

from instrument import catalogue

__all__ = ["LANGUAGE_NAMES", "ui"]

_WEB = catalogue.domain("web")

LANGUAGE_NAMES = catalogue.language_names()
"""Each language's name for itself, for the language picker."""

ui = _WEB.text
"""``ui(language, key, **values)``: one of the mode's words in ``language`` (English when it has
no translation), its ``{placeholders}`` filled from ``values``. The catalogue's own lookup, not a
wrapper round it: a page looks up a few dozen words, each call a Python frame."""
