"""A staff account's own time zone: the store (SQLite and PostgreSQL), migration 0010, the CLI.

The interviewer console shows and reads times on the signed-in person's clock
(tests/test_console_time_zone.py); here is where that clock is kept. A zone
is an IANA name this machine's zone database knows, or None for "the study's
default zone"; an unknown name is refused with a clear message and changes
nothing. Migration 0010 adds the column without copying ``staff_users``
(which on SQLite would delete every open staff session through their
``ON DELETE CASCADE``), and takes it away the same way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from staff_passwords import CHEAP

from instrument.cli import cli
from instrument.store import Store, migrate, open_store, resolve_url
from instrument.store.engine import create_store_engine
from instrument.store.staff import known_time_zone
from tests.store_fixtures import *

T0 = dt.datetime(2026, 10, 23, 9, 0, tzinfo=dt.UTC)
PASSWORD = "a-test-password-1"


def _staff(store: Store) -> None:
    store.set_password_cost(CHEAP, testing=True)
    store.create_staff_user("ivy", PASSWORD, role="interviewer", now=T0)
    store.create_staff_user("sam", PASSWORD, role="supervisor", now=T0)


# -- the store ------------------------------------------------------------------------------


def test_an_account_keeps_its_own_zone_and_every_read_of_it_says_so(store: Store) -> None:
    _staff(store)
    ivy = store.get_staff_user("ivy")
    assert ivy is not None and ivy.time_zone is None  # a new account: the study's zone
    assert store.staff_time_zone("ivy") is None
    session = store.open_staff_session(ivy.id, now=T0)  # signed in before the change
    changed = store.set_staff_time_zone("ivy", "Europe/Berlin")
    assert changed.time_zone == "Europe/Berlin" and changed.username == "ivy"
    assert store.staff_time_zone("ivy") == "Europe/Berlin"
    assert store.get_staff_user_by_id(ivy.id).time_zone == "Europe/Berlin"  # type: ignore[union-attr]
    verified = store.verify_staff_password("ivy", PASSWORD)
    assert verified is not None and verified.time_zone == "Europe/Berlin"
    # the open session stays open and its next page reads the new zone
    signed_in = store.staff_session_user(session, now=T0)
    assert signed_in is not None and signed_in.time_zone == "Europe/Berlin"
    assert store.staff_time_zone("sam") is None  # nobody else's changed
    store.set_staff_time_zone("ivy", "America/New_York")
    assert store.staff_time_zone("ivy") == "America/New_York"
    assert store.set_staff_time_zone("ivy", None).time_zone is None  # back to the study's
    assert store.staff_time_zone("ivy") is None


@pytest.mark.parametrize(
    "zone",
    ["Europe/Berln", "europe/berlin", "", "Mars/Olympus_Mons", "../../etc/passwd", "CET\x00"],
)
def test_an_unknown_zone_is_refused_and_changes_nothing(store: Store, zone: str) -> None:
    _staff(store)
    store.set_staff_time_zone("ivy", "Europe/Berlin")
    with pytest.raises(ValueError, match="unknown time zone .*an IANA name such as"):
        store.set_staff_time_zone("ivy", zone)
    assert store.staff_time_zone("ivy") == "Europe/Berlin"


def test_a_near_miss_is_suggested() -> None:
    with pytest.raises(ValueError, match="did you mean Europe/Berlin"):
        known_time_zone("Europe/Berln")
    assert known_time_zone("Europe/London") == "Europe/London"
    assert known_time_zone("UTC") == "UTC"


def test_an_account_that_does_not_exist(store: Store) -> None:
    _staff(store)
    with pytest.raises(LookupError, match="no staff user 'bob'"):
        store.set_staff_time_zone("bob", "Europe/Berlin")
    with pytest.raises(LookupError):
        store.set_staff_time_zone("iv\x00y", "Europe/Berlin")
    with pytest.raises(LookupError):
        store.staff_time_zone("bob")


# -- migration 0010 -------------------------------------------------------------------------


def _columns(engine: sa.Engine) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in sa.inspect(connection).get_columns("staff_users")}


def test_migration_0010_from_a_database_at_0009_and_back(database_url: str) -> None:
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0009_queue_order")
        assert "time_zone" not in _columns(engine)
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO staff_users (username, password_hash, role, created_at, disabled)"
                    " VALUES ('ivy', 'x', 'interviewer', :t, :d)"
                ),
                {"t": T0, "d": False},
            )
    finally:
        engine.dispose()
    with open_store(database_url) as store:  # migrates to head
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert store.staff_time_zone("ivy") is None  # an existing account: the study's zone
        store.set_staff_time_zone("ivy", "Europe/Berlin")
        ivy = store.get_staff_user("ivy")
        assert ivy is not None
        session = store.open_staff_session(ivy.id, now=T0)
        with store.engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection=connection), "0009_queue_order")
        assert "time_zone" not in _columns(store.engine)
        with store.engine.connect() as connection:
            users = connection.execute(sa.text("SELECT username, role FROM staff_users")).all()
            sessions = connection.execute(
                sa.text("SELECT count(*) FROM staff_sessions WHERE closed_at IS NULL")
            ).scalar_one()
        assert [tuple(u) for u in users] == [("ivy", "interviewer")]
        assert sessions == 1  # nobody was signed out by the way back
        with store.engine.begin() as connection:  # the role check is still there
            with pytest.raises(sa.exc.IntegrityError):
                with connection.begin_nested():
                    connection.execute(
                        sa.text(
                            "INSERT INTO staff_users (username, password_hash, role, created_at,"
                            " disabled) VALUES ('boss', 'x', 'owner', :t, :d)"
                        ),
                        {"t": T0, "d": False},
                    )
        with store.engine.begin() as connection:
            command.upgrade(migrate.alembic_config(connection=connection), "head")
        assert store.staff_time_zone("ivy") is None  # the way back forgot it, as it must
        assert store.staff_session_user(session, now=T0) is not None


# -- instrument staff -----------------------------------------------------------------------


def test_the_staff_command_sets_and_shows_a_zone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'staff.db'}"
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["staff", "add", "ivy", "--role", "interviewer", "--time-zone", "Europe/Berlin",
         "--database", url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Added interviewer ivy; times in Europe/Berlin." in added.output
    assert PASSWORD not in added.output  # the prompt does not echo it
    with open_store(url) as store:
        assert store.staff_time_zone("ivy") == "Europe/Berlin"
        assert store.verify_staff_password("ivy", PASSWORD) is not None
    shown = runner.invoke(cli, ["staff", "show", "ivy", "--database", url])
    assert shown.output == "ivy: interviewer, enabled, times in Europe/Berlin\n"

    typo = runner.invoke(cli, ["staff", "set-zone", "ivy", "Europe/Berln", "--database", url])
    assert typo.exit_code == 2
    assert "unknown time zone 'Europe/Berln'" in typo.output
    assert "did you mean Europe/Berlin?" in typo.output
    moved = runner.invoke(cli, ["staff", "set-zone", "ivy", "Asia/Tokyo", "--database", url])
    assert moved.exit_code == 0 and "ivy now sees times in Asia/Tokyo." in moved.output
    cleared = runner.invoke(cli, ["staff", "set-zone", "ivy", "default", "--database", url])
    assert "ivy now sees times in the study's default zone." in cleared.output
    nobody = runner.invoke(cli, ["staff", "set-zone", "bob", "UTC", "--database", url])
    assert nobody.exit_code == 1 and "no staff user 'bob'" in nobody.output
    with open_store(url) as store:
        assert store.staff_time_zone("ivy") is None

    # a misspelt zone on add makes no account at all
    bad = runner.invoke(
        cli,
        ["staff", "add", "otto", "--role", "interviewer", "--time-zone", "Europe/Berln",
         "--database", url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert bad.exit_code == 2 and "did you mean Europe/Berlin?" in bad.output
    with open_store(url) as store:
        assert store.get_staff_user("otto") is None
