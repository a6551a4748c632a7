"""Turning one typed line into what the engine takes as input.

This is the console's equivalent of a form's field names or a keypad's
digits: it maps the words ``dk`` and ``ref`` to the engine's don't know and
refused, splits a multiple choice at commas, reads ``27 3 2019`` as a day,
month and year, and maps the keys of an automated call to option codes. It
checks nothing else: whether a number is in range or a code is an option is
the engine's business, and the engine's message is what the person sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from instrument.engine import QuestionView
from instrument.engine.messages import message
from instrument.ivr.keypad import (
    IVR_DK_KEY,
    IVR_REFUSED_KEY,
    ivr_keypad,
    offers_dk,
    offers_refused,
)
from instrument.values import DK, REFUSED
from instrument_console.render import (
    CHOICE_TYPES,
    ENGLISH,
    Say,
    Style,
    exact_label,
    long_list,
    search_matches,
)

__all__ = ["DK_WORDS", "REFUSED_WORDS", "Entry", "parse_entry"]

DK_WORDS = frozenset({"dk", "don't know", "dont know"})
REFUSED_WORDS = frozenset({"ref", "refused", "rf"})
_DATE_PARTS = re.compile(r"(\d{1,2})[\s/.\-]+(\d{1,2})[\s/.\-]+(\d{1,4})")
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Entry:
    """What to hand the engine for one key, or a message to show before asking again."""

    value: Any = None
    error: str | None = None


def parse_entry(
    text: str,
    view: QuestionView,
    style: Style,
    language: str,
    *,
    row: bool = False,
    messages: Callable[..., str] = message,
    say: Say = ENGLISH,
) -> Entry:
    """Map *text* (already stripped, not empty) to an engine input for *view*.

    ``row=True`` reads it as one row of a grid (a single code). ``messages`` (the engine's texts,
    by language) and ``say`` (the console's, in the interview's language) word the errors: the
    questionnaire's own interface texts when the session calls.
    """
    kind = "single" if row else view.type
    word = text.lower()
    free_text = kind in ("text", "long_text")
    if word in DK_WORDS:
        if offers_dk(view):
            return Entry(DK)
        if not free_text:
            return Entry(
                error=say("not_offered", label=view.dk_label)
                if view.allow_dk
                else messages(language, "dk_not_allowed")
            )
    if word in REFUSED_WORDS:
        if offers_refused(view):
            return Entry(REFUSED)
        if not free_text:
            return Entry(
                error=say("not_offered", label=view.refused_label)
                if view.allow_refused
                else messages(language, "refused_not_allowed")
            )
    if style == "call" and kind in CHOICE_TYPES:
        return _keys(text, view, kind, partial(messages, language))
    if not row and long_list(view):
        searched = _search(text, view, kind, say)
        if searched is not None:
            return searched
    if kind == "multi":
        return Entry([part for part in _SPLIT.split(text) if part])
    if kind == "date":
        parts = _DATE_PARTS.fullmatch(text)
        if parts:
            day, month, year = parts.groups()
            return Entry({"day": day, "month": month, "year": year})
    return Entry(text)


def _search(text: str, view: QuestionView, kind: str, say: Say) -> Entry | None:
    """A long list's entry (its options not listed): codes typed are the answer (``None``:
    go on as for any list), so is a label typed whole; other text lists the matches."""
    parts = [part for part in _SPLIT.split(text) if part] if kind == "multi" else [text]
    if all(part.strip("- ").isdigit() for part in parts):
        return None
    code = exact_label(view, text)
    if code is not None:
        return Entry([code] if kind == "multi" else code)
    found = search_matches(view, text)
    if not found:
        return Entry(error=say("search_none", text=text))
    return Entry(error="\n".join([say("search_found", text=text), *found]))


def _keys(text: str, view: QuestionView, kind: str, engine_says: Say) -> Entry:
    """Keypad digits of an automated call to option codes (8 and 9 as don't know / refused)."""
    keypad = ivr_keypad(view)
    if text == IVR_DK_KEY and offers_dk(view):
        return Entry(DK)
    if text == IVR_REFUSED_KEY and offers_refused(view):
        return Entry(REFUSED)
    if kind != "multi":
        if text in keypad:
            return Entry(keypad[text])
        return Entry(error=engine_says("not_an_option"))
    codes = []
    for key in (part for part in _SPLIT.split(text) if part):
        if key not in keypad:
            return Entry(error=engine_says("not_an_option"))
        codes.append(keypad[key])
    return Entry(codes)
