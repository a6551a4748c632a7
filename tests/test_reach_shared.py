"""How far an unfinished interview has got is worked out once per state, not once per reader.

A save reads it twice: :meth:`Engine.values` leaves out the computed values not
reached yet, and the export row codes what lies beyond the page as not reached
(``Engine.not_reached``). The test of "beyond" is kept with the state's computed
values (``State.computed``), so the second reader gets the first one's, and a
page turn makes a new one. The rows coded with the kept test at every page of
interviews with lists, loops and loops inside loops equal rows coded afresh
from the stored state, so nothing stale is ever used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_dataset_support import START

from instrument.dataset import RowCoder
from instrument.engine import Engine
from instrument.loader import require_questionnaire

DATA = Path(__file__).parent / "data"

HOUSEHOLD = {
    "address_type": 1,
    "first_name": ["Ama", "Kofi", "Esi"],
    "last_name": ["Mensah", "Mensah", "Boateng"],
    "people_another": [1, 1, 2],
    "age": [40, 12, 70],
    "works": [1, None, 2],
}
FARM = {"n_households": 2, "head_age": [40, 50], "n_plots": [2, 1], "plot_area": 1.5}


def _answer(key: str, given: dict[str, Any]) -> Any:
    """The answer for ``key`` (``age_2``, ``harvest_kg_1_2_3``): one value, or by iteration."""
    for name, value in given.items():
        if key == name:
            return value
        if key.startswith(name + "_") and isinstance(value, list):
            index = int(key[len(name) + 1 :].split("_")[0]) - 1
            return value[index] if index < len(value) else None
        if key.startswith(name + "_") and key[len(name) + 1 :].replace("_", "").isdigit():
            return value
    return None


def _fill(view: Any, given: dict[str, Any]) -> dict[str, Any]:
    answers = {}
    for key in view.keys:
        value = _answer(key, given)
        if value is None and view.type in ("multi",):
            value = (view.options[0].code,)
        elif value is None and view.type in ("single", "yesno"):
            value = view.options[0].code
        elif value is None and view.type in ("integer", "decimal"):
            value = 1
        elif value is None and view.type == "text":
            value = "x"
        answers[key] = value
    return answers


def test_the_reach_is_shared_by_the_values_and_the_row_and_renewed_by_a_page_turn() -> None:
    engine = Engine(require_questionnaire(DATA / "lists_household.yaml"))
    state = engine.start(now=START, seed=1)
    engine.submit(state, {"address_type": 1}, now=START)
    engine.values(state)
    kept = engine.not_reached(state)
    assert kept is not None and engine.not_reached(state) is kept  # once per state
    age_1 = engine.q.variables["age"]
    assert kept(age_1.ordinal, "about_person", "1")
    # a page turn that empties no computed value (a page outside loops, nothing answered on it
    # before) still makes a new test: the page it was made on is behind
    step = engine.current_step(state)
    given = {key: "Ama" if key.startswith("first") else "Mensah" for key in step.questions[0].keys}
    given.update({key: "Mensah" for v in step.questions[1:] for key in v.keys})
    assert engine.submit(state, given, now=START).accepted
    renewed = engine.not_reached(state)
    assert renewed is not kept and renewed is engine.not_reached(state)
    another = engine.q.variables["people_another"]  # the page now shown
    assert kept(another.ordinal, "people", "1") and not renewed(another.ordinal, "people", "1")


def _rows_at_every_page(path: Path, given: dict[str, Any], most: int = 200) -> int:
    """Walk the interview; at every page the row coded with the kept test (after the values
    were read, as a save does) equals the row coded afresh from the stored state."""
    engine = Engine(require_questionnaire(path))
    shared = RowCoder(engine.q, engine=engine)
    fresh = RowCoder(engine.q)
    state = engine.start(now=START, seed=1)
    pages = 0
    while not state.finished and pages < most:
        engine.values(state)
        assert shared.encode(state) == fresh.encode_stored(state.to_json()), state.current
        step = engine.current_step(state)
        answers = {k: v for view in step.questions for k, v in _fill(view, given).items()}
        result = engine.submit(state, answers, now=START, token=step.token, confirm=True)
        assert result.accepted, (step.page_id, result.errors)
        pages += 1
        if pages % 3 == 0 and not state.finished:  # back sometimes: a page returned to
            engine.back(state, now=START)
            assert shared.encode(state) == fresh.encode_stored(state.to_json())
            step = engine.current_step(state)
            answers = {k: v for view in step.questions for k, v in _fill(view, given).items()}
            assert engine.submit(state, answers, now=START, token=step.token, confirm=True)
    assert state.finished
    return pages


def test_rows_coded_with_the_kept_reach_equal_rows_coded_afresh() -> None:
    assert _rows_at_every_page(DATA / "lists_household.yaml", HOUSEHOLD) > 8
    assert _rows_at_every_page(DATA / "loops_nested_farm.yaml", FARM) > 5
