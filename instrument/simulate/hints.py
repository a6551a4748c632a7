"""What the questionnaire's expressions test answers against, so simulated answers can reach it.

Random answers drawn from a step alone explore little of a real questionnaire:
random words never match a pattern check (a 10-digit phone number), so nearly
every simulated respondent stops there, and a condition such as
``n_children > 6`` or ``region_name == 'Cardiff'`` is hardly ever true. A real
respondent types a real phone number and knows which town they live in; the
simulator stands in for that by reading, once per questionnaire, every
condition, check, count and computed expression for:

* the regular expressions a text question is tested with (``regex(phone, '...')``):
  text drawn to match them (with :mod:`rstr`, from the respondent's own random
  generator, so a seed still reproduces a run); mostly where a check needs a match
  (``error_if: not regex(...)``), now and then where a match fires a check (a
  ``warn_if: regex(comment, <an email address>)``), which would otherwise never fire;
* the numbers and dates a question is compared with (``n_children > 6``,
  ``start < date('2024-04-01')``): values just below, at and just above each;
* the texts a question is compared with (``town == 'Cardiff'``, ``in [...]``).

Only comparisons of a question with a constant count; the respondent still
draws its other answers from the step, and still sometimes misses on purpose.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from instrument.expressions import CompiledExpression
from instrument.expressions import nodes as n
from instrument.model import Questionnaire

__all__ = ["Hints", "questionnaire_hints", "text_matching"]


@dataclass(frozen=True)
class Hints:
    """Per question id: the patterns, thresholds and literal texts its answers are tested with."""

    patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    traps: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a match fires a check
    numbers: dict[str, tuple[int | float, ...]] = field(default_factory=dict)
    dates: dict[str, tuple[dt.date, ...]] = field(default_factory=dict)
    texts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.patterns or self.traps or self.numbers or self.dates or self.texts)


NO_HINTS = Hints()


def questionnaire_hints(q: Questionnaire) -> Hints:
    """Read every expression of ``q`` once for what its questions are compared with."""
    questions = set(q.questions)
    checks = {id(c.condition) for question in q.questions.values() for c in question.checks}
    found: dict[str, dict[str, list[Any]]] = {
        "patterns": {},
        "traps": {},
        "numbers": {},
        "dates": {},
        "texts": {},
    }

    def add(kind: str, name: str, value: Any) -> None:
        if name in questions:
            values = found[kind].setdefault(name, [])
            if value not in values:
                values.append(value)

    for expression in _expressions(q.items):
        in_check = id(expression) in checks
        for node, negated in _walk(expression.node):
            _read(node, add, fires=in_check and not negated)
    return Hints(**{kind: {k: tuple(v) for k, v in by.items()} for kind, by in found.items()})


def _read(node: n.Node, add: Any, *, fires: bool) -> None:
    """Note what ``node`` compares a question with; ``fires``: a regex match here fires a check."""
    if isinstance(node, n.Compare):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, n.Name):
                _constant(side.name, other, add)
    elif isinstance(node, n.Membership) and isinstance(node.left, n.Name):
        for item in node.items:
            _constant(node.left.name, item, add)
    elif isinstance(node, n.Call) and node.function == "regex" and len(node.args) == 2:
        subject, pattern = node.args
        if isinstance(subject, n.Name) and isinstance(pattern, n.String):
            add("traps" if fires else "patterns", subject.name, pattern.value)


def _constant(name: str, node: n.Node, add: Any) -> None:
    if isinstance(node, n.Neg) and isinstance(node.operand, n.Number):
        add("numbers", name, -node.operand.value)
    elif isinstance(node, n.Number) and not isinstance(node.value, bool):
        add("numbers", name, node.value)
    elif isinstance(node, n.String):
        add("texts", name, node.value)
    elif (
        isinstance(node, n.Call)
        and node.function == "date"
        and len(node.args) == 1
        and isinstance(node.args[0], n.String)
    ):
        try:
            add("dates", name, dt.date.fromisoformat(node.args[0].value))
        except ValueError:
            pass


def _walk(node: n.Node) -> Iterator[tuple[n.Node, bool]]:
    """Every node, and whether it sits under an odd number of ``not``."""
    stack = [(node, False)]
    while stack:
        current, negated = stack.pop()
        yield current, negated
        flip = negated != isinstance(current, n.Not)
        stack.extend((child, flip) for child in n.children(current))


def _expressions(value: Any, seen: set[int] | None = None) -> Iterator[CompiledExpression]:
    """Every compiled expression in the questionnaire's items, wherever a field holds one."""
    seen = set() if seen is None else seen
    if isinstance(value, CompiledExpression):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _expressions(item, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        if id(value) in seen:
            return
        seen.add(id(value))
        for f in dataclasses.fields(value):
            yield from _expressions(getattr(value, f.name), seen)


_DRAWS: Any = None


def _short_draws(rng: random.Random) -> Any:
    """rstr's drawing, with open-ended repeats (``*``, ``+``, ``{2,}``) kept short.

    rstr lets them run to 100 characters, so a ``\\w+@\\w+`` would rarely fit a
    text question's length; people type short answers. rstr is imported here, on the
    first pattern drawn, so importing the simulator (and the CLI) loads no more than
    the core's libraries.
    """
    global _DRAWS
    if _DRAWS is None:
        import rstr

        class ShortDraws(rstr.Rstr):
            extra = 8  # at most this many repeats past a repeat's least

            def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
                end = min(end_range, start_range + self.extra)
                return super()._handle_repeat(start_range, end, value)

        _DRAWS = ShortDraws
    return _DRAWS(rng)


def text_matching(pattern: str, rng: random.Random, max_length: int) -> str | None:
    """A text the pattern finds a match in, at most ``max_length`` long, or None if none was drawn."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None
    draw = _short_draws(rng)
    # shorter each time: repeats inside repeats (a phone pattern's `(...)+`) soon outgrow the field
    for extra in (8, 4, 2, 1, 0):
        draw.extra = extra
        try:
            text = draw.xeger(pattern)
        except Exception:
            return None
        if 0 < len(text) <= max_length and compiled.search(text):
            return text
    return None
