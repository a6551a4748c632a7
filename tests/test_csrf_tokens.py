"""The staff pages' CSRF token is signed once a minute per session, and checked as before.

instrument/flask_support/csrf_tokens.py: the same session's pages carry the
same signed token for a while (signing it was a tenth of the script page's
server time); another session gets its own; Flask-WTF still refuses a token
that is missing, tampered with or another session's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from staff_passwords import CHEAP
from test_web_support import FakeClock, Page, close_app, make_app

from instrument.server.app import get_host

PASSWORD = "correct horse battery staple"


def _app(tmp_path: Any, **config: Any) -> Any:
    app = make_app(f"sqlite:///{tmp_path / 'csrf.db'}", FakeClock(), **config)
    store = get_host(app).store
    store.set_password_cost(CHEAP, testing=True)
    store.create_staff_user("rita", PASSWORD, role="researcher")
    return app


@pytest.fixture
def app(tmp_path: Any) -> Iterator[Any]:
    built = _app(tmp_path)
    yield built
    close_app(built)


def token_on(client: Any, path: str = "/staff/login") -> str:
    return Page(200, client.get(path).get_data(as_text=True)).csrf


def sign_in(client: Any, token: str) -> int:
    fields = {"csrf_token": token, "username": "rita", "password": PASSWORD}
    return int(client.post("/staff/login", data=fields).status_code)


def test_one_session_reuses_its_signed_token_and_it_is_accepted(app: Any) -> None:
    client = app.test_client()
    first = token_on(client)
    time.sleep(1.1)  # a token signed afresh now would carry another second's time stamp
    assert token_on(client) == first  # signed once, not on every page
    other = app.test_client()
    assert token_on(other) != first  # another session: its own secret, its own token
    assert sign_in(client, first) == 303
    assert token_on(client, "/staff/") == first  # the same session after signing in


def test_a_token_is_still_checked_as_flask_wtf_checks_it(app: Any) -> None:
    client, other = app.test_client(), app.test_client()
    mine = token_on(client)
    theirs = token_on(other)
    assert sign_in(client, "") == 400  # missing
    assert sign_in(client, mine[:-2] + ("AA" if not mine.endswith("AA") else "BB")) == 400
    assert sign_in(client, theirs) == 400  # signed, but for another session's secret
    assert sign_in(client, mine) == 303


def test_a_short_time_limit_shortens_the_reuse(tmp_path: Any) -> None:
    """WTF_CSRF_TIME_LIMIT of 5 s: a token is reused for at most half a second."""
    app = _app(tmp_path, WTF_CSRF_TIME_LIMIT=5)
    try:
        client = app.test_client()
        first = token_on(client)
        assert token_on(client) == first
        time.sleep(1.1)  # itsdangerous stamps whole seconds: a new signature differs
        second = token_on(client)
        assert second != first
        assert sign_in(client, second) == 303
    finally:
        close_app(app)
