"""Loops inside loops as the modes show them: which iteration a page is in (issue 11).

The engine names each iteration a page sits in (``Step.iteration_path``, from the
loops' ``label`` and a ``for_each`` loop's option); the web page shows it above the
question and the terminal prints it, so "Household 2 › Plot 1 › Cassava" is never
left to the wording alone.
"""

from __future__ import annotations

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
