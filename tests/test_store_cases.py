"""Cases and their preload values, and migration 0004 from a database at 0003 (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command

from instrument.store import (
    CaseBelongsElsewhere,
    CaseWithdrawn,
    NulCharacterRefused,
    Store,
    migrate,
    open_store,
    resolve_url,
)
from instrument.store.engine import create_store_engine
from tests.store_fixtures import *

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
YAML = "meta:\n  id: social_licence\n  version: '1'\nquestions: []\n"
PRELOAD = {"region": 3, "last_wave_trust": [4, 5], "name_of_town": "Ystrad", "panel": None}


def _at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_a_case_is_stored_with_its_preload_and_replaced_whole(store: Store) -> None:
    assert store.get_case("case-1") is None
    first = store.put_case("case-1", "social_licence", PRELOAD, now=T0)
    assert (first.id, first.questionnaire_id, first.preload) == (
        "case-1",
        "social_licence",
        PRELOAD,
    )
    assert first.created_at == first.updated_at == T0
    assert store.get_case("case-1") == first
    replaced = store.put_case("case-1", "social_licence", {"region": 4}, now=_at(5))
    assert (replaced.questionnaire_id, replaced.preload) == ("social_licence", {"region": 4})
    assert (replaced.created_at, replaced.updated_at) == (T0, _at(5))
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM cases")).scalar() == 1


def test_preload_values_must_be_plain_json_and_ids_fit(store: Store) -> None:
    with pytest.raises(TypeError, match="plain JSON"):
        store.put_case("case-1", "social_licence", {"born": dt.date(1980, 1, 1)}, now=T0)
    with pytest.raises(TypeError, match="variable names"):
        store.put_case("case-1", "social_licence", {3: "x"}, now=T0)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="case id"):
        store.put_case("", "social_licence", {}, now=T0)
    with pytest.raises(ValueError, match="case id"):
        store.put_case("c" * 101, "social_licence", {}, now=T0)
    with pytest.raises(NulCharacterRefused, match="preload town"):
        store.put_case("case-1", "social_licence", {"town": "Y\x00strad"}, now=T0)
    assert store.get_case("case-1") is None
    assert store.get_case("case\x00") is None


def test_withdrawal_deletes_the_preload_values_and_says_so(store: Store) -> None:
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    interview = store.create_interview(
        version.id, mode="web", language="en", state={}, case_id="case-1", now=T0
    )
    store.put_case("case-1", "social_licence", PRELOAD, now=T0)
    store.put_case("case-2", "social_licence", {"region": 1}, now=T0)
    # One interview alone: the case keeps what its other interviews may need.
    alone = store.withdraw_interview(interview.id, now=_at(1))
    assert alone.preload_values_deleted == 0
    assert store.get_case("case-1").preload == PRELOAD  # type: ignore[union-attr]
    report = store.withdraw("case-1", now=_at(2))
    assert report.preload_values_deleted == len(PRELOAD)
    case = store.get_case("case-1")
    assert case is not None and case.preload == {} and case.updated_at == _at(2)
    assert store.get_case("case-2").preload == {"region": 1}  # type: ignore[union-attr]
    assert store.withdraw("case-1", now=_at(3)).preload_values_deleted == 0
    assert store.withdraw("no-such-case", now=_at(3)).preload_values_deleted == 0


def test_migration_0004_from_a_database_at_0003(database_url: str) -> None:
    """A database last migrated to 0003 keeps its rows, gains the two tables, and can go back."""
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0003_export_row")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO questionnaire_versions (id, questionnaire_id, version, content_hash,"
                    " source_text, created_at) VALUES (1, 'social_licence', '1', 'h', :yaml, :t)"
                ),
                {"yaml": YAML, "t": T0},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO interviews (id, questionnaire_version_id, case_id, mode, language,"
                    " status, is_test, state, revision, started_at, updated_at)"
                    " VALUES ('i-1', 1, 'case-1', 'web', 'en', 'active', :f, :state, 2, :t, :t)"
                ),
                {"t": T0, "f": False, "state": '{"a": 1}'},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO staff_users (id, username, password_hash, role, created_at,"
                    " disabled) VALUES (7, 'ana', 'scrypt$x', 'admin', :t, :f)"
                ),
                {"t": T0, "f": False},
            )
    finally:
        engine.dispose()
    with open_store(database_url) as store:  # migrates to head
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert store.load_interview("i-1").state == {"a": 1}
        assert store.put_case("case-1", "social_licence", {"region": 2}, now=T0).preload == {
            "region": 2
        }
        session = store.open_staff_session(7, now=T0)
        assert store.staff_session_user(session, now=T0).username == "ana"  # type: ignore[union-attr]
        with store.engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection=connection), "0003_export_row")
        with store.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
        assert "cases" not in tables and "staff_sessions" not in tables
        assert store.load_interview("i-1").state == {"a": 1}


def test_a_withdrawn_case_is_never_imported_again(store: Store) -> None:
    """Withdrawal is final: storing the case again is refused, and nothing is written."""
    store.put_case("case-1", "social_licence", PRELOAD, now=T0)
    store.withdraw("case-1", now=_at(1))
    with pytest.raises(CaseWithdrawn, match="case 'case-1' was withdrawn on 2025-03-01"):
        store.put_case("case-1", "social_licence", PRELOAD, now=_at(2))
    case = store.get_case("case-1")
    assert case is not None and case.preload == {} and case.withdrawn_at == _at(1)
    # withdrawn again later: the first time stands
    store.withdraw("case-1", now=_at(5))
    assert store.get_case("case-1").withdrawn_at == _at(1)  # type: ignore[union-attr]


def test_a_case_with_interviews_but_no_row_leaves_a_withdrawn_row(store: Store) -> None:
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    store.create_interview(version.id, mode="web", language="en", state={}, case_id="c-7", now=T0)
    assert store.get_case("c-7") is None
    store.withdraw("c-7", now=_at(1))
    case = store.get_case("c-7")
    assert (
        case is not None
        and case.withdrawn_at == _at(1)
        and case.questionnaire_id == "social_licence"
    )
    with pytest.raises(CaseWithdrawn):
        store.put_case("c-7", "social_licence", {}, now=_at(2))


def test_a_case_id_of_another_questionnaire_is_not_moved(store: Store) -> None:
    store.put_case("case-1", "social_licence", {"region": 1}, now=T0)
    with pytest.raises(CaseBelongsElsewhere, match="belongs to questionnaire 'social_licence'"):
        store.put_case("case-1", "school_travel", {"region": 2}, now=_at(1))
    assert store.get_case("case-1").questionnaire_id == "social_licence"  # type: ignore[union-attr]


def test_migration_0005_adds_the_withdrawal_time(database_url: str) -> None:
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0004_cases_sessions")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO cases (id, questionnaire_id, preload, created_at, updated_at)"
                    " VALUES ('c-1', 'social_licence', :p, :t, :t)"
                ),
                {"p": '{"region": 1}', "t": T0},
            )
    finally:
        engine.dispose()
    with open_store(database_url) as store:
        case = store.get_case("c-1")
        assert case is not None and case.preload == {"region": 1} and case.withdrawn_at is None
        with store.engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection=connection), "0004_cases_sessions")
        with store.engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("cases")}
        assert "withdrawn_at" not in columns
