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

from collections.abc import Callable, Mapping, Sequence
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


def loop_suffixes(loop: Loop, ctx: Context) -> list[str] | None:
    """The suffixes of a loop's iterations: the codes chosen (``for_each``) or 1..count;
    ``None`` when the count (or the choice) is not known: don't know, refused, unanswered.

    :raises EngineError: for a count larger than the loop's max, which no page
        refused (the count of a nested loop read from outside it, say): an
        interview stops rather than drop iterations without a word.
    """
    if loop.another is not None:  # a list collector: as many as its answers say
        return collected(loop, ctx.state)
    if loop.for_list is not None:  # the persons of a list collected earlier
        return list(ctx.state.loop_keys.get(loop.for_list, ()))
    if loop.for_each is not None:
        chosen = ctx.get(loop.for_each)
        return [str(code) for code in chosen] if isinstance(chosen, tuple) else None
    count = loop.count.evaluate(ctx) if loop.count is not None else 0
    if not isinstance(count, (int, float)) or is_missing(count):
        return None
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
        text: Callable[..., str] = message,
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
                problems.append(Problem(key, text(state.language, "loop_over_max", max=loop.max)))
        return problems


# ------------------------------------------------------------- iterations that happened
#
# ``state.loop_keys[loop]`` lists the suffixes of every iteration of a loop on the route,
# in order. A loop inside another has one run per iteration of the outer loop, and its
# suffixes carry the outer one's in front (``2_3``: household 2, person 3), so the list
# still names every iteration once, as the exports' variable names do (``age_2_3``).
# A loop is entered on the way to a page; the page's visit names it ("people" or, for
# one run of a nested loop, "people@2"), so going back past that page forgets it.


def _instance(loop: Loop, ctx: Context | None) -> tuple[str, str]:
    """The entry a run of ``loop`` is known by, and the prefix of its suffixes."""
    if loop.parent is None or ctx is None or ctx.suffix is None:
        return loop.id, ""
    return f"{loop.id}@{ctx.suffix}", ctx.suffix + "_"


def enter_loop(state: State, loop: Loop, ctx: Context, entered: list[str]) -> int | None:
    """Record the iterations of a run of ``loop`` begun in ``ctx``; the index of its first.

    ``None`` when it has none. The run is added to ``entered``. A loop whose count
    is not known is not recorded at all (aggregates over it are then unknown, not 0).
    """
    instance, prefix = _instance(loop, ctx)
    own = loop_suffixes(loop, ctx)
    old = state.loop_keys.get(loop.id)
    if own is None and not prefix:
        if old is not None:
            del state.loop_keys[loop.id]
            state.changed()
        return None
    suffixes = [prefix + suffix for suffix in own or ()]
    if prefix:
        kept = [s for s in old or () if not s.startswith(prefix)]
        # runs stay in the order of the outer iterations they belong to
        at = next((i for i, s in enumerate(kept) if _outer_after(s, prefix, state, loop)), None)
        at = len(kept) if at is None else at
        keys = kept[:at] + suffixes + kept[at:]
        first = at if suffixes else None
    else:
        keys = suffixes
        first = 0 if suffixes else None
    if old != keys:
        state.loop_keys[loop.id] = keys
        state.changed()  # aggregates over the loop see its new iterations
    entered.append(instance)
    return first


def _outer_after(suffix: str, prefix: str, state: State, loop: Loop) -> bool:
    """Whether ``suffix`` belongs to an outer iteration after the one ``prefix`` names."""
    outer = state.loop_keys.get(loop.parent or "", ())
    mine, theirs = prefix[:-1], suffix.rpartition("_")[0]
    try:
        return outer.index(theirs) > outer.index(mine)
    except ValueError:
        return False


def has_next(keys: Sequence[str], index: int) -> bool:
    """Whether the run holding iteration ``index`` has another after it."""
    if index + 1 >= len(keys):
        return False
    return keys[index + 1].rpartition("_")[0] == keys[index].rpartition("_")[0]


def forget(state: State, entered: Sequence[str]) -> None:
    """Forget the iterations of loops entered on the way to a page the route left."""
    for instance in entered:
        loop, _, outer = instance.partition("@")
        if not outer:
            state.loop_keys.pop(loop, None)
            continue
        keys = state.loop_keys.get(loop)
        if keys:
            prefix = outer + "_"
            state.loop_keys[loop] = [s for s in keys if not s.startswith(prefix)]
    state.changed()


def run_of(keys: Sequence[str], suffix: str) -> tuple[int, int]:
    """``(number, count)``: where iteration ``suffix`` stands in its run, from 1 (0 if absent)."""
    outer = suffix.rpartition("_")[0]
    run = [s for s in keys if s.rpartition("_")[0] == outer]
    return (run.index(suffix) + 1 if suffix in run else 0), len(run)


def collected(loop: Loop, state: State) -> list[str]:
    """The persons of a list collector: 1, then one more for every "anyone else?" answered yes
    (see :mod:`instrument.engine.lists`)."""
    answers = state.answers
    count = 1
    while count < loop.max and answers.get(f"{loop.another}_{count}") == 1:
        count += 1
    return [str(i) for i in range(1, count + 1)]


def refresh_collected(state: State, loop: Loop) -> None:
    """At the end of a person's questions: the list as its answers now say (one more, or fewer)."""
    keys = collected(loop, state)
    if state.loop_keys.get(loop.id) != keys:
        state.loop_keys[loop.id] = keys
        state.changed()
