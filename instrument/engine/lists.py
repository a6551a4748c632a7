"""List collectors: people added one at a time, "anyone else?", change or remove.

A list collector is a loop whose number of iterations is not asked first: after
each person's questions comes the list's own yes/no question (``<list>_another``),
and a yes adds another iteration, up to the list's ``max``. The list is what its
answers say: persons ``1`` .. ``n`` where every "anyone else?" before the n-th was
yes, so going back and changing one answer changes the list, as any route does.
Later loops ``for_list`` go over the same persons, named as the list names them.

Removing a person renumbers the ones after (person 3 becomes person 2) in every
loop that goes over the list, so the exported ``name_2`` is always the second
person listed, and the route is rebuilt as far as the list's summary again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from instrument.engine.context import Context
from instrument.engine.errors import EngineError
from instrument.engine.loops import collected, forget
from instrument.engine.routing import Router
from instrument.engine.state import Frame, State
from instrument.engine.steps import Event
from instrument.model import Loop, Page, Questionnaire, Variable
from instrument.values import to_json

__all__ = ["list_items", "remove_item"]

MAX_REPLAY = 10_000
"""Pages walked at most when rebuilding the route after a removal (a guard, never reached)."""


def list_items(
    q: Questionnaire, state: State, loop: Loop, label: Any
) -> tuple[tuple[str, str, str], ...]:
    """The list so far, for its summary: each person's suffix, name (``label(loop, suffix)``)
    and the key to jump to to change them (their first answer)."""
    first = next((name for page in _pages(loop) for name in _names(page)), "")
    return tuple(
        (suffix, label(loop.id, suffix, state) or f"{loop.id} {suffix}", f"{first}_{suffix}")
        for suffix in state.loop_keys.get(loop.id, ())
    )


def _pages(loop: Loop) -> list[Page]:
    """The list's pages in order (sections and blocks inside it opened)."""
    found: list[Page] = []
    stack = list(reversed(loop.items))
    while stack:
        item = stack.pop()
        if isinstance(item, Page):
            found.append(item)
        else:
            stack.extend(reversed(item.items))
    return found


def _names(page: Page) -> list[str]:
    return [name for question in page.questions for name in question.variable_names]


def _over_list(q: Questionnaire, list_id: str) -> set[str]:
    """The list collector and the loops that go over its persons."""
    return {list_id} | {lid for lid, loop in q.loops.items() if loop.for_list == list_id}


def _renumber(
    q: Questionnaire, state: State, list_id: str, removed: int, now: dt.datetime, actor: str
) -> list[Event]:
    """Move the answers of the persons after ``removed`` down by one; drop the removed one's."""
    loops = _over_list(q, list_id)
    names = [n for n, v in q.variables.items() if v.loop in loops and v.kind != "computed"]
    answers = state.answers
    events: list[Event] = []
    count = len(state.loop_keys.get(list_id, ()))
    for name in names:
        for person in range(removed, max(count, removed) + 1):
            key, later = f"{name}_{person}", f"{name}_{person + 1}"
            old = answers.get(key)
            if later in answers:
                answers[key] = answers.pop(later)
            else:
                answers.pop(key, None)
            new = answers.get(key)
            if new != old:
                data = {"actor": actor, "mode": state.mode, "reason": "removed from the list"}
                events.append(Event("answer", now, key, to_json(new), data))
    return events


def remove_item(
    q: Questionnaire,
    router: Router,
    variables: Mapping[str, Variable],
    state: State,
    list_id: str,
    suffix: str,
    now: dt.datetime,
    actor: str,
) -> list[Event]:
    """Remove one person from a list, from the list's summary ("anyone else?") page.

    :raises EngineError: not on that page, or no such person.
    """
    loop = q.loops.get(list_id)
    visit = state.current
    if loop is None or loop.another is None:
        raise EngineError(f"'{list_id}' is not a list")
    if state.finished or visit is None or visit.page != loop.another:
        raise EngineError(f"a person is removed from list '{list_id}' on its summary page")
    persons = state.loop_keys.get(list_id, [])
    if suffix not in persons:
        raise EngineError(f"list '{list_id}' has no person {suffix}")
    # back to where the route entered the list: it is walked again with the new numbering
    first = next(
        i for i, v in enumerate(state.history) if any(f.container == list_id for f in v.frames)
    )
    events = [Event("remove", now, list_id, None, {"list": list_id, "item": suffix})]
    events += _renumber(q, state, list_id, int(suffix), now, actor)
    if first > 0:
        router.return_to(state, first - 1, now)
        before = state.history[-1]
        page = q.pages[before.page]
        frames, ctx = before.frames, Context(variables, state, page.loop, before.suffix)
    else:  # the list opens the questionnaire: start again from the top
        router.return_to(state, 0, now)
        gone = state.history.pop()
        state.on_route.difference_update(gone.keys)
        forget(state, gone.entered)
        frames, ctx = (Frame("", -1),), None
    state.changed()
    last = f"{loop.another}"
    for _ in range(MAX_REPLAY):
        router.move_on(state, frames, now, ctx)
        visit = state.current
        assert visit is not None
        if state.finished or (
            visit.page == last and visit.suffix == str(len(collected(loop, state)))
        ):
            break
        page = q.pages[visit.page]
        frames, ctx = visit.frames, Context(variables, state, page.loop, visit.suffix)
    return events
