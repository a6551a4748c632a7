"""What the engine hands a mode: a step, ready to render, and what came of a submit.

A step already has its texts filled in for the interview's mode and language,
its options in their randomised order, and the previous answers to pre-fill.
A mode turns it into HTML, TwiML or terminal lines and decides nothing else.

Views are frozen and built by keyword: a mode cannot change a step under the
engine, and one view can be shared by many steps and many interviews (the
engine reuses the views it has built where nothing in them is the
interview's own; see :mod:`instrument.engine.rendering`). Problems, events
and submit results are the engine's replies, made once and handed over, and
stay plain slotted dataclasses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from instrument.engine.state import State

__all__ = [
    "OptionView",
    "RowView",
    "QuestionView",
    "Step",
    "Problem",
    "Event",
    "SubmitResult",
    "changed",
]

_set_attribute = object.__setattr__
_new_object = object.__new__


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionView:
    """One answer option, built once per question and language."""

    code: int
    label: str  # for the screen
    spoken: str  # what an interviewer reads or a call says
    exclusive: bool = False
    other_specify: bool = False
    not_read_out: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RowView:
    """One row of a grid: its own variable key, wording and answer so far."""

    key: str  # the variable key to answer under
    id: str
    text: str
    spoken: str
    value: Any = None


@dataclass(frozen=True, kw_only=True, init=False)
class QuestionView:
    """One question as a mode shows it.

    Its ``__init__`` is written out, as :class:`Step`'s is, for the same reason.
    """

    key: str  # the variable key to answer under ("" for info and end screens)
    id: str
    type: str
    text: str  # what the respondent sees (web, terminal)
    spoken: str  # what is read out (cati) or said (ivr)
    instruction: str | None = None
    hint: str | None = None
    options: tuple[OptionView, ...] = ()
    rows: tuple[RowView, ...] = ()
    value: Any = None
    other_key: str | None = None
    other_value: str | None = None
    min: Any = None
    max: Any = None
    places: int | None = None
    unit: str | None = None
    max_length: int | None = None
    min_choices: int | None = None
    max_choices: int | None = None
    required: bool = False
    allow_dk: bool = False
    allow_refused: bool = False
    offer_missing: bool = False  # show don't know / prefer not to say now
    dk_label: str = "Don't know"
    refused_label: str = "Prefer not to say"
    display: str = "radio"
    prefilled: bool = False  # value is the question's default, not an answer yet
    summary: tuple[Any, ...] = ()  # a summary page: AnswerLine(key, question, answer) each

    def __init__(
        self,
        *,
        key: str,
        id: str,
        type: str,
        text: str,
        spoken: str,
        instruction: str | None = None,
        hint: str | None = None,
        options: tuple[OptionView, ...] = (),
        rows: tuple[RowView, ...] = (),
        value: Any = None,
        other_key: str | None = None,
        other_value: str | None = None,
        min: Any = None,
        max: Any = None,
        places: int | None = None,
        unit: str | None = None,
        max_length: int | None = None,
        min_choices: int | None = None,
        max_choices: int | None = None,
        required: bool = False,
        allow_dk: bool = False,
        allow_refused: bool = False,
        offer_missing: bool = False,
        dk_label: str = "Don't know",
        refused_label: str = "Prefer not to say",
        display: str = "radio",
        prefilled: bool = False,
        summary: tuple[Any, ...] = (),
    ) -> None:
        _set_attribute(
            self,
            "__dict__",
            {
                "key": key,
                "id": id,
                "type": type,
                "text": text,
                "spoken": spoken,
                "instruction": instruction,
                "hint": hint,
                "options": options,
                "rows": rows,
                "value": value,
                "other_key": other_key,
                "other_value": other_value,
                "min": min,
                "max": max,
                "places": places,
                "unit": unit,
                "max_length": max_length,
                "min_choices": min_choices,
                "max_choices": max_choices,
                "required": required,
                "allow_dk": allow_dk,
                "allow_refused": allow_refused,
                "offer_missing": offer_missing,
                "dk_label": dk_label,
                "refused_label": refused_label,
                "display": display,
                "prefilled": prefilled,
                "summary": summary,
            },
        )

    @property
    def keys(self) -> tuple[str, ...]:
        """Every variable key this question answers under."""
        if self.rows:
            return tuple(r.key for r in self.rows)
        keys = (self.key,) if self.key else ()
        return keys + ((self.other_key,) if self.other_key else ())


def changed(view: QuestionView, **changes: Any) -> QuestionView:
    """``view`` with some fields changed, as ``dataclasses.replace`` gives it, but cheaper.

    The engine makes most views this way, from a view many interviews share
    (this interview's answer, its order of options); ``replace`` would run
    ``__init__`` again over every field. :raises TypeError: for a name that is
    not a field.
    """
    fields = view.__dict__.copy()
    for name in changes:
        if name not in fields:
            raise TypeError(f"QuestionView has no field '{name}'")
    fields.update(changes)
    copy = _new_object(QuestionView)
    _set_attribute(copy, "__dict__", fields)
    return copy


@dataclass(frozen=True, kw_only=True, init=False)
class Step:
    """A page (or the end screen) ready to render.

    One is built on every page turn, so its ``__init__`` is written out: it
    sets the instance's dict in one step, where the ``__init__`` a frozen
    dataclass generates makes one ``object.__setattr__`` call per field and is
    much slower (figures in docs/benchmarks.md, "Engine"). It takes the fields
    below by keyword, with the same defaults; a test holds the two lists
    together. (No ``__slots__``: slots can only be set one by one.)
    """

    kind: Literal["page", "end"]
    page_id: str
    token: str  # echo it back with the submit: a stale page is refused
    questions: tuple[QuestionView, ...]
    progress: float
    can_go_back: bool
    section_title: str | None = None
    outcome: str | None = None
    loop: str | None = None
    iteration: int | None = None  # 1-based
    iteration_label: str | None = None
    iteration_path: tuple[str, ...] = ()  # labels of the iterations it is in, outermost first
    list_items: tuple[tuple[str, str, str], ...] = ()  # a list's summary: (suffix, name, key)
    language: str = "en"
    mode: str = ""

    def __init__(
        self,
        *,
        kind: Literal["page", "end"],
        page_id: str,
        token: str,
        questions: tuple[QuestionView, ...],
        progress: float,
        can_go_back: bool,
        section_title: str | None = None,
        outcome: str | None = None,
        loop: str | None = None,
        iteration: int | None = None,
        iteration_label: str | None = None,
        iteration_path: tuple[str, ...] = (),
        list_items: tuple[tuple[str, str, str], ...] = (),
        language: str = "en",
        mode: str = "",
    ) -> None:
        _set_attribute(
            self,
            "__dict__",
            {
                "kind": kind,
                "page_id": page_id,
                "token": token,
                "questions": questions,
                "progress": progress,
                "can_go_back": can_go_back,
                "section_title": section_title,
                "outcome": outcome,
                "loop": loop,
                "iteration": iteration,
                "iteration_label": iteration_label,
                "iteration_path": iteration_path,
                "list_items": list_items,
                "language": language,
                "mode": mode,
            },
        )


@dataclass(slots=True)
class Problem:
    """An error or warning attached to one variable key (or to the page, key '')."""

    key: str
    message: str
    id: str = ""  # soft warnings: the id to confirm
    kind: Literal["error", "warning", "prompt"] = "error"

    def as_row(self) -> tuple[str, str, str, str]:
        """The problem as plain strings, for a state kept as JSON between two turns."""
        return (self.key, self.message, self.id, self.kind)

    @classmethod
    def from_row(cls, row: Sequence[str]) -> Problem:
        """The inverse of :meth:`as_row` (a JSON list or a tuple)."""
        key, message, id_, kind = row
        return cls(str(key), str(message), str(id_), kind)  # type: ignore[arg-type]


@dataclass(slots=True)
class Event:
    """Something the store appends to the interview's event log."""

    kind: str  # answer | page | back | jump | warning_confirmed | prompt | finish
    at: dt.datetime
    key: str = ""
    value: Any = None  # JSON form for answers
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SubmitResult:
    accepted: bool
    state: State
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # what was entered, for re-display

    @property
    def problems(self) -> list[Problem]:
        return self.errors + self.warnings
