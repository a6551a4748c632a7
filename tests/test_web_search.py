"""A long choice list on the web (``display: search``): a text field with the offered labels as
suggestions, a label or code typed is the answer, and a search step lists matching options
when what was typed is neither, so it works without scripts or datalist support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_support import *

DISTRICTS = Path(__file__).parent / "data" / "choices" / "districts.yaml"


@pytest.fixture
def app(sqlite_url: str, clock: FakeClock) -> Iterator[Any]:
    app = make_app(sqlite_url, clock, DISTRICTS)
    yield app
    close_app(app)


def to_district(app: Any, region: str = "2") -> Respondent:
    r = Respondent(app, "districts")
    r.start()
    r.answer({"region": region})
    return r


def suggestions(page: Page) -> list[str]:
    return [o.get("value") for o in page.tree.xpath("//datalist[@id='dl-district']/option")]


def test_the_field_suggests_only_the_offered_labels(app: Any) -> None:
    r = to_district(app)
    field = r.page.tree.xpath("//input[@id='f-district']")[0]
    assert field.get("list") == "dl-district" and field.get("type") == "text"
    assert field.get("aria-labelledby") == "l-district"
    assert suggestions(r.page) == ["Bude", "Dale, North", "Somewhere else"]


def test_a_label_typed_in_any_case_is_the_answer(app: Any) -> None:
    r = to_district(app)
    r.answer({"district": "  dale,  NORTH "})
    assert interview_of(app, r).state["answers"]["district"] == 104


def test_a_code_typed_is_the_answer_and_one_not_offered_is_refused(app: Any) -> None:
    r = to_district(app)
    page = r.post({"district": "101"})  # Aston is in the north
    assert page.summary == [("#f-district", "Select one of the answers shown")]
    r.answer({"district": "102"})
    assert interview_of(app, r).state["answers"]["district"] == 102


def test_a_few_letters_list_the_matching_options_to_pick_from(app: Any) -> None:
    r = to_district(app)
    page = r.post({"district": "north"})
    assert page.summary == [("#f-district", "Select one of the answers shown")]
    assert page.value("district") == "north"  # what was typed stays in the field
    picks = page.tree.xpath("//input[@name='district-pick']")
    labels = [page.tree.xpath(f"//label[@for='{p.get('id')}']")[0].text for p in picks]
    assert labels == ["Dale, North"]
    r.answer({"district": "north", "district-pick": picks[0].get("value")})
    assert interview_of(app, r).state["answers"]["district"] == 104


def test_a_search_that_matches_nothing_says_so(app: Any) -> None:
    r = to_district(app)
    page = r.post({"district": "zzz"})
    assert page.summary == [("#f-district", "Select one of the answers shown")]
    assert page.text("//p[contains(@class, 'search-none')]") == (
        "No answer matches 'zzz'. Try fewer letters or another spelling."
    )
    assert not page.tree.xpath("//input[@name='district-pick']")


def test_going_back_shows_the_answer_as_its_label(app: Any) -> None:
    r = to_district(app)
    r.answer({"district": "Bude"})
    page = r.back()
    assert page.value("district") == "Bude"
    assert not page.tree.xpath("//input[@name='district-pick']")


def test_labels_are_in_the_interview_language(app: Any) -> None:
    r = Respondent(app, "districts")
    page = r.start()
    response = r.client.post(
        "/web/districts/language", data={"csrf_token": page.csrf, "lang": "cy"}
    )
    assert response.status_code == 303
    r.page = r.get()
    r.answer({"region": "2"})
    assert suggestions(r.page) == ["Bwd", "Dyffryn y Gogledd", "Rhywle arall"]
    r.answer({"district": "bwd"})
    assert interview_of(app, r).state["answers"]["district"] == 102


def test_an_interview_begun_before_the_list_changed_keeps_the_list_it_began_with(
    sqlite_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """The stored version carries its CSV file: changing the file on disk starts a new version,
    and an interview begun on the old one carries on with the old list after a restart."""
    folder = tmp_path / "survey"
    folder.mkdir()
    questionnaire = folder / "districts.yaml"
    questionnaire.write_text(DISTRICTS.read_text(encoding="utf-8"), encoding="utf-8")
    csv_file = folder / "districts.csv"
    csv_file.write_text((DISTRICTS.parent / "districts.csv").read_text(encoding="utf-8"))
    app = make_app(sqlite_url, clock, questionnaire)
    try:
        r = to_district(app)
        cookies = r.client
    finally:
        close_app(app)
    csv_file.write_text("code,label,label::cy,region\n901,Newtown,Y Drenewydd,2\n")
    app = make_app(sqlite_url, clock, questionnaire)
    try:
        old = Respondent(app, "districts")
        old.client = cookies  # the same browser, after the restart
        cookies.application = app
        page = old.get()
        assert suggestions(page) == ["Bude", "Dale, North", "Somewhere else"]
        old.answer({"district": "Bude"})
        new = to_district(app)
        assert suggestions(new.page) == ["Newtown"]
    finally:
        close_app(app)
