"""The interview engine, one behaviour at a time.

Each test drives real questionnaires (``tests/data/mini.yaml`` and the small
``tests/data/engine_*.yaml`` fixtures) through the public engine API, the way a
mode does: start, read the current step, submit what a person entered, go back
or jump. Known engine bugs are written as strict xfails naming the cause, so a
fix turns them into failures that ask for the marker to be removed.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from instrument.engine import STATE_VERSION, Engine, EngineError, StaleSubmission, State, Step
from instrument.engine.answers import coerce_answer, coerce_code, is_empty_input
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.values import DK, REFUSED

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def mini() -> Engine:
    return Engine(require_questionnaire(DATA / "mini.yaml"))


@pytest.fixture(scope="module")
def routing() -> Engine:
    return Engine(require_questionnaire(DATA / "engine_routing.yaml"))


@pytest.fixture(scope="module")
def validation() -> Engine:
    return Engine(require_questionnaire(DATA / "engine_validation.yaml"))


@pytest.fixture(scope="module")
def texts() -> Engine:
    return Engine(require_questionnaire(DATA / "engine_texts.yaml"))


@pytest.fixture(scope="module")
def preload() -> Engine:
    return Engine(require_questionnaire(DATA / "engine_preload.yaml"))


def variant(name: str, old: str, new: str) -> Engine:
    """A fixture questionnaire with one line of its text changed (e.g. web_missing)."""
    text = (DATA / name).read_text(encoding="utf-8")
    assert old in text
    loaded = load_questionnaire_text(text.replace(old, new), name)
    assert loaded.questionnaire is not None, [str(d) for d in loaded.diagnostics]
    return Engine(loaded.questionnaire)


MINI = {
    "parent": 1,
    "n_kids": 2,
    "kid_age_1": 3,
    "kid_age_2": 12,
    "heard": [1, 96],
    "heard_other": "a poster",
    "comment": "hi",
    "trust_source_1": 1,
    "trust_source_96": 2,
    "b1": 1,
    "b2": 2,
    "g_a": 1,
    "g_b": 2,
    "g_c": 3,
    "born": "1980-05-01",
    "height": "1.7",
}

VALID = {
    "v_int": 10,
    "v_dec": "5.5",
    "v_text": "hi",
    "v_long": "hello",
    "v_date": "2010-06-01",
    "v_single": 1,
    "v_multi": [1, 2],
    "v_req": 1,
    "v_nodk": 1,
    "v_norefused": 1,
    "v_nomissing": 3,
    "v_low": 1,
    "v_high": 2,
    "v_cross": 5,
}

ROUTE_LONG = {
    "path": 1,
    "in_section": 4,
    "pair_a": 1,
    "pair_b": 2,
    "n": 2,
    "item_value_1": 7,
    "item_value_2": 3,
    "gated_q_1": 1,
    "gated_q_2": 2,
    "picked": [3, 1],
    "fruit_rating_1": 5,
    "fruit_rating_3": 6,
    "row_always": 1,
    "row_long": 2,
}


def page_answers(step: Step, answers: Mapping[str, Any]) -> dict[str, Any]:
    """What a person with these answers enters on this page."""
    return {key: answers[key] for view in step.questions for key in view.keys if key in answers}


def drive(
    engine: Engine,
    state: State,
    answers: Mapping[str, Any],
    *,
    until: str | None = None,
    clock: list[float] | None = None,
) -> list[Step]:
    """Answer page after page until the page ``until`` (not answered) or the end; the steps shown."""
    shown: list[Step] = []
    clock = clock if clock is not None else [0.0]
    for _ in range(200):
        if state.finished:
            return shown
        step = engine.current_step(state)
        shown.append(step)
        if step.page_id == until:
            return shown
        clock[0] += 10
        result = engine.submit(
            state, page_answers(step, answers), now=at(clock[0]), token=step.token, confirm=True
        )
        if not result.accepted and result.errors and all(p.kind == "prompt" for p in result.errors):
            result = engine.submit(
                state, page_answers(step, answers), now=at(clock[0]), token=step.token, confirm=True
            )
        assert result.accepted, (step.page_id, result.errors, result.warnings)
    raise AssertionError("the interview did not end")


def page_ids(steps: list[Step]) -> list[str]:
    return [s.page_id for s in steps]


def snapshot(state: State, *, clock: bool = True) -> str:
    """The state as JSON text; ``clock=False`` leaves out ``now``, the latest time the engine was given."""
    data = state.to_json()
    if not clock:
        del data["now"]
    return json.dumps(data, sort_keys=True)


# ---------------------------------------------------------------------------- start


def test_start_shows_first_page_at_time_and_seed(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=42, mode="cati", language="cy")
    step = mini.current_step(state)
    assert (step.kind, step.page_id, step.mode, step.language) == ("page", "parent", "cati", "cy")
    assert (state.seed, state.started_at, state.modes_used, state.outcome) == (
        42,
        NOW,
        ["cati"],
        None,
    )
    assert step.can_go_back is False and step.progress == 0.0
    assert not state.finished


def test_arms_are_drawn_from_the_seed(mini: Engine) -> None:
    arms = {seed: mini.start(now=NOW, seed=seed).arms["arm"] for seed in range(60)}
    for seed, arm in arms.items():
        assert mini.start(now=at(99), seed=seed, mode="ivr").arms["arm"] == arm
    assert set(arms.values()) == {1, 2}
    assert mini.values(mini.start(now=NOW, seed=5))["arm"] == arms[5]


def test_arms_follow_the_stored_seed(mini: Engine) -> None:
    for seed in range(20):
        as_text = mini.start(now=NOW, seed=f"00{seed}")  # type: ignore[arg-type]  # a seed from a sample file
        as_float = mini.start(now=NOW, seed=float(seed))  # type: ignore[arg-type]
        assert as_text.seed == as_float.seed == seed
        assert as_text.arms == as_float.arms == mini.start(now=NOW, seed=seed).arms


def test_case_is_coerced_to_preload_types(preload: Engine) -> None:
    state = preload.start(
        now=NOW,
        seed=1,
        case={"p_int": "3", "p_dec": "2.5", "p_text": 12, "p_date": "2019-03-27", "p_single": "2"},
    )
    assert state.case == {
        "p_int": 3,
        "p_dec": 2.5,
        "p_text": "12",
        "p_date": dt.date(2019, 3, 27),
        "p_single": 2,
    }
    assert preload.current_step(state, html=False).questions[0].text == "3|2.5|12|27 March 2019|Two"
    values = preload.values(state)
    assert values["p_date"] == dt.date(2019, 3, 27) and values["p_single"] == 2


def test_case_none_leaves_preload_unset(preload: Engine) -> None:
    state = preload.start(now=NOW, seed=1, case={"p_int": None, "p_single": 1})
    assert state.case == {"p_single": 1}
    assert "p_int" not in preload.values(state)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ({"nope": 1}, "not a preload variable"),
        ({"p_int": "three"}, "not a valid integer"),
        ({"p_int": [1]}, "not a valid integer"),
        ({"p_dec": "2,5x"}, "not a valid decimal"),
        ({"p_date": "27/03/2019"}, "not a valid date"),
        ({"p_single": 3}, "not one of its codes"),
        ({"p_single": "x"}, "not a valid single"),
    ],
)
def test_bad_case_data_is_an_engine_error(
    preload: Engine, case: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(EngineError, match=fragment):
        preload.start(now=NOW, seed=1, case=case)


def test_fractional_integer_preload_is_refused(preload: Engine) -> None:
    with pytest.raises(EngineError):
        preload.start(now=NOW, seed=1, case={"p_int": 2.5})


def test_datetime_for_date_preload_becomes_a_date(preload: Engine) -> None:
    state = preload.start(now=NOW, seed=1, case={"p_date": dt.datetime(2019, 3, 27, 8, 30)})
    assert type(state.case["p_date"]) is dt.date
    assert State.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_unknown_mode_and_language_are_errors(mini: Engine, preload: Engine) -> None:
    with pytest.raises(EngineError, match="mode 'paper'"):
        mini.start(now=NOW, seed=1, mode="paper")
    with pytest.raises(EngineError, match="language 'fr'"):
        mini.start(now=NOW, seed=1, language="fr")
    with pytest.raises(EngineError, match="mode 'cati'"):
        preload.start(now=NOW, seed=1, mode="cati")
    assert mini.start(now=NOW, seed=1).language == "en"


# -------------------------------------------------------------------------- routing


def test_long_route_follows_every_condition(routing: Engine) -> None:
    state = routing.start(now=NOW, seed=1)
    steps = drive(routing, state, ROUTE_LONG)
    assert page_ids(steps) == [
        "path",
        "in_section",
        "pair",
        "n",
        "item_value",
        "item_value",
        "gated_q",
        "gated_q",
        "picked",
        "fruit_rating",
        "fruit_rating",
        "grid",
        "last",
    ]
    assert state.outcome == "complete" and state.finished_at is not None
    pair = steps[2]
    assert [v.key for v in pair.questions] == ["pair_a", "pair_b"]
    grid = steps[-2].questions[0]
    assert [r.key for r in grid.rows] == ["row_always", "row_long"]
    values = routing.values(state)
    for key in ("in_section", "pair_b", "gated_q_1", "gated_q_2", "row_long"):
        assert key in values
    assert "in_block" not in values and "on_skipped_page" not in values
    assert steps[1].section_title == "The long way"


def test_short_route_skips_section_page_loop_and_row(routing: Engine) -> None:
    answers = dict(ROUTE_LONG, path=2, in_block=9, on_skipped_page=8)
    state = routing.start(now=NOW, seed=1)
    steps = drive(routing, state, answers)
    assert page_ids(steps) == [
        "path",
        "in_block",
        "pair",
        "skipped_page",
        "n",
        "item_value",
        "item_value",
        "picked",
        "fruit_rating",
        "fruit_rating",
        "grid",
        "last",
    ]
    pair = steps[2]
    assert [v.key for v in pair.questions] == ["pair_a"]
    assert [r.key for r in steps[-2].questions[0].rows] == ["row_always"]
    values = routing.values(state)
    for key in ("in_section", "pair_b", "gated_q_1", "row_long"):
        assert key not in values
    assert values["in_block"] == 9 and values["on_skipped_page"] == 8
    assert routing.asked_ids(state)[:4] == ["path", "in_block", "pair_a", "on_skipped_page"]


def test_end_item_screens_out(routing: Engine, mini: Engine) -> None:
    state = routing.start(now=NOW, seed=1)
    events = routing.submit(state, {"path": 3}, now=at(5)).events
    assert state.outcome == "screened_out" and state.finished and state.finished_at == at(5)
    assert events[-1].kind == "finish" and events[-1].data["outcome"] == "screened_out"
    step = routing.current_step(state)
    assert (step.kind, step.page_id, step.outcome, step.can_go_back) == (
        "end",
        "stop",
        "screened_out",
        False,
    )
    assert step.questions[0].text == "Goodbye." and step.progress == 1.0
    assert routing.values(state) == {
        "path": 3,
        "smallest": None,
        "n_big": None,  # a count over a loop never reached is not known, so not 0
    }  # computed are always there
    with pytest.raises(EngineError):
        routing.submit(state, {}, now=at(6))
    with pytest.raises(EngineError):
        routing.back(state, now=at(6))

    state = mini.start(now=NOW, seed=1)
    mini.submit(state, {"parent": 2}, now=at(1))
    assert state.outcome == "screened_out" and mini.asked_ids(state) == ["parent", "bye"]


def test_completion_sets_outcome_and_finish_event(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    steps = drive(mini, state, MINI)
    assert state.outcome == "complete" and state.finished
    assert steps[-1].page_id == "done"
    assert mini.values(state)["height"] == 1.7


def test_current_step_after_completion_is_the_end(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    drive(mini, state, MINI)
    step = mini.current_step(state)
    assert step.kind == "end" and step.outcome == "complete" and step.can_go_back is False


def test_double_click_on_last_page_is_stale(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    steps = drive(mini, state, MINI)
    with pytest.raises(StaleSubmission):
        mini.submit(state, {}, now=at(999), token=steps[-1].token)


def test_grid_row_when_uses_computed_value(mini: Engine) -> None:
    young = drive(mini, mini.start(now=NOW, seed=3), MINI, until="grid")[-1]
    older = drive(mini, mini.start(now=NOW, seed=3), dict(MINI, kid_age_1=8), until="grid")[-1]
    assert sorted(r.key for r in young.questions[0].rows) == ["g_a", "g_b", "g_c"]
    assert sorted(r.key for r in older.questions[0].rows) == ["g_a", "g_b"]


def test_progress_never_goes_back_without_randomisation(routing: Engine) -> None:
    steps = drive(routing, routing.start(now=NOW, seed=1), ROUTE_LONG)
    progress = [s.progress for s in steps]
    assert progress == sorted(progress) and 0.0 <= progress[0] < progress[-1] <= 1.0
    assert [s.can_go_back for s in steps] == [False] + [True] * (len(steps) - 1)


# ---------------------------------------------------------------------------- loops


def test_zero_iterations_skip_the_loop(routing: Engine) -> None:
    state = routing.start(now=NOW, seed=1)
    steps = drive(
        routing, state, dict(ROUTE_LONG, path=2, in_block=1, on_skipped_page=1, n=0), until="picked"
    )
    assert "item_value" not in page_ids(steps)
    values = routing.values(state)
    assert not any(k.startswith("item_value") for k in values)
    assert values["smallest"] is None and values["n_big"] == 0


def test_a_count_never_cuts_a_loop_short(routing: Engine) -> None:
    """A count larger than the loop's max is refused (it was once capped without a word):
    here by the count's own max, which check requires to fit the loop (tests/test_loops.py)."""
    answers = dict(ROUTE_LONG, n=3, item_value_1=3, item_value_2=9, item_value_3=9)
    state = routing.start(now=NOW, seed=1)
    drive(routing, state, answers, until="n")
    refused = routing.submit(state, {"n": 7}, now=NOW)
    assert not refused.accepted and refused.errors[0].key == "n"
    steps = drive(routing, state, answers, until="gated_q")
    loop_steps = [s for s in steps if s.page_id == "item_value"]
    assert [s.questions[0].text for s in loop_steps] == [
        "Item 1 of 3",
        "Item 2 of 3",
        "Item 3 of 3",
    ]
    assert [(s.loop, s.iteration, s.iteration_label) for s in loop_steps] == [
        ("items_loop", i, None) for i in (1, 2, 3)
    ]
    values = routing.values(state)
    assert values["smallest"] == 3 and values["n_big"] == 2


