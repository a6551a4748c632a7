"""The web mode's own words (buttons, headings, its few checks), per language.

Question wording and validation messages come from the questionnaire and
the engine; these are only the words around them. They live in the
translation catalogue (:mod:`instrument.catalogue`, domain ``web``), with a
researcher's own texts for a questionnaire over ours (:func:`words_for`); a
language without an entry falls back to English, word by word.
"""

from __future__ import annotations

from instrument import catalogue
from instrument.catalogue import Domain
from instrument.model import Questionnaire

__all__ = ["ui", "words_for"]

_WEB = catalogue.domain("web")

ui = _WEB.text
"""``ui(language, key, **values)``: one of the mode's words in ``language`` (English when it has
no translation), its ``{placeholders}`` filled from ``values``. The catalogue's own lookup, not a
wrapper round it: a page looks up a few dozen words, each call a Python frame."""


def words_for(questionnaire: Questionnaire) -> Domain:
    """The web mode's words for one questionnaire: its researcher's texts over ours.

    Called like :data:`ui`: ``words_for(q)(language, key, **values)``.
    """
    return questionnaire.interface_texts.domain("web")
