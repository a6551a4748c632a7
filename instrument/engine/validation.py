"""Validation: what a person entered on a page, checked, stored and moved on from.

A submit coerces each shown question's input (:mod:`instrument.engine.answers`),
refuses don't know or refused where a question does not allow them, decides
what an empty answer means in the interview's mode (an error, a skip prompt,
or a gap), applies a multiple choice's rules, then runs the questionnaire's
cross-answer checks as if the page's answers were saved. Only a page with no
errors, no new skip prompt and every soft warning confirmed is stored; the
state is otherwise left as it was (but for remembering a prompt).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from instrument.engine.answers import Coerced, coerce_answer, coerce_code
from instrument.engine.context import Context
from instrument.engine.errors import EngineError, StaleSubmission
from instrument.engine.layout import Layout
from instrument.engine.loops import LoopCounts
from instrument.engine.offered import date_limits, refuse_unoffered
from instrument.engine.routing import Router
from instrument.engine.state import State
from instrument.engine.steps import Event, Problem, SubmitResult
from instrument.engine.summary import carry_on_to_summary
from instrument.engine.wording import Wording
from instrument.model import Question, Variable
from instrument.values import DK, REFUSED, to_json

__all__ = ["Validator"]

OTHER_MAX_LENGTH = 200
"""The longest "other, please specify" text accepted."""

_ABSENT: Any = object()
"""Marks a variable never answered (``None`` is an answer: left empty)."""


class Validator:
    """Takes the answers to the current page of one questionnaire's interviews."""

    def __init__(
        self,
        layout: Layout,
        router: Router,
        wording: Wording,
        variables: Mapping[str, Variable],
    ) -> None:
        self.q = layout.q
        self.router = router
        self.wording = wording
        self.variables = variables
        self._checked_pages = layout.checked_pages
        self.layout = layout
        self.message = layout.q.interface_texts.domain("engine")
        """The engine's texts, the researcher's own over ours."""
        self.counts = LoopCounts(layout.q, layout.loops)

    def submit(
        self,
        state: State,
        answers: Mapping[str, Any],
        now: dt.datetime,
        token: str | None,
        confirm: bool | Collection[str],
        actor: str,
    ) -> SubmitResult:
        """Answer the current page; see :meth:`Engine.submit`."""
        visit = state.history[-1] if state.history else None
        finished = state.outcome is not None
        if token is not None and (visit is None or token != str(visit.visit) or finished):
            raise StaleSubmission(
                "this page has already been answered or left; showing the current page"
            )
        if finished:
            raise EngineError("the interview has finished")
        assert visit is not None
        if state.now.date() != now.date():
            state.changed()  # today() moved on
        state.now = now
        page = self.q.pages[visit.page]
        ctx = Context(self.variables, state, page.loop, visit.suffix)
        errors: list[Problem] = []
        prompts: list[Problem] = []
        values: dict[str, Any] = {}
        shown = self.router.shown(page, ctx)
        for question in shown:
            self._take(question, ctx, state, answers, values, errors, prompts)
        if errors:
            return SubmitResult(False, state, errors, [], [], values)
        warnings: list[Problem] = []
        if page.id in self._checked_pages:
            self._check(shown, state, page.loop, visit.suffix, values, errors, warnings)
        if page.id in self.counts.by_page:  # a count larger than its loop's max is refused
            errors += self.counts.problems(
                page, state, visit.suffix, values, self.variables, self.message
            )
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
        answered = False
        for key, value in values.items():
            old = stored.get(key, _ABSENT)
            if old is _ABSENT or old != value or type(old) is not type(value):
                events.append(
                    Event("answer", now, key, to_json(value), {"actor": actor, "mode": mode})
                )
                answered = True
            stored[key] = value
        if answered:
            state.changed()  # computed values may read what changed
        shown_at = visit.shown_at
        page_data = {
            "page": visit.page,
            "suffix": visit.suffix,
            "shown_at": shown_at.isoformat() if shown_at else None,
            "seconds": (now - shown_at).total_seconds() if shown_at else None,
            "mode": mode,
        }
        events.append(Event("page", now, "", None, page_data))
        events.extend(self.router.move_on(state, visit.frames, now, ctx))
        if state.returning is not None:  # a change made from a summary: back to it
            events.extend(carry_on_to_summary(self.router, self.layout, self.variables, state, now))
        return SubmitResult(True, state, [], [], events, values)

    def _check(
        self,
        shown: Collection[Question],
        state: State,
        loop: str | None,
        suffix: str | None,
        values: dict[str, Any],
        errors: list[Problem],
        warnings: list[Problem],
    ) -> None:
        """The questionnaire's cross-answer checks, seeing this page's answers as if saved."""
        checked = [question for question in shown if question.checks]
        if not checked:
            return
        ctx = Context(self.variables, state, loop, suffix, overlay=values)
        sfx = ctx.sfx
        keypad = self.q.mode_policies[state.mode].keypad
        for question in checked:
            if keypad and question.type in ("text", "long_text"):
                # A keypad mode cannot take text (see _handle_empty): the answer is empty or a
                # recording's reference, so checks written for typed text would judge something
                # the person never typed, and a call could never put them right.
                continue
            for check in question.checks:
                if not check.condition.evaluate(ctx):
                    continue
                text = self.wording.render(check.message, ctx, state, False) or ""
                target = question.rows[0].id if question.type == "grid" and question.rows else None
                key = (target or question.id) + sfx
                if check.severity == "error":
                    errors.append(Problem(key, text, f"{key}#{check.index}", "error"))
                else:
                    warnings.append(Problem(key, text, f"{key}#{check.index}", "warning"))

    def _take(
        self,
        question: Question,
        ctx: Context,
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
        sfx = ctx.sfx
        if question.type == "grid":
            row_keys = [
                f"{r.id}{sfx}" for r in question.rows if r.when is None or r.when.evaluate(ctx)
            ]
            empty_rows = []
            for key in row_keys:
                result = coerce_code(question, answers.get(key), lang, self.message)
                if not self._accept(question, key, result, state, values, errors):
                    continue
                if result.value is None:
                    empty_rows.append(key)
            self._handle_empty(
                question, empty_rows, row_keys[0] if row_keys else "", state, errors, prompts
            )
            return
        key = f"{question.id}{sfx}"
        limits = date_limits(question, ctx) if question.type == "date" else None
        result = coerce_answer(
            question, answers.get(key), lang, state.now.date(), self.message, limits
        )
        if question.choice_filter:
            result = refuse_unoffered(question, result, ctx, lang, self.message)
        if not self._accept(question, key, result, state, values, errors):
            return
        value = result.value
        if value is None:
            self._handle_empty(question, [key], key, state, errors, prompts)
        if question.type == "multi" and isinstance(value, tuple):
            self._multi_rules(question, key, value, lang, errors)
        if question.other_option is not None:
            self._take_other(question, value, sfx, lang, answers, values, errors)

    def _take_other(
        self,
        question: Question,
        value: Any,
        sfx: str,
        lang: str,
        answers: Mapping[str, Any],
        values: dict[str, Any],
        errors: list[Problem],
    ) -> None:
        """The "other, please specify" text: needed when its option is chosen, dropped when not."""
        other = question.other_option
        assert other is not None
        other_key = f"{question.id}_other{sfx}"
        chosen = (
            value == other.code
            if question.type == "single"
            else isinstance(value, tuple) and other.code in value
        )
        text = answers.get(other_key)
        text = " ".join(str(text).split()) if isinstance(text, str) else None
        if chosen and not text:
            label = other.label.source(lang, self.q.default_language)
            errors.append(Problem(other_key, self.message(lang, "other_needed", label=label)))
        elif chosen and text is not None and len(text) > OTHER_MAX_LENGTH:
            errors.append(
                Problem(
                    other_key,
                    self.message(lang, "too_long", max_length=OTHER_MAX_LENGTH, length=len(text)),
                )
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
        """Keep a coerced answer, unless it failed or is a don't know / refused not allowed here."""
        if result.error is not None:
            errors.append(Problem(key, result.error))
            return False
        value = result.value
        if value is DK and not question.allow_dk:
            errors.append(Problem(key, self.message(state.language, "dk_not_allowed")))
            return False
        if value is REFUSED and not question.allow_refused:
            errors.append(Problem(key, self.message(state.language, "refused_not_allowed")))
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
        policy = self.q.mode_policies[state.mode]
        if question.required and not (policy.keypad and question.type in ("text", "long_text")):
            # A keypad cannot type text: a required free-text question the mode could not ask
            # (an automated call that does not record, or a caller who declined) stays not
            # answered rather than being asked for ever.
            key = (
                "choose_one"
                if question.choices is not None and question.type != "multi"
                else ("choose_some" if question.type == "multi" else "required")
            )
            for k in empty:
                errors.append(Problem(k, self.message(lang, key)))
            return
        missing = policy.missing
        if missing == "keyed" and (question.allow_dk or question.allow_refused):
            # An interviewer keys don't know or refused rather than leaving a gap;
            # a question that offers neither (an optional open comment) may stay empty.
            if question.allow_dk and question.allow_refused:
                keyed = self.message(lang, "interviewer_key")
            else:  # name only the one the question allows
                which = "dk" if question.allow_dk else "refused_cati"
                keyed = self.message(lang, "interviewer_key_one", label=self.message(lang, which))
            for k in empty:
                errors.append(Problem(k, keyed))
            return
        if (
            missing == "on_request"
            and self.q.web_missing == "after_skip"
            and (question.allow_dk or question.allow_refused)
            and prompt_key not in state.prompted
        ):
            prompts.append(Problem(prompt_key, self._skip_prompt(question, lang), kind="prompt"))

    def _skip_prompt(self, question: Question, lang: str) -> str:
        """The skip prompt, naming only what the question offers (don't know, refused or both)."""
        dk = self.message(lang, "dk")
        refused = self.message(lang, "refused")
        if question.allow_dk and question.allow_refused:
            return self.message(lang, "skip_prompt", dk=dk, refused=refused)
        return self.message(lang, "skip_prompt_one", label=dk if question.allow_dk else refused)

    def _multi_rules(
        self, question: Question, key: str, value: tuple[int, ...], lang: str, errors: list[Problem]
    ) -> None:
        """An exclusive option chosen with others; too few or too many choices."""
        assert question.choices is not None
        if len(value) > 1:
            for code in value:
                option = question.choices.option(code)
                if option is not None and option.exclusive:
                    label = option.label.source(lang, self.q.default_language)
                    errors.append(Problem(key, self.message(lang, "exclusive", label=label)))
                    return
        if question.min_choices is not None and len(value) < question.min_choices:
            errors.append(Problem(key, self.message(lang, "min_choices", n=question.min_choices)))
        if question.max_choices is not None and len(value) > question.max_choices:
            errors.append(Problem(key, self.message(lang, "max_choices", n=question.max_choices)))
