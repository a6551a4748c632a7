"""The questionnaire as a frozen, typed model.

The loader (:mod:`instrument.loader`) builds these objects from YAML, compiling
every expression and text once; the engine, the modes and the dataset builder
only ever read them. Nothing here knows about files, web pages or telephones.

Over the ~400 lines a module should hold, on purpose: these are one family of frozen
dataclasses that name each other (a Questionnaire holds Pages holding Questions holding
ChoiceLists...), read as one page by every author of a mode or plugin; split, each part would
import the others for its annotations. What is logic rather than shape lives elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from instrument.catalogue import CATALOGUE, Catalogue
from instrument.diagnostics import Position
from instrument.expressions import CompiledExpression, ValueType
from instrument.modes import ModePolicy
from instrument.texts import TextTemplate

__all__ = [
    "ANSWER_TYPES",
    "QUESTION_TYPES",
    "Block",
    "Check",
    "ChoiceFilter",
    "ChoiceList",
    "Experiment",
    "GridRow",
    "Item",
    "IvrOptions",
    "Loop",
    "MissingFrame",
    "Option",
    "Page",
    "Preload",
    "Question",
    "Questionnaire",
    "Scenario",
    "Section",
    "Text",
    "Variable",
    "VariableTable",
    "every_loop_suffix",
]

QUESTION_TYPES = (
    "single",
    "multi",
    "yesno",
    "integer",
    "decimal",
    "text",
    "long_text",
    "date",
    "grid",
    "info",
    "end",
    "computed",
    "summary",
)
ANSWER_TYPES = frozenset(QUESTION_TYPES) - {"info", "end", "computed", "grid", "summary"}
"""Question types that store exactly one value under their own id."""

CHOICE_TYPES = frozenset({"single", "multi", "yesno", "grid"})

VALUE_TYPE_OF = {
    "single": ValueType.CODE,
    "yesno": ValueType.CODE,
    "multi": ValueType.CODES,
    "integer": ValueType.INTEGER,
    "decimal": ValueType.DECIMAL,
    "text": ValueType.TEXT,
    "long_text": ValueType.TEXT,
    "date": ValueType.DATE,
}


@dataclass(frozen=True)
class Text:
    """Something a person reads or hears, in each language of the questionnaire."""

    by_language: Mapping[str, TextTemplate]
    pos: Position

    def template(self, language: str, default_language: str) -> TextTemplate:
        found = self.by_language.get(language)
        if found is None:
            found = self.by_language.get(default_language)
        if found is None:  # the loader guarantees the default language exists
            found = next(iter(self.by_language.values()))
        return found

    def source(self, language: str, default_language: str) -> str:
        return self.template(language, default_language).source

    @property
    def names(self) -> frozenset[str]:
        result: frozenset[str] = frozenset()
        for template in self.by_language.values():
            result |= template.names
        return result


@dataclass(frozen=True)
class MissingFrame:
    """Codes that stand for non-substantive answers in every output file."""

    dk: int = -1
    refused: int = -2
    routed_past: int = -8
    unanswered: int = -9

    def codes(self) -> dict[str, int]:
        return {
            "dk": self.dk,
            "refused": self.refused,
            "routed_past": self.routed_past,
            "unanswered": self.unanswered,
        }


@dataclass(frozen=True)
class IvrOptions:
    """How an automated call asks this questionnaire (``meta.ivr``); the defaults when not given.

    Whether free text is recorded is the study's fieldwork file's (``telephony.recording``), not
    the questionnaire's. ``read_back``: True for every number, or the question ids to read back.
    ``speech_confidence``: the recogniser's confidence (0-1) below which a spoken answer is
    confirmed; ``speech_confirm``: ``unsure`` (below it, or matching two answers) or ``always``.
    ``voices``: language -> (Twilio voice, its language tag), over the built-in ones.
    """

    reprompts: int = 2
    on_no_answer: Literal["skip", "end"] = "skip"
    read_back: bool | frozenset[str] = False
    record_seconds: int = 60
    speech: bool = False
    speech_confidence: float = 0.5
    speech_confirm: Literal["unsure", "always"] = "unsure"
    voices: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    pos: Position | None = None  # where meta.ivr is, for the check's warnings


@dataclass(frozen=True)
class Option:
    code: int
    label: Text
    read_out: Text | None = None
    exclusive: bool = False
    other_specify: bool = False
    fixed: bool = False
    not_read_out: bool = False
    attributes: tuple[tuple[str, Any], ...] = ()  # what a choice_filter matches (region: 1)
    pos: Position | None = field(default=None, compare=False)  # where it is written

    def attribute(self, name: str) -> Any:
        """This option's value of attribute ``name`` (None when it has none)."""
        for key, value in self.attributes:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class ChoiceList:
    name: str
    options: tuple[Option, ...]
    pos: Position
    file: str | None = None  # the CSV file the options were read from, if any

    @functools.cached_property
    def codes(self) -> frozenset[int]:
        return frozenset(o.code for o in self.options)

    def option(self, code: int) -> Option | None:
        for o in self.options:
            if o.code == code:
                return o
        return None


