"""What an expression reads its values from while an interview runs.

The engine supplies its own :class:`EvalContext`; :class:`MappingContext` is a
small dictionary-backed one for tests, scenario checks and simple callers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from instrument.values import DK, REFUSED

__all__ = ["EvalContext", "MappingContext"]

_ABSENT = object()


@runtime_checkable
class EvalContext(Protocol):
    """Values for one evaluation.

    ``get`` returns a variable's value (None when unanswered or off the route,
    DK/REFUSED when chosen). Inside a loop iteration's context, a loop variable
    gives that iteration's value and every other variable its ordinary value.
    ``iterations(loop)`` gives one such context per iteration, in order;
    ``iterations_known(loop)`` whether the number of iterations is known (the
    loop was reached and its count or ``for_each`` answer is not missing).
    ``unknown(name)`` says whether a variable's value is an unknown answer
    (don't know, refused, or asked and not answered) rather than known or not
    asked: aggregates over unknown answers are missing.
    """

    today: dt.date

    def get(self, name: str) -> Any: ...

    def iterations(self, loop: str) -> Sequence[EvalContext]: ...

    def iterations_known(self, loop: str) -> bool: ...

    def unknown(self, name: str) -> bool: ...


class MappingContext:
    """An :class:`EvalContext` over plain mappings.

    ``loops`` maps a loop id to one mapping per iteration holding that
    iteration's loop variables; an iteration context sees those first and the
    outer ``values`` for everything else. A loop absent from ``loops`` has an
    unknown number of iterations; a name present with the value None was asked
    and not answered, an absent one was not asked.
    """

    __slots__ = ("_iterations", "_loops", "_values", "today")

    def __init__(
        self,
        values: Mapping[str, Any],
        today: dt.date,
        loops: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> None:
        self._values = values
        self.today = today
        self._loops = loops or {}
        self._iterations: dict[str, list[MappingContext]] = {}

    def get(self, name: str) -> Any:
        return self._values.get(name)

    def iterations_known(self, loop: str) -> bool:
        return loop in self._loops

    def unknown(self, name: str) -> bool:
        value = self._values.get(name, _ABSENT)
        return value is None or value is DK or value is REFUSED

    def iterations(self, loop: str) -> Sequence[MappingContext]:
        cached = self._iterations.get(loop)
        if cached is None:
            cached = [
                MappingContext({**self._values, **iteration}, self.today, self._loops)
                for iteration in self._loops.get(loop, ())
            ]
            self._iterations[loop] = cached
        return cached

    def __repr__(self) -> str:
        return f"MappingContext({dict(self._values)!r}, today={self.today!r})"
