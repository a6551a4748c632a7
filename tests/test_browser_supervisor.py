"""The telephone supervisor's pages in a real browser: axe-core finds no serious or critical
violation (nor content outside a landmark) on any of them, and an outcome is changed with the
keyboard alone, a missing reason first. Skipped like test_browser.py without chromium."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import Axe, new_context, serve_questionnaires, tab_to
from phone_supervisor_helpers import PASSWORD, add_staff, make_history
from staff_passwords import CHEAP
from test_web_support import MINI

from instrument.server.app import get_host

pytestmark = pytest.mark.browser

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)  # a Friday inside calling hours


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """tests/data/mini.yaml on a real port, with staff and a fieldwork history made on 1 May."""
    with serve_questionnaires(tmp_path_factory, MINI) as (base, app):
        get_host(app).store.set_password_cost(CHEAP, testing=True)  # a real hash, only cheap
        add_staff(app)
        make_history(app, T0)
        yield base, app


def test_supervisor_pages_are_accessible_and_an_outcome_changes_by_keyboard(
    server: tuple[str, Any], browser: Any
) -> None:
    base, app = server
    axe = Axe()
    page = new_context(browser, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/staff/login")
    page.fill("#f-username", "sam")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    page.goto(f"{base}/cati/supervisor/")
    assert page.locator("[data-figure='cases']").inner_text() == "5"
    axe.check(page, "sample")
    page.goto(f"{base}/cati/supervisor/interviewers?first=2026-05-01&last=2026-05-01")
    assert page.locator("tr[data-interviewer='ivy'] [data-figure='completes']").inner_text() == "1"
    axe.check(page, "interviewers")
    page.goto(f"{base}/cati/supervisor/rates")
    axe.check(page, "rates")
    page.goto(f"{base}/cati/supervisor/rates?e=7")
    axe.check(page, "rates with an error")

    page.goto(f"{base}/cati/supervisor/case/c3")
    axe.check(page, "case")
    tab_to(page, "#outcome-outcome", limit=80)
    for _ in range(40):  # arrow keys move a closed select's choice
        if page.eval_on_selector("#outcome-outcome", "el => el.value") == "not_eligible":
            break
        page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("#outcome-outcome", "el => el.value") == "not_eligible"
    page.keyboard.press("Tab")  # to the reason, left empty
    assert page.evaluate("document.activeElement.id") == "outcome-reason"
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Give a reason" in page.locator("#outcome-reason-error").inner_text()
    axe.check(page, "case with an error")

    tab_to(page, "#outcome-reason", limit=80)
    page.keyboard.type("the number belongs to a shop")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "is now" in page.locator(".notice").inner_text()
    assert "the number belongs to a shop" in page.locator("#audit-log").inner_text()
    axe.check(page, "case after a change")
    entries = get_host(app).store.audit_of("c3")
    assert (entries[-1].action, entries[-1].actor, entries[-1].after) == (
        "change_disposition",
        "sam",
        {"disposition": "not_eligible", "final": True},
    )

    with page.expect_download():  # the call records leave the store: the staff audit log says so
        page.evaluate("url => { window.location.href = url }", f"{base}/cati/supervisor/calls.csv")
    page.goto(f"{base}/staff/audit")
    assert "export_call_records" in page.locator("#audit-log").inner_text()
    axe.check(page, "staff audit log")
    assert axe.problems == {}
    assert len(axe.checked) == 8
