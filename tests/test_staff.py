"""The staff area: sign in, questionnaire counts, previews that create no data.

Store-dependent tests run on SQLite and PostgreSQL (``database_url``).
Staff passwords are hashed with scrypt at the tests' cheap cost
(tests/staff_passwords.py): what is checked here is who gets in, not the hash's
cost, which tests/test_staff_passwords.py holds to production's (about half a
second per sign-in, which made each test here spend a second or two hashing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from staff_passwords import CHEAP_PASSWORDS
from test_web_support import *

from instrument.server.app import get_host
from tests.store_fixtures import *

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[Any]:
    built = make_app(database_url, clock, **CHEAP_PASSWORDS)
    get_host(built).store.create_staff_user("rita", PASSWORD, role="researcher")
    yield built
    close_app(built)


def csrf_of(client: Any, path: str = "/staff/login") -> str:
    page = Page(200, client.get(path).get_data(as_text=True))
    return page.csrf


def sign_in(
    app: Any, username: str = "rita", password: str = PASSWORD, **kw: Any
) -> tuple[Any, Any]:
    client = app.test_client()
    token = csrf_of(client)
    response = client.post(
        "/staff/login" + kw.get("query", ""),
        data={"csrf_token": token, "username": username, "password": password},
    )
    return client, response


def test_staff_pages_need_a_sign_in(app: Any) -> None:
    client = app.test_client()
    for path in ("/staff/", "/staff/preview/mini/", "/staff/preview/mini/parent"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/staff/login")


def test_wrong_password_is_refused_with_an_error(app: Any) -> None:
    client, response = sign_in(app, password="nope")
    assert response.status_code == 401
    page = Page(401, response.get_data(as_text=True))
    assert page.title.startswith("Error: Sign in")
    assert page.summary == [("#f-username", "The username or password is not right")]
    assert client.get("/staff/").status_code == 303


def test_index_lists_questionnaires_with_started_and_completed_counts(app: Any) -> None:
    finished = Respondent(app)
    finished.start()
    finished.answer({"parent": "2"})  # screened out: started, not completed
    for _ in range(2):
        Respondent(app).start()
    store = get_host(app).store
    token = store.issue_token("mini", purpose="test")
    Respondent(app).get(f"/web/t/{token}")  # a test interview: not counted
    client, response = sign_in(app)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    page = Page(200, client.get("/staff/").get_data(as_text=True))
    assert "A small questionnaire with every construct" in page.text()
    assert page.text("//td[@data-count='started']") == "3"
    assert page.text("//td[@data-count='completed']") == "0"
    assert "rita (researcher)" in page.text("//header")


def test_preview_shows_any_page_in_any_mode_and_language_without_creating_data(app: Any) -> None:
    client, _ = sign_in(app)
    store = get_host(app).store
    before = store.count_by_status("mini", include_test=True)
    index = Page(200, client.get("/staff/preview/mini/").get_data(as_text=True))
    links = [a.get("href") for a in index.tree.xpath("//ol//a")]
    pages = {href.split("/")[4].split("?")[0] for href in links}
    assert {"parent", "bye", "kid_age", "two_on_one", "grid", "born"} <= pages
    # the end page is behind a condition (parent == 2): a preview shows it anyway
    page = Page(200, client.get("/staff/preview/mini/bye?mode=web&lang=en").get_data(as_text=True))
    assert "Thank you." in page.text()
    # a loop page, in Welsh, in the web rendering
    page = Page(
        200, client.get("/staff/preview/mini/kid_age?mode=web&lang=cy").get_data(as_text=True)
    )
    assert "Beth yw oed plentyn 1?" in page.text()
    assert page.tree.xpath("//input[@name='kid_age_1']")
    # the interviewer's view: what is read out, codes, not-read-out marks
    page = Page(
        200, client.get("/staff/preview/mini/parent?mode=cati&lang=en").get_data(as_text=True)
    )
    assert "READ OUT: Are you a parent?" in page.text()
    page = Page(
        200, client.get("/staff/preview/mini/two_on_one?mode=ivr&lang=en").get_data(as_text=True)
    )
    assert "96. Somewhere else" in page.text() and "(exclusive)" in page.text()
    # every page renders in every mode and language
    for href in links:
        assert client.get(href).status_code == 200, href
    assert store.count_by_status("mini", include_test=True) == before
    assert sum(before.values()) == 0


def test_preview_refuses_unknown_pages_modes_and_languages(app: Any) -> None:
    client, _ = sign_in(app)
    assert client.get("/staff/preview/mini/nope").status_code == 404
    assert client.get("/staff/preview/mini/parent?mode=paper").status_code == 404
    assert client.get("/staff/preview/mini/parent?lang=fr").status_code == 404
    assert client.get("/staff/preview/other/parent").status_code == 404


def test_sign_out_and_disabled_accounts(app: Any) -> None:
    client, _ = sign_in(app)
    assert client.get("/staff/").status_code == 200
    get_host(app).store.set_staff_disabled("rita")
    assert client.get("/staff/").status_code == 303  # takes effect on the next request
    get_host(app).store.set_staff_disabled("rita", False)
    client, _ = sign_in(app)
    token = csrf_of(client, "/staff/")
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/staff/").status_code == 303


def test_staff_session_times_out(app: Any, clock: FakeClock) -> None:
    client, _ = sign_in(app)
    clock.advance(61 * 60)
    assert client.get("/staff/").status_code == 303


def test_sign_in_redirects_only_inside_the_staff_area(app: Any) -> None:
    _, response = sign_in(app, query="?next=//evil.example/")
    assert response.headers["Location"] == "/staff/"
    _, response = sign_in(app, query="?next=/staff/preview/mini/")
    assert response.headers["Location"] == "/staff/preview/mini/"


def test_sign_in_attempts_are_rate_limited(sqlite_url: str, clock: FakeClock) -> None:
    app = make_app(sqlite_url, clock, LOGIN_ATTEMPTS=2, **CHEAP_PASSWORDS)
    try:
        get_host(app).store.create_staff_user("rita", PASSWORD)
        codes = [sign_in(app, password="guess")[1].status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        assert sign_in(app)[1].status_code == 429  # the right password waits too
    finally:
        close_app(app)


def test_another_workers_change_counts_within_the_recheck_time(
    database_url: str, clock: FakeClock
) -> None:
    """Two apps on one database stand for two gunicorn workers: an account disabled through one
    is refused by the other once its STAFF_RECHECK_SECONDS have passed (and at once with 0)."""
    import time

    first = make_app(database_url, clock, STAFF_RECHECK_SECONDS=2, **CHEAP_PASSWORDS)
    get_host(first).store.create_staff_user("rita", PASSWORD, role="researcher")
    second = make_app(database_url, clock, STAFF_RECHECK_SECONDS=0, **CHEAP_PASSWORDS)
    try:
        client, _ = sign_in(first)
        assert client.get("/staff/").status_code == 200  # believed from now on, for 2 s
        get_host(second).store.set_staff_disabled("rita")  # "another worker", or the CLI
        assert client.get("/staff/").status_code == 200  # still believed by the first
        time.sleep(2.1)
        assert client.get("/staff/").status_code == 303  # read again: refused
        get_host(second).store.set_staff_disabled("rita", False)
        other, _ = sign_in(second)
        assert other.get("/staff/").status_code == 200
        get_host(first).store.set_staff_disabled("rita")
        assert other.get("/staff/").status_code == 303  # 0: read on every request
    finally:
        close_app(first)
        close_app(second)
