"""The interviewer console in a real browser, by keyboard alone, checked by axe-core.

An interviewer signs in, takes the next case, records dialling it by hand and
reads the flagship's script with keys only: Enter to go on, the number keys
for answers (grid rows one after another), D for a don't know, R for a
refusal typed in a number box, Esc then B to go back, J to jump back to an
earlier question, Enter again to accept a soft check; then codes the call complete on the end-of-call page. A second
case gets an appointment for Tuesday 18:30 on the interviewer's clock: "next case"
offers nothing until the server's clock (a FakeClock the test moves) reaches
it, then offers that case. axe-core runs on every kind of console page and
must find no serious or critical violation, and no content outside a landmark.

Needs what tests/browser_kit.py checks for (Debian's chromium, Playwright,
node_modules/axe-core); skipped with the reason without them, failed when CI is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import Axe, live_console_app, new_context, press, serve, sign_in_to_console, tab_to
from phone_console_helpers import add_case
from test_web_support import FakeClock

from instrument.server.app import get_host

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, FakeClock]]:
    """The app on a real port, on a clock the test moves, with two cases queued."""
    clock = FakeClock()
    week = 7 * 24 * 3600  # the clock jumps to Tuesday: the interviewer stays signed in
    app = live_console_app(tmp_path_factory, clock, STAFF_TIMEOUT_SECONDS=week)
    add_case(app, "c1", clock)
    clock.advance(1)  # c2 comes second in the queue
    add_case(app, "c2", clock, name="Bea Example")
    with serve(app) as base:
        yield base, app, clock


def type_in(page: Any, text: str) -> None:
    """Type into the answer box that has the focus, once it has it.

    The page sets the focus with ``autofocus``, which the browser applies when
    it next renders, possibly after the load event the last key waited for: on
    a busy machine the keys went to the page and Enter sent an empty answer.
    """
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.matches('[data-typed]')"
    )
    page.keyboard.type(text)


def asked(page: Any) -> list[str]:
    return page.eval_on_selector_all("[data-question]", "els => els.map(e => e.id.slice(2))")


def answer_with_first_options(page: Any) -> None:
    """Key 1 for every question (every row of a grid), moving between questions with Tab."""
    questions = asked(page)
    for index, question in enumerate(questions):
        if index:
            tab_to(page, f"#q-{question} input")
        rows = page.locator(f"#q-{question} [data-row]").count()
        if page.locator(f"#q-{question} textarea[data-typed]").count():
            type_in(page, "Nothing more to add.")
            page.keyboard.press("Escape")
            continue
        for _ in range(max(rows, 1)):
            page.keyboard.press("1")
    press(page, "Enter")


def test_an_interviewer_works_two_cases_by_keyboard(server: Any, browser: Any) -> None:
    base, app, clock = server
    axe = Axe()
    store = get_host(app).store
    context = new_context(browser, viewport={"width": 1200, "height": 900}, locale="en-GB")
    page = context.new_page()
    sign_in_to_console(page, base)  # not signed in: to the staff sign-in, and back
    assert page.url == f"{base}/cati/console/"  # signing in came back to the console
    axe.check(page, "console home")

    tab_to(page, "button.button--start")
    press(page, "Enter")
    assert "Case c1" in page.inner_text("main") and "Ann Example" in page.inner_text("main")
    axe.check(page, "case screen")
    tab_to(page, "form[action$='/dial'] button")
    press(page, "Enter")
    assert "dialling number 1 by hand" in page.inner_text("main")
    tab_to(page, "#start-script")
    press(page, "Enter")

    assert asked(page) == [] and "I'm calling from the panel" in page.inner_text("main")
    axe.check(page, "script: information read out")
    press(page, "Enter")
    assert asked(page) == ["parent"]
    axe.check(page, "script: yes/no with an instruction and an optional read-out")
    page.keyboard.press("1")
    assert page.locator("#f-parent").is_checked()
    press(page, "Enter")

    type_in(page, "3")  # the panel profile says 2: a soft check
    press(page, "Enter")
    assert "panel profile shows 2" in page.inner_text(".warning-panel")
    axe.check(page, "script: soft check")
    press(page, "Enter")  # accepted: the answer is right
    type_in(page, "9")
    press(page, "Enter")
    type_in(page, "6")
    press(page, "Enter")
    assert "child number 3" in page.inner_text("legend")
    page.keyboard.press("Escape")
    press(page, "b")  # back to child 2, whose 6 is still there
    assert page.locator("input[data-typed]").input_value() == "6"
    axe.check(page, "script: number")
    page.keyboard.press("Control+a")
    type_in(page, "7")
    press(page, "Enter")
    page.keyboard.press("r")  # refused, keyed in the number box (never read out)
    assert page.locator("input[value='refused']").is_checked()
    axe.check(page, "script: number with refused keyed")
    press(page, "Enter")

    assert asked(page) == ["aware_linkage"]
    press(page, "j")  # the earlier questions: jump back to child 3, its refusal still keyed
    axe.check(page, "earlier questions")
    press(page, "Enter")
    assert "child number 3" in page.inner_text("legend")
    assert page.locator("input[value='refused']").is_checked()
    press(page, "Enter")
    assert asked(page) == ["aware_linkage"]
    page.keyboard.press("d")
    assert page.locator("input[name='aware_linkage'][value='dk']").is_checked()
    axe.check(page, "script: single choice with don't know keyed")
    press(page, "Enter")

    seen: set[str] = set()
    for _ in range(60):
        if page.locator("#code-outcome").count():
            break
        kinds = page.eval_on_selector_all(
            "[data-question] input, [data-question] textarea",
            "els => els.map(e => e.closest('[data-row]') ? 'grid' : e.type)",
        )
        kind = (
            "grid"
            if "grid" in kinds
            else ("multi" if "checkbox" in kinds and "radio" not in kinds else "page")
        )
        if kind not in seen and kind != "page":
            seen.add(kind)
            axe.check(page, f"script: {kind}")
        answer_with_first_options(page)
        assert not page.locator(".error-summary").count(), page.inner_text("main")
    else:
        raise AssertionError("the script never ended")
    assert "grid" in seen
    axe.check(page, "script: finished")
    # Enter would code "complete" and take the next case (the focused button); to add a
    # note, the keyboard goes on to the end-of-call page's link
    assert page.evaluate("document.activeElement.value") == "next"
    tab_to(page, "#code-outcome")
    press(page, "Enter")

    assert page.locator("input[name='outcome'][value='complete']").is_checked()
    axe.check(page, "end of call")
    press(page, "Enter")
    assert "Case c1 is coded" in page.inner_text("main")
    [attempt] = store.attempts_of("c1")
    assert attempt.disposition == "complete"
    [record] = store.interviews_for_case("c1")
    assert record.status == "complete"

    # the second case: an appointment at 18:30 on the interviewer's clock (London)
    tab_to(page, "button.button--start")
    press(page, "Enter")
    assert "Case c2" in page.inner_text("main")
    tab_to(page, "a[href$='/end']")
    press(page, "Enter")
    key = page.get_attribute("input[name='outcome'][value='appointment']", "data-key")
    assert key is not None
    for digit in key:
        page.keyboard.press(digit)
    assert page.locator("input[name='outcome'][value='appointment']").is_checked()
    tab_to(page, "#f-appt-date")
    page.keyboard.type("05052026")  # the same in day-month and month-day order
    tab_to(page, "#f-appt-time")
    page.keyboard.type("1830")
    press(page, "Enter")
    assert "Case c2 is coded" in page.inner_text("main")
    [appointment] = store.appointments_of("c2")
    assert appointment.at == dt.datetime(2026, 5, 5, 17, 30, tzinfo=dt.UTC)  # Tuesday, 18:30 BST

    tab_to(page, "button.button--start")
    press(page, "Enter")
    assert "No case can be called now" in page.inner_text("main")
    axe.check(page, "console home with a notice")
    clock.now = dt.datetime(2026, 5, 5, 17, 30, tzinfo=dt.UTC)  # 18:30 in London
    tab_to(page, "button.button--start")
    press(page, "Enter")
    text = page.inner_text("main")
    assert "Case c2" in text and "Bea Example" in text and "18:30 your time" in text
    axe.check(page, "case screen with an appointment and history")
    context.close()

    assert axe.problems == {}, axe.problems
    assert len(axe.checked) >= 12
