"""Routing: which page comes next, and which variables are on the route.

Routing never re-walks the whole questionnaire. The state keeps a cursor (a
stack of frames, one per container entered) at each visited page; moving on
evaluates only the conditions between the current page and the next one on
the route, and going back pops the history. The variables on the route are
exactly those shown on the pages in the history, kept up to date as pages
are pushed and popped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from instrument.engine.context import Context
from instrument.engine.layout import Layout
from instrument.engine.loops import enter_loop, forget, has_next, refresh_collected
from instrument.engine.offered import offered_codes
from instrument.engine.randomisation import Shuffler
from instrument.engine.state import Frame, PageVisit, State
from instrument.engine.steps import Event
from instrument.model import Block, Item, Loop, Page, Question, Variable

__all__ = ["Router", "question_on_route"]


def question_on_route(question: Question, ctx: Context) -> bool:
    """Whether ``question`` is asked here: its condition holds and, for a grid, a row does.

    A choice whose ``choice_filter`` leaves no option to offer (a region whose list
    of districts is empty) is not asked: there is nothing the respondent could
    choose, so it is routed past, as if its condition were false, rather than
    shown empty with no way on (``instrument check`` warns where it can happen).
    """
    if question.when is not None and not question.when.evaluate(ctx):
        return False
    if question.type == "grid":
        return any(row.when is None or row.when.evaluate(ctx) for row in question.rows)
    if question.choice_filter:
        return offered_codes(question, ctx) != frozenset()
    return True


class Router:
    """Moves an interview's cursor through one questionnaire."""

    def __init__(self, layout: Layout, shuffler: Shuffler, variables: Mapping[str, Variable]):
        self.layout = layout
        self.shuffler = shuffler
        self.variables = variables
        self._containers = layout.containers
        self._shuffled_blocks = layout.shuffled_blocks
        self._loops = layout.loops
        self._unconditional_keys = layout.unconditional_keys

    # ------------------------------------------------------------ the cursor

    def order(self, state: State, container: str, suffix: str | None) -> tuple[Item, ...]:
        """A container's items in the order this interview shows them."""
        items = self._containers[container]
        if container in self._shuffled_blocks:
            order = self.shuffler.permutation(
                len(items), state.seed, "block", container, suffix or ""
            )
            return tuple([items[i] for i in order])
        return items

    def _loop_suffix(self, state: State, frames: Sequence[Frame]) -> tuple[str | None, str | None]:
        """The innermost loop the cursor is in, and its iteration's (full) suffix."""
        loops = self._loops
        for frame in reversed(frames):
            if frame.container in loops:
                keys = state.loop_keys.get(frame.container, [])
                if frame.iteration < len(keys):
                    return frame.container, keys[frame.iteration]
        return None, None

    def next_page(
        self, state: State, frames: tuple[Frame, ...], ctx: Context | None
    ) -> tuple[Page, tuple[Frame, ...], str | None, Context, tuple[str, ...]] | None:
        """The next page on the route after the cursor, with the cursor at it.

        ``ctx`` is the context of the page at ``frames`` (its loop iteration),
        ``None`` before the first page; the walk evaluates conditions in it
        until it leaves that iteration. Also returns the context the next page's
        conditions were evaluated in, for the caller to reuse. The loop iteration
        and the container's items are worked out again only when the walk enters
        or leaves a container. A loop entered has its iterations recorded in
        ``state.loop_keys``, and is named in the last value returned, so that
        going back past the page forgets them (:func:`~instrument.engine.loops.forget`).
        """
        entered: list[str] = []
        stack = list(frames)
        loop_id = suffix = None
        if ctx is not None:
            loop_id, suffix = ctx.loop, ctx.suffix
        level_changed = False
        top = stack[-1]
        items = self.order(state, top.container, suffix)
        loops = self._loops
        while stack:
            top = stack[-1]
            if level_changed:
                loop_id, suffix = self._loop_suffix(state, stack)
                items = self.order(state, top.container, suffix)
                level_changed = False
            pos = top.pos + 1
            if pos >= len(items):
                if top.container in loops and loops[top.container].another is not None:
                    refresh_collected(state, loops[top.container])  # anyone else?
                if top.container in loops and has_next(
                    state.loop_keys.get(top.container, ()), top.iteration
                ):
                    stack[-1] = Frame(top.container, -1, top.iteration + 1)
                else:
                    stack.pop()
                level_changed = True
                continue
            stack[-1] = Frame(top.container, pos, top.iteration)
            item = items[pos]
            if ctx is None or ctx.loop != loop_id or ctx.suffix != suffix:
                ctx = Context(self.variables, state, loop_id, suffix)
            if isinstance(item, Page):
                if self.page_on_route(item, ctx):
                    return item, tuple(stack), suffix, ctx, tuple(entered)
                continue
            if item.when is not None and not item.when.evaluate(ctx):
                continue
            if isinstance(item, Loop):
                first = enter_loop(state, item, ctx, entered)
                ctx = None  # its remembered loop iterations are out of date now
                if first is None:
                    continue
                stack.append(Frame(item.id, -1, first))
                level_changed = True
                continue
            stack.append(Frame(item.id, -1, 0))
            level_changed = True
        return None

    # ------------------------------------------------------ what is on route

    def page_on_route(self, page: Page, ctx: Context) -> bool:
        if page.when is not None and not page.when.evaluate(ctx):
            return False
        if page.id in self._unconditional_keys:
            return True
        return any(question_on_route(q, ctx) for q in page.questions)

    def shown(self, page: Page, ctx: Context) -> Sequence[Question]:
        """The page's questions on the route, in order."""
        if page.id in self._unconditional_keys:
            return page.questions
        return [q for q in page.questions if question_on_route(q, ctx)]

    def page_keys(self, page: Page, ctx: Context) -> tuple[str, ...]:
        """The variable keys a visit to ``page`` puts on the route."""
        sfx = ctx.sfx
        fixed = self._unconditional_keys.get(page.id)
        if fixed is not None:
            return tuple([key + sfx for key in fixed]) if sfx else fixed
        keys: list[str] = []
        for q in page.questions:
            if not question_on_route(q, ctx):
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

    # -------------------------------------------------- moving the interview

    def move_on(
        self, state: State, frames: tuple[Frame, ...], now: dt.datetime, ctx: Context | None
    ) -> list[Event]:
        """Push the next page on the route after ``frames``, whose context is ``ctx``.

        ``ctx`` is the context the page just answered was checked in (with no
        overlay), or ``None`` at the start. Finishes the interview if there is
        no next page, or if the next page is an end screen.
        """
        found = self.next_page(state, frames, ctx)
        if found is None:
            state.outcome = "complete"
            state.finished_at = now
            return [Event("finish", now, data={"outcome": "complete"})]
        page, new_frames, suffix, ctx, entered = found
        keys = self.page_keys(page, ctx)
        state.visits += 1
        state.history.append(
            PageVisit(page.id, new_frames, keys, state.visits, now, suffix, entered)
        )
        state.on_route.update(keys)
        answers = state.answers
        if page.loop is not None or any(answers.get(key) is not None for key in keys):
            # answers kept from an earlier route count again; an iteration's question now
            # asked and not yet answered makes aggregates over its loop unknown
            state.changed()
        end = page.questions[0] if page.questions[0].type == "end" else None
        if end is not None:
            state.outcome = end.outcome or "complete"
            state.finished_at = now
            return [Event("finish", now, data={"outcome": state.outcome, "page": page.id})]
        return []

    @staticmethod
    def return_to(state: State, index: int, now: dt.datetime) -> tuple[PageVisit, PageVisit]:
        """Pop the history back to visit ``index``; returns the page left and the page returned to.

        The variables of the pages popped leave the route (their answers stay
        in ``state.answers``, should the route come back to them).
        """
        state.now = now
        left = state.current
        assert left is not None
        history = state.history
        while len(history) > index + 1:
            popped = history.pop()
            state.on_route.difference_update(popped.keys)
            if popped.entered:  # loops entered on the way there are routed past until re-entered
                forget(state, popped.entered)
        state.changed()
        current = history[-1]._replace(shown_at=now)
        history[-1] = current
        return left, current

    # -------------------------------------------------------------- progress

    def progress(
        self, page: Page, frames: tuple[Frame, ...], state: State, suffix: str | None
    ) -> float:
        """How far through the questionnaire this page is, from 0 to 1.

        Pages count by the questions before them in the file, except inside a
        randomised block, where they count in the order this interview shows
        them, so the bar never goes backwards.
        """
        layout = self.layout
        fixed = layout.fixed_progress.get(page.id)
        if fixed is not None:
            return fixed
        ordinal = page.questions[0].ordinal
        for frame in frames:
            node = layout.container_nodes.get(frame.container)
            if isinstance(node, Block) and node.randomize and frame.pos >= 0:
                shown = self.order(state, node.id, suffix)
                before = sum(layout.question_span(item) for item in shown[: frame.pos])
                first_of_item = layout.first_ordinal(shown[frame.pos])
                ordinal = layout.first_ordinal(node) + before + (ordinal - first_of_item)
                break
        return layout.share_before(ordinal)
