"""The web mode in a real browser: Debian's chromium driven by Playwright, checked by axe-core.

A respondent completes the flagship questionnaire: a hard error, a soft
warning, going back to change an answer that reroutes, leaving with "save and
continue later" and resuming from the link in a fresh browser context, and
pages answered with the keyboard alone. axe-core runs on every kind of page
(start, information, radios, checkboxes, numbers, grids, two questions on a
page, errors, warnings, don't know, free text, saved, thank you, the staff
area and a date question through the preview) and must find no serious or
critical violation, and no content outside a landmark (axe's ``region``, a
moderate one, that the progress bar once broke on every question page).

Needs /usr/bin/chromium, the playwright package and node_modules/axe-core
(``npm install`` at the repository root). Without them the tests are skipped
with the reason, except when the environment variable CI is set: then they
fail, because CI promises to run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import Axe, go_on, new_context, serve_questionnaires
from test_web_support import FLAGSHIP, MINI

from instrument.server.app import get_host

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The app on a real port, in a background thread."""
    with serve_questionnaires(tmp_path_factory, FLAGSHIP, MINI) as served:
        yield served


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def heading(page: Any) -> str:
    return " ".join(page.locator("legend, h1").first.inner_text().split())


def choose(page: Any, label: str) -> None:
    page.get_by_label(label, exact=True).first.check()


def answer_whatever(page: Any) -> None:
    """Answer the current page sensibly: first option of radios and rows, a short text."""
    names: list[str] = page.eval_on_selector_all(
        "form.question-form input[type=radio]", "els => [...new Set(els.map(e => e.name))]"
    )
    for name in names:
        page.locator(f"form.question-form input[type=radio][name='{name}']").first.check()
    boxes = page.locator("form.question-form input[type=checkbox]:not([data-exclusive])")
    if boxes.count():
        boxes.first.check()
    for area in page.locator("form.question-form textarea").all():
        area.fill("Nothing more to add.")
    go_on(page)


