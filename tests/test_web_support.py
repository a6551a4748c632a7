"""Shared helpers for the web tests: an app on a real store, and a respondent that reads pages.

Not a test module of its own (it holds no tests); tests/test_web*.py and
tests/test_staff.py import it. The respondent parses each page with lxml and
posts back exactly what a browser would: the CSRF token, the signed form
state, the button pressed and the inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from instrument.server.app import create_app, get_host

__all__ = [
    "FLAGSHIP",
    "MINI",
    "SECRET",
    "FakeClock",
    "Page",
    "Respondent",
    "clock",
    "close_app",
    "events_of",
    "interview_of",
    "make_app",
    "sqlite_url",
    "web_app",
]

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
SECRET = "test-secret-key-not-for-production"


class FakeClock:
    """A settable UTC clock, so timeouts and paradata times are deterministic."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def make_app(database_url: str, clock: FakeClock, *paths: Path, **config: Any) -> Any:
    settings = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "QUESTIONNAIRES": [str(p) for p in (paths or (MINI,))],
        "CLOCK": clock,
        "SERVER_NAME": "survey.test",
    }
    settings.update(config)
    return create_app(settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'web.db'}"


def close_app(app: Any) -> None:
    get_host(app).store.close()


@dataclass
class Page:
    """One response, parsed."""

    status: int
    html: str
    location: str | None = None
    tree: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.html.strip():
            self.tree = lxml.html.fromstring(self.html)

    @property
    def title(self) -> str:
        return self.tree.findtext(".//title").strip()

    def text(self, xpath: str = "//main") -> str:
        nodes = self.tree.xpath(xpath)
        return " ".join(" ".join(n.text_content().split()) for n in nodes)

    @property
    def csrf(self) -> str:
        """The page's CSRF token (of its start, language or staff form)."""
        return self.tree.xpath("//input[@name='csrf_token']")[0].get("value")

    def hidden(self, form_class: str) -> dict[str, str]:
        """The hidden inputs of the first form with this class, as a browser would send them."""
        form = self.tree.xpath(f"//form[{_cls(form_class)}]")[0]
        return {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}

    @property
    def form_state(self) -> str:
        return self.tree.xpath(f"//form[{_cls('question-form')}]//input[@name='form_state']")[
            0
        ].get("value")

    @property
    def summary(self) -> list[tuple[str, str]]:
        """(href, message) of each error summary link."""
        return [
            (a.get("href"), a.text_content().strip())
            for a in self.tree.xpath(f"//*[{_cls('error-summary')}]//a")
        ]

    @property
    def warnings(self) -> list[str]:
        return [
            " ".join(li.text_content().split())
            for li in self.tree.xpath(f"//*[{_cls('warning-panel')}]//li")
        ]

    def value(self, name: str) -> str | None:
        for el in self.tree.xpath(f"//*[@name='{name}']"):
            if el.tag == "textarea":
                return el.text or ""
            if el.get("type") in ("radio", "checkbox"):
                if el.get("checked") is not None:
                    return el.get("value")
                continue
            return el.get("value")
        return None

    def checked(self, name: str) -> list[str]:
        return [
            el.get("value")
            for el in self.tree.xpath(f"//input[@name='{name}']")
            if el.get("checked") is not None
        ]

    def names(self) -> set[str]:
        return {
            el.get("name") for el in self.tree.xpath(f"//form[{_cls('question-form')}]//*[@name]")
        }

    @property
    def keys(self) -> list[str]:
        """Variable keys asked on this page (from the legends' ids)."""
        return [el.get("id")[2:] for el in self.tree.xpath("//legend[starts-with(@id, 'l-')]")]


def _cls(name: str) -> str:
    """An XPath test for "has the class ``name``"."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


class Respondent:
    """A browser, as far as forms and cookies go."""

    def __init__(
        self, app: Any, qid: str = "mini", *, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64)"
    ) -> None:
        self.app = app
        self.qid = qid
        self.client = app.test_client()
        self.user_agent = user_agent
        self.page: Page | None = None

    def _wrap(self, response: Any) -> Page:
        return Page(
            response.status_code, response.get_data(as_text=True), response.headers.get("Location")
        )

    def get(self, path: str | None = None) -> Page:
        response = self.client.get(
            path or f"/web/{self.qid}/",
            headers={"User-Agent": self.user_agent},
            follow_redirects=True,
        )
        self.page = self._wrap(response)
        return self.page

    def start(self) -> Page:
        page = self.get()
        response = self.client.post(
            f"/web/{self.qid}/start",
            data={"csrf_token": page.csrf},
            headers={"User-Agent": self.user_agent},
        )
        assert response.status_code == 303, response.status_code
        return self.get()

    def post(
        self,
        data: Mapping[str, Any],
        *,
        page: Page | None = None,
        action: str = "continue",
        follow: bool = True,
    ) -> Page:
        """Submit the question form of ``page`` (default: the last page seen)."""
        page = page or self.page
        assert page is not None
        form: dict[str, Any] = {**page.hidden("question-form"), "action": action}
        form.update(data)
        response = self.client.post(
            f"/web/{self.qid}/",
            data=form,
            headers={"User-Agent": self.user_agent},
            follow_redirects=follow,
        )
        result = self._wrap(response)
        if follow:
            self.page = result
        return result

    def back(self, *, page: Page | None = None) -> Page:
        page = page or self.page
        assert page is not None
        response = self.client.post(
            f"/web/{self.qid}/",
            data={**page.hidden("back-form"), "action": "back"},
            headers={"User-Agent": self.user_agent},
            follow_redirects=True,
        )
        self.page = self._wrap(response)
        return self.page

    def answer(self, data: Mapping[str, Any], **kw: Any) -> Page:
        """Submit and insist it was accepted (the page moved on)."""
        before = self.page
        after = self.post(data, **kw)
        assert not after.summary, after.summary
        assert not after.warnings, after.warnings
        assert before is None or after.html != before.html
        return after


def interview_of(app: Any, respondent: Respondent) -> Any:
    """The store record of the respondent's interview (read through the session cookie)."""
    with respondent.client.session_transaction() as session:
        interview_id = session["iv"][respondent.qid]
    return get_host(app).store.load_interview(interview_id)


def events_of(app: Any, interview_id: str, kind: str | None = None) -> list[Any]:
    events = get_host(app).store.events_for(interview_id)
    return [e for e in events if kind is None or e.kind == kind]


@pytest.fixture
def web_app(sqlite_url: str, clock: FakeClock) -> Iterator[Any]:
    app = make_app(sqlite_url, clock)
    yield app
    close_app(app)
