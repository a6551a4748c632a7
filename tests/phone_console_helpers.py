"""Shared set-up for the interviewer console's tests: an app serving the flagship, staff, cases.

Not a test module (it holds no tests): tests/test_phone_console*.py and the
browser test import it. The app runs on a settable clock (FakeClock) that
starts on Friday 1 May 2026, 09:00 UTC (10:00 in London), inside the flagship's
calling hours, so "next case" has something to hand out.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from staff_passwords import CHEAP
from test_web_support import FLAGSHIP, FakeClock, Page, close_app, make_app

from instrument.server.app import get_host

__all__ = [
    "INTERVIEWER",
    "PASSWORD",
    "PRELOAD",
    "Interviewer",
    "add_case",
    "console_app",
    "console_with_cases",
]

INTERVIEWER = "ivy"
PASSWORD = "interviewer-test-password"
PRELOAD = {"profile_n_children": 2, "profile_age_band": 2, "profile_lone_parent": 2}
"""The panel profile of each test case: 2 children, so answering 3 fires the soft check."""


def console_app(database_url: str, clock: FakeClock, **config: Any) -> Any:
    """The app serving the flagship, with an interviewer, a supervisor and a researcher
    (passwords hashed at a cheap but real cost: tests/staff_passwords.py)."""
    app = make_app(database_url, clock, FLAGSHIP, **config)
    store = get_host(app).store
    store.set_password_cost(CHEAP, testing=True)
    store.create_staff_user(INTERVIEWER, PASSWORD, role="interviewer")
    store.create_staff_user("sam", PASSWORD, role="supervisor")
    store.create_staff_user("rita", PASSWORD, role="researcher")
    return app


def add_case(app: Any, case_id: str, clock: FakeClock, *, name: str = "Ann Example") -> None:
    """A flagship case with a name and a number, queued for the phone (no window yet)."""
    store = get_host(app).store
    now = clock()
    store.put_case(case_id, "social_licence", PRELOAD, now=now)
    store.set_contact(case_id, name=name, now=now)
    store.set_phone_numbers(case_id, ["+442079460001"], now)
    store.enqueue_case(
        case_id, zone="Europe/London", language="en", priority=0, window=None, now=now
    )


@contextlib.contextmanager
def console_with_cases(database: Path, *cases: str) -> Iterator[Any]:
    """The console's app on a SQLite file with ``cases`` queued, closed afterwards."""
    clock = FakeClock()
    app = console_app(f"sqlite:///{database}", clock)
    for case in cases:
        add_case(app, case, clock)
    try:
        yield app
    finally:
        close_app(app)


def _csrf(page: Page) -> str:
    return str(page.tree.xpath("//input[@name='csrf_token']")[0].get("value"))


class Interviewer:
    """A browser at the console, as far as forms and cookies go (no JavaScript)."""

    def __init__(self, app: Any, username: str = INTERVIEWER) -> None:
        self.client = app.test_client()
        self.username = username
        self.page: Page | None = None

    def _wrap(self, response: Any) -> Page:
        return Page(
            response.status_code, response.get_data(as_text=True), response.headers.get("Location")
        )

    def get(self, path: str, *, follow: bool = True) -> Page:
        self.page = self._wrap(self.client.get(path, follow_redirects=follow))
        return self.page

    def sign_in(self) -> Page:
        page = self.get("/staff/login")
        response = self.client.post(
            "/staff/login",
            data={"username": self.username, "password": PASSWORD, "csrf_token": _csrf(page)},
        )
        assert response.status_code == 303, response.status_code
        return self.get("/cati/console/")

    def post(self, path: str, data: dict[str, Any], *, follow: bool = True) -> Page:
        """Post ``data`` with the CSRF token of the page last seen."""
        assert self.page is not None
        body = {"csrf_token": _csrf(self.page), **data}
        self.page = self._wrap(self.client.post(path, data=body, follow_redirects=follow))
        return self.page

    def next_case(self) -> Page:
        return self.post("/cati/console/next", {})

    @property
    def attempt_path(self) -> str:
        """The case screen's path, from the page last seen (any console page of an attempt)."""
        assert self.page is not None
        for href in self.page.tree.xpath("//a/@href | //form/@action"):
            found = re.match(r"(/cati/console/attempt/\d+/)", href)
            if found:
                return found.group(1)
        raise AssertionError("no attempt on this page")

    def script_form(self, page: Page | None = None) -> dict[str, str]:
        """The hidden fields of the script form (CSRF token and signed form state)."""
        page = page or self.page
        assert page is not None
        return page.hidden("script-form")

    def answer(self, data: dict[str, Any], action: str = "continue") -> Page:
        """Submit the script page last seen."""
        assert self.page is not None
        form = {**self.script_form(), "action": action, **data}
        path = self.attempt_path + "script"
        self.page = self._wrap(self.client.post(path, data=form, follow_redirects=True))
        return self.page

    def asked(self) -> list[str]:
        """The question ids on the script page (``q-<id>`` blocks)."""
        assert self.page is not None
        return [
            el.get("id")[2:]
            for el in self.page.tree.xpath(
                "//*[@data-question or contains(@class, 'question--info')]"
            )
        ]
