"""Changing one person of a list from its summary comes back to the summary (issue 11).

The list's summary is its "anyone else?" page, asked after each person. "Change"
beside person 1 goes back to person 1's answers; once they are answered again the
respondent is back on the summary they left, not walked on through person 1's
"anyone else?" and every later person's pages (as the ONS runner's list collector
does). Driven through the engine and through the web mode's change button.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_dataset_support import START
from test_web_support import *  # make_app, close_app, Respondent, the app fixtures

from instrument.engine import Engine
from instrument.loader import require_questionnaire

HOUSEHOLD = Path(__file__).parent / "data" / "lists_household.yaml"
PEOPLE = [("Ama", "Mensah"), ("Kofi", "Mensah"), ("Esi", "Boateng")]


def _to_the_summary(engine: Engine) -> Any:
    """An interview on the summary after three persons, "anyone else?" not yet answered."""
    state = engine.start(now=START, seed=1)
    engine.submit(state, {"address_type": 1}, now=START)
    for n, (first, last) in enumerate(PEOPLE, 1):
        if n > 1:
            assert engine.submit(state, {f"people_another_{n - 1}": 1}, now=START).accepted
        result = engine.submit(state, {f"first_name_{n}": first, f"last_name_{n}": last}, now=START)
        assert result.accepted
    return state


def test_a_change_from_the_list_summary_returns_to_it_in_the_engine() -> None:
    engine = Engine(require_questionnaire(HOUSEHOLD))
    state = _to_the_summary(engine)
    step = engine.current_step(state)
    assert step.questions[0].key == "people_another_3"
    change = {suffix: key for suffix, _, key in step.list_items}["1"]
    engine.jump(state, change, now=START)
    assert engine.current_step(state).questions[0].key == "first_name_1"
    assert engine.submit(state, {"first_name_1": "Amma", "last_name_1": "Mensah"}, now=START)
    step = engine.current_step(state)
    assert step.questions[0].key == "people_another_3"  # not people_another_1, then Kofi's name
    assert [name for _, name, _ in step.list_items] == ["Amma Mensah", "Kofi Mensah", "Esi Boateng"]
    # the way back passed the pages already answered; the route is whole and carries on
    assert [v.page for v in state.history].count("name") == 3
    assert engine.submit(state, {"people_another_3": 2}, now=START).accepted
    assert engine.current_step(state).questions[0].key == "age_1"


def test_a_change_from_an_earlier_summary_returns_to_that_one() -> None:
    engine = Engine(require_questionnaire(HOUSEHOLD))
    state = _to_the_summary(engine)
    engine.back(state, now=START)  # Esi's name
    engine.back(state, now=START)  # the summary after Kofi, answered yes
    assert engine.current_step(state).questions[0].key == "people_another_2"
    engine.jump(state, "first_name_1", now=START)
    engine.submit(state, {"first_name_1": "Amma", "last_name_1": "Mensah"}, now=START)
    assert engine.current_step(state).questions[0].key == "people_another_2"


def test_a_change_from_the_list_summary_returns_to_it_on_the_web(
    sqlite_url: str, clock: Any
) -> None:
    app = make_app(sqlite_url, clock, HOUSEHOLD)
    try:
        r = Respondent(app, "household_list")
        r.start()
        r.post({"address_type": "1"})
        for n, (first, last) in enumerate(PEOPLE, 1):
            if n > 1:
                r.post({f"people_another_{n - 1}": "1"})
            page = r.post({f"first_name_{n}": first, f"last_name_{n}": last})
        assert page.names() >= {"people_another_3"}
        page = r.post({"action": "change:first_name_1"}, page=page)
        assert page.value("first_name_1") == "Ama"
        page = r.post({"first_name_1": "Amma", "last_name_1": "Mensah"})
        assert page.names() >= {"people_another_3"}, page.text()
        assert "first_name_2" not in page.names() and "people_another_1" not in page.names()
        assert "Amma Mensah" in page.text() and "Esi Boateng" in page.text()
        page = r.post({"people_another_3": "2"})
        assert "How old is Amma?" in page.text()
    finally:
        close_app(app)
