"""Every random choice of an interview, drawn from its seed.

Experiment arms, the order of a randomised block's items, of a grid's rows and
of a question's options: each comes from a generator seeded with the
interview's seed and the purpose (``"block"`` and the block's id, say), so one
choice never depends on how many others were made before it, the same seed
gives the same interview in every mode and on every machine, and a new
version of the engine draws the same orders as the old one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from instrument.model import Questionnaire

__all__ = ["Shuffler", "draw_arms", "seeded"]

PERMUTATIONS_KEPT = 4096
"""How many recent shuffles a shuffler remembers (each a short tuple of ints)."""


class _Fixable(Protocol):
    fixed: bool


_T = TypeVar("_T", bound=_Fixable)


def seeded(seed: int, *purpose: str) -> random.Random:
    """A generator for one purpose of one interview, independent of all others."""
    return random.Random("|".join((str(seed),) + purpose))


def draw_arms(questionnaire: Questionnaire, seed: int) -> dict[str, int]:
    """The arm of every experiment, by experiment id: one of its codes, drawn uniformly."""
    return {
        e.id: seeded(seed, "arm", e.id).choice([o.code for o in e.arms.options])
        for e in questionnaire.experiments
    }


class Shuffler:
    """Seeded permutations, remembered: one interview asks for the same order on every step.

    Seeding a generator from a string is the costly part of a shuffle, and a
    randomised block is ordered again on every step that shows or walks past
    it, so recent permutations are kept (a bounded number, then forgotten).
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], tuple[int, ...]] = {}

    def permutation(self, n: int, seed: int, *purpose: str) -> tuple[int, ...]:
        """The order ``random.shuffle`` gives ``n`` items for one purpose of one interview."""
        cache_key = (n, seed, purpose)
        kept = self._kept
        order = kept.get(cache_key)
        if order is None:
            drawn = list(range(n))
            seeded(seed, *purpose).shuffle(drawn)
            order = tuple(drawn)
            if len(kept) >= PERMUTATIONS_KEPT:
                kept.clear()
            kept[cache_key] = order
        return order

    def shuffle(self, items: Sequence[Any], seed: int, *purpose: str) -> list[Any]:
        """``items`` in their shuffled order for this purpose of this interview."""
        return [items[i] for i in self.permutation(len(items), seed, *purpose)]

    def shuffle_unfixed(self, items: Sequence[_T], seed: int, *purpose: str) -> list[_T]:
        """Shuffle items around those marked ``fixed``, which keep their positions."""
        movable = [o for o in items if not o.fixed]
        it = iter(self.shuffle(movable, seed, *purpose))
        return [o if o.fixed else next(it) for o in items]
