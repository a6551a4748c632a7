"""Loops as researchers write them (issue 11): counts within the loop's max, values of
iterations routed past, computed variables per iteration, nested loops.

Every test drives real questionnaires through the public engine and, where the data
is the point, through the dataset builder and its per-loop long files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_dataset_support import START, drive

from instrument.dataset import Pseudonymiser, build_dataset
from instrument.engine import Engine, EngineError, State
from instrument.loader import load_questionnaire_text, require_questionnaire

DATA = Path(__file__).parent / "data"


def engine_of(name: str) -> Engine:
    return Engine(require_questionnaire(DATA / name))


def dataset_of(engine: Engine, states: dict[str, State]) -> Any:
    items = [(state.to_json(), {"id": name}) for name, state in states.items()]
    return build_dataset(
        engine.q, items, include_partial=True, pseudonymiser=Pseudonymiser(b"k" * 32)
    )


def row_of(dataset: Any, name: str) -> Any:
    case = Pseudonymiser(b"k" * 32).case_id(name)
    found = dataset.frame[dataset.frame["case_id"] == case]
    assert len(found) == 1
    return found.iloc[0]


def errors_of(text: str) -> list[str]:
    result = load_questionnaire_text(text, "q.yaml")
    return [f"{d.position.line}: {d.message}" for d in result.diagnostics if d.severity == "error"]


# ----------------------------------------------------- computed variables in a loop


def test_a_computed_variable_inside_a_loop_is_worked_out_per_iteration():
    engine = engine_of("loops_computed.yaml")
    answers = {"n": 2, "age_1": 3, "age_2": 9, "school_2": 1}
    state, _ = drive(engine, answers, case={"site": "Leeds"})
    values = engine.values(state)
    assert values["age_months_1"] == 36
    assert values["age_months_2"] == 108
    assert values["kid_site_1"] == values["kid_site_2"] == "Leeds"
    assert values["n_small"] == 1
    assert "school_1" not in values  # its condition read this iteration's computed value
    assert values["school_2"] == 1


def test_computed_variables_of_a_loop_are_exported_wide_and_long():
    engine = engine_of("loops_computed.yaml")
    state, _ = drive(engine, {"n": 2, "age_1": 3, "age_2": 9, "school_2": 1}, case={"site": "X"})
    dataset = dataset_of(engine, {"a": state})
    row = row_of(dataset, "a")
    assert (row["age_months_1"], row["age_months_2"], row["age_months_3"]) == (36, 108, -8)
    long = dataset.long("kids")
    assert list(long.frame.columns) == [
        "case_id",
        "iteration",
        "age",
        "age_months",
        "kid_site",
        "school",
    ]
    assert list(long.frame["age_months"]) == [36, 108]


# ----------------------------------------------------- counts larger than the loop's max

OVER_MAX = """
meta: {id: t, version: "1", title: T, languages: [en]}
items:
  - id: n
    type: integer
    min: 0
    %s
    text: How many children?
  - loop: kids
    count: %s
    max: 3
    items:
      - {id: age, type: integer, min: 0, max: 17, text: Age?}
