"""Loops inside loops as the modes show them: which iteration a page is in (issue 11).

The engine names each iteration a page sits in (``Step.iteration_path``, from the
loops' ``label`` and a ``for_each`` loop's option); the web page shows it above the
question and the terminal prints it, so "Household 2 › Plot 1 › Cassava" is never
left to the wording alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from test_console import interview  # a terminal session on scripted lines
from test_web_support import *  # make_app, close_app, Respondent, the app fixtures

FARM = Path(__file__).parent / "data" / "loops_nested_farm.yaml"


def test_the_terminal_prints_the_iterations_a_question_is_in() -> None:
    _, _, transcript = interview(["2", "40", "1", "1.5", "1, 3", "500"], path=FARM, seed=1)
    assert "Household 1 > Plot 1 > Maize" in transcript
    assert transcript.index("Household 1 > Plot 1 > Maize") < transcript.index(
        "How many kilograms of Maize did plot 1 give?"
    )
    assert "Household 1 > Plot 1 > Cassava" in transcript


def test_the_web_page_shows_the_iterations_a_question_is_in(
    sqlite_url: str,
    clock: Any,
) -> None:
    app = make_app(sqlite_url, clock, FARM)
    try:
        r = Respondent(app, "farm_roster")
        r.start()
        r.post({"n_households": "2"})
        page = r.post({"head_age_1": "40"})
        assert "Household 1" in page.text()
        r.post({"n_plots_1": "1"})
        page = r.post({"plot_area_1_1": "1.5"})
        assert "Household 1 › Plot 1" in page.text()
        page = r.post({"crops_grown_1_1": ["1", "3"]})
        assert "Household 1 › Plot 1 › Maize" in page.text()
        assert "How many kilograms of Maize did plot 1 give?" in page.text()
        assert page.names() >= {"harvest_kg_1_1_1"}
    finally:
        close_app(app)


HOUSEHOLD = Path(__file__).parent / "data" / "lists_household.yaml"


def test_the_terminal_lists_the_people_and_removes_one() -> None:
    lines = ["1", "Ama", "Mensah", "1", "Kofi", "Mensah", "1", "Esi", "Boateng"]
    _, session, transcript = interview(
        [*lines, ":remove 2", "2", "40", "1", "70", "2"], path=HOUSEHOLD
    )
    assert "  1. Ama Mensah\n  2. Kofi Mensah\n  3. Esi Boateng" in transcript
    assert "  1. Ama Mensah\n  2. Esi Boateng" in transcript
    assert "How old is Esi?" in transcript and "How old is Kofi?" not in transcript
    assert session.state.loop_keys["people"] == ["1", "2"]


def test_the_web_page_lists_the_people_with_change_and_remove(sqlite_url: str, clock: Any) -> None:
    app = make_app(sqlite_url, clock, HOUSEHOLD)
    try:
        r = Respondent(app, "household_list")
        r.start()
        r.post({"address_type": "1"})
        for n, (first, last) in enumerate(
            [("Ama", "Mensah"), ("Kofi", "<b>M</b>"), ("Esi", "B")], 1
        ):
            if n > 1:
                r.post({f"people_another_{n - 1}": "1"})
            page = r.post({f"first_name_{n}": first, f"last_name_{n}": last})
        names = re.findall(r'<span class="list-summary__name">(.*?)</span>', page.html)
        assert names == ["Ama Mensah", "Kofi &lt;b&gt;M&lt;/b&gt;", "Esi B"]
        assert 'value="remove:people:2"' in page.html and 'value="change:first_name_3"' in page.html
        page = r.post({"action": "remove:people:2"}, page=page)
        names = re.findall(r'<span class="list-summary__name">(.*?)</span>', page.html)
        assert names == ["Ama Mensah", "Esi B"]
        assert page.names() >= {"people_another_2"}
        page = r.post({"action": "change:first_name_2"}, page=page)
        assert page.value("first_name_2") == "Esi" and page.value("last_name_2") == "B"
        page = r.post({"first_name_2": "Esi", "last_name_2": "Boateng"})
        page = r.post({"people_another_2": "2"})
        assert "How old is Ama?" in page.text()
        r.post({"age_1": "40"})
        page = r.post({"works_1": "1"})
        assert "How old is Esi?" in page.text() and "Esi Boateng" in page.text()
        assert r.post({"action": "remove:people:9"}, page=page).status == 200  # stale: shown again
    finally:
        close_app(app)
