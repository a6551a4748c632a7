"""Loops in a running interview: counts that must fit the loop, and which iterations happened.

A loop holds at most ``max`` iterations (it fixes the width of exported files), so
a count larger than that can only be refused, never cut short: a respondent with
five children must not be asked about three and finish as if complete. The page
whose answer makes a count too large is refused with a message on that answer
(:class:`LoopCounts`); a count that no page sets (a preloaded number of children)
is checked when the interview starts, and anything left is an engine error
rather than silent loss (:func:`loop_suffixes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instrument.engine.context import Context
from instrument.engine.errors import EngineError
from instrument.engine.messages import message
from instrument.engine.state import State
from instrument.engine.steps import Problem
from instrument.model import Loop, Page, Questionnaire, Variable
from instrument.values import is_missing

__all__ = ["LoopCounts", "count_inputs", "loop_suffixes"]


def count_inputs(names: frozenset[str], variables: Mapping[str, Variable]) -> set[str]:
    """The answered variables (and preloads, arms) an expression reads, through computed ones."""
    found: set[str] = set()
    pending = list(names)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        var = variables.get(name)
        if var is None:
            continue
        question = var.question
        if var.kind == "computed" and question is not None and question.expr is not None:
            pending.extend(question.expr.references)
            if question.when is not None:
                pending.extend(question.when.references)
        else:
            found.add(name)
    return found


def loop_suffixes(loop: Loop, ctx: Context) -> list[str]:
    """The suffixes of a loop's iterations: the codes chosen (``for_each``) or 1..count.

    :raises EngineError: for a count larger than the loop's max, which no page
        refused (the count of a nested loop read from outside it, say): an
        interview stops rather than drop iterations without a word.
    """
    if loop.for_each is not None:
        chosen = ctx.get(loop.for_each)
        return [str(code) for code in chosen] if isinstance(chosen, tuple) else []
    count = loop.count.evaluate(ctx) if loop.count is not None else 0
    if not isinstance(count, (int, float)) or is_missing(count):
        return []
    if count > loop.max:
        raise EngineError(
            f"loop '{loop.id}' would have {count} iterations, more than its max of {loop.max}; "
            f"raise the loop's max (instrument check reports counts that can exceed it)"
        )
    return [str(i) for i in range(1, int(count) + 1)]


class LoopCounts:
    """Which pages set a loop's count, and the refusal of a count larger than its loop's max."""

    def __init__(self, q: Questionnaire, loops: Mapping[str, Loop]) -> None:
        self.q = q
        variables = q.variables
        self.by_page: dict[str, list[tuple[Loop, tuple[str, ...]]]] = {}
        """Page id -> the count loops whose count reads a variable the page asks, and those variables."""
        self.unasked: list[Loop] = []
        """Top-level count loops whose count reads no question: checked at the start."""
        page_of: dict[str, Page] = {}
        for page in q.pages.values():
            for question in page.questions:
                for name in question.variable_names:
                    page_of[name] = page
        for loop in loops.values():
            if loop.count is None:
                continue
            inputs = count_inputs(loop.count.references, variables)
            asked = sorted(
                (page_of[name].id, variables[name].ordinal, name)
                for name in inputs
                if name in page_of
            )
            if not asked and loop.parent is None:
                self.unasked.append(loop)
            for page_id in {page for page, _, _ in asked}:
                names = tuple(name for page, _, name in asked if page == page_id)
                self.by_page.setdefault(page_id, []).append((loop, names))

    def check_start(self, state: State, variables: Mapping[str, Variable]) -> None:
        """Refuse to start an interview whose preloaded count is larger than its loop's max."""
        if not self.unasked:
            return
        ctx = Context(variables, state)
        for loop in self.unasked:
            loop_suffixes(loop, ctx)

    def problems(
        self,
        page: Page,
        state: State,
        suffix: str | None,
        values: Mapping[str, Any],
        variables: Mapping[str, Variable],
    ) -> list[Problem]:
        """This page's answers, seen as saved, make a loop's count larger than its max."""
        found = self.by_page.get(page.id)
        if not found:
            return []
        ctx = Context(variables, state, page.loop, suffix, overlay=values)
        problems = []
        for loop, names in found:
            if loop.parent != page.loop or loop.count is None:
                continue  # counted in another loop's iterations: routing refuses it there
            count = loop.count.evaluate(ctx)
            if isinstance(count, (int, float)) and not is_missing(count) and count > loop.max:
                key = names[0] + ctx.sfx
                problems.append(
                    Problem(key, message(state.language, "loop_over_max", max=loop.max))
                )
        return problems
