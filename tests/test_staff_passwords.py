"""The cost of staff password hashes: strong by default, cheap only for tests, always real.

Production keeps OWASP's scrypt cost (N=2**17, r=8, p=1) unless told
otherwise; a cost weaker than that is refused outside TESTING. The cheap cost
tests use (tests/staff_passwords.py) still makes salted scrypt hashes that
verify, refuse a wrong password and sign in through the app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from staff_passwords import CHEAP, CHEAP_PASSWORDS
from test_web_support import FakeClock, close_app, make_app

from instrument.server.app import DEFAULTS, get_host
from instrument.store import Store, open_store
from instrument.store.passwords import (
    STRONG,
    PasswordCost,
    hash_password,
    unmatchable_hash,
    verify_password,
)
from tests.store_fixtures import database_url, postgres_database  # noqa: F401 (fixtures)


def _hashes(store: Store) -> dict[str, str]:
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT username, password_hash FROM staff_users"))
        return {row.username: row.password_hash for row in rows}


def test_the_production_default_is_the_strong_cost(tmp_path: Path) -> None:
    assert (STRONG.n, STRONG.r, STRONG.p) == (2**17, 8, 1)
    assert DEFAULTS["STAFF_PASSWORD_COST"] is None
    app = make_app(f"sqlite:///{tmp_path / 'app.db'}", FakeClock())
    try:
        store = get_host(app).store
        assert store.password_cost == STRONG
        store.create_staff_user("ada", "a strong enough password", role="admin")
        assert _hashes(store)["ada"].startswith("scrypt$131072$8$1$")
        assert store.verify_staff_password("ada", "a strong enough password") is not None
    finally:
        close_app(app)
    # an unknown name is checked against a hash of that same cost, as before
    assert unmatchable_hash() == "scrypt$131072$8$1$" + "A" * 22 + "$" + "A" * 43


def test_a_cheap_cost_makes_real_hashes_for_tests(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert store.password_cost == STRONG  # a store opened by itself is strong
        store.set_password_cost(CHEAP, testing=True)
        store.create_staff_user("ivy", "same password", role="interviewer")
        store.create_staff_user("sam", "same password", role="supervisor")
        hashes = _hashes(store)
        assert all(h.startswith(f"scrypt${CHEAP.n}${CHEAP.r}$1$") for h in hashes.values())
        assert hashes["ivy"] != hashes["sam"]  # salted
        assert store.verify_staff_password("ivy", "same password") is not None
        assert store.verify_staff_password("ivy", "Same password") is None
        assert store.verify_staff_password("nobody", "same password") is None
        store.set_staff_password("ivy", "a new one")
        assert _hashes(store)["ivy"].startswith(f"scrypt${CHEAP.n}$")
        assert store.verify_staff_password("ivy", "a new one") is not None
    finally:
        store.close()


def test_a_weak_cost_is_refused_outside_tests(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with pytest.raises(ValueError, match="tests only"):
        make_app(url, FakeClock(), TESTING=False, SECRET_KEY="x" * 32, **CHEAP_PASSWORDS)
    with pytest.raises(TypeError):
        make_app(url, FakeClock(), STAFF_PASSWORD_COST=16)
    stronger = PasswordCost(2**18, 8)
    app = make_app(url, FakeClock(), TESTING=False, STAFF_PASSWORD_COST=stronger)
    try:
        assert get_host(app).store.password_cost == stronger  # a stronger one is anyone's choice
    finally:
        close_app(app)
    app = make_app(url, FakeClock(), **CHEAP_PASSWORDS)  # TESTING, as make_app sets
    try:
        assert get_host(app).store.password_cost == CHEAP
    finally:
        close_app(app)


@pytest.mark.parametrize(
    ("n", "r", "p"), [(1, 8, 1), (3 * 2**10, 8, 1), (2**21, 8, 1), (16, 0, 1), (16, 1, 2)]
)
def test_only_costs_that_verify_can_be_made(n: int, r: int, p: int) -> None:
    with pytest.raises(ValueError):
        PasswordCost(n, r, p)


def test_a_hash_made_at_any_cost_verifies_by_the_cost_it_carries() -> None:
    for cost in (CHEAP, PasswordCost(2**10, 8)):
        stored = hash_password("pw", cost)
        assert stored.startswith(f"scrypt${cost.n}${cost.r}$1$")
        assert verify_password("pw", stored) and not verify_password("pW", stored)
        assert not verify_password("pw", unmatchable_hash(cost))
