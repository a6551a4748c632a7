"""The "check your answers" page in a real browser: axe-core finds no serious violation, and
with JavaScript off a Change button leads to the question and back. Skipped like
test_browser.py without chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import Axe, go_on, new_context, serve_questionnaires

pytestmark = pytest.mark.browser

SUMMARY = Path(__file__).parent / "data" / "summary.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The summary questionnaire on a real port."""
    with serve_questionnaires(tmp_path_factory, SUMMARY) as served:
        yield served


def test_summary_page_is_accessible_and_change_works_without_javascript(
    server: tuple[str, Any], browser: Any
) -> None:
    axe = Axe()
    for scripts in (True, False):
        context = new_context(browser, java_script_enabled=scripts)
        page = context.new_page()
        page.goto(f"{server[0]}/web/summary/")
        page.get_by_role("button", name="Start now").click()
        page.locator("#f-n_people").fill("2")
        go_on(page)
        page.locator("#f-n_children").fill("0")
        go_on(page)
        page.get_by_label("Owned", exact=True).check()
        go_on(page)
        for part, value in (("day", "1"), ("month", "5"), ("year", "2020")):
            page.locator(f"#f-moved-{part}").fill(value)
        go_on(page)
        assert page.locator("h1").inner_text() == "Check your answers"
        if scripts:
            axe.check(page, "summary")
        page.get_by_role("button", name="Change How many people live here?").click()
        page.locator("#f-n_people").fill("4")
        go_on(page)
        assert page.locator("h1").inner_text() == "Check your answers"
        assert "4" in page.locator(".summary-list__answer").first.inner_text()
        context.close()
    assert axe.checked == ["summary"] and axe.problems == {}
