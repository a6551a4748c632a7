"""Each wave member's case facts kept on its ``wave_members`` row, by triggers.

Revision ID: 0017_wave_case_facts
Revises: 0016_ivr_calls
Create Date: 2026-12-04

The wave dashboard (``instrument.store.panel_reports``) groups a wave's cases by
what is known of each: the furthest interview, whether one was withdrawn, the
best state of the invitations, whether the personal link was opened, the call
outcome, the messages handed to a channel. Worked out at each read, that joined
five tables row by row for every member (about 600 ms at 100,000 members on
PostgreSQL, docs/benchmarks.md). Here each fact is a column of the member's row,
and triggers on the tables the facts come from (``interviews``,
``panel_messages``, ``access_tokens``, ``case_queue``) work the row's facts out
again from those tables whenever a statement changes something they depend on:
the same statement, whichever code sends it (the worker, the web link, the
console, the IVR webhooks, a withdrawal), so the facts cannot drift. A change
that cannot alter a fact (a page saved, a message going from queued to sent)
fires nothing: each trigger's ``WHEN`` compares only what the facts read.

Columns (0 or 1 for yes and no, so the statements are the same on both dialects):

* ``iv_stage``: the furthest of the case's real interviews, 0 none, 1 withdrawn,
  2 opened with nothing answered, 3 started or abandoned, 4 screened out,
  5 complete; ``iv_withdrawn``: one of them was withdrawn;
* ``iv_completes``: how many are complete, and ``complete_mode``,
  ``complete_started_at``, ``complete_finished_at`` of the oldest complete one
  (the dashboard reads the interviews themselves for a case with more than one);
* ``iv_stoppable``: how many are abandoned, or active with an answer (the
  break-off figure looks only at these cases' interviews);
* ``invitation_reach``: 2 an invitation was handed to a channel, 1 all failed or
  bounced, 0 none; ``handed_steps``: each invitation or reminder handed to a
  channel as ``step<US>channel``, joined by ``<RS>`` in order (ASCII unit and
  record separators), so messages by step and channel are counted by grouping
  the members' rows;
* ``link_opened``: one of the case's access tokens was used;
* ``phone_disposition``: the call queue's outcome for the case.

The way up fills the columns for the waves already open; the way down drops the
triggers and the columns. Written out in full, not imported from
``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017_wave_case_facts"
down_revision = "0016_ivr_calls"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_HANDED = "('queued', 'sent', 'delivered', 'unknown')"
_UNDELIVERED = "('failed', 'bounced')"
_CONTACT = "('invitation', 'reminder')"


def _columns() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column("iv_stage", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("iv_withdrawn", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("iv_completes", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("complete_mode", sa.String(50), nullable=True),
        sa.Column("complete_started_at", _TS, nullable=True),
        sa.Column("complete_finished_at", _TS, nullable=True),
        sa.Column("iv_stoppable", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("invitation_reach", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("handed_steps", sa.Text, nullable=False, server_default=""),
        sa.Column("link_opened", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("phone_disposition", sa.String(50), nullable=True),
    )


# ----------------------------------------------------------------------------- the facts


def _interview_facts(case: str) -> str:
    """SET clause: the interview facts of the wave_members row whose case is ``case``."""
    real = f"FROM interviews i WHERE i.case_id = {case} AND NOT i.is_test"
    return (
        "(iv_stage, iv_withdrawn, iv_completes, iv_stoppable) = (SELECT"
        " COALESCE(MAX(CASE WHEN i.status = 'complete' THEN 5"
        " WHEN i.status = 'screened_out' THEN 4 WHEN i.status = 'abandoned' THEN 3"
        " WHEN i.status = 'withdrawn' THEN 1 WHEN i.last_seq > 0 THEN 3 ELSE 2 END), 0),"
        " COALESCE(MAX(CASE WHEN i.status = 'withdrawn' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN i.status = 'complete' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN i.status = 'abandoned'"
        " OR (i.status = 'active' AND i.last_seq > 0) THEN 1 ELSE 0 END), 0)"
        f" {real}),"
        " (complete_mode, complete_started_at, complete_finished_at) = (SELECT"
        f" i.mode, i.started_at, i.finished_at {real} AND i.status = 'complete'"
        " ORDER BY i.started_at, i.id LIMIT 1)"
    )


def _message_facts(dialect: str, wave: str, member: str) -> str:
    """SET clause: the message facts of the member ``member`` of the wave ``wave``."""
    us, rs = ("chr(31)", "chr(30)") if dialect == "postgresql" else ("char(31)", "char(30)")
    item = f"p.step || COALESCE({us} || p.channel, '')"
    of_member = f"FROM panel_messages p WHERE p.wave_id = {wave} AND p.member_id = {member}"
    if dialect == "postgresql":
        steps = (
            f"(SELECT string_agg({item}, {rs} ORDER BY {item}) {of_member}"
            f" AND p.kind IN {_CONTACT} AND p.state IN {_HANDED})"
        )
    else:  # SQLite before 3.44 has no ORDER BY in an aggregate: ordered in a subquery
        steps = (
            f"(SELECT group_concat(x, {rs}) FROM (SELECT {item} AS x {of_member}"
            f" AND p.kind IN {_CONTACT} AND p.state IN {_HANDED} ORDER BY x))"
        )
    return (
        "invitation_reach = COALESCE((SELECT MAX(CASE WHEN p.state IN "
        f"{_HANDED} THEN 2 WHEN p.state IN {_UNDELIVERED} THEN 1 ELSE 0 END) {of_member}"
        f" AND p.kind = 'invitation'), 0), handed_steps = COALESCE({steps}, '')"
    )


def _opened_fact(case: str) -> str:
    return (
        "link_opened = CASE WHEN EXISTS (SELECT 1 FROM access_tokens t"
        f" WHERE t.case_id = {case} AND t.used_at IS NOT NULL) THEN 1 ELSE 0 END"
    )


def _phone_fact(case: str) -> str:
    return f"phone_disposition = (SELECT q.disposition FROM case_queue q WHERE q.case_id = {case})"


def _all_facts(dialect: str, row: str) -> str:
    """SET clause: every fact of a wave_members row (``row``: how the statement names it)."""
    return ", ".join(
        (
            _interview_facts(f"{row}.case_id"),
            _message_facts(dialect, f"{row}.wave_id", f"{row}.member_id"),
            _opened_fact(f"{row}.case_id"),
            _phone_fact(f"{row}.case_id"),
        )
    )


# ----------------------------------------------------------------------------- the triggers


def _state_class(state: str) -> str:
    return (
        f"(CASE WHEN {state} IN {_HANDED} THEN 2 WHEN {state} IN {_UNDELIVERED} THEN 1 ELSE 0 END)"
    )


def _changed(dialect: str, *columns: str) -> str:
    """A WHEN condition: one of ``columns`` (expressions over OLD and NEW as ``{}``) differs."""
    differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return " OR ".join(
        f"{c.replace('{}', 'OLD')} {differs} {c.replace('{}', 'NEW')}" for c in columns
    )


def _interview_update_when(dialect: str) -> str:
    finished = _changed(dialect, "{}.mode", "{}.started_at", "{}.finished_at")
    return (
        "(OLD.case_id IS NOT NULL OR NEW.case_id IS NOT NULL) AND ("
        + _changed(dialect, "{}.status", "({}.last_seq > 0)", "{}.is_test", "{}.case_id")
        + f" OR ((OLD.status = 'complete' OR NEW.status = 'complete') AND ({finished})))"
    )


def _message_update_when(dialect: str) -> str:
    return (
        f"(OLD.kind IN {_CONTACT} OR NEW.kind IN {_CONTACT}) AND ("
        + _changed(
            dialect,
            _state_class("{}.state"),
            "{}.kind",
            "{}.step",
            "{}.channel",
            "{}.wave_id",
            "{}.member_id",
        )
        + ")"
    )


def _token_update_when(dialect: str) -> str:
    return _changed(dialect, "({}.used_at IS NULL)", "{}.case_id")


def _queue_update_when(dialect: str) -> str:
    return _changed(dialect, "{}.disposition", "{}.case_id")


_KEYS = {
    "interviews": ("case_id",),
    "panel_messages": ("wave_id", "member_id"),
    "access_tokens": ("case_id",),
    "case_queue": ("case_id",),
}
"""Which wave_members row a source row's facts belong to: an UPDATE that keeps these works out
the NEW row's facts only, one that moves the row works out the OLD row's too."""


def _moved(dialect: str, table: str) -> str:
    return _changed(dialect, *(f"{{}}.{key}" for key in _KEYS[table]))


_PG_SOURCES = {
    # table: (function body for one row named r, INSERT/DELETE condition on r, UPDATE condition)
    "interviews": (
        "UPDATE wave_members SET {interview} WHERE case_id = r.case_id;",
        "r.case_id IS NOT NULL",
        _interview_update_when,
    ),
    "panel_messages": (
        "UPDATE wave_members SET {message} WHERE wave_id = r.wave_id AND member_id = r.member_id;",
        f"r.kind IN {_CONTACT} AND r.state IN ('queued', 'sent', 'delivered', 'unknown',"
        " 'failed', 'bounced')",
        _message_update_when,
    ),
    "access_tokens": (
        "UPDATE wave_members SET {opened} WHERE case_id = r.case_id;",
        "r.case_id IS NOT NULL AND r.used_at IS NOT NULL",
        _token_update_when,
    ),
    "case_queue": (
        "UPDATE wave_members SET {phone} WHERE case_id = r.case_id;",
        "true",
        _queue_update_when,
    ),
}


def _body(table: str, dialect: str, row: str) -> str:
    template = _PG_SOURCES[table][0]
    case = f"{row}.case_id"
    return template.replace("r.", f"{row}.").format(
        interview=_interview_facts(case),
        message=_message_facts(dialect, f"{row}.wave_id", f"{row}.member_id"),
        opened=_opened_fact(case),
        phone=_phone_fact(case),
    )


def _create_postgresql() -> None:
    for table, (_, keep, update_when) in _PG_SOURCES.items():
        function = f"wave_case_facts_{table}"
        op.execute(
            # Planned afresh on every call: a worker's connection lives for the whole wave,
            # and a plan PL/pgSQL cached while panel_messages was small (a sequential scan) was
            # kept as the table grew, sending a worker from 800 to 130 messages a second.
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
            "SET plan_cache_mode = force_custom_plan AS $$ BEGIN "
            f"IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({_moved('postgresql', table)})) "
            f"THEN {_body(table, 'postgresql', 'OLD')} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_body(table, 'postgresql', 'NEW')} END IF; "
            "RETURN NULL; END $$"
        )
        for event, when in (
            ("INSERT", keep.replace("r.", "NEW.")),
            ("UPDATE", update_when("postgresql")),
            ("DELETE", keep.replace("r.", "OLD.")),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_case_facts_{event.lower()} AFTER {event} ON {table} "
                f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {function}()"
            )
    # A member added to a wave whose case already has something to count (rare: a wave's
    # cases are new) gets its facts at once; the statement's rows are looked at together.
    op.execute(
        "CREATE FUNCTION wave_case_facts_wave_members() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN UPDATE wave_members wm SET {_all_facts('postgresql', 'wm')} FROM added a "
        "WHERE wm.wave_id = a.wave_id AND wm.member_id = a.member_id AND ("
        "EXISTS (SELECT 1 FROM interviews i WHERE i.case_id = a.case_id)"
        " OR EXISTS (SELECT 1 FROM panel_messages p WHERE p.wave_id = a.wave_id"
        " AND p.member_id = a.member_id)"
        " OR EXISTS (SELECT 1 FROM access_tokens t WHERE t.case_id = a.case_id"
        " AND t.used_at IS NOT NULL)"
        " OR EXISTS (SELECT 1 FROM case_queue q WHERE q.case_id = a.case_id)); "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER wave_members_case_facts_insert AFTER INSERT ON wave_members "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        "EXECUTE FUNCTION wave_case_facts_wave_members()"
    )


def _create_sqlite() -> None:
    for table, (_, keep, update_when) in _PG_SOURCES.items():
        for event, when, rows in (
            ("INSERT", keep.replace("r.", "NEW."), ("NEW",)),
            ("UPDATE", update_when("sqlite"), ("NEW", "OLD")),
            ("DELETE", keep.replace("r.", "OLD."), ("OLD",)),
        ):
            bodies = [_body(table, "sqlite", row) for row in rows]
            if event == "UPDATE":  # the OLD row's facts only when the row moved
                bodies[1] = bodies[1].rstrip(";") + f" AND ({_moved('sqlite', table)});"
            body = " ".join(bodies)
            op.execute(
                f"CREATE TRIGGER {table}_case_facts_{event.lower()} AFTER {event} ON {table} "
                f"FOR EACH ROW WHEN {when} BEGIN {body} END"
            )
    op.execute(
        "CREATE TRIGGER wave_members_case_facts_insert AFTER INSERT ON wave_members "
        f"FOR EACH ROW BEGIN UPDATE wave_members SET {_all_facts('sqlite', 'NEW')} "
        "WHERE wave_id = NEW.wave_id AND member_id = NEW.member_id; END"
    )


def _triggers() -> list[tuple[str, str]]:
    named = [
        (f"{t}_case_facts_{e}", t) for t in _PG_SOURCES for e in ("insert", "update", "delete")
    ]
    return [*named, ("wave_members_case_facts_insert", "wave_members")]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for column in _columns():
        op.add_column("wave_members", column)
    if dialect == "postgresql":
        _create_postgresql()
        op.execute(f"UPDATE wave_members SET {_all_facts(dialect, 'wave_members')}")
    else:
        _create_sqlite()
        op.execute(f"UPDATE wave_members SET {_all_facts(dialect, 'wave_members')}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table in _triggers():
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else "")
        )
    if dialect == "postgresql":
        for table in (*_PG_SOURCES, "wave_members"):
            op.execute(f"DROP FUNCTION IF EXISTS wave_case_facts_{table}()")
    with op.batch_alter_table("wave_members") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
