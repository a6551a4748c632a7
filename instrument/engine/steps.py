"""What the engine hands a mode: a step, ready to render, and what came of a submit.

A step already has its texts filled in for the interview's mode and language,
its options in their randomised order, and the previous answers to pre-fill.
A mode turns it into HTML, TwiML or terminal lines and decides nothing else.

Views are plain slotted dataclasses, not frozen ones: a frozen dataclass's
``__init__`` sets each field through ``object.__setattr__``, which for a
26-field view cost more than the rest of a step. Treat them as read-only
(the option views are shared between steps).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from instrument.engine.state import State

__all__ = ["OptionView", "RowView", "QuestionView", "Step", "Problem", "Event", "SubmitResult"]


@dataclass(frozen=True)
class OptionView:  # frozen: built once per question and language, then shared
    code: int
    label: str  # for the screen
    spoken: str  # what an interviewer reads or a call says
    exclusive: bool = False
    other_specify: bool = False
    not_read_out: bool = False


@dataclass(slots=True)
class RowView:
    key: str  # the variable key to answer under
    id: str
    text: str
    spoken: str
    value: Any = None


@dataclass(slots=True)
class QuestionView:
    """One question as a mode shows it. The engine builds it positionally: keep the field order."""

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

    @property
    def keys(self) -> tuple[str, ...]:
        """Every variable key this question answers under."""
        if self.rows:
            return tuple(r.key for r in self.rows)
        keys = (self.key,) if self.key else ()
        return keys + ((self.other_key,) if self.other_key else ())


@dataclass(slots=True)
class Step:
    """A page (or the end screen) ready to render. Built positionally: keep the field order."""

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
    language: str = "en"
    mode: str = "web"


@dataclass(slots=True)
class Problem:
    """An error or warning attached to one variable key (or to the page, key '')."""

    key: str
    message: str
    id: str = ""  # soft warnings: the id to confirm
    kind: Literal["error", "warning", "prompt"] = "error"


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
