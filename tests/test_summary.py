"""A "check your answers" page (``type: summary``) with change links, as ONS eQ has.

The page lists each answer of its section in words; changing one jumps back to
its question and, once it is answered, straight back to the summary, unless the
change put a new question on the route or made a later check fire.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from instrument.engine import Engine, State
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.values import DK

SUMMARY = Path(__file__).parent / "data" / "summary.yaml"
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(require_questionnaire(SUMMARY))


def answer(engine: Engine, state: State, *pages: dict[str, Any]) -> None:
    for page in pages:
        result = engine.submit(state, page, now=NOW)
        assert result.accepted, result.problems


def to_summary(engine: Engine, language: str = "en", n_children: int = 0) -> State:
    state = engine.start(now=NOW, seed=1, language=language, mode="cati")
    answer(engine, state, {"n_people": 3}, {"n_children": n_children})
    if n_children:
        answer(engine, state, {"childcare": 1})
    answer(
        engine,
        state,
        {"tenure": 96, "tenure_other": "A boat"},
        {"moved": dt.date(2020, 5, 1)},
    )
    assert page(engine, state) == "check_household"
    return state


def page(engine: Engine, state: State) -> str:
    return engine.current_step(state).page_id


def lines(engine: Engine, state: State) -> list[tuple[str, str, str]]:
    view = engine.current_step(state, html=False).questions[0]
    return [(line.key, line.question, line.answer) for line in view.summary]


def test_the_summary_lists_the_sections_answers_in_words(engine):
    state = to_summary(engine)
    assert lines(engine, state) == [
        ("n_people", "How many people live here?", "3"),
        ("n_children", "How many of them are children?", "0"),
        ("tenure", "Is your home owned or rented?", "Some other way: A boat"),
        ("moved", "When did you move in?", "1 May 2020"),
    ]  # childcare was not asked, so it is not listed


def test_the_summary_is_in_the_interviews_language_with_dont_know(engine):
    state = engine.start(now=NOW, seed=1, language="cy", mode="cati")
    answer(engine, state, {"n_people": 2}, {"n_children": 1}, {"childcare": DK})
    answer(engine, state, {"tenure": 2}, {"moved": dt.date(2020, 5, 1)})
    found = {key: words for key, _, words in lines(engine, state)}
    assert found["tenure"] == "Ar rent"
    assert found["childcare"] == "Ddim yn gwybod"


def test_a_change_returns_straight_to_the_summary(engine):
    state = to_summary(engine)
    engine.jump(state, "n_people", now=NOW)
    assert page(engine, state) == "n_people"
    result = engine.submit(state, {"n_people": 4}, now=NOW)
    assert result.accepted
    assert page(engine, state) == "check_household"  # n_children, tenure, moved not shown again
    assert lines(engine, state)[0] == ("n_people", "How many people live here?", "4")
    assert state.returning is None
    assert engine.values(state)["moved"] == dt.date(2020, 5, 1)  # the pages passed keep answers


def test_a_change_that_asks_a_new_question_stops_there_then_returns(engine):
    state = to_summary(engine)
    engine.jump(state, "n_children", now=NOW)
    answer(engine, state, {"n_children": 2})
    assert page(engine, state) == "childcare"  # newly on the route
    answer(engine, state, {"childcare": 2})
    assert page(engine, state) == "check_household"
    assert [key for key, _, _ in lines(engine, state)][2] == "childcare"


def test_a_change_that_makes_a_later_check_fire_shows_that_page(engine):
    state = to_summary(engine, n_children=1)
    engine.jump(state, "n_people", now=NOW)
    answer(engine, state, {"n_people": 1})
    assert page(engine, state) == "n_children"  # 1 child of 1 person leaves no adults
    result = engine.submit(state, {"n_children": 1}, now=NOW)
    assert [p.message for p in result.errors] == ["That leaves no adults."]
    answer(engine, state, {"n_children": 0})
    assert page(engine, state) == "check_household"


def test_back_from_the_changed_page_forgets_the_return(engine):
    state = to_summary(engine)
    engine.jump(state, "tenure", now=NOW)
    engine.back(state, now=NOW)
    assert state.returning is None
    answer(engine, state, {"n_children": 0})
    assert page(engine, state) == "tenure"  # the ordinary route again


def test_a_jump_from_any_other_page_goes_on_as_before(engine):
    state = engine.start(now=NOW, seed=1, mode="cati")
    answer(engine, state, {"n_people": 3}, {"n_children": 0}, {"tenure": 1})
    engine.jump(state, "n_people", now=NOW)
    answer(engine, state, {"n_people": 3})
    assert page(engine, state) == "n_children"


def test_the_return_survives_a_save_and_reload(engine):
    state = to_summary(engine)
    engine.jump(state, "moved", now=NOW)
    state = State.from_json(state.to_json())
    assert state.returning == "check_household"
    answer(engine, state, {"moved": dt.date(2021, 1, 2)})
    assert page(engine, state) == "check_household"


LOOP = """
meta: {id: roster, version: "1", title: Roster, languages: [en]}
items:
  - section: people
    items:
      - {id: n, type: integer, min: 1, max: 40, text: How many people?}
      - loop: person
        count: n
        max: 40
        items:
          - {id: age, type: integer, min: 0, max: 120, text: "How old is person {{ loop.number }}?"}
          - {id: works, type: yesno, text: "Does person {{ loop.number }} work?"}
      - {id: check, type: summary, text: Check your answers}
