"""Running the test scenarios written at the end of a questionnaire.

A scenario is a respondent on paper: answers in, expected route and values
out. It goes through the same engine as a real interview, page by page, so a
scenario that passes is a route that works in every mode.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from instrument.diagnostics import Position
from instrument.engine import Engine, EngineError, State
from instrument.model import Questionnaire, Scenario
from instrument.values import DK, REFUSED

__all__ = ["ScenarioResult", "run_scenario", "run_scenarios", "scenario_value"]

START = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)
MAX_PAGES = 10_000


@dataclass
class ScenarioResult:
    name: str
    position: Position
    passed: bool
    failures: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    outcome: str | None = None
    state: State | None = None
    stopped: str = ""
    """Where the run stopped and why, for expectations about questions it never reached."""


def scenario_value(raw: Any) -> Any:
    """A value as written in a scenario, in the engine's terms (dk and refused are keywords)."""
    if raw == "dk":
        return DK
    if raw == "refused":
        return REFUSED
    if isinstance(raw, list):
        return [scenario_value(r) for r in raw]
    return raw


def _expected_value(raw: Any) -> Any:
    value = scenario_value(raw)
    if isinstance(value, list):
        return tuple(value)
    return value


def run_scenarios(questionnaire: Questionnaire) -> list[ScenarioResult]:
    engine = Engine(questionnaire)
    return [run_scenario(engine, scenario) for scenario in questionnaire.tests]


def run_scenario(engine: Engine, scenario: Scenario) -> ScenarioResult:
    q = engine.q
    result = ScenarioResult(scenario.name, scenario.pos, passed=False)
    now = START
    try:
        state = engine.start(
            now=now,
            seed=scenario.seed,
            mode=scenario.mode,
            language=scenario.language,
            case=scenario.preload,
        )
    except EngineError as exc:
        result.failures.append(f"cannot start: {exc}")
        return result
    result.state = state
    expected_errors = set(scenario.expect.get("errors") or ())
    seen_errors: set[str] = set()
    stopped_on_error = False
    for _ in range(MAX_PAGES):
        if state.finished:
            break
        step = engine.current_step(state, html=False)
        submission: dict[str, Any] = {}
        missing = []
        for view in step.questions:
            for key in view.keys:
                found, value = _answer_for(q, scenario, key, view.id)
                if found:
                    submission[key] = value
                elif key == view.other_key:
                    continue
                else:
                    missing.append(key)
        if missing:
            asks = ", ".join(repr(m) for m in missing)
            result.failures.append(
                f"page '{step.page_id}' asks {asks}, but the scenario gives no answer"
            )
            result.stopped = (
                f"the run stopped at page '{step.page_id}', which asks {asks} (no answer given)"
            )
            break
        now += dt.timedelta(seconds=20)
        outcome = engine.submit(state, submission, now=now, confirm=scenario.confirm_warnings)
        if (
            not outcome.accepted
            and outcome.errors
            and all(p.kind == "prompt" for p in outcome.errors)
        ):
            outcome = engine.submit(state, submission, now=now, confirm=scenario.confirm_warnings)
        if not outcome.accepted:
            problems = outcome.errors or outcome.warnings
            rejected = {_question_of(q, p.key) for p in problems}
            seen_errors |= rejected
            unexpected = [p for p in problems if _question_of(q, p.key) not in expected_errors]
            for p in unexpected:
                result.failures.append(f"the answer to '{p.key}' was rejected: {p.message}")
            stopped_on_error = True
            why = "; ".join(f"the answer to '{p.key}' was rejected: {p.message}" for p in problems)
            result.stopped = f"the run stopped at page '{step.page_id}': {why}"
            break
    else:
        result.failures.append(f"the interview did not end within {MAX_PAGES} pages")
        result.stopped = f"the run stopped after {MAX_PAGES} pages"
    if not result.stopped:
        last = state.history[-1].page if state.history else "the start"
        result.stopped = f"the interview ended ({state.outcome}) at page '{last}'"
    result.asked = engine.asked_ids(state)
    result.outcome = state.outcome
    _check_expectations(engine, scenario, state, result, seen_errors, stopped_on_error)
    result.passed = not result.failures
    return result


