"""Answer defaults: shown pre-filled, recorded only when the person submits the page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from test_web_support import (  # noqa: F401 (clock and sqlite_url are fixtures)
    FakeClock,
    Respondent,
    clock,
    close_app,
    interview_of,
    make_app,
    sqlite_url,
)

from instrument.engine import Engine
from instrument.loader import load_questionnaire_text

NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)

SOURCE = """
meta: {id: defaults, version: "1", title: Defaults, languages: [en], modes: [web, cati]}
preload:
  - {id: last_n, type: integer, label: Children last wave}
  - {id: last_region, type: single, choices: regions, label: Region last wave}
choices:
  regions: [{code: 1, label: North}, {code: 2, label: South}]
  media: [{code: 1, label: TV}, {code: 2, label: Radio}, {code: 3, label: Papers}]
items:
  - {id: n_children, type: integer, min: 0, max: 20, default: last_n, text: How many children?}
  - {id: region, type: single, choices: regions, default: last_region, text: Which region?}
  - {id: heard, type: multi, choices: media, default: [3, 1], text: Where did you hear?}
  - {id: visit, type: date, default: today(), text: When did you visit?}
  - {id: town, type: text, default: "'Cardiff'", text: Which town?}
"""


def load(source: str = SOURCE) -> Any:
    result = load_questionnaire_text(source, "d.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.questionnaire


def errors(source: str) -> list[str]:
    return [str(d) for d in load_questionnaire_text(source, "d.yaml").errors]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load())


def view(engine: Engine, state: Any) -> Any:
    return engine.current_step(state).questions[0]


def test_the_default_is_shown_but_not_stored_until_submitted(engine):
    state = engine.start(now=NOW, seed=1, case={"last_n": 2, "last_region": 2})
    shown = view(engine, state)
    assert (shown.value, shown.prefilled) == (2, True)
    assert "n_children" not in state.answers
    assert engine.values(state)["n_children"] is None  # on the route, not answered
    result = engine.submit(state, {"n_children": shown.value}, now=NOW)
    assert result.accepted and [e.key for e in result.events if e.kind == "answer"] == [
        "n_children"
    ]
    assert engine.values(state)["n_children"] == 2
    assert (view(engine, state).value, view(engine, state).prefilled) == (2, True)  # region


def test_every_kind_of_default(engine):
    state = engine.start(now=NOW, seed=1, case={"last_region": 1})
    assert view(engine, state).value is None  # no preload: nothing to pre-fill
    engine.submit(state, {"n_children": 0}, now=NOW)
    assert view(engine, state).value == 1
    engine.submit(state, {"region": 1}, now=NOW)
    assert view(engine, state).value == (1, 3)  # in the list's order
    engine.submit(state, {"heard": [1]}, now=NOW)
    assert view(engine, state).value == NOW.date()
    engine.submit(state, {"visit": NOW.date()}, now=NOW)
    assert view(engine, state).value == "Cardiff"


def test_an_answer_left_empty_is_not_replaced_by_the_default_on_going_back(engine):
    state = engine.start(now=NOW, seed=1, mode="web", case={"last_n": 2})
    engine.submit(state, {"n_children": ""}, now=NOW)  # a skip prompt ...
    engine.submit(state, {"n_children": ""}, now=NOW)  # ... then left empty
    assert state.answers["n_children"] is None
    engine.back(state, now=NOW)
    assert view(engine, state).value is None and not view(engine, state).prefilled


def test_an_answer_given_wins_over_the_default(engine):
    state = engine.start(now=NOW, seed=1, case={"last_n": 2})
    engine.submit(state, {"n_children": 5}, now=NOW)
    engine.back(state, now=NOW)
    assert (view(engine, state).value, view(engine, state).prefilled) == (5, False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("default: last_n,", "default: \"'two'\","),
            "d.yaml:10:64: error: the default of question 'n_children': this must give a whole "
            "number, but 'two' is text",
        ),
        (
            ("default: last_region,", "default: 3,"),
            "d.yaml:11:59: error: the default of question 'region' is 3, which is not one of its "
            "codes (1, 2)",
        ),
        (
            ("default: [3, 1]", "default: [3, 9]"),
            "d.yaml:12:59: error: the default of question 'heard' is 9",
        ),
        (
            ("default: last_n,", "default: count_selected(heard),"),
            "d.yaml:10:63: error: the default of question 'n_children' uses 'heard', which is asked later",
        ),
    ],
)
def test_check_reports_a_wrong_default_at_its_place(change, message):
    found = errors(SOURCE.replace(*change))
    assert any(m.startswith(message) or message in m for m in found), found


def test_a_default_that_may_hold_codes_the_question_lacks_is_a_warning():
    source = SOURCE.replace(
        "regions: [{code: 1, label: North}, {code: 2, label: South}]",
        "regions: [{code: 1, label: North}, {code: 2, label: South}, {code: 3, label: West}]\n"
        "  two: [{code: 1, label: North}, {code: 2, label: South}]",
    ).replace(
        "{id: region, type: single, choices: regions,", "{id: region, type: single, choices: two,"
    )
    result = load_questionnaire_text(source, "d.yaml")
    assert any(
        "may be 3, which question 'region' does not offer" in str(d) for d in result.diagnostics
    )


def test_grids_take_no_default():
    found = errors(
        SOURCE
        + "  - {id: g, type: grid, choices: regions, default: 1, text: G?, rows: [{id: r1, text: R}]}\n"
    )
    assert any("'default' does not apply to question 'g' (grid)" in m for m in found), found


def test_the_web_shows_the_default_filled_in_and_stores_it_on_continue(
    sqlite_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text(SOURCE.replace("default: last_n", "default: 3"), encoding="utf-8")
    app = make_app(sqlite_url, clock, path)
    try:
        r = Respondent(app, "defaults")
        page = r.start()
        assert page.value("n_children") == "3"
        assert "n_children" not in interview_of(app, r).state["answers"]
        page = r.answer({"n_children": page.value("n_children")})
        assert interview_of(app, r).state["answers"]["n_children"] == 3
        r.answer({"region": "1"})
        assert r.page.checked("heard") == ["1", "3"]
    finally:
        close_app(app)


def test_the_console_says_the_default_is_suggested_and_enter_accepts_it(tmp_path: Path) -> None:
    from test_console import interview  # the console session on scripted lines

    path = tmp_path / "defaults.yaml"
    path.write_text(SOURCE.replace("default: last_n", "default: 3"), encoding="utf-8")
    _, session, out = interview(["", ":quit"], mode="cati", path=path)
    assert "(suggested answer: 3; Enter keeps it, - clears it)" in out
    assert session.state.answers["n_children"] == 3
