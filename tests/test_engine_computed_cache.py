"""Computed variables are worked out once per state change, not on every read.

A chain where each computed variable reads the one before twice used to cost
twice as much per link (2**30 evaluations for 30 links). These tests count
evaluations instead of timing anything, and check that every change the engine
makes (an answer, back, jump, a loop's new iterations) is seen afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from instrument.engine import Engine
from instrument.engine.context import Context
from instrument.loader import load_questionnaire_text

NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)
LINKS = 30


def chain_yaml(links: int) -> str:
    """A questionnaire whose computed variables c1..cN each read the previous one twice."""
    computed = ["  - {id: c1, type: computed, expr: x + x}"]
    computed += [
        f"  - {{id: c{i}, type: computed, expr: c{i - 1} + c{i - 1} - c{i - 1}}}"
        for i in range(2, links + 1)
    ]
    return "\n".join(
        [
            "meta: {id: chain, version: '1', title: Chain, languages: [en], modes: [web]}",
            "items:",
            "  - {id: x, type: integer, text: 'A number', min: 0, max: 5}",
            *computed,
            f"  - {{id: shown, type: integer, text: 'Twice x is {{{{ c{links} }}}}', when: c{links} > 0}}",
            f"  - {{id: later, type: integer, text: 'Again', when: c{links} >= 0}}",
            "  - loop: kids",
            "    count: x",
            "    max: 5",
            "    items:",
            "      - {id: age, type: integer, text: Age, min: 0, max: 99}",
            "  - {id: total, type: computed, expr: sum(age) + c1}",
            "",
        ]
    )


class Counting:
    """Stands in for a compiled expression and counts how often it is evaluated."""

    def __init__(self, name: str, inner: Any, counts: Counter[str]) -> None:
        self.name, self.inner, self.counts = name, inner, counts

    def evaluate(self, ctx: Any) -> Any:
        self.counts[self.name] += 1
        assert self.counts[self.name] < 10_000, "evaluated on every read"
        return self.inner.evaluate(ctx)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


@pytest.fixture()
def counted() -> tuple[Engine, Counter[str]]:
    result = load_questionnaire_text(chain_yaml(LINKS))
    assert result.questionnaire is not None, result.diagnostics
    q = result.questionnaire
    counts: Counter[str] = Counter()
    for name, var in q.variables.items():
        if var.kind == "computed":
            question = var.question
            object.__setattr__(question, "expr", Counting(name, question.expr, counts))
    return Engine(q), counts


def step(engine: Engine, state: Any, answers: dict[str, Any]) -> None:
    step = engine.current_step(state)
    result = engine.submit(state, answers, now=NOW, token=step.token)
    assert result.accepted, result.errors
    engine.current_step(state)


def test_each_link_of_a_long_chain_is_evaluated_once_per_step(
    counted: tuple[Engine, Counter[str]],
) -> None:
    engine, counts = counted
    state = engine.start(now=NOW, seed=1)
    engine.current_step(state)
    counts.clear()
    step(engine, state, {"x": 3})  # the answer changes, then `shown` is routed and rendered
    links = [f"c{i}" for i in range(1, LINKS + 1)]
    assert {counts[name] for name in links} == {1}
    counts.clear()
    step(engine, state, {"shown": 1})  # another answer: `later` is routed and rendered
    engine.values(state)  # the final values read the same cache
    assert {counts[name] for name in links} == {1}
    assert engine.current_step(state).questions[0].id == "later"


def test_the_cache_sees_every_change(counted: tuple[Engine, Counter[str]]) -> None:
    engine, _ = counted
    last = f"c{LINKS}"
    state = engine.start(now=NOW, seed=1)
    step(engine, state, {"x": 2})
    assert engine.values(state)[last] == 4
    assert "Twice x is 4" in engine.current_step(state).questions[0].text
    engine.back(state, now=NOW)
    step(engine, state, {"x": 5})  # back, then a changed answer
    assert "Twice x is 10" in engine.current_step(state).questions[0].text
    step(engine, state, {"shown": 1})
    engine.jump(state, "x", now=NOW)
    step(engine, state, {"x": 0})  # jump, then an answer that routes `shown` past
    assert engine.current_step(state).questions[0].id == "later"
    assert engine.values(state)[last] == 0
    step(engine, state, {"later": 1})
    assert state.finished  # a loop of 0 iterations
    assert engine.values(state)["total"] == 0


def test_aggregates_see_a_loop_entered_again_with_other_iterations(
    counted: tuple[Engine, Counter[str]],
) -> None:
    engine, _ = counted
    state = engine.start(now=NOW, seed=1)
    for answers in ({"x": 2}, {"shown": 1}, {"later": 1}, {"age_1": 7}):
        step(engine, state, answers)
    # age_2 is asked and not answered yet; total, after the loop, is not reached (not in values())
    assert "total" not in engine.values(state)
    assert Context(engine.variables, state).get("total") is None
    engine.jump(state, "x", now=NOW)
    for answers in ({"x": 1}, {"shown": 1}, {"later": 1}):
        step(engine, state, answers)
    assert Context(engine.variables, state).get("total") == 7 + 2  # one iteration now, its age kept
    step(engine, state, {"age_1": 8})
    assert state.finished and engine.values(state)["total"] == 8 + 2
    other = engine.start(now=NOW, seed=2)
    for answers in ({"x": 2}, {"shown": 1}, {"later": 1}, {"age_1": 7}, {"age_2": 30}):
        step(engine, other, answers)
    assert other.finished and engine.values(other)["total"] == 7 + 30 + 4