def _question_of(q: Questionnaire, key: str) -> str:
    """The question id behind a variable key (strips loop suffixes and _other)."""
    if key in q.variables:
        var = q.variables[key]
        return var.question.id if var.question is not None else key
    found = _loop_key(q, key)
    base = found[0] if found is not None else key.rsplit("_", 1)[0]
    if base in q.variables and q.variables[base].question is not None:
        return q.variables[base].question.id  # type: ignore[union-attr]
    return base


def _answer_for(
    q: Questionnaire, scenario: Scenario, key: str, question_id: str
) -> tuple[bool, Any]:
    answers = scenario.answers
    if key in answers:
        return True, scenario_value(answers[key])
    found = _loop_key(q, key)
    if found is None or found[0] not in answers:
        return False, None
    base, chain, parts = found
    raw = answers[base]
    for loop_id, suffix in zip(chain, parts):  # outermost loop first: a list or map per level
        loop = q.loops[loop_id]
        if isinstance(raw, dict):  # by option code (for_each) or iteration number (count)
            if not (int(suffix) in raw or suffix in raw):
                return False, None
            raw = raw.get(int(suffix), raw.get(suffix))
        elif isinstance(raw, list):
            index = _iteration_index(loop.id, suffix, scenario, q)
            if index is None or index >= len(raw):
                return False, None
            raw = raw[index]
        else:
            return False, None
    return True, scenario_value(raw)


def _loop_key(q: Questionnaire, key: str) -> tuple[str, list[str], list[str]] | None:
    """A loop variable's key split: its name, its loops (outermost first), their suffixes."""
    base, _, rest = key.partition("_")
    while rest:
        var = q.variables.get(base)
        if var is not None and var.loop is not None:
            chain: list[str] = []
            current: str | None = var.loop
            while current is not None and current not in chain:
                chain.insert(0, current)
                current = q.loops[current].parent
            parts = rest.split("_")
            if len(parts) == len(chain):
                return base, chain, parts
        head, _, rest = rest.partition("_")
        base = f"{base}_{head}"
    return None


def _iteration_index(loop_id: str, suffix: str, scenario: Scenario, q: Questionnaire) -> int | None:
    loop = q.loops[loop_id]
    if loop.for_each is None:
        return int(suffix) - 1
    chosen = scenario.answers.get(loop.for_each)
    if isinstance(chosen, list):
        order = [o.code for o in q.questions[loop.for_each].choices.options if o.code in chosen]  # type: ignore[union-attr]
        code = int(suffix)
        return order.index(code) if code in order else None
    return None


def _check_expectations(
    engine: Engine,
    scenario: Scenario,
    state: State,
    result: ScenarioResult,
    seen_errors: set[str],
    stopped: bool,
) -> None:
    expect = scenario.expect
    failures = result.failures
    for wanted in expect.get("errors") or ():
        if wanted in seen_errors:
            continue
        if wanted in result.asked:
            failures.append(
                f"expected the answer to '{wanted}' to be rejected, but it was accepted"
            )
        else:
            failures.append(
                f"expected the answer to '{wanted}' to be rejected, but '{wanted}' was never "
                f"asked: {result.stopped}"
            )
    outcome = expect.get("outcome")
    if outcome is not None and not stopped and state.outcome != outcome:
        failures.append(
            f"expected outcome {outcome}, got {state.outcome or 'an unfinished interview'}"
        )
    asked = result.asked
    position = 0
    for wanted in expect.get("asked") or ():
        try:
            position = asked.index(wanted, position) + 1
        except ValueError:
            if wanted in asked:
                failures.append(f"expected '{wanted}' to be asked in that order")
            else:
                failures.append(f"expected '{wanted}' to be asked, but {result.stopped}")
    for unwanted in expect.get("not_asked") or ():
        if unwanted in asked:
            failures.append(f"expected '{unwanted}' not to be asked, but it was")
    values = engine.values(state)
    for name, raw in (expect.get("values") or {}).items():
        wanted_value = _expected_value(raw)
        got = values.get(name)
        if (
            isinstance(got, float)
            and isinstance(wanted_value, (int, float))
            and abs(got - wanted_value) < 1e-9
        ):
            continue
        if isinstance(got, dt.date) and isinstance(wanted_value, str):
            wanted_value = dt.date.fromisoformat(wanted_value)
        if got != wanted_value:
            shown = "not on the route" if name not in values else repr(got)
            failures.append(f"expected {name} = {wanted_value!r}, got {shown}")
