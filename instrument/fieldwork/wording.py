"""Words a study writes in its fieldwork file, in one language or in each of its languages.

The recording consent an interviewer reads out and the message an automated
call leaves on an answering machine are heard by the respondent, so a study
fielded in English and Welsh needs them in both. The fieldwork file takes
either one text (said in every language) or a mapping from language code to
text, like a questionnaire's texts (``{en: ..., cy: ...}``). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["LANGUAGE_TAG", "Wording", "in_language", "texts_of"]

Wording = str | Mapping[str, str]
"""One text for every language, or a text per language code (the first written is the fallback)."""

LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
"""A language code as questionnaires write them: ``en``, ``cy``, ``pt-BR``."""


def in_language(wording: Wording, language: str | None) -> str:
    """The text for ``language``: its own, else its base language's (``pt`` for ``pt-BR``),
    else the first one written (a study's main language comes first in its file)."""
    if isinstance(wording, str):
        return wording
    if language:
        for wanted in (language, language.split("-")[0]):
            if wanted in wording:
                return wording[wanted]
    return next(iter(wording.values()))


def texts_of(wording: Wording | None) -> tuple[str, ...]:
    """Every text written (one, or one per language), for checks of length and emptiness."""
    if wording is None:
        return ()
    return (wording,) if isinstance(wording, str) else tuple(wording.values())
