"""Migration 0007_fieldwork from a database at 0006 (SQLite and PostgreSQL), and the new staff roles."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from instrument.store import STAFF_ROLES, migrate, open_store, resolve_url
from instrument.store.engine import create_store_engine
from tests.fieldwork_store_helpers import T0
from tests.store_fixtures import *

FIELDWORK_TABLES = {
    "phone_numbers",
    "case_queue",
    "attempts",
    "calls",
    "call_events",
    "appointments",
    "do_not_call",
    "fieldwork_audit",
}


def _insert_user(connection: sa.Connection, name: str, role: str) -> None:
    connection.execute(
        sa.text(
            "INSERT INTO staff_users (username, password_hash, role, created_at, disabled)"
            " VALUES (:u, 'x', :r, :t, :d)"
        ),
        {"u": name, "r": role, "t": T0, "d": False},
    )


def test_migration_0007_from_a_database_at_0006(database_url: str) -> None:
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0006_personal_answers")
        with engine.begin() as connection:
            _insert_user(connection, "rita", "researcher")
            with pytest.raises(sa.exc.IntegrityError):  # 0006 knows no interviewers
                with connection.begin_nested():
                    _insert_user(connection, "ivan", "interviewer")
            connection.execute(
                sa.text(
                    "INSERT INTO cases (id, questionnaire_id, preload, created_at, updated_at)"
                    " VALUES ('c-1', 'phone_study', '{}', :t, :t)"
                ),
                {"t": T0},
            )
    finally:
        engine.dispose()
    assert {"interviewer", "supervisor"} <= set(STAFF_ROLES)
    with open_store(database_url) as store:  # migrates to head
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        with store.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
        assert tables >= FIELDWORK_TABLES
        assert store.get_staff_user("rita").role == "researcher"  # type: ignore[union-attr]
        assert store.create_staff_user("ivan", "pw-ivan-1", role="interviewer", now=T0).role == (
            "interviewer"
        )
        store.create_staff_user("sue", "pw-sue-12", role="supervisor", now=T0)
        with store.engine.begin() as connection:  # the database itself refuses other roles
            with pytest.raises(sa.exc.IntegrityError):
                with connection.begin_nested():
                    _insert_user(connection, "boss", "owner")
        store.set_phone_numbers("c-1", ["+442071234567"], T0)
        assert store.get_case("c-1") is not None
        with store.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM staff_users WHERE role <> 'researcher'"))
            command.downgrade(
                migrate.alembic_config(connection=connection), "0006_personal_answers"
            )
        with store.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            users = connection.execute(sa.text("SELECT username, role FROM staff_users")).all()
        assert not FIELDWORK_TABLES & tables
        assert [tuple(u) for u in users] == [("rita", "researcher")]
        with store.engine.begin() as connection:
            with pytest.raises(sa.exc.IntegrityError):
                with connection.begin_nested():
                    _insert_user(connection, "ivan", "interviewer")