@dataclass(frozen=True)
class ChoiceFilter:
    """Offer only the options whose ``attribute`` equals (or lists) the value of ``value``.

    As XLSForm's ``choice_filter: region=${region}``: districts within the region
    answered earlier. An option without the attribute is always offered.
    """

    attribute: str
    value: CompiledExpression


@dataclass(frozen=True)
class Check:
    severity: Literal["error", "warning"]
    condition: CompiledExpression
    message: Text
    index: int  # position among the question's checks, for stable ids


@dataclass(frozen=True, eq=False)
class GridRow:
    id: str
    text: Text
    label: str
    read_out: Text | None = None
    ivr: Text | None = None
    when: CompiledExpression | None = None


@dataclass(frozen=True, eq=False)
class Question:
    id: str
    type: str
    pos: Position
    label: str
    text: Text | None = None
    read_out: Text | None = None
    ivr: Text | None = None
    instruction: Text | None = None
    hint: Text | None = None
    when: CompiledExpression | None = None
    required: bool = False
    allow_dk: bool = True
    allow_refused: bool = True
    checks: tuple[Check, ...] = ()
    level: str = "nominal"
    choices: ChoiceList | None = None
    randomize: bool = False
    display: str = "radio"
    min: Any = None  # dates: a date, "today", or a CompiledExpression giving a date
    max: Any = None
    places: int = 2
    unit: Text | None = None
    max_length: int | None = None
    min_choices: int | None = None
    max_choices: int | None = None
    rows: tuple[GridRow, ...] = ()
    randomize_rows: bool = False
    outcome: str | None = None
    expr: CompiledExpression | None = None
    loop: str | None = None
    guards: tuple[CompiledExpression, ...] = ()  # computed: conditions of the items around it
    ordinal: int = 0
    custom: Any = None  # a plugin's QuestionType, for types beyond the built-in ones
    identifying: bool = False  # its answer identifies a person: kept with the contact details
    choice_filter: tuple[ChoiceFilter, ...] = ()
    # shown pre-filled, stored only when submitted: an expression, or a multi's codes
    default: CompiledExpression | tuple[int, ...] | None = None
    summary_of: str | None = None  # summary: the section whose answers it lists (None: its own)

    @functools.cached_property
    def stores_value(self) -> bool:
        """Whether the question has a variable of its own (grids store one per row instead)."""
        return self.type in ANSWER_TYPES or self.custom is not None

    @functools.cached_property
    def relative_limits(self) -> bool:
        """Whether a date limit is worked out per interview (today - 120 years, start_date)."""
        return isinstance(self.min, CompiledExpression) or isinstance(self.max, CompiledExpression)

    @functools.cached_property
    def other_option(self) -> Option | None:
        if self.choices is None:
            return None
        for o in self.choices.options:
            if o.other_specify:
                return o
        return None

    @property
    def variable_names(self) -> tuple[str, ...]:
        """The variables this question stores (grid: one per row)."""
        if self.type == "grid":
            return tuple(r.id for r in self.rows)
        if self.stores_value:
            return (self.id,)
        return ()


@dataclass(frozen=True, eq=False)
class Page:
    """What one screen shows: one question by default, several when the author says."""

    id: str
    questions: tuple[Question, ...]
    pos: Position
    when: CompiledExpression | None = None
    implicit: bool = True
    loop: str | None = None


@dataclass(frozen=True, eq=False)
class Section:
    id: str
    items: tuple["Item", ...]
    pos: Position
    title: Text | None = None
    when: CompiledExpression | None = None


@dataclass(frozen=True, eq=False)
class Block:
    id: str
    items: tuple["Item", ...]
    pos: Position
    when: CompiledExpression | None = None
    randomize: bool = False


@dataclass(frozen=True, eq=False)
class Loop:
    id: str
    items: tuple["Item", ...]
    pos: Position
    max: int
    count: CompiledExpression | None = None
    for_each: str | None = None
    when: CompiledExpression | None = None
    parent: str | None = None  # the loop this one is inside (people inside households)
    label: Text | None = None  # names an iteration ("{{ first_name }}"); fills of the iteration
    another: str | None = None  # a list collector: its "anyone else?" question, asked per item
    for_list: str | None = None  # a loop over the items of this list collector


