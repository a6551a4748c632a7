"""Panel members in the staff area, in a real browser, checked with axe-core (issue 13).

A supervisor signs in, follows the staff home's link, finds a member by their
external id (whose invitation they marked as spam: its row of the messages table
says so), shows their contact details, withdraws them with "delete contact
details" (a reason, then the confirmation that says what goes) and reads the
result; every page on the way, and the search's error, has no axe-core
violation at all (not only the serious ones tests/browser_kit.py's Axe
collects). Needs what tests/browser_kit.py checks for (chromium, Playwright,
axe-core).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from browser_kit import Axe, free_port, new_context, press, require_browser, serve, tab_to
from phone_supervisor_helpers import PASSWORD, add_staff
from staff_passwords import CHEAP
from test_web_support import FakeClock, make_app

from instrument.panel.crypto import PanelKeys, new_key
from instrument.server.app import get_host
from tests.panel_withdrawal_helpers import PHONES, T0, Panel, set_up_panel
from tests.test_panel_member_pages import emailed_ann

pytestmark = pytest.mark.browser

NOW = T0 + dt.timedelta(days=4)
REASON = "phoned the helpline on 6 November and asked us to delete their details"


@dataclass
class Served:
    base: str
    app: Any
    panel: Panel


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_browser()
    key = new_key()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INSTRUMENT_PANEL_KEYS", key)
        env.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
        port = free_port()
        database = f"sqlite:///{tmp_path_factory.mktemp('members') / 'members.db'}"
        app = make_app(database, FakeClock(NOW), SERVER_NAME=f"127.0.0.1:{port}", TESTING=False)
        store = get_host(app).store
        store.set_password_cost(CHEAP, testing=True)
        add_staff(app)  # sam is a supervisor
        panel = set_up_panel(store, PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS"))
        complained_of_invitation(store, panel)
        with serve(app) as base:
            yield Served(base, app, panel)


def complained_of_invitation(store: Any, panel: Panel) -> None:
    """An invitation emailed to Ann that she marked as spam (the member page's messages say so)."""
    emailed_ann(store, panel, "invitation", "sent", T0, T0)
    message = store.email_message_quoted(keys=["w1-K0001-invite-email"], message_ids=[])
    store.record_complaint(
        message, complaint={"feedback_type": "abuse"}, now=T0 + dt.timedelta(days=1), actor="t"
    )


class StrictAxe(Axe):
    """Axe that also keeps every violation, whatever its impact: these pages must have none."""

    def __init__(self) -> None:
        super().__init__()
        self.any: dict[str, list[str]] = {}

    def check(self, page: Any, kind: str) -> None:
        super().check(page, kind)  # injects axe-core and keeps the serious ones
        found = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).slice(0, 3)}`)"
        )
        if found:
            self.any[kind] = found


def test_a_supervisor_finds_views_and_withdraws_a_member(served: Served, browser: Any) -> None:
    axe = StrictAxe()
    context = new_context(browser, locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{served.base}/staff/login")
    page.fill("#f-username", "sam")
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()

    # from the staff home by the keyboard to the search
    tab_to(page, "a[href='/staff/panel/members']")
    press(page, "Enter")
    assert page.title() == "Find a panel member – Staff"
    axe.check(page, "search")
    page.fill("#f-q", "R0")  # not a whole id: nothing is found by a prefix
    press(page, "Enter")
    assert page.title() == "Error: Find a panel member – Staff"
    assert page.locator(".error-summary a").get_attribute("href") == "#f-q"
    axe.check(page, "search with an error")
    page.fill("#f-q", "R001")
    press(page, "Enter")
    ann = get_host(served.app).store.member_by_id(served.panel.member_ids["R001"])
    assert ann is not None
    assert page.url == f"{served.base}/staff/panel/members/{ann.pseudonym}"
    assert "ann@example.org" not in page.content()
    assert page.locator("#member-messages tbody tr td").nth(5).inner_text() == (
        "delivered: marked as spam (abuse), recorded 2026-11-03 09:00"
    )
    axe.check(page, "member")

    with page.expect_navigation():
        page.get_by_role("button", name="Show contact details").click()
    contacts = page.locator("#member-contacts").inner_text()
    assert "ann@example.org" in contacts and PHONES["R001"] in contacts
    axe.check(page, "member with contact details")

    page.get_by_label("Stop contact and delete contact details").check()
    page.get_by_label("How the member asked (kept as evidence)").fill(REASON)
    with page.expect_navigation():
        page.get_by_role("button", name="Withdraw").click()
    assert "Check before withdrawing" in page.locator("h1").inner_text()
    assert "delete 4 contact details" in page.locator("#will-delete").inner_text()
    axe.check(page, "confirmation")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, stop contact and delete contact details").click()
    assert page.locator("h1").inner_text() == "Contact stopped and contact details deleted"
    assert page.locator("[data-count='contacts_deleted']").inner_text() == "4"
    axe.check(page, "result")
    context.close()

    store = get_host(served.app).store
    assert store.member_contacts(ann.id) == ()
    assert store.withdrawal_in_force(ann.id) == ("delete_contacts", NOW)
    actions = [(e.action, e.actor) for e in store.staff_audit_page().entries]
    assert actions[:2] == [("withdraw_member", "sam"), ("contacts_viewed", "sam")]
    assert axe.checked == [
        "search", "search with an error", "member", "member with contact details",
        "confirmation", "result",
    ]  # fmt: skip
    assert axe.problems == {} and axe.any == {}, (axe.problems, axe.any)
