"""How far an unfinished interview has got: which computed values it has reached.

A computed variable sits between questions. In an interview still under way,
or broken off, one that lies beyond the page the interview is on (in a later
section, or in a loop's iteration not begun yet) has no value yet, just as the
questions around it have no answers: the export codes it as not reached, not
as a value worked out from answers that were never given (a tree's copied plot
id in every one of four trees when only the first was measured).

Positions are compared in the order the route visits them: a loop's
iterations one after another, a loop inside a loop within each iteration of
the outer one. A position is a tuple: for each loop around the item, outermost
first, where the loop starts and which of its iterations this is, then the
item's own number in questionnaire order. Items inside a shuffled block are
compared by that number too, so there "reached" follows the written order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from instrument.engine.state import State
from instrument.model import Questionnaire, Variable, VariableTable

__all__ = ["Reach"]

Beyond = Callable[[int, "str | None", "str | None"], bool]
"""``beyond(ordinal, loop, suffix)``: whether that item lies past the furthest point reached."""


class Reach:
    """Where each loop starts and each page stands, worked out once per engine."""

    def __init__(self, q: Questionnaire, variables: Mapping[str, Variable]) -> None:
        self._around = (
            variables.loops_around
            if isinstance(variables, VariableTable)
            else lambda loop: () if loop is None else (loop,)
        )
        starts: dict[str, int] = {}

        def note(loop: str | None, ordinal: int) -> None:
            for around in self._around(loop):
                if ordinal < starts.get(around, ordinal + 1):
                    starts[around] = ordinal

        self._pages: dict[str, tuple[str | None, int]] = {}
        for page in q.pages.values():
            ordinal = page.questions[0].ordinal
            self._pages[page.id] = (page.loop, ordinal)
            note(page.loop, ordinal)
        for var in variables.values():
            note(var.loop, var.ordinal)
        self._starts = starts

    def beyond(self, state: State) -> Beyond | None:
        """A test of items past the page an unfinished interview is on; ``None`` when
        there is nothing to test: a finished interview (complete or screened out,
        everything on its route was reached) or one with no page yet.

        The test is kept with the state's computed values (:attr:`State.computed`,
        under this object), for the page it was made on: a save asks for it twice,
        for the values (:meth:`Engine.values`) and for the export row's "not
        reached" codes, and both now share one, with the positions it worked out.
        Whatever changes the loops' iterations empties that cache
        (:meth:`State.changed`); a page pushed or returned to is a new visit.

        An iteration the interview knows will not happen (tree 5 of 4, once the
        count is known) is never beyond: it is routed past, not to come. One of a
        loop not entered yet (its count not known) is beyond if the loop is.
        """
        if state.outcome not in (None, "partial") or not state.history:
            return None
        visit = state.history[-1]
        memo = state.computed
        kept = memo.get(self)
        if kept is not None and kept[0] is visit:
            return kept[1]
        loop, ordinal = self._pages[visit.page]
        places: dict[str, _Runs] = {}
        furthest = self._position(loop, visit.suffix, ordinal, state, places)

        def beyond(ordinal: int, loop: str | None, suffix: str | None) -> bool:
            position = self._position(loop, suffix, ordinal, state, places)
            return position is not None and (furthest is None or position > furthest)

        memo[self] = (visit, beyond)
        return beyond

    def _position(
        self,
        loop: str | None,
        suffix: str | None,
        ordinal: int,
        state: State,
        places: dict[str, _Runs],
    ) -> tuple[int, ...] | None:
        """Where an item stands on the route; ``None`` for an iteration that will not happen."""
        if loop is None:
            return (ordinal,)
        chain = self._around(loop)[::-1]  # outermost first
        parts = suffix.split("_") if suffix else []
        last = len(chain) - 1
        key: list[int] = []
        for depth, around in enumerate(chain):
            runs = places.get(around)
            if runs is None:
                runs = places[around] = _Runs(around, state)
            # an outer loop's iteration is the front of the suffix ("2" of "2_3")
            own = (suffix or "") if depth == last else "_".join(parts[: depth + 1])
            index = runs.index.get(own)
            if index is None:
                if runs.entered(own):
                    return None  # its run is known and holds no such iteration
                index = -1  # a run not begun: only where its loop starts counts
            key.append(self._starts.get(around, ordinal))
            key.append(index)
        key.append(ordinal)
        return tuple(key)


class _Runs:
    """The iterations of one loop on an interview's route, looked up by suffix."""

    __slots__ = ("index", "known", "outers")

    def __init__(self, loop: str, state: State) -> None:
        keys = state.loop_keys.get(loop)
        self.known = keys is not None
        self.index = {suffix: i for i, suffix in enumerate(keys or ())}
        self.outers = {suffix.rpartition("_")[0] for suffix in keys or ()}

    def entered(self, suffix: str) -> bool:
        """Whether the run that ``suffix`` would belong to has been entered (its count known)."""
        outer = suffix.rpartition("_")[0]
        return self.known and (not outer or outer in self.outers)