Item = Page | Section | Block | Loop
Container = Section | Block | Loop


def every_loop_suffix(
    loops: Mapping[str, Loop], questions: Mapping[str, Question], loop_id: str
) -> list[str]:
    """Every suffix an iteration of a loop can have, in order: ``1``..``max`` or the
    ``for_each`` question's option codes, each after the suffix of the loop around it
    (``2_3``: household 2, person 3). They fix the variables the exports make."""
    chain: list[Loop] = []
    current: str | None = loop_id
    while current is not None and current in loops and len(chain) < len(loops):
        chain.append(loops[current])
        current = loops[current].parent
    result = [""]
    for loop in reversed(chain):
        choices = questions[loop.for_each].choices if loop.for_each in questions else None
        if loop.for_each is not None:
            own = [str(o.code) for o in choices.options] if choices is not None else []
        else:
            own = [str(i) for i in range(1, loop.max + 1)]
        result = [f"{outer}_{suffix}" if outer else suffix for outer in result for suffix in own]
    return result


class VariableTable(dict[str, "Variable"]):
    """The questionnaire's variables by name, and the loops around each loop.

    A plain dict to every reader; ``loops_around`` is what an expression's
    context needs to read a household's answer from the iteration of one of its
    people (``loop_chains``: loop id -> the loop and those around it, innermost first).
    """

    loop_chains: Mapping[str, tuple[str, ...]] = {}
    loop_lists: Mapping[str, str] = {}  # a loop over a collected list -> the list

    def loops_around(self, loop: str | None) -> tuple[str, ...]:
        if loop is None:
            return ()
        return self.loop_chains.get(loop, (loop,))


@dataclass(frozen=True)
class Preload:
    id: str
    type: str
    label: str
    pos: Position
    choices: ChoiceList | None = None
    export: bool = True


@dataclass(frozen=True)
class Experiment:
    id: str
    label: str
    arms: ChoiceList
    pos: Position


@dataclass(frozen=True)
class Variable:
    """A named value that expressions and fills can read and exports can write."""

    name: str
    kind: Literal["question", "grid_row", "preload", "computed", "experiment", "other_text"]
    value_type: ValueType
    label: str
    ordinal: int  # where in the flow it is first known; preloads and experiments are 0
    choices: ChoiceList | None = None
    loop: str | None = None
    question: Question | None = None
    export: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    pos: Position
    answers: Mapping[str, Any]
    answer_pos: Mapping[str, Position]
    preload: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 1
    mode: str = ""  # the questionnaire's first mode when empty
    language: str | None = None
    confirm_warnings: bool = True
    expect: Mapping[str, Any] = field(default_factory=dict)
    expect_pos: Mapping[str, Position] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Questionnaire:
    id: str
    version: str
    title: Text
    languages: tuple[str, ...]
    default_language: str
    modes: tuple[str, ...]
    mode_policies: Mapping[str, ModePolicy]  # how each of ``modes`` asks (instrument.modes)
    web_missing: str
    missing: MissingFrame
    choices: Mapping[str, ChoiceList]
    preload: tuple[Preload, ...]
    experiments: tuple[Experiment, ...]
    items: tuple[Item, ...]
    questions: Mapping[str, Question]
    variables: Mapping[str, Variable]
    loops: Mapping[str, Loop]
    pages: Mapping[str, Page]
    tests: tuple[Scenario, ...]
    source_text: str
    source_path: str
    question_count: int
    interface_texts: Catalogue = CATALOGUE
    """The software's own words for this questionnaire: ours, with its researcher's .po over them."""
    ivr: IvrOptions = IvrOptions()
    """How an automated call asks it (``meta.ivr``)."""

    @functools.cached_property
    def content_hash(self) -> str:
        """Identifies this exact text; a stored interview stays on the version it began with."""
        return hashlib.sha256(self.source_text.encode("utf-8")).hexdigest()

    def computed(self) -> Iterator[Question]:
        return (q for q in self.questions.values() if q.type == "computed")

    def walk_pages(self) -> Iterator[Page]:
        """Every page in document order (loops visited once)."""

        def walk(items: tuple[Item, ...]) -> Iterator[Page]:
            for item in items:
                if isinstance(item, Page):
                    yield item
                else:
                    yield from walk(item.items)

        return walk(self.items)
