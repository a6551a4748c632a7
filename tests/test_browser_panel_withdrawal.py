"""Withdrawal from a real email's link, in a real browser, checked with axe-core.

The email channel sends an invitation to a local SMTP server (aiosmtpd on
127.0.0.1); the test reads the received message's ``List-Unsubscribe`` link,
opens it in chromium, chooses with the keyboard alone and confirms; then the
confirmation, the page with a missing choice, the Welsh page and the page of
a bad link are each checked with axe-core. Needs what tests/browser_kit.py
checks for (chromium, Playwright, axe-core).
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from browser_kit import Axe, free_port, new_context, press, serve_questionnaires, tab_to
from test_web_support import MINI

from instrument.panel.crypto import PanelKeys, new_key
from instrument.panel.member_links import (
    LINK_SECRET,
    new_link_secret,
    open_link_key,
    unsubscribe_path,
)
from instrument.plugin_types import OutgoingMessage
from instrument.server.app import get_host
from instrument_channels.email import EmailChannel, SmtpSettings
from tests.panel_withdrawal_helpers import T0, Panel, set_up_panel

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    app: Any
    panel: Panel
    key: bytes


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    key = new_key()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INSTRUMENT_PANEL_KEYS", key)
        env.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
        with serve_questionnaires(tmp_path_factory, MINI) as (base, app):
            store = get_host(app).store
            keys = PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS")
            panel = set_up_panel(store, keys)
            stored = store.panel_secret(LINK_SECRET, create=lambda: new_link_secret(keys), now=T0)
            yield Served(base, app, panel, open_link_key(keys, stored))


@dataclass
class Inbox:
    """An SMTP server's handler that keeps every message it receives, parsed."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content.replace(b"\r\n", b"\n")
        self.received.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def _emailed_link(served: Served, member: str) -> tuple[str, EmailMessage]:
    """Send the member an invitation through the email channel; the link its header carries."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = EmailChannel(
            SmtpSettings(
                host="127.0.0.1", port=port, security="none",
                sender="Panel Team <panel@example.ac.uk>", timeout=5,
            )
        )  # fmt: skip
        link = served.base + unsubscribe_path(
            served.key, served.panel.member_ids[member], served.panel.wave_id
        )
        receipt = channel.send(
            OutgoingMessage(
                channel="email", to="ann@example.org", template="invitation", language="en",
                idempotency_key="w1-K0001-invite", personal_link=served.base + "/web/t/abc",
                unsubscribe_link=link, salutation="Dear Ann",
            )
        )  # fmt: skip
        channel.close()
    finally:
        controller.stop()
    assert receipt.status == "sent", receipt
    (message,) = inbox.received
    return link, message


def test_withdrawal_from_an_emails_link_with_the_keyboard(served: Served, browser: Any) -> None:
    link, message = _emailed_link(served, "R001")
    header = str(message["List-Unsubscribe"])
    found = re.match(r"<(http[^>]+)>", header)
    assert found is not None and found.group(1) == link
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert link in text

    axe = Axe()
    context = new_context(browser, locale="en-GB")
    page = context.new_page()
    page.goto(found.group(1))
    assert page.title() == "Stop contact or leave the panel – Research panel"
    axe.check(page, "withdrawal page")
    # the keyboard alone: Tab to the choices, an arrow to the second, Tab to Confirm, Enter
    tab_to(page, "#f-choice")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#f-choice-2")
    tab_to(page, "button[type=submit]")
    press(page, "Enter")
    assert page.locator("h1").inner_text() == "Done"
    assert "deleted your contact details" in page.locator("main").inner_text()
    axe.check(page, "confirmation")

    store = get_host(served.app).store
    ann = served.panel.member_ids["R001"]
    assert store.withdrawal_in_force(ann) is not None
    assert store.withdrawal_in_force(ann)[0] == "delete_contacts"  # type: ignore[index]
    assert store.member_contacts(ann) == ()

    # the same link again: the page says what is in force; asking again changes nothing
    page.goto(link)
    assert "you asked us to stop contacting you and to delete your contact details" in (
        page.locator("main").inner_text()
    )
    page.check("#f-choice")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Already done"
    axe.check(page, "already done")
    context.close()
    assert axe.problems == {}, axe.problems


def test_the_other_pages_pass_axe(served: Served, browser: Any) -> None:
    axe = Axe()
    context = new_context(browser, locale="en-GB")
    page = context.new_page()
    cat = unsubscribe_path(served.key, served.panel.member_ids["R003"], served.panel.wave_id)
    page.goto(served.base + cat)
    with page.expect_navigation():
        page.click("button[type=submit]")  # no choice made
    assert page.title().startswith("Error: ")
    assert page.locator(".error-summary a").get_attribute("href") == "#f-choice"
    axe.check(page, "missing choice")

    bryn = unsubscribe_path(served.key, served.panel.member_ids["R002"], served.panel.wave_id)
    page.goto(served.base + bryn)
    assert page.get_attribute("html", "lang") == "cy"
    assert page.locator("legend").inner_text() == "Beth hoffech chi i ni ei wneud?"
    axe.check(page, "Welsh page")

    response = page.goto(served.base + "/web/unsubscribe/1.1.not-a-real-signature")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "This link is not valid"
    axe.check(page, "bad link")
    context.close()
    assert axe.problems == {}, axe.problems
