"""A long choice list (``display: search``) in a real browser: axe-core finds no serious
violation on the field or on its search step, and with JavaScript off a respondent types a
few letters, picks a match and goes on. Skipped like test_browser.py without chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import Axe, go_on, new_context, serve_questionnaires

pytestmark = pytest.mark.browser

DISTRICTS = Path(__file__).parent / "data" / "choices" / "districts.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The districts questionnaire on a real port."""
    with serve_questionnaires(tmp_path_factory, DISTRICTS) as served:
        yield served


@pytest.fixture(scope="module")
def base(server: tuple[str, Any]) -> str:
    return server[0]


def to_district(browser: Any, base: str, **kw: Any) -> tuple[Any, Any]:
    context = new_context(browser, **kw)
    page = context.new_page()
    page.goto(f"{base}/web/districts/")
    page.get_by_role("button", name="Start now").click()
    page.get_by_label("South", exact=True).check()
    go_on(page)
    return context, page


def test_search_field_and_search_step_are_accessible(browser: Any, base: str) -> None:
    axe = Axe()
    context, page = to_district(browser, base)
    assert page.locator("#f-district").get_attribute("list") == "dl-district"
    axe.check(page, "search field")
    page.locator("#f-district").fill("e")
    go_on(page)
    assert page.locator("input[name='district-pick']").count() == 3
    axe.check(page, "search step")
    page.get_by_label("Bude", exact=True).check()
    go_on(page)
    assert page.locator("#f-years").count() == 1
    context.close()
    assert axe.problems == {}


def test_search_works_without_javascript(browser: Any, base: str) -> None:
    context, page = to_district(browser, base, java_script_enabled=False)
    page.locator("#f-district").fill("north")
    go_on(page)
    assert "Select one of the answers shown" in page.inner_text(".error-summary")
    page.get_by_label("Dale, North", exact=True).check()
    go_on(page)
    assert page.locator("#f-years").count() == 1
    page.get_by_role("button", name="Back").click()
    assert page.locator("#f-district").input_value() == "Dale, North"
    context.close()
