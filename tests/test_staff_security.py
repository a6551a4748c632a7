"""Holes found by probing the staff area and the host as an attacker would, each kept closed.

Issue 10, section 6: concurrent sign-ins that all reached the 128 MiB
password hash, a staff cookie that outlived signing out, ``next=`` with CR/LF
answered with a 500, Werkzeug's bare 413 page, ``serve --demo`` making an
admin in any database, and NUL characters that PostgreSQL cannot store.
Tests that touch the store run on SQLite and PostgreSQL (``database_url``).
The tests of the hashing slots hash staff passwords at the production cost
(128 MiB, about half a second), which is what the slots bound; the others at the
tests' cheap cost (tests/staff_passwords.py), as they check who gets in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from staff_passwords import CHEAP_PASSWORDS
from test_staff import PASSWORD, app  # noqa: F401 (app: the fixture, with the account rita)
from test_web_support import *

from instrument.server.app import get_host
from instrument.server.sign_in import staff_next
from instrument.server.staff import SESSION_KEY
from instrument.store import staff as staff_accounts
from tests.store_fixtures import *

COOKIE = "instrument_session"
DOMAIN = "survey.test"  # make_app's SERVER_NAME


def login_form(client: Any, username: str = "rita", password: str = PASSWORD) -> dict[str, str]:
    page = Page(200, client.get("/staff/login").get_data(as_text=True))
    return {"csrf_token": page.csrf, "username": username, "password": password}


def sign_in(app: Any, query: str = "", **form: str) -> tuple[Any, Any]:
    client = app.test_client()
    response = client.post("/staff/login" + query, data=login_form(client, **form))
    return client, response


def copy_of(app: Any, client: Any) -> Any:
    """Another browser holding a copy of ``client``'s session cookie."""
    other = app.test_client()
    cookie = client.get_cookie(COOKIE, domain=DOMAIN)
    other.set_cookie(COOKIE, cookie.value, domain=DOMAIN)
    return other


# -- 1. sign-ins are counted before the hash, and few hashes run at once ---------------


class HashSpy:
    """Wraps the store's password check: how many calls, and the most running at once."""

    def __init__(self, real: Callable[[str, str], bool]) -> None:
        self.real = real
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, password: str, stored: str) -> bool:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return self.real(password, stored)
        finally:
            with self.lock:
                self.running -= 1


