"""Shared set-up of the browser tests (tests/test_browser*.py): not a test module.

The browser tests drive Debian's chromium through Playwright and inject
axe-core from node_modules. Each module needs the same pieces: the check that
those three are there, one way of launching chromium, a browser context that
lets axe in, the axe checker, the app served on a real port, keys that submit,
and the interviewer's sign-in. They live here, once, so that a module holds
only its own server's contents and its tests, and no test module imports
from another.

Without chromium, Playwright or axe-core the tests are skipped with the
reason, except when the environment variable CI is set: then they fail,
because CI promises to run them. The ``browser`` fixture (tests/conftest.py)
launches chromium once a module through :func:`launched_chromium`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from live_call_helpers import TWILIO_ENV
from phone_console_helpers import INTERVIEWER, PASSWORD, add_case, console_app
from port_helpers import free_port, release_port
from test_web_support import FakeClock, close_app, make_app
from twilio_fake import FakeTwilioHttp
from werkzeug.serving import make_server

from instrument.server.app import get_host

if TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import Browser, BrowserContext, Page

__all__ = [
    "AXE",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Axe",
    "free_port",
    "go_on",
    "launched_chromium",
    "live_console_app",
    "new_context",
    "press",
    "require_browser",
    "serve",
    "serve_questionnaires",
    "serve_twilio_console",
    "sign_in_to_console",
    "submit",
    "tab_to",
]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
"""No sandbox (containers lack the namespaces), no GPU, and nothing fetched in the background."""

ADMIN = "ada"
ADMIN_PASSWORD = "browser-test-password"


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    if not AXE.exists():
        return f"{AXE} is missing (run `npm install` at the repository root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright for Python is not installed: {exc}"
    return None


def require_browser() -> None:
    """Skip the test when chromium, Playwright or axe-core is missing; fail instead under CI.

    Called before any app is built, so a machine without a browser skips at once.
    """
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so browser tests must run)")
    pytest.skip(reason)


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, closed on leaving: one launch serves a whole module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def new_context(browser: Browser, **kw: Any) -> BrowserContext:
    """A fresh browser context (its own cookies) that lets axe-core in.

    axe is injected as an inline script, which our CSP forbids; only the test bypasses it.
    """
    return browser.new_context(bypass_csp=True, **kw)


ALWAYS = {"region"}
"""Rules whose every violation counts, whatever its impact: all content inside landmarks."""


class Axe:
    """Runs axe-core in a page and collects serious or critical violations per page kind.

    A test checks each kind of page as it reaches it and asserts ``problems``
    is empty at the end, so one run names every page that is not clean.
    """

    def __init__(self) -> None:
        self.source = AXE.read_text(encoding="utf-8")
        self.checked: list[str] = []
        self.problems: dict[str, list[str]] = {}

    def check(self, page: Page, kind: str) -> None:
        page.add_script_tag(content=self.source)
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
            for v in result
            if v["impact"] in ("serious", "critical") or v["id"] in ALWAYS
        ]
        self.checked.append(kind)
        if bad:
            self.problems[kind] = bad


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on its SERVER_NAME (127.0.0.1:<port>) in a thread; yield its base URL.

    The browser needs a real socket, and threads so that console.js's polling
    and the page's own requests do not wait on each other. The port comes from
    :func:`free_port` (tests/port_helpers.py), reserved until the server has it,
    so that no other xdist worker's server takes it meanwhile. On leaving, the
    server stops and the app's store is closed.
    """
    host, _, port = str(app.config["SERVER_NAME"]).partition(":")
    try:
        http = make_server(host, int(port), app, threaded=True)
    finally:
        release_port(int(port))
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        http.shutdown()
        thread.join(timeout=5)
        close_app(app)


def _database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('browser') / 'browser.db'}"


@contextmanager
def serve_questionnaires(
    tmp_path_factory: pytest.TempPathFactory, *questionnaires: Path
) -> Iterator[tuple[str, Flask]]:
    """The web mode serving these questionnaires on a real port, with the admin ``ada``.

    The app keeps real time (CLOCK None): the browser's own timers run against it.
    """
    require_browser()
    port = free_port()
    app = make_app(
        _database(tmp_path_factory),
        FakeClock(),
        *questionnaires,
        CLOCK=None,
        SERVER_NAME=f"127.0.0.1:{port}",
        TESTING=False,
    )
    get_host(app).store.create_staff_user(ADMIN, ADMIN_PASSWORD, role="admin")
    with serve(app) as base:
        yield base, app


def live_console_app(
    tmp_path_factory: pytest.TempPathFactory,
    clock: FakeClock,
    *,
    twilio: FakeTwilioHttp | None = None,
    **config: Any,
) -> Flask:
    """The interviewer console's app (tests/phone_console_helpers.py) made for :func:`serve`.

    With ``twilio`` the app places calls through Twilio, whose REST API is that
    fake (nothing leaves the machine); the app reads Twilio's settings from
    the environment once, when it starts, so they are set only meanwhile.
    """
    require_browser()
    port = free_port()
    settings: dict[str, Any] = {"SERVER_NAME": f"127.0.0.1:{port}", "TESTING": False, **config}
    if twilio is None:
        return console_app(_database(tmp_path_factory), clock, **settings)
    with pytest.MonkeyPatch.context() as env:
        for name, value in TWILIO_ENV.items():
            env.setenv(name, value)
        settings["TWILIO_HTTP_CLIENT"] = twilio
        return console_app(_database(tmp_path_factory), clock, **settings)


@contextmanager
def serve_twilio_console(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Flask, FakeTwilioHttp]]:
    """The console with Twilio configured and case c1 queued, served: base URL, app, fake REST API.

    The tests of calls placed through Twilio read what the app asked of Twilio
    from the fake, so it is yielded with the app.
    """
    clock = FakeClock()
    http = FakeTwilioHttp()
    app = live_console_app(tmp_path_factory, clock, twilio=http)
    add_case(app, "c1", clock)
    with serve(app) as base:
        yield base, app, http


def go_on(page: Page) -> None:
    """Press the respondent's main button (Continue, or Continue anyway after a warning)."""
    page.get_by_role("button", name=re.compile(r"^(Continue|Continue anyway)$")).click()
    page.wait_for_load_state()


def submit(page: Page, button: str) -> None:
    """Click the button named ``button`` and wait for the page it leads to: reading the page
    straight after the click could read the page before it, or none while it is replaced."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def press(page: Page, key: str) -> None:
    """Press a key that submits (or follows a link) and wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate(
            "s => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def sign_in_to_console(page: Page, base: str, username: str = INTERVIEWER) -> None:
    """An interviewer opens the console, is sent to the staff sign-in, signs in with Enter.

    Every interviewer of tests/phone_console_helpers.py has the same password.
    """
    page.goto(f"{base}/cati/console/")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(PASSWORD)
    press(page, "Enter")
