"""The interview engine: routing, validation and text fills for every mode.

An :class:`Engine` wraps one questionnaire and works on :class:`State` objects.
It does no I/O, reads no clock (callers pass ``now``) and draws every random
choice from the interview's seed, so the same seed and the same answers give
the same interview in every mode and on every machine.

Routing never re-walks the whole questionnaire. The state keeps a cursor (a
stack of frames) at each visited page; moving on evaluates only the conditions
between the current page and the next one on the route, and going back pops
the history. The variables on the route are exactly those shown on the pages
in the history, maintained incrementally as pages are pushed and popped.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from instrument.engine.answers import Coerced, coerce_answer, coerce_code
from instrument.engine.messages import message
from instrument.engine.state import Frame, PageVisit, State
from instrument.engine.steps import (
    Event,
    OptionView,
    Problem,
    QuestionView,
    RowView,
    Step,
    SubmitResult,
)
from instrument.model import (
    Block,
    GridRow,
    Item,
    Loop,
    Page,
    Question,
    Questionnaire,
    Section,
    Text,
    Variable,
)
from instrument.texts import FILL_GLOBALS, ChoiceValue, ChoiceValues, TextTemplate, fill_value
from instrument.values import DK, REFUSED, is_missing, to_json

__all__ = ["Engine", "EngineError", "StaleSubmission"]


class EngineError(Exception):
    """A caller asked for something the interview cannot do (not a respondent's mistake)."""


class StaleSubmission(EngineError):
    """The page submitted is no longer the current page (a second tab, a double click)."""


class _Context:
    """Answers as expressions and fills see them: only what is on the route.

    A context lives for one engine call, during which the state does not change
    under it, so the per-iteration contexts of a loop are built once and reused
    by every aggregate that asks (``min(child_age)``, ``count_if(...)``).
    """

    __slots__ = ("engine", "state", "loop", "suffix", "sfx", "overlay", "_iterations")

    def __init__(
        self,
        engine: "Engine",
        state: State,
        loop: str | None = None,
        suffix: str | None = None,
        overlay: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.state = state
        self.loop = loop
        self.suffix = suffix
        self.sfx = "" if suffix is None else "_" + suffix
        self.overlay = overlay
        self._iterations: dict[str, list[_Context]] | None = None

    @property
    def today(self) -> dt.date:
        """The interview's current date, for ``today()`` (few expressions ask)."""
        return self.state.now.date()

    def get(self, name: str) -> Any:
        var = self.engine.variables[name]
        kind = var.kind
        if kind == "preload":
            return self.state.case.get(name)
        if kind == "experiment":
            return self.state.arms.get(name)
        if kind == "computed":
            question = var.question
            assert question is not None and question.expr is not None
            if question.when is not None and not question.when.evaluate(self):
                return None
            return question.expr.evaluate(self)
        if var.loop is None:
            key = name
        elif var.loop == self.loop:
            key = name + self.sfx
        else:
            return None
        overlay = self.overlay
        if overlay is not None and key in overlay:
            return overlay[key]
        if key in self.state.on_route:
            return self.state.answers.get(key)
        return None

    def iterations(self, loop: str) -> Sequence["_Context"]:
        memo = self._iterations
        if memo is None:
            memo = self._iterations = {}
        found = memo.get(loop)
        if found is None:
            found = memo[loop] = [
                _Context(self.engine, self.state, loop, suffix, self.overlay)
                for suffix in self.state.loop_keys.get(loop, ())
            ]
        return found


class Engine:
    """Runs interviews of one questionnaire."""

    def __init__(self, questionnaire: Questionnaire) -> None:
        self.q = questionnaire
        self.variables = questionnaire.variables
        self.containers: dict[str, tuple[Item, ...]] = {"": questionnaire.items}
        self.container_nodes: dict[str, Section | Block | Loop] = {}
        self.page_section: dict[str, Section | None] = {}
        # what values() reads, in questionnaire order, worked out once
        self._preload_names = [n for n, v in self.variables.items() if v.kind == "preload"]
        self._experiment_names = [n for n, v in self.variables.items() if v.kind == "experiment"]
        self._computed = [(n, v.loop) for n, v in self.variables.items() if v.kind == "computed"]
        self._options_cache: dict[tuple[str, str], tuple[OptionView, ...]] = {}
        self._static_texts: dict[tuple[str, str, str, bool], tuple[str | None, ...]] = {}
        self._missing_label_cache: dict[tuple[str, str], tuple[str, str]] = {}
        self._permutations: dict[tuple[Any, ...], tuple[int, ...]] = {}
        self._index(questionnaire.items, None)
        # Looked up on every move, so kept as plain sets and dicts of what matters.
        self._loops: dict[str, Loop] = {
            cid: node for cid, node in self.container_nodes.items() if isinstance(node, Loop)
        }
        self._shuffled_blocks: set[str] = {
            cid
            for cid, node in self.container_nodes.items()
            if isinstance(node, Block) and node.randomize and len(node.items) > 1
        }
        # Pages whose questions (and grid rows) have no conditions of their own:
        # the variables they store, worked out once (loop suffixes are added per visit).
        self._unconditional_keys: dict[str, tuple[str, ...]] = {}
        for page in questionnaire.pages.values():
            if all(
                q.when is None
                and (q.type != "grid" or (q.rows and all(r.when is None for r in q.rows)))
                for q in page.questions
            ):
                keys: list[str] = []
                for q in page.questions:
                    if q.type == "grid":
                        keys.extend(r.id for r in q.rows)
                    elif q.stores_value:
                        keys.append(q.id)
                        if q.other_option is not None:
                            keys.append(f"{q.id}_other")
                self._unconditional_keys[page.id] = tuple(keys)
        self._checked_pages = {
            page.id
            for page in questionnaire.pages.values()
            if any(q.checks for q in page.questions)
        }
        # Progress of a page outside any randomised block does not depend on the interview.
        self._fixed_progress: dict[str, float] = {}
        self._collect_fixed_progress(questionnaire.items, inside_shuffle=False)

    def _collect_fixed_progress(self, items: tuple[Item, ...], *, inside_shuffle: bool) -> None:
        for item in items:
            if isinstance(item, Page):
                if not inside_shuffle:
                    ordinal = item.questions[0].ordinal
                    self._fixed_progress[item.id] = min(
                        1.0, max(0.0, (ordinal - 1) / self.q.question_count)
                    )
                continue
            shuffled = isinstance(item, Block) and item.randomize
            self._collect_fixed_progress(item.items, inside_shuffle=inside_shuffle or shuffled)

    def _index(self, items: tuple[Item, ...], section: Section | None) -> None:
        for item in items:
            if isinstance(item, Page):
                self.page_section[item.id] = section
                continue
            self.containers[item.id] = item.items
            self.container_nodes[item.id] = item
            self._index(item.items, item if isinstance(item, Section) else section)

    # ------------------------------------------------------------------ start

    def start(
        self,
        *,
        now: dt.datetime,
        seed: int,
        mode: str = "web",
        language: str | None = None,
        case: Mapping[str, Any] | None = None,
    ) -> State:
        """Begin an interview and move to its first page."""
        if mode not in self.q.modes:
            raise EngineError(
                f"questionnaire '{self.q.id}' does not run in mode '{mode}' (it runs in {', '.join(self.q.modes)})"
            )
        language = language or self.q.default_language
        if language not in self.q.languages:
            raise EngineError(
                f"questionnaire '{self.q.id}' has no language '{language}' (it has {', '.join(self.q.languages)})"
            )
        seed = int(seed)
        state = State(
            questionnaire_id=self.q.id,
            questionnaire_hash=self.q.content_hash,
            mode=mode,
            language=language,
            seed=seed,
            case=self._case(case or {}),
            arms={
                e.id: _rng(seed, "arm", e.id).choice([o.code for o in e.arms.options])
                for e in self.q.experiments
            },
            started_at=now,
            now=now,
            modes_used=[mode],
        )
        self._move_on(state, (Frame("", -1),), now)
        return state

    def _case(self, case: Mapping[str, Any]) -> dict[str, Any]:
        known = {p.id: p for p in self.q.preload}
        result: dict[str, Any] = {}
        for name, value in case.items():
            preload = known.get(name)
            if preload is None:
                raise EngineError(
                    f"case data has '{name}', which is not a preload variable of '{self.q.id}'"
                )
            if value is None:
                continue
            kind = preload.type
            try:
                if kind == "integer":
                    if isinstance(value, bool) or (
                        isinstance(value, float) and not value.is_integer()
                    ):
                        raise ValueError("it is not a whole number")
                    value = int(value)
                elif kind == "decimal":
                    value = float(value)
                elif kind == "text":
                    value = str(value)
                elif kind == "date":
                    if isinstance(value, dt.datetime):
                        value = value.date()
                    elif not isinstance(value, dt.date):
                        value = dt.date.fromisoformat(str(value))
                elif kind == "single":
                    value = int(value)
                    if preload.choices is not None and value not in preload.choices.codes:
                        raise ValueError(f"{value} is not one of its codes")
            except (TypeError, ValueError) as exc:
                raise EngineError(
                    f"case data '{name}' = {value!r} is not a valid {kind}: {exc}"
                ) from None
            result[name] = value
        return result

    # -------------------------------------------------------------- navigation

    def _order(
        self, state: State, container: str, iteration_suffix: str | None
    ) -> tuple[Item, ...]:
        items = self.containers[container]
        if container in self._shuffled_blocks:
            order = self._permutation(
                len(items), state.seed, "block", container, iteration_suffix or ""
            )
            return tuple([items[i] for i in order])
        return items

    def _loop_suffix(self, state: State, frames: Sequence[Frame]) -> tuple[str | None, str | None]:
        loops = self._loops
        for frame in frames:
            if frame.container in loops:
                keys = state.loop_keys.get(frame.container, [])
                if frame.iteration < len(keys):
                    return frame.container, keys[frame.iteration]
        return None, None

    def _loop_keys(self, state: State, loop: Loop, ctx: _Context) -> list[str]:
        if loop.for_each is not None:
            chosen = ctx.get(loop.for_each)
            return [str(code) for code in chosen] if isinstance(chosen, tuple) else []
        count = loop.count.evaluate(ctx) if loop.count is not None else 0
        if not isinstance(count, (int, float)) or is_missing(count):
            return []
        return [str(i) for i in range(1, min(int(count), loop.max) + 1)]

    def _next_page(
        self, state: State, frames: tuple[Frame, ...], loop_id: str | None, suffix: str | None
    ) -> tuple[Page, tuple[Frame, ...], str | None, _Context] | None:
        """The next page on the route after the cursor, with the cursor at it.

        Also returns the context the page's conditions were evaluated in, for
        the caller to reuse. ``loop_id`` and ``suffix`` are the loop iteration
        at ``frames`` (the page's own). The loop iteration and the container's
        items are worked out again only when the walk enters or leaves a container.
        """
        stack = list(frames)
        ctx: _Context | None = None
        level_changed = False
        top = stack[-1]
        items = self._order(state, top.container, suffix)
        while stack:
            top = stack[-1]
            if level_changed:
                loop_id, suffix = self._loop_suffix(state, stack)
                items = self._order(state, top.container, suffix)
                level_changed = False
            pos = top.pos + 1
            if pos >= len(items):
                if top.container in self._loops and top.iteration + 1 < len(
                    state.loop_keys.get(top.container, [])
                ):
                    stack[-1] = Frame(top.container, -1, top.iteration + 1)
                else:
                    stack.pop()
                level_changed = True
                continue
            stack[-1] = Frame(top.container, pos, top.iteration)
            item = items[pos]
            if ctx is None or ctx.loop != loop_id or ctx.suffix != suffix:
                ctx = _Context(self, state, loop_id, suffix)
            if isinstance(item, Page):
                if self._page_on_route(item, ctx):
                    return item, tuple(stack), suffix, ctx
                continue
            if item.when is not None and not item.when.evaluate(ctx):
                continue
            if isinstance(item, Loop):
                keys = self._loop_keys(state, item, ctx)
                state.loop_keys[item.id] = keys
                ctx = None  # its remembered loop iterations are out of date now
                if not keys:
                    continue
            stack.append(Frame(item.id, -1, 0))
            level_changed = True
        return None

    def _page_on_route(self, page: Page, ctx: _Context) -> bool:
        if page.when is not None and not page.when.evaluate(ctx):
            return False
        if page.id in self._unconditional_keys:
            return True
        return any(self._question_on_route(q, ctx) for q in page.questions)

    def _shown(self, page: Page, ctx: _Context) -> Sequence[Question]:
        """The page's questions on the route, in order."""
        if page.id in self._unconditional_keys:
            return page.questions
        return [q for q in page.questions if self._question_on_route(q, ctx)]

    def _question_on_route(self, question: Question, ctx: _Context) -> bool:
        if question.when is not None and not question.when.evaluate(ctx):
            return False
        if question.type == "grid":
            return any(row.when is None or row.when.evaluate(ctx) for row in question.rows)
        return True

    def _page_keys(self, page: Page, ctx: _Context) -> tuple[str, ...]:
        sfx = f"_{ctx.suffix}" if ctx.suffix is not None else ""
        fixed = self._unconditional_keys.get(page.id)
        if fixed is not None:
            return tuple([key + sfx for key in fixed]) if sfx else fixed
        keys: list[str] = []
        for q in page.questions:
            if not self._question_on_route(q, ctx):
                continue
            if q.type == "grid":
                keys.extend(
                    f"{r.id}{sfx}" for r in q.rows if r.when is None or r.when.evaluate(ctx)
                )
            elif q.stores_value:
                keys.append(f"{q.id}{sfx}")
                if q.other_option is not None:
                    keys.append(f"{q.id}_other{sfx}")
        return tuple(keys)

    def _move_on(
        self,
        state: State,
        frames: tuple[Frame, ...],
        now: dt.datetime,
        loop_id: str | None = None,
        suffix: str | None = None,
    ) -> list[Event]:
        """Push the next page on the route after ``frames`` (in loop iteration ``suffix``, if any).

        Finishes the interview if there is none.
        """
        found = self._next_page(state, frames, loop_id, suffix)
        if found is None:
            state.outcome = "complete"
            state.finished_at = now
            return [Event("finish", now, data={"outcome": "complete"})]
        page, new_frames, suffix, ctx = found
        keys = self._page_keys(page, ctx)
        state.visits += 1
        state.history.append(PageVisit(page.id, new_frames, keys, state.visits, now, suffix))
        state.on_route.update(keys)
        end = page.questions[0] if page.questions[0].type == "end" else None
        if end is not None:
            state.outcome = end.outcome or "complete"
            state.finished_at = now
            return [Event("finish", now, data={"outcome": state.outcome, "page": page.id})]
        return []

    def _pop(self, state: State) -> PageVisit:
        visit = state.history.pop()
        state.on_route.difference_update(visit.keys)
        return visit

    # ------------------------------------------------------------------- steps

    def current_step(self, state: State, *, html: bool | None = None, texts: bool = True) -> Step:
        """The page to show now (or the end screen), rendered for the interview's mode and language.

        ``texts=False`` leaves every wording empty (``""`` or ``None``) and
        keeps the rest: for drivers that need only the structure of the page,
        such as the simulator, since filling texts is much of a step's cost.
        Fills never fail a step (a failing fill shows the wording without it),
        so skipping them changes nothing else.
        """
        visit = state.history[-1] if state.history else None
        if visit is None or (state.outcome is not None and not self._is_end_page(visit.page)):
            # the route ran out (or the interview was closed): there is no page to show
            return Step(
                "end",
                "",
                "end",
                (),
                1.0,
                False,
                outcome=state.outcome or "complete",
                language=state.language,
                mode=state.mode,
            )
        if html is None:
            html = state.mode in ("web", "cati")
        render: bool | None = html if texts else None  # None: no texts at all
        page = self.q.pages[visit.page]
        loop_id = page.loop
        ctx = _Context(self, state, loop_id, visit.suffix)
        views = tuple([self._question_view(q, ctx, state, render) for q in self._shown(page, ctx)])
        section = self.page_section.get(page.id)
        kind = "end" if page.questions[0].type == "end" else "page"
        iteration = label = None
        if loop_id is not None and visit.suffix is not None:
            keys = state.loop_keys.get(loop_id, [])
            iteration = keys.index(visit.suffix) + 1 if visit.suffix in keys else None
            label = self._iteration_label(loop_id, visit.suffix, state)
        progress = 1.0 if kind == "end" else self._progress(page, visit.frames, state, visit.suffix)
        return Step(  # positional, in field order (see _question_view)
            kind,  # kind
            page.id,  # page_id
            str(visit.visit),  # token
            views,  # questions
            progress,  # progress
            len(state.history) > 1 and state.outcome is None,  # can_go_back
            self._render(section.title, ctx, state, render)
            if section and section.title and render is not None
            else None,  # section_title
            state.outcome if kind == "end" else None,  # outcome
            loop_id,  # loop
            iteration,  # iteration
            label,  # iteration_label
            state.language,  # language
            state.mode,  # mode
        )

    def _progress(
        self, page: Page, frames: tuple[Frame, ...], state: State, suffix: str | None
    ) -> float:
        """How far through the questionnaire this page is, from 0 to 1.

        Pages count by the questions before them in the file, except inside a
        randomised block, where they count in the order this interview shows
        them, so the bar never goes backwards.
        """
        fixed = self._fixed_progress.get(page.id)
        if fixed is not None:
            return fixed
        ordinal = page.questions[0].ordinal
        for frame in frames:
            node = self.container_nodes.get(frame.container)
            if isinstance(node, Block) and node.randomize and frame.pos >= 0:
                shown = self._order(state, node.id, suffix)
                before = sum(self._question_span(item) for item in shown[: frame.pos])
                first_of_item = self._first_ordinal(shown[frame.pos])
                ordinal = self._first_ordinal(node) + before + (ordinal - first_of_item)
                break
        return min(1.0, max(0.0, (ordinal - 1) / self.q.question_count))

    def _first_ordinal(self, item: Item) -> int:
        if isinstance(item, Page):
            return item.questions[0].ordinal
        return min((self._first_ordinal(child) for child in item.items), default=0)

    def _question_span(self, item: Item) -> int:
        if isinstance(item, Page):
            return len(item.questions)
        return sum(self._question_span(child) for child in item.items)

    def _is_end_page(self, page_id: str) -> bool:
        return self.q.pages[page_id].questions[0].type == "end"

    def _iteration_label(self, loop_id: str, suffix: str, state: State) -> str | None:
        loop = self.q.loops[loop_id]
        if loop.for_each is None:
            return None
        choices = self.q.questions[loop.for_each].choices
        option = choices.option(int(suffix)) if choices else None
        return option.label.source(state.language, self.q.default_language) if option else None

    def _fill_values(self, template: TextTemplate, ctx: _Context, state: State) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in template.names:
            if name in FILL_GLOBALS:
                continue
            var = self.variables.get(name)
            if var is None:
                values[name] = ""
                continue
            value = ctx.get(name)
            if (
                var.choices is not None
                and isinstance(value, (int, tuple))
                and not isinstance(value, bool)
            ):
                value = self._choice_value(var, value, state)
            values[name] = fill_value(value)
        if "loop" in template.names:
            keys = state.loop_keys.get(ctx.loop or "", [])
            number = keys.index(ctx.suffix) + 1 if ctx.suffix in keys else 0
            values["loop"] = {
                "number": number,
                "count": len(keys),
                "label": self._iteration_label(ctx.loop, ctx.suffix, state)
                if ctx.loop and ctx.suffix
                else "",
            }
        return values

    def _choice_value(self, var: Variable, value: int | tuple[int, ...], state: State) -> Any:
        """A code (or codes) that also knows its label, for ``label(x)`` in fills."""
        assert var.choices is not None
        codes = value if isinstance(value, tuple) else (value,)
        labels = []
        for code in codes:
            option = var.choices.option(code)
            if option is not None:
                labels.append(option.label.source(state.language, self.q.default_language))
        text = ", ".join(labels)
        return ChoiceValues(value, text) if isinstance(value, tuple) else ChoiceValue(value, text)

    def _render(self, text: Text | None, ctx: _Context, state: State, html: bool) -> str | None:
        if text is None:
            return None
        template = text.template(state.language, self.q.default_language)
        if template.is_static:
            return template.render({}, html=html)
        return template.render(self._fill_values(template, ctx, state), html=html)

    def _question_texts(
        self, question: Question, ctx: _Context, state: State, html: bool | None
    ) -> tuple[str | None, ...]:
        """Text, spoken text, instruction, hint and unit, rendered for the mode and language.

        Texts without fills are the same for every interview, so they are
        rendered once per question, language, mode and output and reused.
        ``html=None`` asks for no texts.
        """
        if html is None:
            return _NO_TEXTS
        cache_key = (question.id, state.language, state.mode, html)
        cached = self._static_texts.get(cache_key)
        if cached is not None:
            return cached
        spoken = _spoken_source(question, state.mode)
        sources = (question.text, spoken, question.instruction, question.hint, question.unit)
        rendered = tuple(self._render(text, ctx, state, html) for text in sources)
        if all(
            text is None or text.template(state.language, self.q.default_language).is_static
            for text in sources
        ):
            self._static_texts[cache_key] = rendered
        return rendered

    def _row_texts(
        self, question: Question, row: GridRow, ctx: _Context, state: State, html: bool | None
    ) -> tuple[str, str]:
        """A grid row's text and spoken text; rendered once when neither has fills."""
        if html is None:
            return ("", "")
        cache_key = (question.id + "\x00" + row.id, state.language, state.mode, html)
        cached = self._static_texts.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        spoken_source = _spoken_source(row, state.mode)
        rendered = (
            self._render(row.text, ctx, state, html) or "",
            self._render(spoken_source, ctx, state, html) or "",
        )
        language, default = state.language, self.q.default_language
        if all(
            t is None or t.template(language, default).is_static for t in (row.text, spoken_source)
        ):
            self._static_texts[cache_key] = rendered
        return rendered

    def _offer_missing(self, question: Question, key: str, state: State) -> bool:
        if not (question.allow_dk or question.allow_refused):
            return False
        if state.mode != "web":
            return True
        policy = self.q.web_missing
        return policy == "shown" or (policy == "after_skip" and key in state.prompted)

    def _question_view(
        self, question: Question, ctx: _Context, state: State, html: bool | None
    ) -> QuestionView:
        sfx = f"_{ctx.suffix}" if ctx.suffix is not None else ""
        key = f"{question.id}{sfx}" if question.stores_value else ""
        lang = state.language
        options: tuple[OptionView, ...] = ()
        if question.choices is not None:
            options = self._option_views(question, lang)
            if question.randomize:
                by_code = {view.code: view for view in options}
                ordered = self._shuffle_unfixed(
                    list(question.choices.options), state.seed, "options", key or question.id
                )
                options = tuple(by_code[o.code] for o in ordered)
        rows: tuple[RowView, ...] = ()
        first_row_key = ""
        if question.type == "grid":
            ordered_rows = [r for r in question.rows if r.when is None or r.when.evaluate(ctx)]
            first_row_key = (
                f"{ordered_rows[0].id}{sfx}" if ordered_rows else ""
            )  # as _take keys the skip prompt
            if question.randomize_rows:
                order = self._permutation(len(ordered_rows), state.seed, "rows", question.id + sfx)
                ordered_rows = [ordered_rows[i] for i in order]
            rows = tuple(
                RowView(
                    f"{r.id}{sfx}",
                    r.id,
                    *self._row_texts(question, r, ctx, state, html),
                    state.answers.get(f"{r.id}{sfx}"),
                )
                for r in ordered_rows
            )
        texts = self._question_texts(question, ctx, state, html)
        other_key = f"{question.id}_other{sfx}" if question.other_option is not None else None
        missing_key = key or first_row_key
        dk_label, refused_label = self._missing_label_cache.get(
            (lang, state.mode)
        ) or self._missing_labels(lang, state.mode)
        # Positional, in the order QuestionView declares its fields: keyword
        # passing of 26 arguments costs more than building the rest of the view.
        return QuestionView(
            key,  # key
            question.id,  # id
            question.type,  # type
            texts[0] or "",  # text
            texts[1] or "",  # spoken
            texts[2],  # instruction
            texts[3],  # hint
            options,  # options
            rows,  # rows
            state.answers.get(key) if key else None,  # value
            other_key,  # other_key
            state.answers.get(other_key) if other_key else None,  # other_value
            question.min,  # min
            question.max,  # max
            question.places if question.type == "decimal" else None,  # places
            texts[4],  # unit
            question.max_length,  # max_length
            question.min_choices,  # min_choices
            question.max_choices,  # max_choices
            question.required,  # required
            question.allow_dk,  # allow_dk
            question.allow_refused,  # allow_refused
            self._offer_missing(question, missing_key, state)
            if question.stores_value or rows
            else False,  # offer_missing
            dk_label,  # dk_label
            refused_label,  # refused_label
            question.display,  # display
        )

    def _option_views(self, question: Question, language: str) -> tuple[OptionView, ...]:
        """Option views in questionnaire order, built once per question and language."""
        cache_key = (question.id, language)
        views = self._options_cache.get(cache_key)
        if views is None:
            default = self.q.default_language
            assert question.choices is not None
            views = tuple(
                OptionView(
                    code=o.code,
                    label=o.label.source(language, default),
                    spoken=(o.read_out or o.label).source(language, default),
                    exclusive=o.exclusive,
                    other_specify=o.other_specify,
                    not_read_out=o.not_read_out,
                )
                for o in question.choices.options
            )
            self._options_cache[cache_key] = views
        return views

    def _permutation(self, n: int, seed: int, *purpose: str) -> tuple[int, ...]:
        """The order ``random.shuffle`` gives ``n`` items for one purpose of one interview.

        Drawn from the same generator as ever (see :func:`_rng`), so orders do
        not change between versions; remembered because one interview asks for
        the same order on every step that shows or walks past the shuffled
        thing, and seeding a generator from a string is the costly part.
        """
        cache_key = (n, seed, purpose)
        cached = self._permutations.get(cache_key)
        if cached is None:
            order = list(range(n))
            _rng(seed, *purpose).shuffle(order)
            cached = tuple(order)
            if len(self._permutations) >= _PERMUTATIONS_KEPT:
                self._permutations.clear()
            self._permutations[cache_key] = cached
        return cached

    def _shuffle_unfixed(self, options: list[Any], seed: int, *purpose: str) -> list[Any]:
        """Shuffle options around those marked fixed, which keep their positions."""
        movable = [o for o in options if not o.fixed]
        order = self._permutation(len(movable), seed, *purpose)
        it = iter([movable[i] for i in order])
        return [o if o.fixed else next(it) for o in options]

    def _missing_labels(self, language: str, mode: str) -> tuple[str, str]:
        found = self._missing_label_cache.get((language, mode))
        if found is None:
            found = (
                message(language, "dk"),
                message(language, "refused_cati" if mode == "cati" else "refused"),
            )
            self._missing_label_cache[(language, mode)] = found
        return found

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        state: State,
        answers: Mapping[str, Any],
        *,
        now: dt.datetime,
        token: str | None = None,
        confirm: bool | Collection[str] = (),
        actor: str = "respondent",
    ) -> SubmitResult:
        """Answer the current page.

        ``answers`` maps variable keys (as in :attr:`QuestionView.keys`) to what was
        entered: typed values, form strings, or :data:`~instrument.values.DK` /
        :data:`~instrument.values.REFUSED`. ``confirm`` is ``True`` or the ids of the
        soft warnings the person chose to accept. When the result is not
        accepted the state is unchanged, except that a skip prompt is remembered.
        """
        visit = state.history[-1] if state.history else None
        finished = state.outcome is not None
        if token is not None and (visit is None or token != str(visit.visit) or finished):
            raise StaleSubmission(
                "this page has already been answered or left; showing the current page"
            )
        if finished:
            raise EngineError("the interview has finished")
        assert visit is not None
        state.now = now
        page = self.q.pages[visit.page]
        ctx = _Context(self, state, page.loop, visit.suffix)
        errors: list[Problem] = []
        prompts: list[Problem] = []
        values: dict[str, Any] = {}
        shown = self._shown(page, ctx)
        for question in shown:
            self._take(question, ctx, state, answers, values, errors, prompts)
        if errors:
            return SubmitResult(False, state, errors, [], [], values)
        # cross-answer checks see this page's answers as if saved
        warnings: list[Problem] = []
        checked = (
            [question for question in shown if question.checks]
            if page.id in self._checked_pages
            else ()
        )
        check_ctx = (
            _Context(self, state, page.loop, visit.suffix, overlay=values) if checked else None
        )
        for question in checked:
            assert check_ctx is not None
            for check in question.checks:
                if not check.condition.evaluate(check_ctx):
                    continue
                text = self._render(check.message, check_ctx, state, False) or ""
                key = self._check_key(question, visit.suffix)
                if check.severity == "error":
                    errors.append(Problem(key, text, f"{key}#{check.index}", "error"))
                else:
                    warnings.append(Problem(key, text, f"{key}#{check.index}", "warning"))
        if errors:
            return SubmitResult(False, state, errors, warnings, [], values)
        if prompts:
            events = [Event("prompt", now, p.key) for p in prompts if p.key not in state.prompted]
            state.prompted.update(p.key for p in prompts)
            return SubmitResult(False, state, prompts, [], events, values)
        events: list[Event] = []
        if warnings:
            unconfirmed = [
                w for w in warnings if not (confirm is True or (confirm and w.id in confirm))
            ]
            if unconfirmed:
                return SubmitResult(False, state, [], unconfirmed, [], values)
            events = [
                Event("warning_confirmed", now, w.key, data={"id": w.id, "message": w.message})
                for w in warnings
            ]
        stored = state.answers
        mode = state.mode
        for key, value in values.items():
            old = stored.get(key, _ABSENT)
            if old is _ABSENT or old != value or type(old) is not type(value):
                events.append(
                    Event("answer", now, key, to_json(value), {"actor": actor, "mode": mode})
                )
            stored[key] = value
        shown_at = visit.shown_at
        page_data = {
            "page": visit.page,
            "suffix": visit.suffix,
            "shown_at": shown_at.isoformat() if shown_at else None,
            "seconds": (now - shown_at).total_seconds() if shown_at else None,
            "mode": mode,
        }
        events.append(Event("page", now, "", None, page_data))
        events.extend(self._move_on(state, visit.frames, now, page.loop, visit.suffix))
        return SubmitResult(True, state, [], [], events, values)

    def _check_key(self, question: Question, suffix: str | None) -> str:
        sfx = f"_{suffix}" if suffix is not None else ""
        if question.type == "grid" and question.rows:
            return f"{question.rows[0].id}{sfx}"
        return f"{question.id}{sfx}"

    def _take(
        self,
        question: Question,
        ctx: _Context,
        state: State,
        answers: Mapping[str, Any],
        values: dict[str, Any],
        errors: list[Problem],
        prompts: list[Problem],
    ) -> None:
        """Coerce and validate one question's input into ``values``."""
        if not question.stores_value and question.type != "grid":
            return
        lang = state.language
        sfx = f"_{ctx.suffix}" if ctx.suffix is not None else ""
        if question.type == "grid":
            row_keys = [
                f"{r.id}{sfx}" for r in question.rows if r.when is None or r.when.evaluate(ctx)
            ]
            empty_rows = []
            for key in row_keys:
                result = coerce_code(question, answers.get(key), lang)
                if not self._accept(question, key, result, state, values, errors):
                    continue
                if result.value is None:
                    empty_rows.append(key)
            self._handle_empty(
                question, empty_rows, row_keys[0] if row_keys else "", state, errors, prompts
            )
            return
        key = f"{question.id}{sfx}"
        result = coerce_answer(question, answers.get(key), lang, state.now.date())
        if not self._accept(question, key, result, state, values, errors):
            return
        value = result.value
        if value is None:
            self._handle_empty(question, [key], key, state, errors, prompts)
        if question.type == "multi" and isinstance(value, tuple):
            self._multi_rules(question, key, value, lang, errors)
        other = question.other_option
        if other is not None:
            other_key = f"{question.id}_other{sfx}"
            chosen = (
                value == other.code
                if question.type == "single"
                else isinstance(value, tuple) and other.code in value
            )
            text = answers.get(other_key)
            text = " ".join(str(text).split()) if isinstance(text, str) else None
            if chosen and not text:
                errors.append(
                    Problem(
                        other_key,
                        message(
                            lang,
                            "other_needed",
                            label=other.label.source(lang, self.q.default_language),
                        ),
                    )
                )
            elif chosen and text is not None and len(text) > 200:
                errors.append(
                    Problem(other_key, message(lang, "too_long", max_length=200, length=len(text)))
                )
            values[other_key] = text if chosen else None

    def _accept(
        self,
        question: Question,
        key: str,
        result: Coerced,
        state: State,
        values: dict[str, Any],
        errors: list[Problem],
    ) -> bool:
        if result.error is not None:
            errors.append(Problem(key, result.error))
            return False
        value = result.value
        if value is DK and not question.allow_dk:
            errors.append(Problem(key, message(state.language, "dk_not_allowed")))
            return False
        if value is REFUSED and not question.allow_refused:
            errors.append(Problem(key, message(state.language, "refused_not_allowed")))
            return False
        values[key] = value
        return True

    def _handle_empty(
        self,
        question: Question,
        empty: list[str],
        prompt_key: str,
        state: State,
        errors: list[Problem],
        prompts: list[Problem],
    ) -> None:
        """Decide what an unanswered question means in this mode."""
        if not empty:
            return
        lang = state.language
        if question.required:
            key = (
                "choose_one"
                if question.choices is not None and question.type != "multi"
                else ("choose_some" if question.type == "multi" else "required")
            )
            for k in empty:
                errors.append(Problem(k, message(lang, key)))
            return
        if state.mode == "cati" and (question.allow_dk or question.allow_refused):
            # An interviewer keys don't know or refused rather than leaving a gap;
            # a question that offers neither (an optional open comment) may stay empty.
            for k in empty:
                errors.append(Problem(k, message(lang, "interviewer_key")))
            return
        if (
            state.mode == "web"
            and self.q.web_missing == "after_skip"
            and (question.allow_dk or question.allow_refused)
            and prompt_key not in state.prompted
        ):
            prompts.append(Problem(prompt_key, message(lang, "skip_prompt"), kind="prompt"))

    def _multi_rules(
        self, question: Question, key: str, value: tuple[int, ...], lang: str, errors: list[Problem]
    ) -> None:
        assert question.choices is not None
        if len(value) > 1:
            for code in value:
                option = question.choices.option(code)
                if option is not None and option.exclusive:
                    errors.append(
                        Problem(
                            key,
                            message(
                                lang,
                                "exclusive",
                                label=option.label.source(lang, self.q.default_language),
                            ),
                        )
                    )
                    return
        if question.min_choices is not None and len(value) < question.min_choices:
            errors.append(Problem(key, message(lang, "min_choices", n=question.min_choices)))
        if question.max_choices is not None and len(value) > question.max_choices:
            errors.append(Problem(key, message(lang, "max_choices", n=question.max_choices)))

    # ------------------------------------------------------- back, jump, finish

    def back(self, state: State, *, now: dt.datetime) -> list[Event]:
        """Return to the previous page; its answers stay filled in."""
        if state.finished:
            raise EngineError("the interview has finished")
        if len(state.history) < 2:
            raise EngineError("this is the first page")
        left, current = self._return_to(state, len(state.history) - 2, now)
        return [Event("back", now, data={"from": left.page, "to": current.page})]

    def jump(self, state: State, key: str, *, now: dt.datetime) -> list[Event]:
        """Go back to the page that asked ``key`` so it can be changed.

        Routing is recomputed from there as the person moves on; answers that
        fall off the route stay in :attr:`State.answers` but leave the data.
        """
        if state.finished:
            raise EngineError("the interview has finished")
        for index in range(len(state.history) - 1, -1, -1):
            if key in state.history[index].keys or state.history[index].page == key:
                break
        else:
            raise EngineError(f"'{key}' has not been asked on the current route")
        left, current = self._return_to(state, index, now)
        return [Event("jump", now, key, data={"from": left.page, "to": current.page})]

    def _return_to(self, state: State, index: int, now: dt.datetime) -> tuple[PageVisit, PageVisit]:
        """Pop the history back to visit ``index``; returns the page left and the page returned to."""
        state.now = now
        left = state.current
        assert left is not None
        while len(state.history) > index + 1:
            self._pop(state)
        current = state.history[-1]._replace(shown_at=now)
        state.history[-1] = current
        return left, current

    def switch_mode(self, state: State, mode: str, *, now: dt.datetime) -> list[Event]:
        """Carry on in another mode (a web break-off finished by telephone, say)."""
        if mode not in self.q.modes:
            raise EngineError(f"questionnaire '{self.q.id}' does not run in mode '{mode}'")
        if mode == state.mode:
            return []
        old = state.mode
        state.mode = mode
        state.now = now
        if mode not in state.modes_used:
            state.modes_used.append(mode)
        return [Event("mode", now, data={"from": old, "to": mode})]

    def switch_language(self, state: State, language: str, *, now: dt.datetime) -> list[Event]:
        """Carry on in another of the questionnaire's languages (answers are language-free codes)."""
        if language not in self.q.languages:
            raise EngineError(
                f"questionnaire '{self.q.id}' has no language '{language}' (it has {', '.join(self.q.languages)})"
            )
        if language == state.language:
            return []
        old = state.language
        state.language = language
        state.now = now
        return [Event("language", now, data={"from": old, "to": language})]

    def preview_step(
        self, page_id: str, *, mode: str, language: str | None = None, now: dt.datetime
    ) -> Step:
        """Any page as a step, every question shown, for staff previews; creates no interview data.

        Fills show as they would with nothing answered yet; a page inside a loop
        is shown as its first iteration. :raises KeyError: for an unknown page.
        """
        page = self.q.pages[page_id]
        state = self.start(now=now, seed=1, mode=mode, language=language)
        suffix = None
        if page.loop is not None:
            loop = self.q.loops[page.loop]
            choices = self.q.questions[loop.for_each].choices if loop.for_each else None
            suffix = str(choices.options[0].code) if choices is not None else "1"
            state.loop_keys[page.loop] = [suffix]
        ctx = _Context(self, state, page.loop, suffix)
        html = mode in ("web", "cati")
        views = tuple(self._question_view(q, ctx, state, html) for q in page.questions)
        section = self.page_section.get(page.id)
        return Step(
            kind="end" if self._is_end_page(page.id) else "page",
            page_id=page.id,
            token="preview",
            questions=views,
            progress=min(1.0, (page.questions[0].ordinal - 1) / self.q.question_count),
            can_go_back=False,
            section_title=self._render(section.title, ctx, state, html)
            if section and section.title
            else None,
            loop=page.loop,
            iteration=1 if suffix is not None else None,
            iteration_label=self._iteration_label(page.loop, suffix, state)
            if page.loop and suffix
            else None,
            language=state.language,
            mode=mode,
        )

    def finish(self, state: State, *, now: dt.datetime) -> list[Event]:
        """Close an interview: a finished one keeps its outcome, an unfinished one becomes partial."""
        if state.finished:
            return []
        state.outcome = "partial"
        state.finished_at = now
        state.now = now
        return [Event("finish", now, data={"outcome": "partial"})]

    # -------------------------------------------------------------------- data

    def values(self, state: State) -> dict[str, Any]:
        """Every variable key with its final value: answers on the route, computed values, arms, preloads.

        Keys not on the route are absent (the dataset builder codes them as routed past).
        """
        answers = state.answers
        result: dict[str, Any] = {key: answers.get(key) for key in state.on_route}
        case = state.case
        for name in self._preload_names:
            if name in case:
                result[name] = case[name]
        for name in self._experiment_names:
            result[name] = state.arms.get(name)
        if self._computed:
            ctx = _Context(self, state)
            for name, loop in self._computed:
                if loop is None:
                    result[name] = ctx.get(name)
                else:
                    for it in ctx.iterations(loop):
                        result[f"{name}_{it.suffix}"] = it.get(name)
        return result

    def asked_ids(self, state: State) -> list[str]:
        """Question ids asked on the route, in order (grids by question id, loops once per iteration)."""
        asked = []
        for visit in state.history:
            page = self.q.pages[visit.page]
            ctx = _Context(self, state, page.loop, visit.suffix)
            for q in page.questions:
                if self._question_on_route(q, ctx):
                    asked.append(q.id)
        return asked


def _spoken_source(item: Question | GridRow, mode: str) -> Text | None:
    """The wording said aloud in ``mode``: the automated call's, else the interviewer's, else the screen's."""
    if mode == "ivr":
        return item.ivr or item.read_out or item.text
    if mode == "cati":
        return item.read_out or item.text
    return item.text


def _rng(seed: int, *parts: str) -> random.Random:
    """A generator for one purpose of one interview, independent of all others."""
    return random.Random("|".join((str(seed),) + parts))


_ABSENT: Any = object()
"""Marks a variable never answered (``None`` is an answer: left empty)."""

_NO_TEXTS: tuple[str | None, ...] = ("", "", None, None, None)

_PERMUTATIONS_KEPT = 4096
"""How many recent shuffles an engine remembers (each a short tuple of ints)."""
