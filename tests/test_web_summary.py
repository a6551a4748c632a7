"""The web's "check your answers" page: each answer with a Change button that goes back to the
question and, once answered, straight back to the summary (tests/data/summary.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_support import *

SUMMARY = Path(__file__).parent / "data" / "summary.yaml"


@pytest.fixture
def app(sqlite_url: str, clock: FakeClock) -> Iterator[Any]:
    app = make_app(sqlite_url, clock, SUMMARY)
    yield app
    close_app(app)


def to_summary(app: Any) -> Respondent:
    r = Respondent(app, "summary")
    r.start()
    r.answer({"n_people": "3"})
    r.answer({"n_children": "0"})
    r.answer({"tenure": "1"})
    r.answer({"moved-day": "1", "moved-month": "5", "moved-year": "2020"})
    return r


def rows(page: Page) -> list[tuple[str, str, str]]:
    found = []
    for row in page.tree.xpath("//dl[contains(@class, 'summary-list')]/div"):
        question = " ".join(row.xpath("./dt")[0].text_content().split())
        answer = " ".join(row.xpath("./dd")[0].text_content().split())
        button = row.xpath(".//button[@name='action']")[0]
        found.append((question, answer, button.get("value")))
    return found


def test_the_summary_lists_each_answer_with_a_change_button(app: Any) -> None:
    r = to_summary(app)
    assert r.page.text("//h1") == "Check your answers"
    assert rows(r.page) == [
        ("How many people live here?", "3", "change:n_people"),
        ("How many of them are children?", "0", "change:n_children"),
        ("Is your home owned or rented?", "Owned", "change:tenure"),
        ("When did you move in?", "1 May 2020", "change:moved"),
    ]
    button = r.page.tree.xpath("//button[@value='change:tenure']")[0]
    assert " ".join(button.text_content().split()) == "Change Is your home owned or rented?"


def test_change_goes_to_the_question_and_back_to_the_summary(app: Any) -> None:
    r = to_summary(app)
    page = r.post({}, action="change:tenure")
    assert page.keys == ["tenure"]
    assert page.checked("tenure") == ["1"]
    page = r.answer({"tenure": "2"})
    assert page.text("//h1") == "Check your answers"
    assert rows(page)[2][:2] == ("Is your home owned or rented?", "Rented")
    r.answer({})  # Continue from the summary
    assert r.page.keys == ["comment"]