"""


def test_check_reports_a_count_that_can_exceed_the_loops_max_with_its_line():
    assert errors_of(OVER_MAX % ("max: 5", "n")) == [
        "10: loop 'kids' holds at most 3 iterations, but its count (n) can be 5: raise the "
        "loop's max to 5 or give 'n' max: 3, so no one is asked about fewer than they have"
    ]
    (unbounded,) = errors_of(OVER_MAX % ("", "n"))
    assert (
        unbounded.startswith("10: loop 'kids'") and "'n' has no max: give 'n' max: 3" in unbounded
    )
    (summed,) = errors_of(OVER_MAX % ("max: 3", "n + 1"))
    assert "its count (n + 1) can be 4" in summed
    assert errors_of(OVER_MAX % ("max: 3", "n")) == []
    assert errors_of(OVER_MAX % ("max: 9", "min(n, 3)")) == []


def test_check_warns_when_it_cannot_tell_the_counts_largest_value():
    result = load_questionnaire_text((DATA / "loops_count_max.yaml").read_text(), "q.yaml")
    assert result.ok
    warnings = [d.message for d in result.diagnostics if d.severity == "warning"]
    assert any("count of loop 'partners' (n_couples * 2)" in w for w in warnings)
    assert any("count of loop 'kids' (profile_kids)" in w for w in warnings)


def test_an_answer_making_a_count_larger_than_the_loops_max_is_refused_not_cut_short():
    engine = engine_of("loops_count_max.yaml")
    state = engine.start(now=START, seed=1, case={"profile_kids": 0})
    step = engine.current_step(state)
    result = engine.submit(state, {"n_couples": 3}, now=START, token=step.token)
    assert not result.accepted
    assert [(p.key, p.message) for p in result.errors] == [
        ("n_couples", "This questionnaire can ask about 4 at most: enter 4 or fewer")
    ]
    assert engine.current_step(state).page_id == "n_couples"
    assert engine.submit(state, {"n_couples": 2}, now=START, token=step.token).accepted
    answers = {f"partner_age_{i}": 30 + i for i in range(1, 5)}
    state, _ = drive(engine, {"n_couples": 2, **answers}, case={"profile_kids": 0})
    assert {k for k in engine.values(state) if k.startswith("partner_age")} == set(answers)


def test_a_preloaded_count_larger_than_the_loops_max_refuses_to_start():
    engine = engine_of("loops_count_max.yaml")
    with pytest.raises(
        EngineError, match="loop 'kids' would have 5 iterations, more than its max of 3"
    ):
        engine.start(now=START, seed=1, case={"profile_kids": 5})
    state = engine.start(now=START, seed=1, case={"profile_kids": 3})
    assert state.loop_keys == {}


# ----------------------------------------------------- values of what was routed past

KIDS = {"has_kids": 1, "n": 3, "age_1": 2, "age_2": 7, "age_3": 12, "done": 1}


def answer(engine: Engine, state: State, page: str, value: Any) -> None:
    step = engine.current_step(state)
    assert step.page_id == page, step.page_id
    (view,) = step.questions
    assert engine.submit(state, {view.key: value}, now=START, token=step.token).accepted


def finish_from(engine: Engine, state: State, answers: dict[str, Any], until: str = "") -> None:
    """Answer page after page from ``answers`` until the page ``until`` (or the end)."""
    while not state.finished:
        step = engine.current_step(state)
        if step.page_id == until:
            return
        given = {k: answers[k] for view in step.questions for k in view.keys if k in answers}
        assert engine.submit(state, given, now=START, token=step.token).accepted, step.page_id


def started(engine: Engine, site: str) -> State:
    """An interview with three children answered, at the last question."""
    state = engine.start(now=START, seed=1, case={"site": site})
    finish_from(engine, state, KIDS, until="done")
    return state


def test_a_loop_routed_past_after_a_jump_leaves_no_values_of_its_iterations():
    engine = engine_of("loops_routed_past.yaml")
    state = started(engine, "Leeds")
    engine.jump(state, "has_kids", now=START)
    answer(engine, state, "has_kids", 2)
    finish_from(engine, state, {"done": 1})
    values = engine.values(state)
    gone = [k for k in values if k.split("_")[0] in ("n", "age", "kid", "kids") and k != "n_small"]
    assert gone == []
    assert values["n_small"] == 0 or values["n_small"] is None
    assert state.loop_keys.get("kids") is None


def test_iterations_beyond_a_lowered_count_leave_the_data():
    engine = engine_of("loops_routed_past.yaml")
    state = started(engine, "Leeds")
    engine.jump(state, "n", now=START)
    answer(engine, state, "n", 1)
    finish_from(engine, state, {"age_1": 2, "done": 1})
    values = engine.values(state)
    assert {k for k in values if k.startswith(("age", "kid_site"))} == {
        "age_1",
        "age_months_1",
        "kid_site_1",
    }
    assert values["n_small"] == 1


def test_the_dataset_keeps_no_rows_or_values_of_loops_routed_past():
    engine = engine_of("loops_routed_past.yaml")
    state = started(engine, "Leeds")
    engine.jump(state, "has_kids", now=START)
    answer(engine, state, "has_kids", 2)
    finish_from(engine, state, {"done": 1})
    lowered = started(engine, "York")
    engine.jump(lowered, "n", now=START)
    answer(engine, lowered, "n", 1)
    finish_from(engine, lowered, {"age_1": 2, "done": 1})
    full, _ = drive(engine, KIDS, case={"site": "Hull"})
    dataset = dataset_of(engine, {"none": state, "one": lowered, "three": full})
    none, one = row_of(dataset, "none"), row_of(dataset, "one")
    assert [none[f"kid_site_{i}"] for i in (1, 2, 3)] == ["-8", "-8", "-8"]
    assert [none[f"age_months_{i}"] for i in (1, 2, 3)] == [-8, -8, -8]
    assert none["kids_site"] == "-8" and one["kids_site"] == "York"
    assert [one[f"kid_site_{i}"] for i in (1, 2, 3)] == ["York", "-8", "-8"]
    long = dataset.long("kids")
    per_case = long.frame.groupby("case_id").size().to_dict()
    ids = {name: Pseudonymiser(b"k" * 32).case_id(name) for name in ("none", "one", "three")}
    assert per_case == {ids["one"]: 1, ids["three"]: 3}
