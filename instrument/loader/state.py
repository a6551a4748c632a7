"""The builder's shared state, and the records pass 1 leaves for pass 2."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from instrument.diagnostics import Diagnostics, Position
from instrument.expressions import VarInfo
from instrument.model import QUESTION_TYPES, ChoiceList, Loop, MissingFrame, Page, Question
from instrument.modes import ModePolicy
from instrument.texts import make_environments
from instrument.yamlsrc import YMap

from .attachments import attached_files


class Abort(Exception):
    """Raised internally when the file is too broken to go on."""


@dataclass
class RawQuestion:
    node: YMap
    id: str
    type: str
    loop: str | None
    page_seq: int
    ordinal: int
    page_id: str
    section: str | None = None  # the section it is in, if any


@dataclass
class Site:
    """Where an expression or text sits: which loop, and which pages come before."""

    loop: str | None
    page_seq: int  # the page it belongs to (or the first page of a container)
    same_page_ok: bool = False  # checks may read answers from their own page


@dataclass
class VarMeta:
    info: VarInfo
    page_seq: int  # page on which it is asked; 0 for preloads and experiments
    kind: str
    node_pos: Position
    computed_node: YMap | None = None


class LoaderState:
    """What the concerns of the builder read and add to while one file is read.

    Pass 1 fills ``vars`` (every variable's type, loop and page), ``raw_questions``
    and the name registers; pass 2 fills ``questions``, ``pages`` and ``loops``.
    """

    def __init__(
        self,
        filename: str,
        source: str,
        diagnostics: Diagnostics,
        text_environment: Callable[[jinja2.Environment], None] | None,
        question_types: Mapping[str, Any],
        modes: Mapping[str, ModePolicy],
    ) -> None:
        self.filename = filename
        self.mode_registry = dict(modes)
        self.modes: tuple[str, ...] = ()
        self.custom_types = {n: t for n, t in question_types.items() if n not in QUESTION_TYPES}
        self.source = source
        self.attached = attached_files(source)  # CSV files the text carries (a stored version)
        self.files_read: dict[str, str] = {}  # CSV files read from the disk, attached when built
        self.current_section: str | None = None  # while pass 1 is inside a section
        self.section_ids: list[str] = []  # sections met so far, in order
        self.broken_lists: set[str] = set()  # reported already: naming them is no second error
        self.broken_names: set[str] = set()  # questions reported (an unknown type): the same
        self.d = diagnostics
        self.html_env, self.plain_env = make_environments(text_environment)
        self.languages: tuple[str, ...] = ("en",)
        self.default_language = "en"
        self.missing = MissingFrame()
        self.choices: dict[str, ChoiceList] = {}
        self.vars: dict[str, VarMeta] = {}
        self.lower_names: dict[str, Position] = {}
        self.container_ids: dict[str, Position] = {}
        self.raw_questions: list[RawQuestion] = []
        self.loops_raw: dict[str, YMap] = {}
        self.loop_max: dict[str, int] = {}
        self.loop_parents: dict[str, str] = {}  # a loop inside another -> the loop around it
        self.loop_lists: dict[str, str] = {}  # a loop over a collected list -> the list
        self.list_another: dict[str, str] = {}  # a list's "anyone else?" question -> the list
        self.questions: dict[str, Question] = {}
        self.pages: dict[str, Page] = {}
        self.loops: dict[str, Loop] = {}
        self.page_counter = 0
        self.ordinal_counter = 0
        self.var_ordinals: dict[str, int] = {}
        self._infos: dict[str, VarInfo] | None = None
        self._infos_size = 0
        self._infos_dirty = False
        self.computed_deps: dict[str, frozenset[str]] = {}  # computed variable -> what it reads

    def loops_around(self, loop: str | None) -> list[str]:
        """``loop`` and the loops it is inside, innermost first (empty outside loops)."""
        chain: list[str] = []
        while loop is not None and loop not in chain:
            chain.append(loop)
            loop = self.loop_parents.get(loop)
        return chain

    def scope_parents(self) -> dict[str, str]:
        """What an expression in a loop may read as "this iteration's": the loops around it,
        and for a loop over a collected list, the list (this person's name)."""
        return {**self.loop_parents, **self.loop_lists} if self.loop_lists else self.loop_parents

    def loops_readable(self, loop: str | None) -> list[str]:
        """``loop``, the loops around it and the list it goes over, if any."""
        chain = self.loops_around(loop)
        listed = self.loop_lists.get(loop or "")
        return chain + [listed] if listed else chain
