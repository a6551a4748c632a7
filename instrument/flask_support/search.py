"""A search field for a long choice list (``display: search``), with no script needed.

The field is a text input tied to a ``<datalist>`` of the options offered,
which browsers show as suggestions as the person types; what comes back is a
label, a code, or a few letters. A label or code is handed to the engine as
the option's code (the engine still decides whether it is an answer). Anything
else goes to the engine as typed, which refuses it, and the page comes back
with the options whose labels contain those letters as radio buttons
(``<key>-pick``): a server-side search step for browsers without suggestions.
"""

from __future__ import annotations

from instrument.engine import OptionView, QuestionView

__all__ = ["MAX_MATCHES", "answer", "is_search", "label_of", "matches", "searched"]

MAX_MATCHES = 30
"""The most matching options listed after a search that found no single answer."""


def is_search(question: QuestionView) -> bool:
    return question.display == "search" and question.type == "single"


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def answer(question: QuestionView, typed: str, picked: str) -> str:
    """What to give the engine: a picked match's code, the code of a label typed, or the text."""
    if picked.strip():
        return picked.strip()
    wanted = _fold(typed)
    if not wanted:
        return ""
    found = [o for o in question.options if _fold(o.label) == wanted]
    if len(found) == 1:
        return str(found[0].code)
    return typed.strip()


def matches(question: QuestionView, typed: str) -> list[OptionView]:
    """The offered options whose labels contain ``typed`` (none for an empty search, or for
    one that is already an answer: a label or a code)."""
    wanted = _fold(typed)
    if not wanted or searched(question, typed) == "":
        return []
    return [o for o in question.options if wanted in _fold(o.label)][:MAX_MATCHES]


def searched(question: QuestionView, typed: str) -> str:
    """``typed`` when it is a search (not empty, not a label or code of an offered option), else ""."""
    wanted = _fold(typed)
    if any(_fold(o.label) == wanted or str(o.code) == wanted for o in question.options):
        return ""
    return typed.strip()


def label_of(question: QuestionView, value: object) -> str | None:
    """The label to show in the field for an answer given before (None when it is no option)."""
    for option in question.options:
        if option.code == value:
            return option.label
    return None
