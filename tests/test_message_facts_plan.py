"""The panel_messages facts trigger reads by index, with the plans it keeps (migration 0025).

PostgreSQL only: SQLite's triggers are statements run as they are, with no plan kept.
Migration 0025_cheaper_message_facts made ``wave_case_facts_panel_messages`` update a
member's facts from the message itself when it can only add to them (planning every
call, as 0017 did, was most of the trigger's cost) and work them out again through
``EXECUTE`` otherwise, with sequential scans off. Here the plans the trigger runs are
read back from the server (``auto_explain``, its LOG lines sent to this client) after
``panel_messages`` was analysed small (0017's function without its every-call planning
read it by a sequential scan then) and the trigger fired often enough for PL/pgSQL to
settle on generic plans; then the kept facts are recounted.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from panel_dashboard_helpers import add_version, make_wave_history

from instrument.store import Store, migrate
from instrument.store.schema import panel_messages
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)
from tests.test_panel_case_facts import assert_facts_recount

FUNCTION = "'wave_case_facts_panel_messages'::regproc"


def _config(connection: sa.Connection) -> list[str] | None:
    return connection.scalar(sa.text(f"SELECT proconfig FROM pg_proc WHERE oid = {FUNCTION}"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_message_trigger_reads_by_index_with_a_kept_plan(store: Store) -> None:
    wave_id = make_wave_history(store, add_version(store))
    with store.engine.connect() as connection:
        assert _config(connection) == ["enable_seqscan=off"]
        message = connection.execute(
            sa.select(panel_messages.c.id, panel_messages.c.state).where(
                panel_messages.c.wave_id == wave_id,
                panel_messages.c.kind == "invitation",
                panel_messages.c.state == "sent",
            )
        ).first()
    assert message is not None
    plans: list[str] = []
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        for setting in (
            "ANALYZE panel_messages",  # small: a sequential scan would be the cheaper plan
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET client_min_messages = log",
        ):
            connection.exec_driver_sql(setting)
        # Each change moves the message between "being sent" and "handed over": the trigger
        # fires every time, and after five calls PL/pgSQL may keep a generic plan.
        for state in ["sending", "sent"] * 6:
            connection.execute(
                panel_messages.update().where(panel_messages.c.id == message.id).values(state=state)
            )
        connection.commit()
    facts = [p for p in plans if "UPDATE wave_members SET invitation_reach" in p]
    assert len(facts) == 12
    assert all("Index" in p and "Seq Scan" not in p for p in facts), facts
    assert_facts_recount(store, wave_id)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_way_down_plans_every_call_again(store: Store) -> None:
    with store.engine.begin() as connection:
        from alembic import command

        command.downgrade(migrate.alembic_config(connection=connection), "0024_dashboard_reads")
        assert _config(connection) == ["plan_cache_mode=force_custom_plan"]
        command.upgrade(migrate.alembic_config(connection=connection), "0025_cheaper_message_facts")
        assert _config(connection) == ["enable_seqscan=off"]
