"""Computed variables an unfinished interview has not reached yet have no value.

Found simulating questionnaires/examples/biomass_plot.yaml: a form broken off
while measuring the first of four trees was exported with the plot id copied
into trees 2 to 4 (``plot_id1_2`` = 1001) and their smallest circumference
(``size_constraint_2`` = 6), for trees nobody measured. A computed variable
beyond the page the interview is on (a later iteration, a later section) is
not reached, like the questions around it (instrument/engine/reach.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_dataset_support import START
from test_engine import drive as walk
from test_engine import page_answers
from test_loops import FARM, dataset_of, engine_of, row_of

from instrument.engine import Engine, State
from instrument.loader import require_questionnaire

BIOMASS = Path(__file__).parent.parent / "questionnaires" / "examples" / "biomass_plot.yaml"

PLOT = {
    "leader_name": 96,
    "leader_name_other": "Zawadi Mushi",
    "leader_number": "071 234 5678",
    "region_id": 1,
    "district_id": 11,
    "village": 111,
    "plant_phase": 2022,
    "plot_id": 1001,
    "canopy_cover": 40,
    "monumented": 1,
    "slope": 20,
    "any_trees": 1,
    "n_trees": 4,
    "tag_1": 501,
    "latin_name_id_1": 1,
    "tree_bearing_1": 90,
    "tree_distance_1": 3.5,
    "bole_height_1": 4,
    "stem_count_1": 2,
    "cbh_1_1": 30,
    "health_id_1_1": 1,
    "stem_notes_1_1": "",
}


def walk_to(engine: Engine, state: State, answers: dict[str, Any], key: str) -> None:
    """Answer page after page until the page asking ``key`` is shown (not answered)."""
    for _ in range(200):
        step = engine.current_step(state, texts=False)
        if any(key in view.keys for view in step.questions):
            return
        for _ in range(2):  # an empty text is prompted for once, then left unanswered
            result = engine.submit(
                state, page_answers(step, answers), now=START, token=step.token, confirm=True
            )
            if result.accepted:
                break
        assert result.accepted, (step.page_id, result.errors)
    raise AssertionError(f"{key} was never shown")


def broken_off(engine: Engine, answers: dict[str, Any], key: str, *, finish: bool = True) -> State:
    state = engine.start(now=START, seed=1)
    walk_to(engine, state, answers, key)
    if finish:
        engine.finish(state, now=START)
    return state


def computed(engine: Engine, values: dict[str, Any]) -> set[str]:
    names = {n for n, v in engine.variables.items() if v.kind == "computed"}
    return {k for k in values if any(k == n or k.startswith(n + "_") for n in names)}


# ------------------------------------------------------------------ the engine's values


def test_a_tree_not_reached_has_no_copied_plot_id_or_size_limit():
    engine = Engine(require_questionnaire(BIOMASS))
    for finish in (True, False):  # broken off, or still under way on stem 2 of tree 1
        state = broken_off(engine, PLOT, "cbh_1_2", finish=finish)
        values = engine.values(state)
        assert values["plot_id1_1"] == 1001 and values["size_constraint_1"] == 6
        assert values["stem_tag_1_1"] == values["stem_tag_1_2"] == 501  # stem 2 begun
        assert state.loop_keys["trees"] == ["1", "2", "3", "4"]
        for tree in (2, 3, 4):
            assert f"plot_id1_{tree}" not in values
            assert f"size_constraint_{tree}" not in values
        # after the stems of tree 1, and after the trees: not reached either
        assert "tree_basal_cm_1" not in values and "n_stems" not in values
        # before the trees: reached, as the answers it reads were given
        assert values["slope_radius"] == 15.15


def test_computed_variables_of_nested_loops_are_reached_iteration_by_iteration():
    engine = engine_of("loops_nested_farm.yaml")
    state = broken_off(engine, FARM, "plot_area_1_2")  # household 1, plot 2
    assert computed(engine, engine.values(state)) == {"plot_acres_1_1", "plot_harvest_1_1"}
    # household 2 begun: household 1's totals and plot 1 of household 2 are reached
    state = broken_off(engine, FARM, "crops_grown_2_1")
    assert computed(engine, engine.values(state)) == {
        "plot_acres_1_1",
        "plot_harvest_1_1",
        "plot_acres_1_2",
        "plot_harvest_1_2",
        "farm_area_1",
        "plot_acres_2_1",
    }


def test_a_complete_interview_has_every_computed_value():
    engine = engine_of("loops_nested_farm.yaml")
    state = engine.start(now=START, seed=1)
    walk(engine, state, FARM)
    assert state.outcome == "complete"
    assert computed(engine, engine.values(state)) == {
        "plot_acres_1_1",
        "plot_acres_1_2",
        "plot_acres_2_1",
        "plot_harvest_1_1",
        "plot_harvest_1_2",
        "plot_harvest_2_1",
        "farm_area_1",
        "farm_area_2",
        "total_plots",
        "n_harvests",
    }


def test_a_computed_variable_in_a_section_not_reached_has_no_value():
    engine = engine_of("loops_computed.yaml")
    answers = {"n": 2, "age_1": 3, "age_2": 9}
    state = engine.start(now=START, seed=1, case={"site": "Leeds"})
    walk_to(engine, state, answers, "age_2")
    values = engine.values(state)
    assert values["kid_site_1"] == "Leeds" and "kid_site_2" not in values
    assert "n_small" not in values  # after the loop
    walk_to(engine, state, answers, "school_2")
    values = engine.values(state)
    assert values["kid_site_2"] == "Leeds" and "n_small" not in values


# ------------------------------------------------------------------ the dataset


def test_the_dataset_codes_trees_not_reached_as_not_reached_like_their_questions():
    engine = Engine(require_questionnaire(BIOMASS))
    dataset = dataset_of(engine, {"plot": broken_off(engine, PLOT, "cbh_1_2")})
    row = row_of(dataset, "plot")
    assert (row["plot_id1_1"], row["size_constraint_1"], row["tag_1"]) == (1001, 6, 501)
    for tree in (2, 3, 4):  # trees to come: -9, on the route but not reached (was 1001 and 6)
        assert (row[f"plot_id1_{tree}"], row[f"size_constraint_{tree}"]) == (-9, -9)
        assert (row[f"tag_{tree}"], row[f"stem_tag_{tree}_1"]) == (-9, -9)
    assert (row["plot_id1_5"], row["tag_5"]) == (-8, -8)  # 4 trees: no tree 5
    assert (row["cbh_1_2"], row["cbh_1_3"]) == (-9, -8)  # stem 2 shown, tree 1 has 2 stems
    assert (row["tree_basal_cm_1"], row["n_stems"], row["stumps_in_plot"]) == (-9, -9, -9)
    trees = dataset.long("trees").frame
    assert list(trees["plot_id1"]) == [1001, -9, -9, -9]
    assert list(trees["size_constraint"]) == [6, -9, -9, -9]
    stems = dataset.long("stems").frame
    assert list(stems["stem_tag"]) == [501, 501] and list(stems["cbh"]) == [30, -9]


def test_the_dataset_codes_nested_iterations_not_reached_by_what_is_known_of_them():
    engine = engine_of("loops_nested_farm.yaml")
    dataset = dataset_of(engine, {"farm": broken_off(engine, FARM, "plot_area_1_2")})
    row = row_of(dataset, "farm")
    assert row["plot_acres_1_1"] == 1.5 * 2.47 and row["plot_harvest_1_1"] == 700
    # household 1's second plot, household 2 (its plots not counted yet), the totals: to come
    assert [row[k] for k in ("plot_acres_1_2", "plot_harvest_1_2", "farm_area_1")] == [-9] * 3
    assert [row[k] for k in ("head_age_2", "plot_area_2_1", "plot_acres_2_4")] == [-9] * 3
    assert [row[k] for k in ("farm_area_2", "total_plots", "n_harvests")] == [-9] * 3
    # iterations known not to happen: household 3, plot 3 of household 1, a crop not grown
    assert [row[k] for k in ("farm_area_3", "plot_acres_1_3", "harvest_kg_1_1_2")] == [-8] * 3
    households = dataset.long("households").frame
    assert list(households["farm_area"]) == [-9, -9] and list(households["head_age"]) == [40, -9]
    plots = dataset.long("plots").frame
    assert list(plots["plot_acres"]) == [1.5 * 2.47, -9] and list(plots["plot_harvest"]) == [
        700,
        -9,
    ]


def test_a_complete_interview_is_coded_as_before():
    engine = engine_of("loops_nested_farm.yaml")
    state = engine.start(now=START, seed=1)
    walk(engine, state, FARM)
    row = row_of(dataset_of(engine, {"farm": state}), "farm")
    assert (row["farm_area_1"], row["farm_area_2"], row["farm_area_3"]) == (2.0, 2.0, -8)
    assert (row["plot_harvest_2_1"], row["total_plots"], row["n_harvests"]) == (0, 3, 3)
