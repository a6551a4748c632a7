"""The flagship on the web in Welsh, in a real browser: a browser asking for Welsh gets the
questionnaire's Welsh and our Welsh interface texts, and the first question's page passes axe-core.

Needs what tests/browser_kit.py checks for (chromium, Playwright, axe-core).
"""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import Axe, new_context, serve_questionnaires
from test_languages import english_left
from test_web_support import FLAGSHIP

pytestmark = pytest.mark.browser


def test_the_flagships_first_question_in_welsh_passes_axe(
    tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> None:
    with serve_questionnaires(tmp_path_factory, FLAGSHIP) as (base, _app):
        first_question_in_welsh(base, browser)


def first_question_in_welsh(base: str, browser: Any) -> None:
    axe = Axe()
    context = new_context(browser, locale="cy-GB")
    page = context.new_page()
    page.goto(f"{base}/web/social_licence/")
    assert page.get_attribute("html", "lang") == "cy"
    assert "Teuluoedd, data a gwasanaethau cyhoeddus" in page.title()
    page.get_by_role("button", name="Dechrau nawr").click()
    welcome = page.locator("main").inner_text()
    assert "Mae'r arolwg hwn yn gofyn beth mae rhieni'n ei feddwl" in welcome
    page.get_by_role("button", name="Parhau").click()
    main = page.locator("main").inner_text()
    assert "Ydych chi'n rhiant neu'n warcheidwad i blentyn dan 16 oed" in main
    assert "Dylech gynnwys llysblant" in main  # the hint, in Welsh
    assert page.get_attribute("html", "lang") == "cy"
    assert english_left(page.title() + "\n" + main) == []
    assert "parent or guardian" not in main
    axe.check(page, "the flagship's first question in Welsh")
    assert axe.problems == {}
    context.close()
