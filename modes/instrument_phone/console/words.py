"""The interviewer console's own words (buttons, headings, key hints), per language.

Question wording, option labels and check messages come from the
questionnaire and the engine in the interview's language; the words around
them are the interviewer's, from the interface-text catalogue's ``phone``
domain (:mod:`instrument.catalogue`), with a researcher's own texts for a
questionnaire over ours. The interviewer's language is their browser's, among
the catalogue's languages: a Welsh interviewer may read an English script.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import request

from instrument import catalogue
from instrument.model import Questionnaire

__all__ = ["DOMAIN", "Say", "interviewer_language", "words"]

DOMAIN = "phone"
Say = Callable[..., str]
"""``say(key, **values)``: one of the console's words, already in the interviewer's language."""

_PHONE = catalogue.domain(DOMAIN)


def interviewer_language() -> str:
    """The interviewer's language: the best of the catalogue's for their browser, else English."""
    found = request.accept_languages.best_match(catalogue.languages())
    return found or catalogue.DEFAULT_LANGUAGE


def words(language: str, questionnaire: Questionnaire | None = None) -> Say:
    """The console's words in ``language`` (a questionnaire's own texts over ours, when given)."""
    if questionnaire is None:
        return partial(_PHONE.text, language)
    return partial(questionnaire.interface_texts.domain(DOMAIN).text, language)
