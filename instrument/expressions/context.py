"""What an expression reads its values from while an interview runs.

The engine supplies its own :class:`EvalContext`; :class:`MappingContext` is a
small dictionary-backed one for tests, scenario checks and simple callers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["EvalContext", "MappingContext"]


@runtime_checkable
class EvalContext(Protocol):
    """Values for one evaluation.

    ``get`` returns a variable's value (None when unanswered or off the route,
    DK/REFUSED when chosen). Inside a loop iteration's context, a loop variable
    gives that iteration's value and every other variable its ordinary value.
    ``iterations(loop)`` gives one such context per iteration, in order.
    """

    today: dt.date

    def get(self, name: str) -> Any: ...

    def iterations(self, loop: str) -> Sequence[EvalContext]: ...


class MappingContext:
    """An :class:`EvalContext` over plain mappings.

    ``loops`` maps a loop id to one mapping per iteration holding that
    iteration's loop variables; an iteration context sees those first and the
    outer ``values`` for everything else.
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
