"""The wave dashboard in a real browser (issue 13): axe-core finds no serious or critical
violation (nor content outside a landmark) on the list of waves or the dashboard, with
JavaScript on and off; the dashboard is reached from the staff home and its CSV links are
reached by the keyboard alone; the figures reload themselves, and the reloading stops and
starts with its button. Skipped like test_browser.py without chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import Axe, new_context, require_browser, serve, tab_to
from panel_dashboard_helpers import NOW, add_version, at, make_wave_history
from phone_supervisor_helpers import PASSWORD, add_staff
from staff_passwords import CHEAP
from test_web_support import FakeClock, make_app

from instrument.server.app import get_host
from instrument.store.schema import interviews

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The wave of tests/panel_dashboard_helpers.py on a real port, read on day 4 of the wave."""
    from browser_kit import free_port

    require_browser()
    port = free_port()
    database = f"sqlite:///{tmp_path_factory.mktemp('panel') / 'panel.db'}"
    app = make_app(
        database, FakeClock(NOW), SERVER_NAME=f"127.0.0.1:{port}", TESTING=False,
        PANEL_REFRESH_SECONDS=1,
        PANEL_FIGURES_MAX_AGE=0,  # every reload reads the figures afresh
    )  # fmt: skip
    store = get_host(app).store
    store.set_password_cost(CHEAP, testing=True)
    add_staff(app)
    make_wave_history(store, add_version(store))
    with serve(app) as base:
        yield base, app


def sign_in(browser: Any, base: str, **context: Any) -> Any:
    page = new_context(browser, viewport={"width": 1280, "height": 900}, **context).new_page()
    page.goto(f"{base}/staff/login")
    page.fill("#f-username", "sam")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def test_the_dashboard_is_accessible_and_reached_by_keyboard(
    server: tuple[str, Any], browser: Any
) -> None:
    base, _ = server
    axe = Axe()
    page = sign_in(browser, base)
    page.goto(f"{base}/staff/")
    tab_to(page, "a[href='/staff/panel/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/staff/panel/"
    axe.check(page, "list of waves")
    tab_to(page, "a[href='/staff/panel/wave/w1']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("[data-figure='completes']").inner_text() == "4"
    assert page.locator("#panel-refresh-toggle").inner_text() == "Stop updating the figures"
    axe.check(page, "dashboard")
    for name in ("funnel", "dispositions", "subgroups"):
        tab_to(page, f"a[href='/staff/panel/wave/w1/{name}.csv']", limit=200)
    tab_to(page, "#f-target", limit=200)
    page.keyboard.type("10")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("[data-figure='completes']").inner_text() == "4 of 10"
    axe.check(page, "dashboard with a target")
    assert axe.problems == {}, axe.problems


def test_the_page_without_javascript_is_whole_and_accessible(
    server: tuple[str, Any], browser: Any
) -> None:
    base, _ = server
    axe = Axe()
    page = sign_in(browser, base, java_script_enabled=False)
    page.goto(f"{base}/staff/panel/wave/w1")
    assert page.locator("#panel-refresh-toggle").count() == 0
    assert page.locator("svg[role='img']").count() == 10
    assert page.locator("table[data-table]").count() == 10
    assert page.get_by_role("link", name="Refresh the figures").count() == 1
    assert axe.problems == {}


def test_the_figures_reload_themselves_until_stopped(server: tuple[str, Any], browser: Any) -> None:
    base, app = server
    page = sign_in(browser, base)
    page.goto(f"{base}/staff/panel/wave/w1")
    completes = page.locator("[data-figure='completes']")
    assert completes.inner_text() == "4"
    store = get_host(app).store
    with store.engine.begin() as c:  # member 8 finishes on the web
        c.execute(
            interviews.update()
            .where(interviews.c.case_id.like("%-008"), interviews.c.status == "active")
            .values(status="complete", finished_at=at(4, 11, 30))
        )
    page.wait_for_function(
        "() => document.querySelector(\"[data-figure='completes']\").textContent.trim() === '5'",
        timeout=10_000,
    )
    page.locator("#panel-refresh-toggle").click()
    assert page.locator("#panel-refresh-toggle").inner_text() == "Start updating the figures"
    with store.engine.begin() as c:
        c.execute(
            interviews.update()
            .where(interviews.c.case_id.like("%-008"))
            .values(status="active", finished_at=None)
        )
    page.wait_for_timeout(2500)
    assert completes.inner_text() == "5"  # stopped: nothing reloaded
    page.locator("#panel-refresh-toggle").click()
    page.wait_for_function(
        "() => document.querySelector(\"[data-figure='completes']\").textContent.trim() === '4'",
        timeout=10_000,
    )
