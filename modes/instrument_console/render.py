"""Turning an engine step into lines of terminal text, for one of three roles.

The same :class:`~instrument.engine.QuestionView` is shown three ways, because
the console stands in for three different people:

* ``web``: the respondent filling in the questionnaire themselves: they see
  ``text``, the hint and every option, and don't know / prefer not to say only
  when the engine says to offer them (``offer_missing``);
* ``cati``: a telephone interviewer: the ``spoken`` text is marked
  ``READ OUT:``, the ``instruction`` ``INSTRUCTION:``, and options the
  interviewer must not read (``not_read_out``, don't know, refused) are marked
  so, yet can all be keyed;
* ``ivr``: an automated call written out as text: the ``spoken`` prompt and
  "press N" for each option the call offers, 8 for don't know and 9 for
  refused (the keypad rule is the core's, :mod:`instrument.ivr.keypad`, so a
  real call presses the same keys).

Nothing here decides routing, validation or fills: the texts arrive filled in,
the options in their display order. These functions only lay them out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal

from instrument.catalogue import CATALOGUE
from instrument.engine import QuestionView
from instrument.ivr.keypad import (
    IVR_DK_KEY,
    IVR_REFUSED_KEY,
    ivr_keypad,
    offers_dk,
    offers_refused,
)
from instrument.modes import ModePolicy
from instrument.values import DK, REFUSED

__all__ = [
    "ENGLISH",
    "Say",
    "Style",
    "style_of",
    "CHOICE_TYPES",
    "IVR_DK_KEY",
    "IVR_REFUSED_KEY",
    "constraint_text",
    "format_value",
    "ivr_keypad",
    "offers_dk",
    "offers_refused",
    "option_lines",
    "question_lines",
    "row_lines",
    "words_in",
]

CHOICE_TYPES = frozenset({"single", "yesno", "multi", "grid"})

Say = Callable[..., str]
"""``say(key, **values)``: one of the console's words in the interview's language (see
:func:`words_in`); the texts come from the catalogue's ``console`` domain."""
ENGLISH: Say = partial(CATALOGUE.domain("console").text, "en")


def words_in(questionnaire: Any, language: str) -> Say:
    """The console's words for one questionnaire in ``language`` (its own texts over ours)."""
    return partial(questionnaire.interface_texts.domain("console").text, language)


Style = Literal["screen", "interviewer", "call", "text"]
"""How the terminal plays a mode: a respondent's screen, an interviewer's screen, a call, or a
text-message conversation."""


def style_of(policy: ModePolicy) -> Style:
    """The terminal's way of showing a mode, from its policy (never from its name)."""
    if policy.administered_by == "machine" and policy.spoken:
        return "call"
    if policy.text_messages:
        return "text"
    if policy.interviewer:
        return "interviewer"
    return "screen"


SEARCH_LISTED = 20
"""A search question (``display: search``) with more options than this lists none: its code is typed."""

LONG_LIST = 100
"""Any single or multiple choice offering more options than this lists none either, whatever
its display: a list read from a file (thousands of districts) would fill an interviewer's
screen with lines no one reads out; the code is keyed, or a few letters list the matches."""


def long_list(view: QuestionView) -> bool:
    """Whether the options are not listed: the code is typed, letters search (not in a call)."""
    count = len(view.options)
    return view.type in ("single", "multi") and (
        count > LONG_LIST or (view.display == "search" and count > SEARCH_LISTED)
    )


def exact_label(view: QuestionView, text: str) -> int | None:
    """The code of the offered option whose label is ``text`` (any case and spacing), if one is."""
    wanted = " ".join(text.casefold().split())
    found = [o.code for o in view.options if " ".join(o.label.casefold().split()) == wanted]
    return found[0] if len(found) == 1 else None


def search_matches(view: QuestionView, text: str) -> list[str]:
    """The offered options whose label contains ``text``, as ``code) label`` lines (at most 20)."""
    wanted = " ".join(text.casefold().split())
    found = [o for o in view.options if wanted in " ".join(o.label.casefold().split())]
    return [f"  {o.code}) {o.label}" for o in found[:SEARCH_LISTED]]


