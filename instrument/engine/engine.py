"""The interview engine: routing, validation and text fills for every mode.

An :class:`Engine` wraps one questionnaire and works on :class:`State` objects.
It does no I/O, reads no clock (callers pass ``now``) and draws every random
choice from the interview's seed, so the same seed and the same answers give
the same interview in every mode and on every machine.

This module is the engine's face; the work is done by one part per idea:
:mod:`~instrument.engine.routing` (the cursor and the route),
:mod:`~instrument.engine.rendering` (steps and question views),
:mod:`~instrument.engine.wording` (texts, fills, the mode's wording),
:mod:`~instrument.engine.validation` (what a submit accepts),
:mod:`~instrument.engine.randomisation` (everything drawn from the seed), over
:mod:`~instrument.engine.layout` (the questionnaire indexed once) and
:mod:`~instrument.engine.context` (answers as expressions see them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from instrument.engine.case import typed_case
from instrument.engine.context import Context, routed_through
from instrument.engine.errors import EngineError, StaleSubmission
from instrument.engine.layout import Layout
from instrument.engine.lists import remove_item
from instrument.engine.randomisation import Shuffler, draw_arms
from instrument.engine.reach import Beyond, Reach
from instrument.engine.rendering import Renderer
from instrument.engine.routing import Router, question_on_route
from instrument.engine.state import Frame, PageVisit, State
from instrument.engine.steps import Event, Step, SubmitResult
from instrument.engine.summary import returning_to
from instrument.engine.validation import Validator
from instrument.engine.wording import Wording
from instrument.model import Questionnaire

__all__ = ["Engine", "EngineError", "StaleSubmission"]


class Engine:
    """Runs interviews of one questionnaire."""

    def __init__(self, questionnaire: Questionnaire) -> None:
        self.q = questionnaire
        self.variables = questionnaire.variables
        layout = self.layout = Layout(questionnaire)
        self.containers = layout.containers
        self.container_nodes = layout.container_nodes
        self.page_section = layout.page_section
        shuffler = Shuffler()
        self._router = Router(layout, shuffler, self.variables)
        wording = Wording(questionnaire, self.variables)
        self._renderer = Renderer(layout, self._router, shuffler, wording, self.variables)
        self._validator = Validator(layout, self._router, wording, self.variables)
        # what values() reads, in questionnaire order, worked out once
        variables = self.variables.items()
        self._preload_names = [n for n, v in variables if v.kind == "preload"]
        self._experiment_names = [n for n, v in variables if v.kind == "experiment"]
        self._computed = [(n, v.loop) for n, v in variables if v.kind == "computed"]
        self._reach = Reach(questionnaire, self.variables)
        self._list_summaries = {
            loop.another for loop in questionnaire.loops.values() if loop.another
        }

    # ------------------------------------------------------------------ start

    def start(
        self,
        *,
        now: dt.datetime,
        seed: int,
        mode: str | None = None,
        language: str | None = None,
        case: Mapping[str, Any] | None = None,
    ) -> State:
        """Begin an interview (in ``mode``, default the questionnaire's first) and move to its first page."""
        q = self.q
        mode = mode or q.modes[0]
        if mode not in q.modes:
            raise EngineError(
                f"questionnaire '{q.id}' does not run in mode '{mode}' (it runs in {', '.join(q.modes)})"
            )
        language = language or q.default_language
        self._check_language(language)
        seed = int(seed)
        state = State(
            questionnaire_id=q.id,
            questionnaire_hash=q.content_hash,
            mode=mode,
            language=language,
            seed=seed,
            case=typed_case(q, case or {}),
            arms=draw_arms(q, seed),
            started_at=now,
            now=now,
            modes_used=[mode],
        )
        self._validator.counts.check_start(state, self.variables)  # a preloaded count too large
        self._router.move_on(state, (Frame("", -1),), now, None)
        return state

    def _check_language(self, language: str) -> None:
        if language not in self.q.languages:
            raise EngineError(
                f"questionnaire '{self.q.id}' has no language '{language}' (it has {', '.join(self.q.languages)})"
            )

    # ------------------------------------------------------------------- steps

    def current_step(self, state: State, *, html: bool | None = None, texts: bool = True) -> Step:
        """The page to show now (or the end screen), rendered for the interview's mode and language.

        ``texts=False`` leaves every wording empty (``""`` or ``None``) and
        keeps the rest: for drivers that need only the structure of the page,
        such as the simulator, since filling texts is much of a step's cost.
        Fills never fail a step (a failing fill shows the wording without it),
        so skipping them changes nothing else.
        """
        return self._renderer.step(state, html, texts)

    def preview_step(
        self, page_id: str, *, mode: str, language: str | None = None, now: dt.datetime
    ) -> Step:
        """Any page as a step, every question shown, for staff previews; creates no interview data.

        Fills show as they would with nothing answered yet; a page inside a loop
        is shown as its first iteration. :raises KeyError: for an unknown page.
        """
        if page_id not in self.q.pages:
            raise KeyError(page_id)
        state = self.start(now=now, seed=1, mode=mode, language=language)
        return self._renderer.preview(state, page_id, mode)

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
        return self._validator.submit(state, answers, now, token, confirm, actor)

    # ------------------------------------------------------- back, jump, finish

    def back(self, state: State, *, now: dt.datetime) -> list[Event]:
        """Return to the previous page; its answers stay filled in."""
        if state.finished:
            raise EngineError("the interview has finished")
        if len(state.history) < 2:
            raise EngineError("this is the first page")
        state.returning = None
        left, current = self._router.return_to(state, len(state.history) - 2, now)
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
        state.returning = self._return_point(state.history[-1])
        left, current = self._router.return_to(state, index, now)
        return [Event("jump", now, key, data={"from": left.page, "to": current.page})]

    def _return_point(self, here: PageVisit) -> str | None:
        """Where a change made from ``here`` returns once answered (``State.returning``):
        a "check your answers" page, or a list's summary ("anyone else?") as this person's
        page of it (``page@suffix``), so changing person 1 of 3 comes back to the summary
        rather than walking on through persons 2 and 3."""
        if self.q.pages[here.page].questions[0].type == "summary":
            return here.page
        if here.page in self._list_summaries:
            return returning_to(here.page, here.suffix)
        return None

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
        self._check_language(language)
        if language == state.language:
            return []
        old = state.language
        state.language = language
        state.changed()
        state.now = now
        return [Event("language", now, data={"from": old, "to": language})]

    def remove_item(
        self, state: State, list_id: str, item: str, *, now: dt.datetime, actor: str = "respondent"
    ) -> list[Event]:
        """Remove person ``item`` (its suffix, "2") from a list, on the list's summary page.

        The persons after it move down one (their answers in every loop over the
        list with them) and the route is walked again to the summary.
        :raises EngineError: not on the list's summary page, or no such person.
        """
        return remove_item(self.q, self._router, self.variables, state, list_id, item, now, actor)

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
        So are computed variables an unfinished interview has not reached yet (a
        later section, a loop iteration not begun): like the questions around
        them, they have no value yet (see :mod:`instrument.engine.reach`).
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
            ctx = Context(self.variables, state)
            variables = self.variables
            beyond = self._reach.beyond(state)
            for name, loop in self._computed:
                var = variables[name]
                question = var.question
                guarded = question is not None and question.guards
                for it in ctx.iterations(loop) if loop is not None else (ctx,):
                    if beyond is not None and beyond(var.ordinal, loop, it.suffix):
                        continue  # not reached yet: absent, as the questions after it are
                    if guarded and not routed_through(question, it):
                        continue  # routed past: absent, as an answer routed past is
                    result[name + it.sfx] = it.get(name)
        return result

    def not_reached(self, state: State) -> Beyond | None:
        """``test(ordinal, loop, suffix)``: whether an item lies beyond the page an unfinished
        interview is on, so that the export codes it as not reached rather than routed past;
        ``None`` for a finished interview (see :mod:`instrument.engine.reach`)."""
        return self._reach.beyond(state)

    def asked_ids(self, state: State) -> list[str]:
        """Question ids asked on the route, in order (grids by question id, loops once per iteration)."""
        asked = []
        for visit in state.history:
            page = self.q.pages[visit.page]
            ctx = Context(self.variables, state, page.loop, visit.suffix)
            for q in page.questions:
                if question_on_route(q, ctx):
                    asked.append(q.id)
        return asked
