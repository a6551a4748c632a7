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
from test_engine import drive as walk  # answers page by page, up to a page

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


def started(engine: Engine, site: str) -> State:
    """An interview with three children answered, at the last question."""
    state = engine.start(now=START, seed=1, case={"site": site})
    walk(engine, state, KIDS, until="done")
    return state


def test_a_loop_routed_past_after_a_jump_leaves_no_values_of_its_iterations():
    engine = engine_of("loops_routed_past.yaml")
    state = started(engine, "Leeds")
    engine.jump(state, "has_kids", now=START)
    answer(engine, state, "has_kids", 2)
    walk(engine, state, {"done": 1})
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
    walk(engine, state, {"age_1": 2, "done": 1})
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
    walk(engine, state, {"done": 1})
    lowered = started(engine, "York")
    engine.jump(lowered, "n", now=START)
    answer(engine, lowered, "n", 1)
    walk(engine, lowered, {"age_1": 2, "done": 1})
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


# ----------------------------------------------------- loops inside loops

FARM = {
    "n_households": 2,
    "head_age_1": 40,
    "n_plots_1": 2,
    "plot_area_1_1": 1.5,
    "crops_grown_1_1": [1, 3],
    "harvest_kg_1_1_1": 500,
    "harvest_kg_1_1_3": 200,
    "plot_area_1_2": 0.5,
    "crops_grown_1_2": [2],
    "harvest_kg_1_2_2": 50,
    "head_age_2": 16,
    "n_plots_2": 1,
    "plot_area_2_1": 2,
    "crops_grown_2_1": [4],
    "comment": "dry year",
}


def test_nested_loops_ask_each_level_per_iteration_of_the_loop_around_it():
    engine = engine_of("loops_nested_farm.yaml")
    state = engine.start(now=START, seed=1)
    steps = walk(engine, state, FARM)
    shown = [(s.questions[0].key, s.iteration, s.iteration_path) for s in steps]
    assert shown[3:7] == [
        ("plot_area_1_1", 1, ("Household 1", "Plot 1")),
        ("crops_grown_1_1", 1, ("Household 1", "Plot 1")),
        ("harvest_kg_1_1_1", 1, ("Household 1", "Plot 1", "Maize")),
        ("harvest_kg_1_1_3", 2, ("Household 1", "Plot 1", "Cassava")),
    ]
    texts = [str(s.questions[0].text) for s in steps]
    assert "What is the area of plot 2 of household 1?" in texts
    assert "How many kilograms of Beans did plot 2 give?" in texts
    # household 2's head is 16: its harvest question (when: head_age >= 18) is routed past
    assert [k for k, _, _ in shown if k.startswith("harvest_kg_2")] == []
    assert state.loop_keys == {
        "households": ["1", "2"],
        "plots": ["1_1", "1_2", "2_1"],
        "per_crop": ["1_1_1", "1_1_3", "1_2_2", "2_1_4"],
    }
    values = engine.values(state)
    assert (values["farm_area_1"], values["farm_area_2"]) == (2.0, 2.0)
    assert values["plot_acres_1_1"] == 1.5 * 2.47
    assert (values["plot_harvest_1_1"], values["plot_harvest_1_2"]) == (700, 50)
    assert values["total_plots"] == 3 and values["n_harvests"] == 3