def test_for_each_iterates_chosen_codes_in_option_order(routing: Engine) -> None:
    state = routing.start(now=NOW, seed=1)
    steps = drive(routing, state, dict(ROUTE_LONG, picked=["3", 1]), until="grid")
    loop_steps = [s for s in steps if s.page_id == "fruit_rating"]
    assert [s.questions[0].key for s in loop_steps] == ["fruit_rating_1", "fruit_rating_3"]
    assert [s.iteration_label for s in loop_steps] == ["Apple", "Cherry"]
    assert [s.questions[0].text for s in loop_steps] == [
        "How good is Apple (1 of 2)?",
        "How good is Cherry (2 of 2)?",
    ]
    assert routing.values(state)["picked"] == (1, 3)


def test_for_each_with_nothing_chosen_skips_the_loop(routing: Engine) -> None:
    state = routing.start(now=NOW, seed=1)
    steps = drive(routing, state, dict(ROUTE_LONG, picked=DK), until="grid")
    assert "fruit_rating" not in page_ids(steps)


def test_loop_aggregates_over_dont_know_are_unknown(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3, mode="cati")
    drive(mini, state, dict(MINI, n_kids=3, kid_age_1=DK, kid_age_2=9, kid_age_3=4))
    values = mini.values(state)
    assert values["kid_age_1"] is DK
    assert values["youngest"] is None and values["n_under5"] is None  # the first might be 2


