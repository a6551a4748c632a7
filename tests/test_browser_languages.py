"""A Swahili interview in a real browser: no English interface text, when the researcher gave the
texts in ``market.sw.po`` beside the questionnaire (docs/languages.md).

Needs what tests/browser_kit.py checks for (chromium, Playwright, axe-core).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import Axe, new_context, serve_questionnaires, submit
from test_languages import MARKET, english_left

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    with serve_questionnaires(tmp_path_factory, MARKET) as served:
        yield served


def shown(page: Any) -> str:
    """Everything a person can read or hear on the page: its title and all text, hidden or not."""
    return page.title() + "\n" + page.evaluate("document.body.textContent")


def swahili_only(page: Any, seen: list[str]) -> None:
    text = shown(page)
    assert page.get_attribute("html", "lang") == "sw"
    assert english_left(text) == [], text
    seen.append(page.title())


def test_a_swahili_interview_in_the_browser_shows_no_english(server: Any, browser: Any) -> None:
    base, _app = server
    axe = Axe()
    context = new_context(browser, locale="sw-KE")
    page = context.new_page()
    seen: list[str] = []
    page.goto(f"{base}/web/market/")
    swahili_only(page, seen)
    assert page.locator(".language-switcher").inner_text().split() == [
        "Lugha:",
        "Kiswahili",
        "English",
    ]
    submit(page, "Anza sasa")
    swahili_only(page, seen)  # the welcome screen
    submit(page, "Endelea")
    swahili_only(page, seen)
    submit(page, "Endelea")  # skipped: prompted, in Swahili
    swahili_only(page, seen)
    axe.check(page, "skip prompt in Swahili")
    page.get_by_label("Ndiyo", exact=True).check()
    submit(page, "Endelea")
    page.get_by_label("Kitu kingine", exact=True).check()
    submit(page, "Endelea")  # 'something else' without saying what
    swahili_only(page, seen)
    page.get_by_label("Tafadhali tuambie ni nini: Kitu kingine").fill("Samaki")
    submit(page, "Endelea")
    page.locator("input[name=stalls]").fill("99")
    submit(page, "Endelea")
    swahili_only(page, seen)
    axe.check(page, "error in Swahili")
    page.locator("input[name=stalls]").fill("2")
    submit(page, "Endelea")
    swahili_only(page, seen)  # the date, its parts named in Swahili
    page.get_by_label("Siku").fill("3")
    page.get_by_label("Mwezi").fill("4")
    page.get_by_label("Mwaka").fill("2019")
    submit(page, "Endelea")
    page.locator("input[name=comment]").fill("Hakuna")
    submit(page, "Endelea")
    swahili_only(page, seen)
    assert "Asante" in page.locator("main").inner_text()
    assert axe.problems == {}
    context.close()
    assert len(seen) == 8