def test_nested_loops_export_wide_names_and_long_files_keyed_by_every_level():
    engine = engine_of("loops_nested_farm.yaml")
    state = engine.start(now=START, seed=1)
    walk(engine, state, FARM)
    dataset = dataset_of(engine, {"farm": state})
    row = row_of(dataset, "farm")
    assert row["plot_area_2_1"] == 2.0 and row["plot_area_3_4"] == -8
    assert row["harvest_kg_1_1_3"] == 200 and row["harvest_kg_2_1_4"] == -8
    assert "harvest_kg_3_4_4" in dataset.frame.columns
    plots = dataset.long("plots")
    assert list(plots.frame.columns)[:3] == ["case_id", "iteration_households", "iteration"]
    assert [tuple(r) for r in plots.frame[["iteration_households", "iteration"]].values] == [
        (1, 1),
        (1, 2),
        (2, 1),
    ]
    assert list(plots.frame["crops_grown_3"]) == [1, 0, 0]
    crops = dataset.long("per_crop")
    keys = ["iteration_households", "iteration_plots", "iteration", "harvest_kg"]
    assert [tuple(r) for r in crops.frame[keys].values] == [
        (1, 1, 1, 500),
        (1, 1, 3, 200),
        (1, 2, 2, 50),
        (2, 1, 4, -8),
    ]
    assert (
        crops.codebook["iteration_plots"].label == "Iteration of loop plots, around loop per_crop"
    )


def test_going_back_in_nested_loops_forgets_the_runs_routed_past():
    engine = engine_of("loops_nested_farm.yaml")
    state = engine.start(now=START, seed=1)
    walk(engine, state, FARM, until="comment")
    engine.jump(state, "n_plots_1", now=START)
    walk(engine, state, {**FARM, "n_plots_1": 1}, until="comment")
    assert state.loop_keys["plots"] == ["1_1", "2_1"]
    assert state.loop_keys["per_crop"] == ["1_1_1", "1_1_3", "2_1_4"]
    engine.jump(state, "n_households", now=START)
    walk(engine, state, {**FARM, "n_households": 1, "n_plots_1": 1})
    values = engine.values(state)
    assert state.loop_keys == {
        "households": ["1"],
        "plots": ["1_1"],
        "per_crop": ["1_1_1", "1_1_3"],
    }
    assert not [k for k in values if k.endswith(("_2", "_2_1")) or "_2_" in k]
    assert values["total_plots"] == 1 and values["n_harvests"] == 2


def test_back_through_nested_loops_returns_to_the_same_iterations():
    engine = engine_of("loops_nested_farm.yaml")
    state = engine.start(now=START, seed=1)
    walk(engine, state, FARM, until="head_age")  # household 1's first page
    walk(engine, state, FARM, until="plot_area")
    walk(engine, state, FARM, until="n_plots")  # household 2, after the runs of household 1
    keys = []
    while True:
        engine.back(state, now=START)
        step = engine.current_step(state)
        keys.append(step.questions[0].key)
        if step.questions[0].key == "plot_area_1_1":
            break
    assert keys == [
        "head_age_2",
        "harvest_kg_1_2_2",
        "crops_grown_1_2",
        "plot_area_1_2",
        "harvest_kg_1_1_3",
        "harvest_kg_1_1_1",
        "crops_grown_1_1",
        "plot_area_1_1",
    ]
    walk(engine, state, FARM)
    assert engine.values(state)["plot_harvest_1_2"] == 50


NESTED = """
meta: {id: t, version: "1", title: T, languages: [en]}
items:
  - {id: n, type: integer, min: 0, max: 3, text: How many households?}
  - loop: households
    count: n
    max: 3
    items:
      - {id: size, type: integer, min: 0, max: 4, text: "People in household {{ loop.number }}?"}
      - loop: people
        count: size
        max: 4
        items:
          - {id: age, type: integer, min: 0, max: 120, text: "Person {{ loop.number }} of {{ size }}?"}
%s
"""


def test_inside_a_loop_the_loops_around_it_mean_their_current_iteration():
    assert (
        errors_of(NESTED % "      - {id: older, type: computed, expr: count_if(age > size)}") == []
    )
    assert errors_of(NESTED % "  - {id: everyone, type: computed, expr: sum(age)}") == []
    (bare,) = errors_of(NESTED % "      - {id: bad, type: yesno, when: age > 3, text: X?}")
    assert bare.startswith("15: the condition of question 'bad': age is asked in the loop 'people'")
    assert "in the loop 'households' it stands for one value per iteration" in bare
    (fill,) = errors_of(NESTED % "      - {id: fill, type: yesno, text: 'Is {{ age }} right?'}")
    assert "asked once per iteration of loop 'people'" in fill