def test_flagship_as_a_respondent(server: Any, browser: Any, axe: Axe) -> None:
    base, app = server
    context = new_context(browser, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/web/social_licence/")
    axe.check(page, "start page")
    page.get_by_role("button", name="Start now").click()

    assert "It takes about 12 minutes" in page.inner_text("main")
    axe.check(page, "information screen")
    go_on(page)

    # a hard error: the required question left unanswered
    assert heading(page).startswith("Are you a parent or guardian")
    axe.check(page, "radio question")
    go_on(page)
    assert page.title().startswith("Error: ")
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    axe.check(page, "hard error")
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "f-parent"
    choose(page, "Yes")
    go_on(page)

    # a range error, then a soft warning, then "change my answer"
    number = page.locator("#f-n_children")
    number.fill("0")
    go_on(page)
    assert "Enter a number between 1 and 10" in page.inner_text(".error-summary")
    assert page.locator("#f-n_children").input_value() == "0"
    page.locator("#f-n_children").fill("7")
    go_on(page)
    warning = page.locator(".warning-panel")
    assert "You said 7 children under 16 live with you" in warning.inner_text()
    axe.check(page, "soft warning")
    warning.get_by_role("link", name="Change my answer").click()
    assert page.evaluate("document.activeElement.id") == "f-n_children"
    page.locator("#f-n_children").fill("2")
    page.get_by_role("button", name="Continue anyway").click()
    assert "How old is child 1 of 2" in heading(page)
    axe.check(page, "number question")
    page.locator("#f-child_age_1").fill("9")
    go_on(page)
    page.locator("#f-child_age_2").fill("4")
    go_on(page)

    # go back to change an answer that reroutes: heard_where is asked only if aware
    assert heading(page).startswith("Before today, had you heard")
    choose(page, "I know a fair amount about it")
    go_on(page)
    assert heading(page).startswith("Where have you heard")
    axe.check(page, "checkbox question")
    page.get_by_role("button", name="Back").click()
    assert page.get_by_label(
        "I know a fair amount about it", exact=True
    ).is_checked()  # answer kept
    choose(page, "I had never heard of it")
    go_on(page)
    assert heading(page).startswith("Did you know that some councils")

    # a skip: don't know / prefer not to say are offered after it
    go_on(page)
    assert page.locator(".error-summary").is_visible()
    assert page.get_by_label("Prefer not to say").count() == 1
    axe.check(page, "skip prompt with prefer not to say")
    choose(page, "Not sure")
    go_on(page)

    axe.check(page, "information screen with a randomised explanation")
    go_on(page)

    # leave, and come back from the link in a new browser (another device)
    assert heading(page) == "How clear or unclear was that explanation?"
    choose(page, "Very clear")
    page.get_by_role("button", name="Save and continue later").click()
    assert "Your answers have been saved" in page.inner_text("main")
    axe.check(page, "saved with resume link")
    link = page.locator("#resume-link").get_attribute("href")
    context.close()

    phone = new_context(
        browser, viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    page.goto(link)
    # the answer given with "save" was kept: the respondent carries on from the next page
    page.get_by_role("button", name="Back").click()
    assert heading(page) == "How clear or unclear was that explanation?"
    assert page.get_by_label("Very clear", exact=True).is_checked()
    go_on(page)
    # 320px wide: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    seen: set[str] = set()
    for _ in range(60):
        if page.locator(".panel--confirmation").count():
            break
        if page.locator(".grid").count() and "grid" not in seen:
            seen.add("grid")
            assert page.evaluate("document.documentElement.scrollWidth") <= 320  # reflowed
            axe.check(page, "grid on a narrow screen")
        if page.locator("form.question-form fieldset").count() > 1 and "two" not in seen:
            seen.add("two")
            axe.check(page, "two questions on one page")
        if page.locator("form.question-form textarea").count() and "text" not in seen:
            seen.add("text")
            axe.check(page, "free text")
        answer_whatever(page)
    assert page.locator(".panel--confirmation").count() == 1
    assert {"grid", "two", "text"} <= seen
    axe.check(page, "thank you")

    # the link of a finished interview says thank you and shows nothing else
    page.goto(link)
    assert "already completed this survey" in page.inner_text("main")
    phone.close()

    store = get_host(app).store
    assert store.count_by_status("social_licence")["complete"] == 1


def test_keyboard_only(server: Any, browser: Any) -> None:
    base, _ = server
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{base}/web/social_licence/")

    def tab_to(predicate: str, limit: int = 40) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(
                f"(() => {{ const e = document.activeElement; return {predicate}; }})()"
            ):
                return
        raise AssertionError(f"could not reach {predicate} with Tab")

    def submit_with(key: str) -> None:
        with page.expect_navigation():
            page.keyboard.press(key)

    # the skip link is the first stop and moves to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    tab_to("e.textContent.trim() === 'Start now'")
    submit_with("Enter")
    tab_to("e.value === 'continue'")
    submit_with("Enter")
    assert heading(page).startswith("Are you a parent")
    tab_to("e.name === 'parent'")
    page.keyboard.press("Space")  # the first radio: Yes
    # focus is visible: the outline is drawn
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    tab_to("e.value === 'continue'")
    submit_with("Enter")
    tab_to("e.id === 'f-n_children'")
    page.keyboard.type("1")
    submit_with("Enter")  # Enter in a field submits with the main button
    assert heading(page).startswith("How old is your child")
    tab_to("e.id === 'f-child_age_1'")
    page.keyboard.type("5")
    submit_with("Enter")
    # the back button is reachable and works from the keyboard
    page.keyboard.press("Tab")
    tab_to("e.classList.contains('back-link')")
    submit_with("Enter")
    assert heading(page).startswith("How old is your child")
    assert page.locator("#f-child_age_1").input_value() == "5"
    context.close()


def test_javascript_off_still_works(server: Any, browser: Any) -> None:
    base, _ = server
    context = new_context(browser, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base}/web/social_licence/")
    page.get_by_role("button", name="Start now").click()
    go_on(page)
    choose(page, "Yes")
    go_on(page)
    page.locator("#f-n_children").fill("1")
    go_on(page)
    page.locator("#f-child_age_1").fill("3")
    go_on(page)
    choose(page, "I know a little about it")
    go_on(page)
    # without JavaScript the other-specify box is simply shown with its option
    assert page.locator("#f-heard_where_other").is_visible()
    choose(page, "TV or radio")
    choose(page, "None of these")
    go_on(page)  # the server enforces the exclusive option
    assert "cannot select 'None of these'" in page.inner_text(".error-summary")
    context.close()


def test_zoom_400_percent_reflows(server: Any, browser: Any) -> None:
    base, _ = server
    # 1280px at 400% zoom is a 320 CSS-pixel viewport
    context = new_context(browser, viewport={"width": 1280, "height": 1024}, device_scale_factor=4)
    page = context.new_page()
    page.set_viewport_size({"width": 320, "height": 256})
    page.goto(f"{base}/web/social_licence/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    context.close()


def test_staff_area_and_date_preview_are_accessible(server: Any, browser: Any, axe: Axe) -> None:
    base, _ = server
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{base}/staff/")
    axe.check(page, "staff sign in")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("browser-test-password")
    page.get_by_role("button", name="Sign in").click()
    assert "Questionnaires" in page.inner_text("h1")
    axe.check(page, "staff questionnaire list")
    page.goto(f"{base}/staff/preview/mini/born?mode=web&lang=en")
    assert page.get_by_label("Day").count() == 1
    axe.check(page, "date question (preview)")
    page.goto(f"{base}/staff/preview/social_licence/trust?mode=cati&lang=en")
    axe.check(page, "interviewer preview")
    context.close()


def test_session_timeout_warning_takes_focus_and_staying_keeps_the_session(
    server: Any, browser: Any, axe: Axe
) -> None:
    """``data-warning`` seconds before the respondent timeout a warning appears and takes focus;
    "stay" asks the server to keep the session and hides it again. The browser's clock is
    fast-forwarded (Playwright's clock), so the test waits for nothing."""
    base, _ = server
    context = new_context(browser)
    page = context.new_page()
    page.clock.install()
    page.goto(f"{base}/web/social_licence/")
    page.get_by_role("button", name="Start now").click()
    page.wait_for_load_state()
    panel = page.locator("#timeout-warning")
    total = int(page.get_attribute("body", "data-timeout") or 0)
    warn = int(page.get_attribute("body", "data-warning") or 0)
    assert total > warn > 0
    page.clock.run_for((total - warn - 5) * 1000)
    assert panel.is_hidden()
    page.clock.run_for(10_000)
    panel.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "timeout-stay"
    assert page.get_by_role("alertdialog").is_visible()
    axe.check(page, "session timeout warning")
    with page.expect_response(lambda response: response.url.endswith("/keepalive")) as kept:
        page.locator("#timeout-stay").click()
    assert kept.value.ok
    panel.wait_for(state="hidden")
    assert "It takes about 12 minutes" in page.inner_text("main")  # still on the same page
    context.close()


def test_no_serious_accessibility_violations(axe: Axe) -> None:
    """Runs last in this module: every kind of page the tests above visited is clean."""
    if not axe.checked:
        pytest.skip("no page was checked (the browser tests did not run)")
    assert len(axe.checked) >= 15, axe.checked
    assert axe.problems == {}