"""


def test_a_change_in_a_long_roster_comes_back_past_every_iteration():
    result = load_questionnaire_text(LOOP, "roster.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    engine = Engine(result.questionnaire)
    state = engine.start(now=NOW, seed=1)
    answer(engine, state, {"n": 30})
    for number in range(1, 31):
        answer(engine, state, {f"age_{number}": 20 + number}, {f"works_{number}": 1})
    assert page(engine, state) == "check"
    found = lines(engine, state)
    assert len(found) == 61
    assert found[3] == ("age_2", "How old is person 2?", "22")
    engine.jump(state, "age_1", now=NOW)
    answer(engine, state, {"age_1": 50})
    assert page(engine, state) == "check"  # past 59 pages of the loop, not stopping half way
    assert lines(engine, state)[1] == ("age_1", "How old is person 1?", "50")


def test_the_scenarios_pass():
    from instrument.scenarios import run_scenarios

    assert all(r.passed for r in run_scenarios(require_questionnaire(SUMMARY)))


HEAD = 'meta: {id: s, version: "1", title: S, languages: [en]}\nitems:\n'


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            "  - {id: a, type: yesno, text: A?}\n  - {id: s, type: summary, text: Check}\n",
            "s.yaml:4:5: error: question 's' lists the answers of the section it is in, but it "
            "is in none; put it in a section, or name one with for_section:",
        ),
        (
            "  - section: about\n    items:\n      - {id: a, type: yesno, text: A?}\n"
            "  - {id: s, type: summary, for_section: abuot, text: Check}\n",
            "s.yaml:6:28: error: question 's': no section 'abuot' comes before it; "
            "did you mean 'about'?",
        ),
        (
            "  - section: about\n    items:\n      - {id: a, type: yesno, text: A?}\n"
            "      - {id: s, type: summary, choices: x, text: Check}\n",
            "'choices' does not apply to question 's' (summary)",
        ),
    ],
)
def test_check_reports_a_summary_without_a_section(items, message):
    found = [str(d) for d in load_questionnaire_text(HEAD + items, "s.yaml").errors]
    assert any(message in m for m in found), found


def test_the_terminal_lists_the_answers_with_the_names_to_jump_to(tmp_path: Path) -> None:
    from test_console import interview  # the console session on scripted lines

    lines_typed = ["3", "0", "1", "1 5 2020", ":jump n_people", "4", ":quit"]
    _, session, out = interview(lines_typed, mode="web", path=SUMMARY)
    assert "  How many people live here?: 3  [n_people]" in out
    assert "  Is your home owned or rented?: Owned  [tenure]" in out
    assert "(:jump NAME changes an answer)" in out
    assert out.count("Check your answers") == 2  # back at the summary after the change
    assert session.state.answers["n_people"] == 4
