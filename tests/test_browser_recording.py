"""Recording consent in a real browser, by keyboard alone, checked by axe-core.

An interviewer with Twilio configured (the fake REST API of tests/twilio_fake.py,
so nothing leaves the machine) gives their phone, takes the flagship case,
dials it through the bridge and opens the script: the consent screen comes
first, with the study's consent text to read out. Enter with nothing keyed
is refused at the field; 2 then 1 key the answer and Enter saves it; the
script's first page follows, and Twilio was asked to record exactly once,
after the yes. axe-core runs on the consent screen, with and without the
error, and must find no serious or critical violation.

Needs what tests/browser_kit.py checks for (Debian's chromium, Playwright,
node_modules/axe-core); skipped with the reason without them, failed when CI is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import Axe, new_context, press, serve_twilio_console, sign_in_to_console, tab_to
from twilio_fake import FakeTwilioHttp

from instrument.server.app import get_host

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, FakeTwilioHttp]]:
    """The flagship (its study records) with Twilio configured, on a real port."""
    with serve_twilio_console(tmp_path_factory) as served:
        yield served


def test_consent_is_keyed_by_keyboard_before_the_script(server: Any, browser: Any) -> None:
    base, app, http = server
    axe = Axe()
    context = new_context(browser, viewport={"width": 1200, "height": 900}, locale="en-GB")
    page = context.new_page()
    sign_in_to_console(page, base)
    tab_to(page, "#f-my-phone")
    page.keyboard.type("+441632960999")
    press(page, "Enter")
    tab_to(page, "button.button--start")
    press(page, "Enter")
    tab_to(page, "form[action$='/dial'] button")
    press(page, "Enter")
    assert "your phone rings first" in page.inner_text("main")
    tab_to(page, "#start-script")
    press(page, "Enter")

    assert page.url.endswith("/recording")
    readout = page.inner_text("#consent legend.readout")
    assert "this call is recorded so that we can check the quality" in readout
    assert page.evaluate("document.activeElement.id") == "f-consent"  # the answer has the focus
    axe.check(page, "recording consent")
    press(page, "Enter")  # nothing keyed: refused at the field
    assert "Key 1 if they agree" in page.inner_text(".error-summary")
    axe.check(page, "recording consent with an error")
    page.keyboard.press("2")
    assert page.locator("#f-consent-no").is_checked()
    page.keyboard.press("1")  # they changed their mind before it was saved
    assert page.locator("#f-consent").is_checked()
    recordings = [r for r in http.requests if r.path.endswith("/Recordings.json")]
    assert recordings == []  # nothing is recorded until the yes is saved
    press(page, "Enter")

    assert "the call is being recorded" in page.inner_text("main")
    assert "I'm calling from the panel" in page.inner_text("main")  # the script's first page
    recordings = [r for r in http.requests if r.path.endswith("/Recordings.json")]
    assert len(recordings) == 1 and ("RecordingChannels", "dual") in recordings[0].form
    [call] = get_host(app).store.calls_of("c1")
    assert call.recording is True and call.recording_sid is not None
    context.close()

    assert axe.problems == {}, axe.problems
    assert axe.checked == ["recording consent", "recording consent with an error"]


def test_try_recording_again_by_keyboard(server: Any, browser: Any) -> None:
    """Twilio refuses the first start; the interviewer presses Enter on "Try recording again"."""
    from phone_console_helpers import PASSWORD, add_case

    base, app, http = server
    get_host(app).store.create_staff_user("iris", PASSWORD, role="interviewer")
    clock = app.config["CLOCK"]
    add_case(app, "c2", clock)
    clock.advance(10)  # past the queue's last sweep, which gives the new case its window
    axe = Axe()
    context = new_context(browser, viewport={"width": 1200, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/cati/console/")
    page.locator("#f-username").fill("iris")
    page.locator("#f-password").fill(PASSWORD)
    press(page, "Enter")
    tab_to(page, "#f-my-phone")
    page.keyboard.type("+441632960998")
    press(page, "Enter")
    tab_to(page, "button.button--start")
    press(page, "Enter")
    tab_to(page, "form[action$='/dial'] button")
    press(page, "Enter")
    sid = list(http.calls)[-1]
    refused = http.calls.pop(sid)  # Twilio no longer knows the call: Recordings.json, 404
    tab_to(page, "#start-script")
    press(page, "Enter")
    page.keyboard.press("1")
    press(page, "Enter")

    assert page.url.endswith("/recording")
    assert page.inner_text("h1") == "The call is not being recorded"
    assert "the recording could not start" in page.inner_text("main")
    assert page.evaluate("document.activeElement.matches('#recording-retry button')")
    axe.check(page, "try recording again")
    mine = [r for r in http.requests if r.path.endswith(f"/Calls/{sid}/Recordings.json")]
    assert len(mine) == 1
    http.calls[sid] = refused  # Twilio knows it again
    press(page, "Enter")

    assert "the call is being recorded" in page.inner_text("main")
    assert page.locator("#script").count() == 1  # on to the script
    mine = [r for r in http.requests if r.path.endswith(f"/Calls/{sid}/Recordings.json")]
    assert len(mine) == 2
    context.close()

    assert axe.problems == {}, axe.problems
    assert axe.checked == ["try recording again"]
