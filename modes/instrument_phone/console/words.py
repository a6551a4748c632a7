"""The interviewer console's own words (buttons, headings, key hints), per language.

Question wording, option labels and check messages come from the
questionnaire and the engine in the interview's language; the words around
them are the interviewer's, from the interface-text catalogue's ``phone``
domain (:mod:`instrument.catalogue`), with a researcher's own texts for a
questionnaire over ours. The interviewer's language is their browser's, among
the catalogue's languages: a Welsh interviewer may read an English script.

Call outcomes are words of the study's disposition table
(:mod:`instrument.fieldwork.dispositions`), in English. An outcome whose label
is still the default one is shown from this domain instead
(``disposition_<code>``), so in the interviewer's language; a label the
study's fieldwork file changed, and an outcome the study added, is the
study's own words, in every language (see :func:`outcome_label`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from types import SimpleNamespace

from flask import g, request

from instrument import catalogue
from instrument.fieldwork import DEFAULT_DISPOSITIONS
from instrument.model import Questionnaire

__all__ = [
    "DOMAIN",
    "OUTCOME_KEY",
    "Say",
    "interviewer_language",
    "outcome_label",
    "word_table",
    "words",
]

DOMAIN = "phone"
Say = Callable[..., str]
"""``say(key, **values)``: one of the console's words, already in the interviewer's language."""

_PHONE = catalogue.domain(DOMAIN)
OUTCOME_KEY = "disposition_{code}"
"""The key of a default outcome's label in the ``phone`` domain."""


def interviewer_language() -> str:
    """The interviewer's language: the best of the catalogue's for their browser, else English.

    Worked out once per request (a page asks for it several times: its title,
    its words, its dates), as it depends only on the request's header.
    """
    found = g.get(_LANGUAGE)
    if found is None:
        found = request.accept_languages.best_match(catalogue.languages())
        found = g.setdefault(_LANGUAGE, found or catalogue.DEFAULT_LANGUAGE)
    return str(found)


_LANGUAGE = "cati_interviewer_language"
"""``flask.g`` key of this request's interviewer language."""


def words(language: str, questionnaire: Questionnaire | None = None) -> Say:
    """The console's words in ``language`` (a questionnaire's own texts over ours, when given)."""
    if questionnaire is None:
        return partial(_PHONE.text, language)
    return partial(questionnaire.interface_texts.domain(DOMAIN).text, language)


@lru_cache(maxsize=64)
def word_table(language: str) -> SimpleNamespace:
    """The console's words in ``language`` as attributes, for templates: ``w.continue``.

    What ``t('continue')`` gives, looked up once per language instead of on
    every use: a template's function call costs several times an attribute
    read, and the script page, drawn on every page turn, shows some twenty of
    these words. Words with placeholders are still ``t('case_title', case=...)``.
    """
    return SimpleNamespace(**{key: _PHONE.text(language, key) for key in _PHONE.keys()})


def outcome_label(say: Say, code: str | None, label: str | None) -> str | None:
    """An outcome's words for the interviewer: ours in their language, or the study's own.

    ``label`` is the study's table's (what the picker and the history would
    show in English). While it is the default English label of a default
    outcome, the ``phone`` domain's text is shown, in the language ``say``
    speaks; a label the study's fieldwork file changed, or an outcome it added,
    keeps the study's words whatever the language (the file has one label per
    outcome). None (no outcome yet) stays None.
    """
    if code is None:
        return label
    default = DEFAULT_DISPOSITIONS.get(code)
    if default is None or label != default.label:
        return label
    return say(OUTCOME_KEY.format(code=code))