def test_loops_nest_at_most_three_deep():
    deeper = """          - loop: pets
            count: 2
            max: 2
            items:
              - loop: fleas
                count: 1
                max: 1
                items:
                  - {id: flea, type: yesno, text: Flea?}"""
    assert errors_of(NESTED % deeper) == [
        "19: loop 'fleas' is loop 4 deep; loops nest at most 3 deep "
        "(people inside households inside areas)"
    ]


def test_a_page_inside_nested_loops_is_previewed_as_the_first_iteration_of_each():
    engine = engine_of("loops_nested_farm.yaml")
    step = engine.preview_step("harvest_kg", mode="web", now=START)
    assert step.questions[0].key == "harvest_kg_1_1_1"
    assert step.iteration_path == ("Household 1", "Plot 1", "Maize")


# ----------------------------------------------------- list collectors

HOUSEHOLD = {
    "address_type": 1,
    "first_name_1": "Ama",
    "last_name_1": "Mensah",
    "people_another_1": 1,
    "first_name_2": "Kofi",
    "last_name_2": "Mensah",
    "people_another_2": 1,
    "first_name_3": "Esi",
    "last_name_3": "Boateng",
    "people_another_3": 2,
    "age_1": 40,
    "works_1": 1,
    "age_2": 12,
    "age_3": 70,
    "works_3": 2,
}


def test_a_list_is_collected_one_person_at_a_time_then_looped_over_by_name():
    engine = engine_of("lists_household.yaml")
    state = engine.start(now=START, seed=1)
    steps = walk(engine, state, HOUSEHOLD)
    summaries = [
        tuple((suffix, name) for suffix, name, _ in s.list_items)
        for s in steps
        if s.page_id == "people_another"
    ]
    assert summaries == [
        (("1", "Ama Mensah"),),
        (("1", "Ama Mensah"), ("2", "Kofi Mensah")),
        (("1", "Ama Mensah"), ("2", "Kofi Mensah"), ("3", "Esi Boateng")),
    ]
    later = [(s.questions[0].key, str(s.questions[0].text), s.iteration_path) for s in steps[-5:]]
    assert later == [
        ("age_1", "How old is Ama?", ("Ama Mensah",)),
        ("works_1", "Does Ama have a paid job?", ("Ama Mensah",)),
        ("age_2", "How old is Kofi?", ("Kofi Mensah",)),
        ("age_3", "How old is Esi?", ("Esi Boateng",)),
        ("works_3", "Does Esi have a paid job?", ("Esi Boateng",)),
    ]
    values = engine.values(state)
    assert values["n_people"] == 3 and values["n_adults"] == 2
    assert state.loop_keys == {"people": ["1", "2", "3"], "about_person": ["1", "2", "3"]}


def test_a_list_stops_at_its_max_and_a_no_ends_it():
    engine = engine_of("lists_household.yaml")
    state = engine.start(now=START, seed=1)
    many = {"address_type": 1}
    for i in range(1, 8):
        many.update({f"first_name_{i}": f"P{i}", f"last_name_{i}": "X", f"people_another_{i}": 1})
    walk(engine, state, many, until="age")
    assert state.loop_keys["people"] == ["1", "2", "3", "4", "5", "6"]