def test_loop_aggregates_over_a_count_not_known_are_unknown(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3, mode="cati")
    drive(mini, state, dict(MINI, n_kids=DK))
    values = mini.values(state)
    assert values["n_kids"] is DK and "kid_age_1" not in values
    assert values["n_under5"] is None  # was 0: a count over children nobody knows the number of


def test_for_each_condition_inside_loop(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    steps = drive(mini, state, dict(MINI, heard=[97], n_kids=1), until="b1")
    assert "trust_source" not in page_ids(steps)
    assert not any(k.startswith("trust_source") for k in mini.values(state))


# ----------------------------------------------------------------------- coercion


@pytest.fixture(scope="module")
def vq(validation: Engine) -> Any:
    return validation.q.questions


def coerced(question: Any, raw: Any) -> tuple[Any, str | None]:
    result = coerce_answer(question, raw, "en", TODAY)
    return result.value, result.error


@pytest.mark.parametrize(
    "raw, value",
    [
        (5, 5),
        ("5", 5),
        (" 12 ", 12),
        ("-3", -3),
        ("1,000", 1000),
        ("1 000", 1000),
        (5.0, 5),
        ("5.0", 5),
        (-5, -5),
        (1000, 1000),
    ],
)
def test_whole_numbers_accepted(vq: Any, raw: Any, value: int) -> None:
    got, error = coerced(vq["v_int"], raw)
    assert error is None and got == value and type(got) is int


@pytest.mark.parametrize(
    "raw", ["abc", "1,00", "1.5", 5.5, True, "12abc", "--1", [1], float("nan"), float("inf")]
)
def test_not_whole_numbers_refused(vq: Any, raw: Any) -> None:
    got, error = coerced(vq["v_int"], raw)
    assert got is None and error == "Enter a whole number, like 12"


def test_whole_number_bounds(vq: Any) -> None:
    assert coerced(vq["v_int"], -6) == (None, "Enter a number between -5 and 1,000")
    assert coerced(vq["v_int"], "1001") == (None, "Enter a number between -5 and 1,000")
    only_min = replace(vq["v_int"], max=None)
    only_max = replace(vq["v_int"], min=None)
    assert coerced(only_min, -6) == (None, "Enter a number that is -5 or more")
    assert coerced(only_max, 1001) == (None, "Enter a number that is 1,000 or less")
    assert coerced(only_min, 10**12) == (10**12, None)


@pytest.mark.parametrize(
    "raw, value",
    [("12.5", 12.5), ("12.50", 12.5), (3, 3.0), ("0", 0.0), (99.9, 99.9), ("1,0.5", None)],
)
def test_decimals(vq: Any, raw: Any, value: float | None) -> None:
    got, error = coerced(vq["v_dec"], raw)
    if value is None:
        assert got is None and error == "Enter a number, like 12.5"
    else:
        assert error is None and got == value and type(got) is float


def test_decimal_places_and_bounds(vq: Any) -> None:
    assert coerced(vq["v_dec"], "12.55") == (
        None,
        "Enter a number with no more than 1 decimal place",  # its plural form by the count
    )
    assert coerced(vq["v_dec"], 12.55) == (
        None,
        "Enter a number with no more than 1 decimal place",  # its plural form by the count
    )
    assert coerced(vq["v_dec"], "-0.5") == (None, "Enter a number between 0 and 100")
    assert coerced(vq["v_dec"], "100.5") == (None, "Enter a number between 0 and 100")
    assert coerced(vq["v_dec"], "abc") == (None, "Enter a number, like 12.5")
    assert coerced(vq["v_dec"], False) == (None, "Enter a number, like 12.5")


def test_decimal_refuses_not_a_number(vq: Any) -> None:
    assert coerced(vq["v_dec"], float("nan"))[0] is None


@pytest.mark.parametrize("raw", ["1" * 400, 10**400])
def test_decimal_refuses_huge_numbers(vq: Any, raw: Any) -> None:
    assert coerced(vq["v_dec"], raw) == (None, "Enter a number between 0 and 100")


def test_unbounded_decimal_refuses_infinity(vq: Any) -> None:
    unbounded = replace(vq["v_dec"], min=None, max=None, places=2)
    assert coerced(unbounded, "1" * 400 + ".5")[0] is None
    assert coerced(unbounded, float("inf"))[0] is None


@pytest.mark.parametrize("qid", ["v_int", "v_single", "v_date"])
def test_very_long_digit_strings_are_refused(vq: Any, qid: str) -> None:
    digits = "1" * 5000
    raw = {"day": digits, "month": "1", "year": "2001"} if qid == "v_date" else digits
    value, error = coerced(vq[qid], raw)
    assert value is None and error is not None


def test_text_and_long_text(vq: Any) -> None:
    assert coerced(vq["v_text"], "  two   words \n") == ("two words", None)
    assert coerced(vq["v_text"], "x" * 10) == ("x" * 10, None)
    assert coerced(vq["v_text"], "x" * 11) == (
        None,
        "Your answer must be 10 characters or fewer (it is 11)",
    )
    assert coerced(vq["v_text"], 42) == ("42", None)
    assert coerced(vq["v_long"], " line one\r\nline  two ") == ("line one\nline  two", None)
    assert coerced(vq["v_long"], "y" * 31) == (
        None,
        "Your answer must be 30 characters or fewer (it is 31)",
    )


@pytest.mark.parametrize(
    "raw",
    [
        "2019-03-27",
        " 2019-03-27 ",
        dt.date(2019, 3, 27),
        dt.datetime(2019, 3, 27, 23, 59),
        {"day": "27", "month": "3", "year": "2019"},
        {"day": 27, "month": 3, "year": 2019},
        ("27", "3", "2019"),
        [27, 3, 2019],
    ],
)
def test_date_forms(vq: Any, raw: Any) -> None:
    assert coerced(vq["v_date"], raw) == (dt.date(2019, 3, 27), None)


@pytest.mark.parametrize(
    "raw",
    [
        {"day": "27", "month": "3", "year": "19"},
        ("27", "3", "19"),
        {"day": "31", "month": "2", "year": "2019"},
        {"day": "x", "month": "2", "year": "2019"},
        {"day": "1", "month": "13", "year": "2019"},
        "27/03/2019",
        "2019-02-30",
        (1, 2),
        12,
    ],
)
def test_not_dates_refused(vq: Any, raw: Any) -> None:
    assert coerced(vq["v_date"], raw) == (None, "Enter a real date, like 27 3 2019")


@pytest.mark.parametrize("raw", [("1", "1", "9" * 30), {"day": 1, "month": 1, "year": 10**30}])
def test_date_parts_out_of_range_are_refused(vq: Any, raw: Any) -> None:
    assert coerced(vq["v_date"], raw) == (None, "Enter a real date, like 27 3 2019")


def test_date_bounds_and_today(vq: Any) -> None:
    assert coerced(vq["v_date"], "1999-12-31") == (None, "Enter a date on or after 1 January 2000")
    assert coerced(vq["v_date"], TODAY) == (TODAY, None)
    tomorrow = TODAY + dt.timedelta(days=1)
    assert coerced(vq["v_date"], tomorrow) == (
        None,
        f"Enter a date on or before {TODAY.day} January 2026",
    )
    # "today" follows the interview's clock, not the machine's
    assert coerce_answer(vq["v_date"], tomorrow, "en", tomorrow).value == tomorrow


def test_codes(vq: Any) -> None:
    single, multi = vq["v_single"], vq["v_multi"]
    assert coerced(single, "2") == (2, None) and coerced(single, 2.0) == (2, None)
    for bad in (3, "3", True, "x", [1], 1.5):
        assert coerced(single, bad) == (None, "Select one of the answers shown")
    assert coerced(multi, [2, "1"]) == ((1, 2), None)
    assert coerced(multi, ["97", 1, 1]) == ((1, 97), None)
    assert coerced(multi, "3") == ((3,), None) and coerced(multi, 3) == ((3,), None)
    assert coerced(multi, {2, 3}) == ((2, 3), None)
    assert coerced(multi, ["", None]) == (None, None)
    for bad_list in ([1, 4], ["x"], [True], [[1]]):
        assert coerced(multi, bad_list) == (None, "Select one of the answers shown")
    assert coerce_code(single, " 1 ", "en").value == 1
    assert coerce_code(single, REFUSED, "en").value is REFUSED


@pytest.mark.parametrize("raw", [1.5, dt.date(2020, 1, 1)])
def test_multi_refuses_scalar_non_codes(vq: Any, raw: Any) -> None:
    assert coerced(vq["v_multi"], raw) == (None, "Select one of the answers shown")


def test_special_and_empty_inputs(vq: Any) -> None:
    for question in vq.values():
        if question.stores_value:
            assert coerced(question, DK) == (DK, None)
            assert coerced(question, REFUSED) == (REFUSED, None)
            for empty in (None, "", "   ", [], ["", " "], {"day": "", "month": "", "year": ""}):
                assert coerced(question, empty) == (None, None), (question.id, empty)
    assert is_empty_input({"a": None}) and not is_empty_input(0) and not is_empty_input(["", "1"])
    with pytest.raises(ValueError):
        coerce_answer(vq["v_end"], "x", "en", TODAY)


def test_messages_in_welsh_and_a_language_we_lack(vq: Any) -> None:
    assert coerce_answer(vq["v_int"], "x", "cy", TODAY).error == "Rhowch rif cyfan, fel 12"
    assert coerce_answer(vq["v_dec"], "1.25", "cy", TODAY).error == (
        "Rhowch rif heb fwy na 1 lle degol"
    )
    assert coerce_answer(vq["v_int"], "x", "sw", TODAY).error == "Enter a whole number, like 12"


# ---------------------------------------------------------------------- validation


def reach(
    engine: Engine, page: str, *, mode: str = "web", answers: Mapping[str, Any] = VALID
) -> State:
    state = engine.start(now=NOW, seed=1, mode=mode)
    drive(engine, state, answers, until=page)
    assert engine.current_step(state).page_id == page
    return state


def rejected(
    engine: Engine, state: State, answers: Mapping[str, Any], **kwargs: Any
) -> list[tuple[str, str]]:
    """Submit expecting a refusal; the (key, message) pairs, after checking nothing changed.

    ``state.now`` records the latest time the engine was given, so it moves even
    on a refusal; everything else must stay as it was.
    """
    before = snapshot(state, clock=False)
    result = engine.submit(state, answers, now=at(500), **kwargs)
    assert not result.accepted
    assert snapshot(state, clock=False) == before
    return [(p.key, p.message) for p in result.errors]


def test_invalid_answer_is_refused_and_changes_nothing(validation: Engine) -> None:
    state = reach(validation, "v_int")
    assert rejected(validation, state, {"v_int": "twelve"}) == [
        ("v_int", "Enter a whole number, like 12")
    ]
    result = validation.submit(state, {"v_int": "twelve"}, now=at(1))
    assert result.values == {} and result.events == []


def test_multi_rules(validation: Engine) -> None:
    state = reach(validation, "v_multi")
    assert rejected(validation, state, {"v_multi": [1, 97]}) == [
        ("v_multi", "You cannot select 'Nowhere' together with other answers")
    ]
    assert rejected(validation, state, {"v_multi": [1]}) == [
        ("v_multi", "Select at least 2 answers")
    ]
    assert rejected(validation, state, {"v_multi": [1, 2, 3, 96], "v_multi_other": "x"}) == [
        ("v_multi", "Select no more than 3 answers")
    ]
    assert rejected(validation, state, {"v_multi": [1, 96]}) == [
        ("v_multi_other", "Tell us what 'Elsewhere' is")
    ]
    result = validation.submit(
        state, {"v_multi": [96, 1], "v_multi_other": "  the   park "}, now=at(1)
    )
    assert result.accepted
    assert (
        validation.values(state)["v_multi"] == (1, 96)
        and validation.values(state)["v_multi_other"] == "the park"
    )


def test_other_specify_on_single(validation: Engine) -> None:
    state = reach(validation, "v_single")
    view = validation.current_step(state).questions[0]
    assert view.other_key == "v_single_other" and view.keys == ("v_single", "v_single_other")
    assert [o.other_specify for o in view.options] == [False, False, True]
    assert rejected(validation, state, {"v_single": 96, "v_single_other": "   "}) == [
        ("v_single_other", "Tell us what 'Elsewhere' is")
    ]
    long = "z" * 201
    assert rejected(validation, state, {"v_single": 96, "v_single_other": long}) == [
        ("v_single_other", "Your answer must be 200 characters or fewer (it is 201)")
    ]
    assert validation.submit(
        state, {"v_single": 1, "v_single_other": "ignored"}, now=at(1)
    ).accepted
    values = validation.values(state)
    assert values["v_single"] == 1 and values["v_single_other"] is None


def test_required_refuses_empty_dk_and_refused(validation: Engine) -> None:
    for mode in ("web", "cati", "ivr"):
        state = reach(validation, "v_req", mode=mode)
        view = validation.current_step(state).questions[0]
        assert (
            view.required
            and not view.allow_dk
            and not view.allow_refused
            and not view.offer_missing
        )
        assert rejected(validation, state, {}) == [("v_req", "Select an answer")]
        assert rejected(validation, state, {"v_req": DK})[0][0] == "v_req"
        assert rejected(validation, state, {"v_req": REFUSED})[0][0] == "v_req"


def test_dk_and_refused_allowed_per_question(validation: Engine) -> None:
    state = reach(validation, "v_nodk", mode="cati")
    view = validation.current_step(state).questions[0]
    assert (view.allow_dk, view.allow_refused) == (False, True)
    assert rejected(validation, state, {"v_nodk": DK}) == [
        ("v_nodk", "This question needs an answer; don't know is not accepted")
    ]
    assert validation.submit(state, {"v_nodk": REFUSED}, now=at(1)).accepted
    view = validation.current_step(state).questions[0]
    assert (view.key, view.allow_dk, view.allow_refused) == ("v_norefused", True, False)
    assert rejected(validation, state, {"v_norefused": REFUSED}) == [
        ("v_norefused", "This question needs an answer")
    ]
    assert validation.submit(state, {"v_norefused": DK}, now=at(2)).accepted
    values = validation.values(state)
    assert values["v_nodk"] is REFUSED and values["v_norefused"] is DK


def test_question_without_dk_or_refused_skips_without_prompt_on_web(validation: Engine) -> None:
    state = reach(validation, "v_nomissing")
    assert validation.current_step(state).questions[0].offer_missing is False
    result = validation.submit(state, {}, now=at(1))
    assert result.accepted and validation.values(state)["v_nomissing"] is None


def test_hard_check_across_answers_on_a_page(validation: Engine) -> None:
    state = reach(validation, "pair")
    result = validation.submit(state, {"v_low": "5", "v_high": "3"}, now=at(1))
    assert not result.accepted
    assert [(p.key, p.message, p.id, p.kind) for p in result.errors] == [
        ("v_high", "High (3) must not be below low (5)", "v_high#0", "error")
    ]
    # a hard check cannot be confirmed away
    assert not validation.submit(state, {"v_low": 5, "v_high": 3}, now=at(2), confirm=True).accepted
    assert validation.submit(state, {"v_low": 5, "v_high": 5}, now=at(3)).accepted


def test_hard_check_across_pages(validation: Engine) -> None:
    state = reach(validation, "v_cross")
    assert rejected(validation, state, {"v_cross": 11}) == [
        ("v_cross", "Cannot be more than the first number")
    ]
    assert validation.submit(state, {"v_cross": 10}, now=at(1)).accepted


def test_soft_checks_need_confirmation_by_id(validation: Engine) -> None:
    state = reach(validation, "pair")
    answers = {"v_low": 0, "v_high": 200}
    first = validation.submit(state, answers, now=at(1))
    assert not first.accepted and first.errors == []
    assert [(w.id, w.message, w.kind) for w in first.warnings] == [
        ("v_high#1", "200 is high", "warning"),
        ("v_high#2", "Low is zero", "warning"),
    ]
    partly = validation.submit(state, answers, now=at(2), confirm={"v_high#1"})
    assert not partly.accepted and [w.id for w in partly.warnings] == ["v_high#2"]
    assert not validation.submit(state, answers, now=at(2), confirm={"nonsense#9"}).accepted
    assert validation.current_step(state).page_id == "pair"
    done = validation.submit(state, answers, now=at(3), confirm={"v_high#1", "v_high#2"})
    assert done.accepted
    confirmed = [e for e in done.events if e.kind == "warning_confirmed"]
    assert [(e.key, e.data["id"]) for e in confirmed] == [
        ("v_high", "v_high#1"),
        ("v_high", "v_high#2"),
    ]
    assert validation.values(state)["v_high"] == 200


def test_soft_check_confirmed_with_true(mini: Engine) -> None:
    state = reach(mini, "n_kids", answers=MINI)
    warned = mini.submit(state, {"n_kids": 7}, now=at(1))
    assert [w.message for w in warned.warnings] == ["7 children: is that right?"]
    assert mini.submit(state, {"n_kids": 7}, now=at(2), confirm=True).accepted


# ------------------------------------------------------------- skipping, per mode


def test_web_skip_is_prompted_once_then_accepted(validation: Engine) -> None:
    state = reach(validation, "v_int")
    step = validation.current_step(state)
    assert step.questions[0].offer_missing is False
    first = validation.submit(state, {"v_int": ""}, now=at(1), token=step.token)
    assert not first.accepted
    assert [(p.key, p.kind) for p in first.errors] == [("v_int", "prompt")]
    assert [(e.kind, e.key) for e in first.events] == [("prompt", "v_int")]
    again = validation.current_step(state)
    assert again.page_id == "v_int" and again.token == step.token
    assert again.questions[0].offer_missing is True
    second = validation.submit(state, {}, now=at(2), token=again.token)
    assert second.accepted
    values = validation.values(state)
    assert "v_int" in values and values["v_int"] is None
    # the prompt survives a save and restore
    assert "v_int" in State.from_json(json.loads(json.dumps(state.to_json()))).prompted


def test_web_skip_prompt_on_a_page_of_two(validation: Engine) -> None:
    state = reach(validation, "pair")
    first = validation.submit(state, {"v_low": 1}, now=at(1))
    assert [(p.key, p.kind) for p in first.errors] == [("v_high", "prompt")]
    views = validation.current_step(state).questions
    assert [v.offer_missing for v in views] == [False, True]
    assert validation.submit(state, {"v_low": 1}, now=at(2)).accepted


def test_web_skip_prompt_on_a_grid(mini: Engine) -> None:
    state = reach(mini, "grid", answers=MINI)
    first = mini.submit(state, {"g_a": 1}, now=at(1))
    assert not first.accepted and {p.kind for p in first.errors} == {"prompt"}
    assert mini.submit(state, {"g_a": 1}, now=at(2)).accepted
    values = mini.values(state)
    assert values["g_a"] == 1 and values["g_b"] is None and values["g_c"] is None


def grid_seed_with_other_first_row(mini: Engine) -> int:
    for seed in range(100):
        state = mini.start(now=NOW, seed=seed)
        drive(mini, state, MINI, until="grid")
        rows = mini.current_step(state).questions[0].rows
        if rows[0].key != "g_a":
            return seed
    raise AssertionError("no seed puts another row first")


def test_web_skip_prompt_offers_missing_on_randomised_grid(mini: Engine) -> None:
    seed = grid_seed_with_other_first_row(mini)
    state = mini.start(now=NOW, seed=seed)
    drive(mini, state, MINI, until="grid")
    assert not mini.submit(state, {}, now=at(1)).accepted
    assert mini.current_step(state).questions[0].offer_missing is True


@pytest.mark.parametrize("policy, offered", [("shown", True), ("never", False)])
def test_web_missing_shown_and_never_accept_a_skip_at_once(policy: str, offered: bool) -> None:
    engine = variant("engine_validation.yaml", "web_missing: after_skip", f"web_missing: {policy}")
    state = engine.start(now=NOW, seed=1)
    assert engine.current_step(state).questions[0].offer_missing is offered
    result = engine.submit(state, {}, now=at(1))
    assert result.accepted and not any(e.kind == "prompt" for e in result.events)
    assert engine.values(state)["v_int"] is None
    assert engine.current_step(state).questions[0].offer_missing is offered


def test_cati_needs_a_keyed_answer(validation: Engine) -> None:
    state = validation.start(now=NOW, seed=1, mode="cati")
    step = validation.current_step(state)
    assert step.questions[0].offer_missing is True
    assert step.questions[0].refused_label == "Refused"
    for _ in range(2):  # no prompt-then-accept on the phone
        assert rejected(validation, state, {}) == [
            ("v_int", "Key an answer, or don't know or refused")
        ]
    assert validation.submit(state, {"v_int": DK}, now=at(1)).accepted
    assert validation.values(state)["v_int"] is DK


def test_ivr_accepts_an_empty_answer(validation: Engine) -> None:
    state = validation.start(now=NOW, seed=1, mode="ivr")
    view = validation.current_step(state).questions[0]
    assert view.offer_missing is True and view.refused_label == "Prefer not to say"
    result = validation.submit(state, {}, now=at(1))
    assert result.accepted and not any(e.kind == "prompt" for e in result.events)
    assert validation.values(state)["v_int"] is None


# ----------------------------------------------------------------- back and jump


def test_back_keeps_answers_as_prefill(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    drive(mini, state, MINI, until="two_on_one")
    mini.submit(state, {"heard": [2, 96], "heard_other": "flyer", "comment": "ok"}, now=at(300))
    assert mini.current_step(state).page_id == "trust_source"
    events = mini.back(state, now=at(310))
    assert [(e.kind, e.data) for e in events] == [
        ("back", {"from": "trust_source", "to": "two_on_one"})
    ]
    step = mini.current_step(state)
    heard, comment = step.questions
    assert (heard.value, heard.other_value, comment.value) == ((2, 96), "flyer", "ok")
    mini.back(state, now=at(320))
    step = mini.current_step(state)
    assert (step.page_id, step.questions[0].key, step.questions[0].value) == (
        "kid_age",
        "kid_age_2",
        12,
    )


def test_back_on_first_page_is_an_error(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    before = snapshot(state)
    with pytest.raises(EngineError, match="first page"):
        mini.back(state, now=at(1))
    assert snapshot(state) == before


def test_jump_back_and_reroute(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    drive(mini, state, MINI, until="born")
    assert mini.values(state)["kid_age_2"] == 12
    events = mini.jump(state, "n_kids", now=at(600))
    assert [(e.kind, e.key, e.data) for e in events] == [
        ("jump", "n_kids", {"from": "born", "to": "n_kids"})
    ]
    step = mini.current_step(state)
    assert step.page_id == "n_kids" and step.questions[0].value == 2
    assert mini.submit(state, {"n_kids": 1}, now=at(610)).accepted
    assert mini.current_step(state).questions[0].value == 3  # kid_age_1 pre-filled
    drive(mini, state, MINI)
    values = mini.values(state)
    assert "kid_age_2" not in values and state.answers["kid_age_2"] == 12
    assert values["kid_age_1"] == 3 and values["youngest"] == 3
    assert mini.asked_ids(state).count("kid_age") == 1


def test_jump_then_screen_out_drops_later_answers(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    drive(mini, state, MINI, until="born")
    mini.jump(state, "parent", now=at(700))
    assert mini.submit(state, {"parent": 2}, now=at(701)).accepted
    assert state.outcome == "screened_out"
    values = mini.values(state)
    assert values["parent"] == 2 and "n_kids" not in values and "heard" not in values
    assert state.answers["heard"] == (1, 96)
    assert values["youngest"] is None and values["n_under5"] is None  # the loop was routed past


def test_jump_to_loop_key_and_page_id(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    drive(mini, state, MINI, until="born")
    mini.jump(state, "kid_age_1", now=at(1))
    step = mini.current_step(state)
    assert (step.page_id, step.iteration, step.questions[0].key) == ("kid_age", 1, "kid_age_1")
    drive(mini, state, MINI, until="born")
    mini.jump(state, "grid", now=at(2))
    assert mini.current_step(state).page_id == "grid"
    with pytest.raises(EngineError, match="has not been asked"):
        mini.jump(state, "height", now=at(3))
    with pytest.raises(EngineError):
        mini.jump(state, "no_such_key", now=at(3))


def test_stale_token_raises_and_changes_nothing(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    first = mini.current_step(state)
    assert mini.submit(state, {"parent": 1}, now=at(1), token=first.token).accepted
    second = mini.current_step(state)
    assert second.token != first.token
    before = snapshot(state)
    with pytest.raises(StaleSubmission):
        mini.submit(state, {"parent": 2}, now=at(2), token=first.token)
    assert snapshot(state) == before
    assert issubclass(StaleSubmission, EngineError)
    # after going back, the old second page's token is stale too
    mini.back(state, now=at(3))
    assert mini.submit(state, {"parent": 1}, now=at(4)).accepted
    with pytest.raises(StaleSubmission):
        mini.submit(state, {"n_kids": 2}, now=at(5), token=second.token)
    assert mini.submit(
        state, {"n_kids": 2}, now=at(5), token=mini.current_step(state).token
    ).accepted


# ---------------------------------------------------------------- randomisation


def orders(
    engine: Engine, seeds: range, page: str, answers: Mapping[str, Any]
) -> dict[int, tuple[Any, ...]]:
    found = {}
    for seed in seeds:
        state = engine.start(now=NOW, seed=seed)
        drive(engine, state, answers, until=page)
        view = engine.current_step(state).questions[0]
        found[seed] = (
            tuple(o.code for o in view.options)
            if view.options and not view.rows
            else tuple(r.key for r in view.rows)
        )
    return found


def test_option_order_is_seeded_and_fixed_options_stay(mini: Engine) -> None:
    found = orders(mini, range(25), "two_on_one", MINI)
    assert len(set(found.values())) > 1
    for seed, codes in found.items():
        assert codes[3:] == (96, 97) and sorted(codes[:3]) == [1, 2, 3]
        assert orders(mini, range(seed, seed + 1), "two_on_one", MINI)[seed] == codes


def test_grid_row_order_is_seeded(mini: Engine) -> None:
    found = orders(mini, range(25), "grid", MINI)
    assert len(set(found.values())) > 1
    assert all(sorted(rows) == ["g_a", "g_b", "g_c"] for rows in found.values())
    assert orders(mini, range(7, 8), "grid", MINI)[7] == found[7]


def test_block_order_is_seeded(mini: Engine) -> None:
    seen = set()
    for seed in range(25):
        runs = []
        for _ in range(2):
            state = mini.start(now=NOW, seed=seed)
            ids = page_ids(drive(mini, state, MINI))
            runs.append(tuple(i for i in ids if i in ("b1", "b2")))
        assert runs[0] == runs[1] and sorted(runs[0]) == ["b1", "b2"]
        seen.add(runs[0])
    assert seen == {("b1", "b2"), ("b2", "b1")}


def test_orders_come_from_the_documented_generator_so_upgrades_keep_them(mini: Engine) -> None:
    """An interview in the field keeps its orders across engine versions: pin the derivation."""
    for seed, codes in orders(mini, range(12), "two_on_one", MINI).items():
        movable = [1, 2, 3]
        random.Random(f"{seed}|options|heard").shuffle(movable)
        assert codes == (*movable, 96, 97)
    for seed, rows in orders(mini, range(12), "grid", MINI).items():
        expected = ["g_a", "g_b", "g_c"]
        random.Random(f"{seed}|rows|grid").shuffle(expected)
        assert rows == tuple(expected)


def test_a_step_without_texts_has_the_same_structure(mini: Engine) -> None:
    """``texts=False`` (the simulator's steps) blanks the wording and nothing else."""
    wording = {"text": "", "spoken": "", "instruction": None, "hint": None, "unit": None}
    compared = set()
    for seed in range(6):
        state = mini.start(now=NOW, seed=seed)
        for _ in range(60):
            full = mini.current_step(state)
            bare = mini.current_step(state, texts=False)
            assert replace(full, section_title=None, questions=()) == replace(bare, questions=())
            assert len(full.questions) == len(bare.questions)
            compared.add(full.page_id)
            for shown, plain in zip(full.questions, bare.questions):
                assert replace(shown, rows=(), **wording) == replace(plain, rows=())
                assert [(r.key, r.value) for r in shown.rows] == [
                    (r.key, r.value) for r in plain.rows
                ]
                assert all(r.text == r.spoken == "" for r in plain.rows)
            if state.finished or not full.questions:
                break
            answers = {
                key: value
                for key, value in MINI.items()
                if key in {k for v in full.questions for k in v.keys}
            }
            if not mini.submit(state, answers, now=NOW, confirm=True).accepted:
                break
        else:
            pytest.fail("the interview did not end")
    assert {"two_on_one", "grid"} <= compared and len(compared) >= 8


def test_unrandomised_options_keep_questionnaire_order(routing: Engine) -> None:
    state = routing.start(now=NOW, seed=11)
    drive(routing, state, ROUTE_LONG, until="picked")
    assert [o.code for o in routing.current_step(state).questions[0].options] == [1, 2, 3, 4]


# ------------------------------------------------------------------------- texts


def colour_step(
    engine: Engine, mode: str, language: str, name: str, html: bool | None = None
) -> Step:
    state = engine.start(now=NOW, seed=1, mode=mode, language=language)
    assert engine.submit(state, {"name": name}, now=at(1)).accepted
    return engine.current_step(state, html=html)


def test_text_per_mode(texts: Engine) -> None:
    web = colour_step(texts, "web", "en", "Ann").questions[0]
    cati = colour_step(texts, "cati", "en", "Ann").questions[0]
    ivr = colour_step(texts, "ivr", "en", "Ann").questions[0]
    assert web.text == cati.text == ivr.text == "Hello Ann, which colour?"
    assert web.spoken == "Hello Ann, which colour?"
    assert cati.spoken == "READ OUT: Hello Ann, which colour?"
    assert ivr.spoken == "Hello Ann. Press 1 for red or 2 for blue."
    assert web.instruction == "Do not prompt Ann" and web.hint == "Choose one"
    assert [(o.label, o.spoken, o.not_read_out) for o in cati.options] == [
        ("Red", "The colour red", False),
        ("Blue", "Blue", False),
        ("Other colour", "Other colour", True),
    ]


def test_spoken_falls_back(texts: Engine) -> None:
    for mode, spoken in (
        ("web", "Only a text for Blue"),
        ("cati", "Read out for Blue"),
        ("ivr", "Read out for Blue"),
    ):
        state = texts.start(now=NOW, seed=1, mode=mode)
        drive(texts, state, {"name": "x", "colour": 2}, until="spoken_default")
        view = texts.current_step(state).questions[0]
        assert (view.text, view.spoken) == ("Only a text for Blue", spoken)


def test_welsh(texts: Engine, mini: Engine) -> None:
    step = colour_step(texts, "cati", "cy", "Siân")
    view = step.questions[0]
    assert view.text == "Helo Siân, pa liw?" and view.spoken == "DARLLENWCH: Helo Siân, pa liw?"
    assert [o.label for o in view.options] == ["Coch", "Glas", "Lliw arall"]
    assert view.options[0].spoken == "Y lliw coch"
    assert view.dk_label == "Ddim yn gwybod" and view.refused_label == "Wedi gwrthod"
    state = texts.start(now=NOW, seed=1, language="cy")
    drive(texts, state, {"name": "x", "colour": 1}, until="spoken_default")
    view = texts.current_step(state).questions[0]
    assert view.text == "Testun yn unig ar gyfer Coch" and [o.label for o in view.options] == [
        "Ie",
        "Na",
    ]
    assert view.refused_label == "Gwell gennyf beidio â dweud"
    state = mini.start(now=NOW, seed=1, language="cy")
    assert mini.current_step(state).section_title == "Amdanoch chi"
    prompt = mini.submit(state, {}, now=at(1))
    assert prompt.errors[0].message == "Dewiswch ateb"  # parent is required


def test_fills_are_escaped_for_html_only(texts: Engine) -> None:
    name = "<script>alert(1)</script>"
    html = colour_step(texts, "web", "en", name).questions[0]
    assert isinstance(html.text, Markup)
    assert "<script>" not in html.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in html.text
    assert "<script>" not in (html.instruction or "")
    plain = colour_step(texts, "web", "en", name, html=False).questions[0]
    assert plain.text == f"Hello {name}, which colour?" and not isinstance(plain.text, Markup)
    ivr = colour_step(texts, "ivr", "en", name).questions[0]  # calls are not HTML by default
    assert ivr.spoken == f"Hello {name}. Press 1 for red or 2 for blue."


def test_fill_with_experiment_arm_and_preload(mini: Engine) -> None:
    texts_by_arm = {}
    for seed in range(20):
        state = mini.start(now=NOW, seed=seed, case={"region": 1})
        drive(mini, state, MINI, until="b1")
        texts_by_arm[state.arms["arm"]] = mini.current_step(state, html=False).questions[0].text
        drive(mini, state, MINI, until="done")
        assert mini.current_step(state, html=False).questions[0].text == "Thank you, northerner."
    assert texts_by_arm == {1: "Statement one ", 2: "Statement one (treatment)"}


# --------------------------------------------------------------------- state JSON


def roundtrip(state: State) -> State:
    return State.from_json(json.loads(json.dumps(state.to_json())))


def test_state_round_trips_at_every_step(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3, mode="web", case={"region": 1, "profile_kids": 2})
    answers = dict(MINI, comment="")  # a web skip prompt on the way
    steps = drive(mini, state, answers)
    final = mini.values(state)
    # replay, and at every step carry on from a restored copy instead
    state = mini.start(now=NOW, seed=3, mode="web", case={"region": 1, "profile_kids": 2})
    clock = 0.0
    for step in steps:
        copy = roundtrip(state)
        assert copy == state and copy.on_route == state.on_route
        assert mini.current_step(copy) == mini.current_step(state) == step
        tail = drive(mini, copy, answers, clock=[clock])
        assert page_ids(tail) == page_ids(steps[steps.index(step) :])
        assert mini.values(copy) == final
        state = roundtrip(state)
        clock += 10
        result = mini.submit(state, page_answers(step, answers), now=at(clock), confirm=True)
        if not result.accepted:
            result = mini.submit(state, page_answers(step, answers), now=at(clock), confirm=True)
        assert result.accepted
    assert mini.values(state) == final
    assert roundtrip(state) == state


def test_state_version_mismatch_raises(mini: Engine) -> None:
    data = mini.start(now=NOW, seed=1).to_json()
    assert data["v"] == STATE_VERSION
    data["v"] = STATE_VERSION + 1
    with pytest.raises(ValueError, match="version"):
        State.from_json(data)
    del data["v"]
    with pytest.raises(ValueError, match="version"):
        State.from_json(data)


# ------------------------------------------------------------------------- events


def test_answer_events_only_for_changed_values(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    drive(mini, state, MINI, until="two_on_one")
    mini.submit(state, {"heard": [1, 96], "heard_other": "x", "comment": "c"}, now=at(100))
    mini.back(state, now=at(110))
    same = mini.submit(
        state, {"heard": ["96", "1"], "heard_other": " x ", "comment": "c"}, now=at(125)
    )
    assert [e.kind for e in same.events] == ["page"]
    page = same.events[0]
    assert (
        page.data["page"] == "two_on_one"
        and page.data["seconds"] == 15.0
        and page.data["mode"] == "web"
    )
    assert page.data["shown_at"] == at(110).isoformat()
    mini.back(state, now=at(130))
    changed = mini.submit(
        state,
        {"heard": [1, 96], "heard_other": "x", "comment": DK},
        now=at(131),
        actor="interviewer",
    )
    answer_events = [e for e in changed.events if e.kind == "answer"]
    assert [(e.key, e.value, e.data) for e in answer_events] == [
        ("comment", {"$special": "dk"}, {"actor": "interviewer", "mode": "web"})
    ]


def test_event_sequence_of_a_short_interview(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    first = mini.submit(state, {"parent": 1}, now=at(12))
    assert [(e.kind, e.key, e.value) for e in first.events] == [
        ("answer", "parent", 1),
        ("page", "", None),
    ]
    assert first.events[1].data["seconds"] == 12.0 and all(e.at == at(12) for e in first.events)
    events = mini.switch_mode(state, "cati", now=at(20))
    assert [(e.kind, e.data) for e in events] == [("mode", {"from": "web", "to": "cati"})]
    assert mini.switch_mode(state, "cati", now=at(21)) == []
    assert state.modes_used == ["web", "cati"] and mini.current_step(state).mode == "cati"
    with pytest.raises(EngineError):
        mini.switch_mode(state, "fax", now=at(22))
    events = mini.finish(state, now=at(30))
    assert [(e.kind, e.data) for e in events] == [("finish", {"outcome": "partial"})]
    assert state.outcome == "partial" and state.finished_at == at(30)
    assert mini.finish(state, now=at(40)) == [] and state.outcome == "partial"


def test_answer_event_values_are_json(mini: Engine) -> None:
    state = mini.start(now=NOW, seed=3)
    collected = []
    clock = 0.0
    for _ in range(30):
        if state.finished:
            break
        step = mini.current_step(state)
        clock += 5
        result = mini.submit(state, page_answers(step, MINI), now=at(clock), confirm=True)
        assert result.accepted
        collected.extend(result.events)
    assert collected[-1].kind == "finish" and collected[-1].data == {"outcome": "complete"}
    answers = {e.key: e.value for e in collected if e.kind == "answer"}
    assert answers["heard"] == {"$codes": [1, 96]} and answers["born"] == {"$date": "1980-05-01"}
    json.dumps([e.value for e in collected])
    pages = [e for e in collected if e.kind == "page"]
    assert all(e.data["seconds"] == 5.0 for e in pages)


@pytest.mark.parametrize("seed", range(1, 9))
def test_progress_never_goes_back_in_a_randomised_block(mini: Engine, seed: int) -> None:
    steps = drive(mini, mini.start(now=NOW, seed=seed), MINI)
    progress = [s.progress for s in steps]
    assert progress == sorted(progress)
    block = [s.page_id for s in steps if s.page_id in ("b1", "b2")]
    assert sorted(block) == ["b1", "b2"]


def test_cati_may_leave_empty_a_question_that_offers_neither_dk_nor_refused() -> None:
    from instrument.loader import load_questionnaire_text

    source = """\
meta: {id: c, version: "1", title: T, languages: [en]}
items:
  - {id: comment, type: long_text, dk: false, refused: false, text: Anything else?}
  - {id: age, type: integer, text: How old are you?}
"""
    engine = Engine(load_questionnaire_text(source).questionnaire)
    state = engine.start(now=NOW, seed=1, mode="cati")
    assert engine.submit(state, {"comment": ""}, now=NOW).accepted
    rejected = engine.submit(state, {"age": ""}, now=NOW)  # here the interviewer keys dk or refused
    assert not rejected.accepted and rejected.errors[0].message.startswith("Key an answer")