def option_lines(view: QuestionView, style: Style, say: Say = ENGLISH) -> list[str]:
    """The option list, don't know and refused included when they may be chosen."""
    lines: list[str] = []
    if style == "call":
        for key, code in ivr_keypad(view).items():
            option = next(o for o in view.options if o.code == code)
            lines.append(say("press_key", label=option.spoken, key=key))
        if view.type not in CHOICE_TYPES:
            # Digits are the answer itself here (8 children), so 8 and 9
            # cannot stand for don't know and refused: those are typed as
            # words (see constraint_text).
            return lines
        if offers_dk(view):
            lines.append(say("press_key", label=view.dk_label.lower(), key=IVR_DK_KEY))
        if offers_refused(view):
            lines.append(say("press_key", label=view.refused_label.lower(), key=IVR_REFUSED_KEY))
        return lines
    unlisted = long_list(view)
    if unlisted:
        lines.append(say("search_long", count=f"{len(view.options):,}"))
    for option in () if unlisted else view.options:
        label = option.label
        if style == "interviewer" and option.spoken != option.label:
            label = f"{option.spoken}  [{option.label}]"
        marks = []
        if option.other_specify:
            marks.append(say("please_specify_mark" if style == "screen" else "specify_mark"))
        if option.exclusive and view.type == "multi":
            marks.append(say("only_on_its_own"))
        if style == "interviewer" and option.not_read_out:
            marks.append(say("not_read_out"))
        lines.append(f"  {option.code}) {' '.join([label, *marks])}")
    suffix = f" {say('not_read_out')}" if style == "interviewer" else ""
    if offers_dk(view):
        lines.append(f"  dk) {view.dk_label}{suffix}")
    if offers_refused(view):
        lines.append(f"  ref) {view.refused_label}{suffix}")
    return lines


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _date_bound(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def constraint_text(view: QuestionView, style: Style, say: Say = ENGLISH) -> str | None:
    """One line saying what to type: the format, the bounds and the unit."""
    kind = view.type
    parts: list[str] = []
    if kind in ("single", "yesno"):
        parts.append(say("press_one" if style == "call" else "type_one"))
    elif kind == "multi":
        parts.append(say("press_some" if style == "call" else "type_some"))
        if view.min_choices is not None:
            parts.append(say("at_least", n=view.min_choices))
        if view.max_choices is not None:
            parts.append(say("at_most", n=view.max_choices))
    elif kind in ("integer", "decimal"):
        noun = "whole" if kind == "integer" else "number"
        low, high = _number(view.min), _number(view.max)
        if view.min is not None and view.max is not None:
            parts.append(say(f"{noun}_between", min=low, max=high))
        elif view.min is not None:
            parts.append(say(f"{noun}_at_least", min=low))
        elif view.max is not None:
            parts.append(say(f"{noun}_at_most", max=high))
        else:
            parts.append(say(noun))
        if kind == "decimal" and view.places is not None:
            parts.append(say("places", n=view.places))
        if view.unit:
            parts.append(say("in_unit", unit=view.unit))
    elif kind in ("text", "long_text"):
        parts.append(say("text_up_to", n=view.max_length) if view.max_length else say("text"))
        if kind == "long_text":
            parts.append(say("one_line"))
    elif kind == "date":
        parts.append(say("date"))
        if view.min is not None:
            parts.append(say("date_from", date=_date_bound(view.min)))
        if view.max is not None:
            parts.append(say("date_until", date=_date_bound(view.max)))
    else:
        return None
    if kind not in CHOICE_TYPES and style == "call":
        # Elsewhere option_lines lists dk and ref; a call has no keys for
        # them on a number, so they are typed as words.
        missing = []
        if offers_dk(view):
            missing.append(say("dk_word", label=view.dk_label.lower()))
        if offers_refused(view):
            missing.append(say("ref_word", label=view.refused_label.lower()))
        if missing:
            word = say("or")
            parts.append(f"{word} " + f" {word} ".join(missing))
    return "(" + "; ".join(parts) + ")"


def question_lines(view: QuestionView, style: Style, say: Say = ENGLISH) -> list[str]:
    """Everything shown before the first prompt of one question (grids: before the rows)."""
    lines: list[str] = []
    tag = f"  [{view.key or view.id}]" if view.key or view.rows else ""
    if style == "interviewer":
        if view.spoken:
            lines.append(say("read_out", text=view.spoken) + tag)
        if view.instruction:
            lines.append(say("instruction", text=view.instruction))
    elif style == "call":
        if view.spoken:
            lines.append(say("call_says", text=view.spoken) + tag)
    else:
        if view.text:
            lines.append(f"{view.text}{tag}")
        if view.hint:
            lines.append(f"  {view.hint}")
    if view.type in ("info", "end"):
        return lines
    if view.type == "summary":  # check your answers: each answer with the variable to :jump to
        lines.extend(f"  {line.question}: {line.answer}  [{line.key}]" for line in view.summary)
        lines.append("  " + say("summary_change"))
        return lines
    if view.type == "grid":
        lines.append("  " + say("each_row" if style != "call" else "each_statement"))
    lines.extend(option_lines(view, style, say))
    constraint = constraint_text(view, style, say)
    if constraint and view.type != "grid":
        lines.append(f"  {constraint}")
    return lines


def row_lines(
    row_text: str, row_spoken: str, key: str, style: Style, say: Say = ENGLISH
) -> list[str]:
    """The lines that introduce one row of a grid."""
    if style == "interviewer":
        return [say("read_out", text=row_spoken) + f"  [{key}]"]
    if style == "call":
        return [say("call_says", text=row_spoken) + f"  [{key}]"]
    return [f"{row_text}  [{key}]"]


def format_value(value: Any, labels: Mapping[int, str] | None = None) -> str:
    """An answer as a person reads it: codes with their labels, dk and ref as words."""
    if value is None:
        return "(not answered)"
    if value is DK:
        return "dk (don't know)"
    if value is REFUSED:
        return "ref (refused)"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple):
        return ", ".join(format_value(v, labels) for v in value) or "(none)"
    if isinstance(value, int) and labels and value in labels:
        return f"{value} {labels[value]}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value) if value else "''"
    return str(value)
