"""Answers as conditions, computed variables and text fills see them.

Routing, rendering and validation all evaluate expressions against one
interview; a :class:`Context` is what they evaluate them in: a variable's
value if it is on the route (preloads from the case, experiment arms,
computed variables worked out on demand), else nothing. Inside a loop the
context is one iteration's, so ``child_age`` means this child's age, and
aggregates such as ``min(child_age)`` ask for every iteration's context.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from instrument.engine.state import State
from instrument.model import Question, Variable
from instrument.values import DK, REFUSED

__all__ = ["Context", "routed_through"]


def routed_through(question: Question, ctx: Context) -> bool:
    """Whether the route passes through the items around a computed variable (all their conditions hold)."""
    return all(guard.evaluate(ctx) for guard in question.guards)


_ANSWERED = frozenset({"question", "grid_row", "other_text"})
"""Kinds of variable whose value is an answer on the route (the others: preload, experiment, computed)."""


class Context:
    """The values one engine call sees, for one loop iteration (or none).

    A context lives for one engine call, during which the state does not change
    under it, so the per-iteration contexts of a loop are built once and reused
    by every aggregate that asks (``min(child_age)``, ``count_if(...)``).
    ``overlay`` holds answers entered on the page being checked, seen as if saved.

    Computed values are remembered in ``memo``: the state's own cache
    (:attr:`State.computed`, emptied by :meth:`State.changed`), or with an
    overlay a cache of this context's family only, since the overlay's values
    are not the state's.
    """

    __slots__ = ("variables", "state", "loop", "suffix", "sfx", "overlay", "memo", "_iterations")

    def __init__(
        self,
        variables: Mapping[str, Variable],
        state: State,
        loop: str | None = None,
        suffix: str | None = None,
        overlay: Mapping[str, Any] | None = None,
        memo: dict[Any, Any] | None = None,
    ) -> None:
        self.variables = variables
        self.state = state
        self.loop = loop
        self.suffix = suffix
        self.sfx = "" if suffix is None else "_" + suffix
        self.overlay = overlay
        if memo is None:
            memo = state.computed if overlay is None else {}
        self.memo = memo
        self._iterations: dict[str, list[Context]] | None = None

    @property
    def today(self) -> dt.date:
        """The interview's current date, for ``today()`` (few expressions ask)."""
        return self.state.now.date()

    def get(self, name: str) -> Any:
        var = self.variables[name]
        kind = var.kind
        if kind in _ANSWERED:  # the common case first
            loop = var.loop
            if loop is None:
                key = name
            elif loop == self.loop:
                key = name + self.sfx
            else:
                outer = self.outer_suffix(loop)  # a loop around this one: its current iteration
                if outer is None:
                    return None
                key = f"{name}_{outer}"
            overlay = self.overlay
            if overlay is not None and key in overlay:
                return overlay[key]
            state = self.state
            return state.answers.get(key) if key in state.on_route else None
        if kind == "preload":
            return self.state.case.get(name)
        if kind == "experiment":
            return self.state.arms.get(name)
        question = var.question
        if kind != "computed" or question is None or question.expr is None:
            return None
        if var.loop is not None and var.loop != self.loop:
            outer = self.outer_suffix(var.loop)
            if outer is not None:  # worked out in the iteration of the loop around this one
                return Context(
                    self.variables, self.state, var.loop, outer, self.overlay, self.memo
                ).get(name)
        # a computed variable outside loops has one value whatever iteration asks
        memo_key = name if var.loop is None else (name, self.loop, self.suffix)
        memo = self.memo
        if memo_key in memo:
            return memo[memo_key]
        if (question.when is not None and not question.when.evaluate(self)) or (
            question.guards and not routed_through(question, self)
        ):
            value = None  # its own condition is false, or it sits in items routed past
        else:
            value = question.expr.evaluate(self)
        memo[memo_key] = value
        return value

    def unknown(self, name: str) -> bool:
        """Whether the variable is an answer not known: don't know, refused, or asked and not answered."""
        var = self.variables[name]
        if var.kind not in _ANSWERED:
            value = self.get(name)
            return value is DK or value is REFUSED
        if var.loop is None:
            key = name
        elif var.loop == self.loop:
            key = name + self.sfx
        else:
            return False
        overlay = self.overlay
        if overlay is not None and key in overlay:
            value = overlay[key]
        elif key in self.state.on_route:
            value = self.state.answers.get(key)
        else:
            return False  # not asked: routed past, or not reached yet
        return value is None or value is DK or value is REFUSED

    def iterations_known(self, loop: str) -> bool:
        """Whether the loop was reached with a known count (routing records no iterations otherwise)."""
        return loop in self.state.loop_keys

    def iterations(self, loop: str) -> Sequence[Context]:
        memo = self._iterations
        if memo is None:
            memo = self._iterations = {}
        found = memo.get(loop)
        if found is None:
            suffixes = self.state.loop_keys.get(loop, ())
            if suffixes and "_" in suffixes[0] and self.suffix is not None:
                suffixes = self._same_outer(loop, suffixes)
            found = memo[loop] = [
                Context(self.variables, self.state, loop, suffix, self.overlay, self.memo)
                for suffix in suffixes
            ]
        return found

    # ---------------------------------------------------------------- loops inside loops
    # A loop inside another has suffixes that carry the outer iteration's in front
    # (``2_3``: household 2, person 3); see instrument.engine.loops.

    def outer_suffix(self, loop: str) -> str | None:
        """The suffix of the current iteration of ``loop``, a loop around this context's (else None)."""
        suffix = self.suffix
        lists = getattr(self.variables, "loop_lists", None)
        if lists and suffix is not None and lists.get(self.loop or "") == loop:
            return suffix  # a loop over a list: the list's item it is about
        if suffix is None or "_" not in suffix:
            return None
        around = getattr(self.variables, "loops_around", None)
        if around is None or loop not in around(self.loop)[1:]:
            return None
        return "_".join(suffix.split("_")[: len(around(loop))])

    def _same_outer(self, loop: str, suffixes: Sequence[str]) -> Sequence[str]:
        """A nested loop's iterations seen from here: those within the iteration of the
        innermost loop around it that this context is in (all of them from outside it)."""
        around = getattr(self.variables, "loops_around", None)
        if around is None:
            return suffixes
        mine = around(self.loop)
        shared = next((outer for outer in around(loop)[1:] if outer in mine), None)
        if shared is None:
            return suffixes
        assert self.suffix is not None
        prefix = "_".join(self.suffix.split("_")[: len(around(shared))]) + "_"
        return [suffix for suffix in suffixes if suffix.startswith(prefix)]
