"""Loops as researchers write them (issue 11): counts within the loop's max, values of
iterations routed past, computed variables per iteration, nested loops.

Every test drives real questionnaires through the public engine and, where the data
is the point, through the dataset builder and its per-loop long files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_dataset_support import drive

from instrument.dataset import Pseudonymiser, build_dataset
from instrument.engine import Engine, State
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
    return [f"{d.pos.line}: {d.message}" for d in result.diagnostics if d.severity == "error"]


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
