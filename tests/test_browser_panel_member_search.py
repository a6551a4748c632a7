"""Finding a panel member by a contact detail, in a real browser, checked with axe-core (issue 13).

A supervisor types an email address two members share into the staff area's search: the browser
is sent to a result page listing both, opens one, and comes back with the back button to the same
list and then to the search; the result's address works again when opened anew (as a bookmark
does) and a phone number finds its one member straight away. A mistyped number is an error beside
the field. Every address the browser asked for, and every line the web server logged, is free of
the details typed; every page on the way has no axe-core violation at all. Needs what
tests/browser_kit.py checks for (chromium, Playwright, axe-core).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import new_context, press
from phone_supervisor_helpers import PASSWORD

from instrument.server.app import get_host
from tests.panel_withdrawal_helpers import PHONES
from tests.test_browser_panel_members import Served, StrictAxe, served  # noqa: F401 (a fixture)
from tests.test_panel_member_search import add_member_of_another_panel

pytestmark = pytest.mark.browser

SHARED = "ann@example.org"
TYPED_PHONE = "07911 123999"  # Bryn's, as a person types it
SECRETS = ("ann@example.org", "ann%40example.org", "07911", "123999", "447911", "Ann Example")


class Lines(logging.Handler):
    """Every line the web server logs while the test runs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def server_log() -> Iterator[Lines]:
    logger = logging.getLogger("werkzeug")
    lines, level = Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


def test_a_supervisor_finds_members_by_a_detail_the_address_never_holds(
    served: Served, browser: Any, server_log: Lines
) -> None:
    store = get_host(served.app).store
    huw = add_member_of_another_panel(store, served.panel.sealer, SHARED).pseudonym
    ann = store.member_by_id(served.panel.member_ids["R001"])
    bryn = store.member_by_id(served.panel.member_ids["R002"])
    assert ann is not None and bryn is not None
    axe = StrictAxe()
    context = new_context(browser, locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{served.base}/staff/login")
    page.fill("#f-username", "sam")
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()

    search = f"{served.base}/staff/panel/members"
    page.goto(search)
    axe.check(page, "search")
    page.get_by_label("Email address, phone number or full name").fill(SHARED)
    press(page, "Enter")
    assert page.url.startswith(f"{served.base}/staff/panel/members/found/")
    found = page.url
    assert page.locator("h1").inner_text() == "2 members have this email address"
    rows = page.locator("#member-matches tbody tr th").all_inner_texts()
    assert sorted(rows) == sorted([ann.pseudonym, huw])
    axe.check(page, "members found")

    # to a member and back: the same list, then the search; no form is sent again
    with page.expect_navigation():
        page.get_by_role("link", name=ann.pseudonym).click()
    assert page.url == f"{served.base}/staff/panel/members/{ann.pseudonym}"
    page.go_back()
    assert page.url == found
    assert page.locator("#member-matches tbody tr").count() == 2
    page.go_back()
    assert page.url == search
    page.goto(found)  # opened anew, as a bookmark
    assert page.locator("#member-matches tbody tr").count() == 2

    # a mistyped number beside the field, then the number: one member, straight to their page
    page.goto(search)
    page.get_by_label("Email address, phone number or full name").fill("07911 12")
    press(page, "Enter")
    assert page.title() == "Error: Find a panel member – Staff"
    assert page.locator(".error-summary a").get_attribute("href") == "#f-detail"
    assert "not a phone number that can be dialled" in page.locator("#f-detail-error").inner_text()
    axe.check(page, "detail with an error")
    page.get_by_label("Email address, phone number or full name").fill(TYPED_PHONE)
    press(page, "Enter")
    assert page.url == f"{served.base}/staff/panel/members/{bryn.pseudonym}"
    assert PHONES["R002"] not in page.content()  # the member page still hides the details

    # a detail nobody has
    page.goto(search)
    page.get_by_label("Email address, phone number or full name").fill("nobody@example.org")
    press(page, "Enter")
    assert page.locator("h1").inner_text() == "No member has this email address"
    axe.check(page, "nothing found")
    context.close()

    for url in asked:
        assert not any(secret.lower() in url.lower() for secret in SECRETS), url
    assert any("POST /staff/panel/members/search" in line for line in server_log.lines)
    for line in server_log.lines:
        assert not any(secret.lower() in line.lower() for secret in SECRETS), line
    entries = store.staff_audit_page(action="members_searched").entries
    assert [(e.actor, e.detail["by"], e.detail["matches"]) for e in entries] == [  # type: ignore[index]
        ("sam", "email", 0),
        ("sam", "phone", 1),
        ("sam", "email", 2),
    ]
    assert axe.checked == ["search", "members found", "detail with an error", "nothing found"]
    assert axe.problems == {} and axe.any == {}, (axe.problems, axe.any)