def test_removing_a_person_renumbers_those_after_and_returns_to_the_summary():
    engine = engine_of("lists_household.yaml")
    state = engine.start(now=START, seed=1)
    while (step := engine.current_step(state)).iteration_path != ("Esi Boateng",):
        given = {k: HOUSEHOLD[k] for v in step.questions for k in v.keys if k in HOUSEHOLD}
        assert engine.submit(state, given, now=START, token=step.token).accepted
    assert step.page_id == "people_another" and len(step.list_items) == 3
    with pytest.raises(EngineError, match="no person 7"):
        engine.remove_item(state, "people", "7", now=START)
    events = engine.remove_item(state, "people", "2", now=START)
    assert events[0].kind == "remove" and events[0].data == {"list": "people", "item": "2"}
    step = engine.current_step(state)
    assert step.page_id == "people_another" and step.questions[0].key == "people_another_2"
    assert step.list_items == (
        ("1", "Ama Mensah", "first_name_1"),
        ("2", "Esi Boateng", "first_name_2"),
    )
    assert (state.answers["first_name_2"], "first_name_3" in state.answers) == ("Esi", False)
    walk(engine, state, {"people_another_2": 2, "age_1": 40, "age_2": 70, "works_2": 2})
    values = engine.values(state)
    assert values["n_people"] == 2 and values["age_2"] == 70 and "age_3" not in values
    with pytest.raises(EngineError):
        engine.remove_item(state, "people", "1", now=START)  # finished


def test_a_list_is_exported_like_a_loop_without_its_steering_question():
    engine = engine_of("lists_household.yaml")
    state = engine.start(now=START, seed=1)
    walk(engine, state, HOUSEHOLD)
    dataset = dataset_of(engine, {"home": state})
    columns = set(dataset.frame.columns)
    assert {"age_1", "age_6", "works_3", "n_people"} <= columns
    assert not any(c.startswith(("people_another", "first_name", "last_name")) for c in columns)
    row = row_of(dataset, "home")
    assert (row["age_1"], row["age_2"], row["age_3"], row["age_4"]) == (40, 12, 70, -8)
    long = dataset.long("about_person")
    assert list(long.frame["iteration"]) == [1, 2, 3]
    assert "once per person in the list people (at most 6)" in dataset.codebook["age_1"].universe


def test_lists_are_checked_where_they_are_written():
    body = """
meta: {id: t, version: "1", title: T, languages: [en]}
items:
  - list: people
    max: 3
    items:
      - {id: name, type: text, text: Name?}
      %s
  - loop: per_person
    for_list: %s
    items:
      - {id: age, type: integer, min: 0, max: 99, text: "Age of {{ name }}?"}
"""
    assert errors_of(body % ("", "people")) == []
    unknown = errors_of(body % ("", "persons"))[0]
    assert "loop 'per_person' is for each item of 'persons', which is not a list" in unknown
    inner = "- loop: pets\n        count: 1\n        max: 1\n        items: [{id: p, type: yesno, text: P?}]"
    assert any("a list holds questions only" in e for e in errors_of(body % (inner, "people")))


def test_removing_a_person_moves_their_later_answers_with_them():
    engine = engine_of("lists_household.yaml")
    state = engine.start(now=START, seed=1)
    while not (step := engine.current_step(state)).questions[0].key.startswith("works_3"):
        given = {k: HOUSEHOLD[k] for v in step.questions for k in v.keys if k in HOUSEHOLD}
        assert engine.submit(state, given, now=START, token=step.token).accepted
    engine.jump(state, "people_another_3", now=START)  # every age given, back to the summary
    engine.remove_item(state, "people", "1", now=START)
    step = engine.current_step(state)
    assert [name for _, name, _ in step.list_items] == ["Kofi Mensah", "Esi Boateng"]
    assert (state.answers["age_1"], state.answers["age_2"], "age_3" in state.answers) == (
        12,
        70,
        False,
    )
    assert "works_1" not in state.answers  # Ama's went with her; Kofi (12) was not asked
    walk(engine, state, {**state.answers, "works_2": 2})
    values = engine.values(state)
    assert (values["first_name_1"], values["age_1"], values["n_people"]) == ("Kofi", 12, 2)
    assert values["n_adults"] == 1 and "works_1" not in values and values["works_2"] == 2
