"""An engine step laid out for an interviewer reading it down the phone.

The engine hands the ``cati`` step with every wording filled in: ``spoken``
(what to read out), ``instruction`` (for the interviewer only, never read),
``hint`` (the respondent's clarification, read only if they need it) and
options with their read-out wording and ``not_read_out`` flags. This module
decides nothing about the interview; it gives each choice a key the
interviewer presses (the option's position, 1, 2, ... so a list with codes
1, 2, 96 is keyed 1, 2, 3, and ``D`` / ``R`` for don't know and refused,
which are keyed, never read out) and lists the earlier pages the interviewer
may jump back to. The form fields are named as the shared step form reads
them (:mod:`instrument.flask_support.step_forms`), so answers reach the engine
exactly as they do from the web.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from instrument.engine import OptionView, QuestionView, State
from instrument.flask_support.step_forms import missing_options
from instrument.model import Questionnaire

__all__ = [
    "DK_KEY",
    "REFUSED_KEY",
    "Choice",
    "JumpTarget",
    "ScriptQuestion",
    "jump_targets",
    "notes_from",
    "paradata",
    "script_question",
]

DK_KEY = "D"
REFUSED_KEY = "R"
_MISSING_KEYS = {"dk": DK_KEY, "refused": REFUSED_KEY}
NOTE_PREFIX = "note-"
"""Form name prefix of a question's note: ``note-<variable key>``."""
NOTE_LIMIT = 2000
"""The longest note kept (characters); an interviewer's note is a line or two."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One thing the interviewer can key on a choice question: an option, don't know or refused."""

    value: str  # the form value: the option's code, "dk" or "refused"
    key: str  # the key pressed: "1".."N", "D" or "R"
    label: str  # the screen label
    spoken: str  # what is read out ("" for don't know and refused)
    read_out: bool  # False: code it only if the respondent volunteers it
    missing: bool = False  # don't know or refused
    other_specify: bool = False
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class ScriptQuestion:
    """A question as the interviewer's screen shows it."""

    view: QuestionView
    field: str  # the form name of its answer (the first row's key for a grid, "" for info)
    choices: tuple[Choice, ...]  # options (choice types), or only don't know / refused
    missing: tuple[Choice, ...]  # don't know / refused (also at the end of ``choices``)

    @property
    def keyed(self) -> bool:
        """Whether number keys choose its answer (single, yes/no, multi and grid rows)."""
        return self.view.type in ("single", "yesno", "multi", "grid")

    @property
    def note_name(self) -> str:
        return NOTE_PREFIX + (self.field or self.view.id)


def _option_choice(position: int, option: OptionView) -> Choice:
    return Choice(
        value=str(option.code),
        key=str(position),
        label=option.label,
        spoken=option.spoken,
        read_out=not option.not_read_out,
        other_specify=option.other_specify,
        exclusive=option.exclusive,
    )


def script_question(view: QuestionView) -> ScriptQuestion:
    """One of the step's questions with its keys."""
    missing = tuple(
        Choice(value=value, key=_MISSING_KEYS[value], label=label, spoken="", read_out=False,
               missing=True, exclusive=True)
        for value, label in missing_options(view)
    )  # fmt: skip
    options: tuple[Choice, ...] = ()
    if view.type in ("single", "yesno", "multi", "grid"):
        options = tuple(_option_choice(i, o) for i, o in enumerate(view.options, start=1))
    field = view.rows[0].key if view.rows else view.key
    return ScriptQuestion(view, field, options + missing, missing)


@dataclass(frozen=True, slots=True)
class JumpTarget:
    """An earlier answered page the interviewer may go back to."""

    key: str  # what the interview service's jump takes (the first variable the page asked)
    label: str


def jump_targets(state: State, questionnaire: Questionnaire) -> list[JumpTarget]:
    """The pages before the current one that asked something, most recent first.

    Each is named by its first question's label (with its loop iteration) so
    the interviewer finds "Number of children" rather than a variable name.
    """
    targets: list[JumpTarget] = []
    seen: set[str] = set()
    for visit in reversed(state.history[:-1]):
        if not visit.keys or visit.keys[0] in seen:
            continue
        key = visit.keys[0]
        seen.add(key)
        page = questionnaire.pages.get(visit.page)
        label = page.questions[0].label if page is not None and page.questions else key
        if visit.suffix:
            label = f"{label} ({visit.suffix})"
        targets.append(JumpTarget(key, label or key))
    return targets


def notes_from(form: Mapping[str, str]) -> dict[str, str]:
    """The notes typed on the page (fields ``note-<variable key>``), empty ones left out."""
    notes: dict[str, str] = {}
    for name in list(form)[:200]:
        if name.startswith(NOTE_PREFIX):
            text = " ".join(str(form.get(name, "")).split())
            if text:
                notes[name[len(NOTE_PREFIX) :][:100]] = text[:NOTE_LIMIT]
    return notes


def paradata(notes: Mapping[str, str]) -> dict[str, Any]:
    """What the interview service records with the page turn (the notes travel with the answers)."""
    client: dict[str, Any] = {"device": "cati-console"}
    if notes:
        client["notes"] = dict(notes)
    return client