def peak_rss_reset() -> Callable[[], int] | None:
    """Reset this process's peak resident memory; a function reading it (bytes), or None."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None

    def peak() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc/self/status")

    return peak


def test_concurrent_wrong_sign_ins_reach_the_hash_at_most_the_limit(
    sqlite_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(sqlite_url, clock, LOGIN_ATTEMPTS=4, LOGIN_HASH_WAIT_SECONDS=120)
    try:
        get_host(app).store.create_staff_user("rita", PASSWORD)
        spy = HashSpy(staff_accounts.verify_password)
        monkeypatch.setattr(staff_accounts, "verify_password", spy)
        browsers = []
        for _ in range(40):
            client = app.test_client()
            browsers.append((client, login_form(client, password="guess")))
        start = threading.Barrier(len(browsers))

        def attempt(browser: tuple[Any, dict[str, str]]) -> int:
            client, form = browser
            start.wait()
            return int(client.post("/staff/login", data=form).status_code)

        peak = peak_rss_reset()
        before = peak() if peak else 0
        with ThreadPoolExecutor(len(browsers)) as pool:
            codes = list(pool.map(attempt, browsers))
        assert sorted(codes) == [401] * 4 + [429] * 36
        assert spy.calls == 4  # the other 36 never reached the hash
        assert spy.most_at_once <= 2  # LOGIN_HASH_SLOTS: at most 2 x 128 MiB at once
        if peak:
            assert peak() - before < 3 * 128 * 2**20, "hashing memory not bounded"
    finally:
        close_app(app)


def test_a_sign_in_that_gets_no_hashing_slot_is_told_to_wait_and_not_counted(
    sqlite_url: str, clock: FakeClock
) -> None:
    app = make_app(
        sqlite_url, clock, LOGIN_ATTEMPTS=1, LOGIN_HASH_SLOTS=1, LOGIN_HASH_WAIT_SECONDS=0.05
    )
    try:
        host = get_host(app)
        host.store.create_staff_user("rita", PASSWORD)
        assert host.password_slots.acquire(timeout=1)  # another sign-in is hashing
        try:
            client, response = sign_in(app)
        finally:
            host.password_slots.release()
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "60"
        page = Page(503, response.get_data(as_text=True))
        assert page.title.startswith("Too many people are signing in")
        assert "Wait a minute and sign in again" in page.text()
        # the busy answer used none of the address's single attempt
        _, response = sign_in(app)
        assert response.status_code == 303
    finally:
        close_app(app)


def test_successful_sign_ins_are_not_counted_and_wrong_ones_are(
    sqlite_url: str, clock: FakeClock
) -> None:
    app = make_app(sqlite_url, clock, LOGIN_ATTEMPTS=2, **CHEAP_PASSWORDS)
    try:
        get_host(app).store.create_staff_user("rita", PASSWORD)
        codes = [sign_in(app)[1].status_code for _ in range(3)]
        assert codes == [303, 303, 303]  # colleagues behind one address are not locked out
        codes = [sign_in(app, password="guess")[1].status_code for _ in range(2)]
        assert codes == [401, 401]
        assert sign_in(app)[1].status_code == 429
    finally:
        close_app(app)


# -- 2. staff sessions live on the server: signing out ends every copy of the cookie ------


def test_the_cookie_holds_only_a_session_id(app: Any) -> None:
    client, _ = sign_in(app)
    with client.session_transaction() as session:
        assert set(session) == {"csrf_token", SESSION_KEY}
        session_id = session[SESSION_KEY]
    user = get_host(app).store.get_staff_user("rita")
    assert isinstance(session_id, str) and len(session_id) >= 40
    assert str(user.id) not in session_id.split()


def test_a_copied_cookie_opens_nothing_after_signing_out(app: Any) -> None:
    client, _ = sign_in(app)
    copy = copy_of(app, client)
    assert copy.get("/staff/").status_code == 200  # a copy works while the session is open
    token = Page(200, client.get("/staff/").get_data(as_text=True)).csrf
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/staff/").status_code == 303
    response = copy.get("/staff/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/staff/login")


def test_disabling_the_account_ends_its_sessions_for_good(app: Any) -> None:
    client, _ = sign_in(app)
    copy = copy_of(app, client)
    store = get_host(app).store
    store.set_staff_disabled("rita")
    assert copy.get("/staff/").status_code == 303
    store.set_staff_disabled("rita", False)
    assert client.get("/staff/").status_code == 303  # enabled again: a new sign-in is needed


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(app: Any) -> None:
    client, _ = sign_in(app)
    assert client.get("/staff/").status_code == 200
    get_host(app).store.set_staff_password("rita", "a new passphrase")
    assert client.get("/staff/").status_code == 303


def test_an_idle_session_ends_and_an_active_one_does_not(app: Any, clock: FakeClock) -> None:
    client, _ = sign_in(app)
    copy = copy_of(app, client)
    for _ in range(3):  # active for three hours, a request every 50 minutes
        clock.advance(50 * 60)
        assert client.get("/staff/").status_code == 200
    clock.advance(61 * 60)  # STAFF_TIMEOUT_SECONDS is an hour
    assert client.get("/staff/").status_code == 303
    assert copy.get("/staff/").status_code == 303


# -- 3. next= after signing in ------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/staff/\r\nSet-Cookie: evil=1",
        "/staff/x\ny",
        "/staff/\x00",
        "//evil.example/",
        "https://evil.example/staff/",
        "/staff//evil.example",
        "/staff/../web/mini/",
        "/staff/%2e%2E/web/mini/",
        "/staff/\\\\evil.example",
        "/web/mini/",
        "javascript:alert(1)",
        "/staff/é",
        "/staff/#x",
        "",
        "/staff/" + "a" * 3000,
    ],
)
def test_only_plain_staff_paths_are_followed_after_signing_in(target: str) -> None:
    assert staff_next(target) is None


def test_staff_paths_are_followed_after_signing_in() -> None:
    for target in ("/staff/", "/staff/preview/mini/", "/staff/preview/mini/parent?mode=cati"):
        assert staff_next(target) == target


def test_next_with_cr_lf_signs_in_to_the_index_never_a_500(app: Any) -> None:
    _, response = sign_in(app, query="?next=/staff/%0D%0ALocation:%20https://evil.example/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/"


def test_signing_in_returns_to_the_page_asked_for_with_its_query(app: Any) -> None:
    client = app.test_client()
    response = client.get("/staff/preview/mini/parent?mode=cati&lang=en")
    login = response.headers["Location"]
    assert response.status_code == 303 and login.startswith("/staff/login?next=")
    response = client.post(login, data=login_form(client))
    assert response.headers["Location"] == "/staff/preview/mini/parent?mode=cati&lang=en"
    page = Page(200, client.get(response.headers["Location"]).get_data(as_text=True))
    assert "READ OUT: Are you a parent?" in page.text()


# -- 4. error pages are the host's own ----------------------------------------------------


def test_a_body_over_the_size_limit_gets_the_hosts_error_page(web_app: Any) -> None:
    client = web_app.test_client()
    limit = web_app.config["MAX_CONTENT_LENGTH"]
    for path in ("/staff/login", "/web/mini/start"):
        response = client.post(path, data={"username": "x" * (limit + 1)})
        assert response.status_code == 413, path
        page = Page(413, response.get_data(as_text=True))
        assert page.title.startswith("What you sent is too long")
        assert "shorten what you typed" in page.text()
        assert page.tree.xpath("//link[@rel='stylesheet']")  # the host's page, styled
        assert "Content-Security-Policy" in response.headers


def test_any_other_http_error_gets_the_hosts_error_page(sqlite_url: str, clock: FakeClock) -> None:
    from flask import abort

    app = make_app(sqlite_url, clock)
    try:
        app.add_url_rule("/teapot", "teapot", lambda: abort(418))
        response = app.test_client().get("/teapot")
        assert response.status_code == 418
        page = Page(418, response.get_data(as_text=True))
        assert page.title.startswith("I'm a teapot")
        assert "Go back, reload the page and try again." in page.text()
        assert page.tree.xpath("//link[@rel='stylesheet']")
        # redirects are not errors: the trailing-slash redirect still works
        assert app.test_client().get("/staff").status_code == 308
    finally:
        close_app(app)


# -- 5. serve --demo makes an admin only where nobody works yet ---------------------------

DEMO_LOGIN = re.compile(r"user 'demo', password '([^']+)'")


def serve_demo(monkeypatch: pytest.MonkeyPatch, database: str, *extra: str) -> str:
    from click.testing import CliRunner
    from flask import Flask

    from instrument.commands.serve import serve

    monkeypatch.setattr(Flask, "run", lambda self, host, port, **kw: None)
    args = [str(MINI), "--database", database, *extra]
    result = CliRunner().invoke(serve, args)
    assert result.exit_code == 0, result.output
    staff_line = [line for line in result.output.splitlines() if line.startswith("Staff area:")]
    assert len(staff_line) == 1, result.output
    return staff_line[0]


def test_demo_never_touches_a_database_with_other_staff_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrument.store import open_store

    database = f"sqlite:///{tmp_path / 'pilot.db'}"
    with open_store(database) as store:
        store.create_staff_user("ana", PASSWORD, role="admin")
    line = serve_demo(monkeypatch, database)
    assert DEMO_LOGIN.search(line) is None
    assert "no demo login: this database has other staff accounts" in line
    with open_store(database) as store:
        assert store.get_staff_user("demo") is None
        # a 'demo' account someone made beside others keeps its password too
        store.create_staff_user("demo", PASSWORD, role="admin")
    serve_demo(monkeypatch, database)
    with open_store(database) as store:
        assert store.verify_staff_password("demo", PASSWORD) is not None


def test_demo_leaves_a_disabled_demo_account_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrument.store import open_store

    database = f"sqlite:///{tmp_path / 'demo.db'}"
    assert DEMO_LOGIN.search(serve_demo(monkeypatch, database))
    with open_store(database) as store:
        store.set_staff_disabled("demo")
    line = serve_demo(monkeypatch, database)
    assert "no demo login: the account 'demo' was disabled" in line
    with open_store(database) as store:
        assert store.get_staff_user("demo").disabled


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_demo_makes_no_account_on_postgresql_unless_asked(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrument.store import open_store

    line = serve_demo(monkeypatch, database_url)
    assert "no demo login: a PostgreSQL database may be in real use" in line
    with open_store(database_url) as store:
        assert store.get_staff_user("demo") is None
    password = DEMO_LOGIN.search(serve_demo(monkeypatch, database_url, "--demo-on-postgresql"))[1]
    with open_store(database_url) as store:
        assert store.verify_staff_password("demo", password).role == "admin"


# -- 6. and 7. NUL characters (PostgreSQL cannot store them) ------------------------------


def test_a_nul_in_the_user_name_is_a_wrong_sign_in_never_a_500(app: Any) -> None:
    _, response = sign_in(app, username="ri\x00ta")
    assert response.status_code == 401
    page = Page(401, response.get_data(as_text=True))
    assert page.summary == [("#f-username", "The username or password is not right")]
    assert page.value("username") == "rita"  # shown back without the NUL
    client, _ = sign_in(app)
    for path in (
        "/staff/preview/mi\x00ni/",
        "/staff/preview/mini/par\x00ent",
        "/staff/preview/mini/parent?mode=c\x00ati",
        "/staff/preview/mini/parent?lang=e\x00n",
    ):
        assert client.get(path).status_code == 404, path


@pytest.fixture
def respondent_app(database_url: str, clock: FakeClock) -> Iterator[Any]:
    built = make_app(database_url, clock)
    yield built
    close_app(built)


def to_views_page(r: Respondent) -> Page:
    r.start()
    r.answer({"parent": "1"})
    r.answer({"n_kids": "1"})
    page = r.answer({"kid_age_1": "9"})
    assert page.keys == ["heard", "comment"]
    return page


def test_a_nul_in_a_text_answer_is_saved_without_it(respondent_app: Any) -> None:
    r = Respondent(respondent_app)
    to_views_page(r)
    page = r.answer({"heard": ["96"], "heard_other": "a po\x00ster", "comment": "o\x00k"})
    assert page.keys == ["trust_source_96"]
    interview = interview_of(respondent_app, r)
    values = {e.variable: e.value for e in events_of(respondent_app, interview.id, "answer")}
    assert values["heard_other"] == "a poster" and values["comment"] == "ok"


def test_a_nul_anywhere_in_a_respondents_request_is_never_a_500(respondent_app: Any) -> None:
    r = Respondent(respondent_app)
    assert r.client.get("/web/t/abc\x00def").status_code == 404
    assert r.client.get("/web/mini/?lang=c\x00y").status_code == 200
    page = to_views_page(r)
    language = r.client.post(
        "/web/mini/language", data={**page.hidden("language-switcher"), "lang": "c\x00y"}
    )
    assert language.status_code == 400
    state = r.client.post("/web/mini/", data={**page.hidden("question-form"), "form_state": "\x00"})
    assert state.status_code == 400


def test_a_nul_in_the_forms_action_is_never_a_500(respondent_app: Any) -> None:
    r = Respondent(respondent_app)
    page = to_views_page(r)
    answered = r.post({"heard": ["1"], "comment": "ok"}, page=page, action="contin\x00ue")
    assert answered.status < 500
