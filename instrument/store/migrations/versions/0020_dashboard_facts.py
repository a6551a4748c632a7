"""The wave dashboard's last joins made facts: the member's withdrawal and subgroup values.

Revision ID: 0020_dashboard_facts
Revises: 0019_recording_deletions
Create Date: 2026-12-04

The dashboard (``instrument.store.panel_reports``) groups a wave's cases by their
kept facts (migration 0017) and by the members' values of the wave's profile
variables. That still joined ``members`` for every case (the member's status)
and read each member's profile JSON, which was most of a fresh read at 100,000
members (docs/benchmarks.md, "Panel dashboard"). Here both are kept on the
``wave_members`` row:

* ``member_withdrawn``: 1 when the member withdrew from the panel (``members.status``);
* ``profile_values``: the member's values of the wave's subgroup variables, in
  their order, as text (a value the member lacks as ''), joined by the ASCII
  unit separator; NULL while the wave has no subgroup variables.

``wave_subgroups`` holds, for each wave, the subgroup variables the dashboard
counts (a JSON list of names: the wave file's profile variables; the dashboard
writes it on its first read of the wave). Triggers keep the columns: writing a
wave's list works out every member's values of the wave (one statement, once a
wave); a member whose status or profile changes has their rows in the panel's
waves worked out again; a member added to a wave gets theirs when there is
anything to say. Values are read as the dashboard used to read them (``->>`` on
PostgreSQL, ``CAST(json_extract(...) AS TEXT)`` on SQLite), so nothing counted
changes.

Also two indexes for the break-off figure: ``ix_wave_members_stoppable``, the
cases whose facts say an interview may have broken off (``iv_stoppable > 0``,
about one in ten), which it starts from instead of reading every member's row;
and ``ix_answer_events_answers``, the answer log's answers alone by
``(interview_id, seq)`` with the variable kept in the index on PostgreSQL, where
it finds each stopped interview's last answer without reading the log (about a
third of the statement's work at 100,000 members; each answer saved costs one
more index entry, a few microseconds).

The way up fills ``member_withdrawn`` (subgroup values come with each wave's
first dashboard read); the way down drops the triggers, the index, the table and
the columns. Written out in full, not imported from ``instrument.store.schema``
(see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_dashboard_facts"
down_revision = "0019_recording_deletions"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_STOPPABLE = sa.text("iv_stoppable > 0")
_ANSWERS = sa.text("kind = 'answer'")


def _values(dialect: str, profile: str, variables: str) -> str:
    """The values in the member profile ``profile`` of the subgroup variables ``variables``
    (SQL expressions: the profile's JSON, the JSON list of names; NULL when there is none)."""
    if dialect == "postgresql":
        return (
            f"(SELECT string_agg(COALESCE({profile} ->> v.name, ''), chr(31) ORDER BY v.n) "
            f"FROM json_array_elements_text(({variables})::json) WITH ORDINALITY AS v(name, n))"
        )
    # SQLite before 3.44 has no ORDER BY in an aggregate: ordered in a subquery
    return (
        "(SELECT group_concat(x, char(31)) FROM (SELECT COALESCE(CAST(json_extract("
        f"{profile}, '$.\"' || v.value || '\"') AS TEXT), '') AS x "
        f"FROM json_each({variables}) v ORDER BY v.key))"
    )


def _kept_variables(row: str) -> str:
    """The subgroup variables kept for the wave of the wave_members row ``row``."""
    return f"(SELECT s.variables FROM wave_subgroups s WHERE s.wave_id = {row}.wave_id)"


def _withdrawn(status: str) -> str:
    return f"CASE WHEN {status} = 'withdrawn' THEN 1 ELSE 0 END"


def _member_changed(dialect: str) -> str:
    """A members UPDATE's WHEN: what the facts read of the member changed."""
    if dialect == "postgresql":
        return (
            "(OLD.status = 'withdrawn') IS DISTINCT FROM (NEW.status = 'withdrawn')"
            " OR OLD.profile::text IS DISTINCT FROM NEW.profile::text"
        )
    return (
        "(OLD.status = 'withdrawn') IS NOT (NEW.status = 'withdrawn')"
        " OR OLD.profile IS NOT NEW.profile"
    )


def _member_facts(dialect: str, table: str) -> str:
    """The UPDATE of a changed member's rows (``table``: how it names wave_members), found by
    the primary key: a member is in the waves of their panel."""
    return (
        f"UPDATE {table} SET member_withdrawn = {_withdrawn('NEW.status')}, "
        f"profile_values = {_values(dialect, 'NEW.profile', _kept_variables(table))} "
        "WHERE wave_id IN (SELECT w.id FROM waves w WHERE w.panel_id = NEW.panel_id)"
        " AND member_id = NEW.id;"
    )


def _create_postgresql() -> None:
    # Its rows are found by the primary key and nothing else, so the plan PL/pgSQL keeps for a
    # connection may be kept (planning each call anew, as 0017's functions do, tripled the
    # cost of a changed profile); with no sequential scan allowed, a plan made while
    # wave_members was small cannot read the whole table once it has grown (0017's trouble).
    op.execute(
        "CREATE FUNCTION wave_dashboard_facts_members() RETURNS trigger LANGUAGE plpgsql "
        "SET enable_seqscan = off AS $$ BEGIN "
        f"{_member_facts('postgresql', 'wave_members')} RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER members_dashboard_facts_update AFTER UPDATE ON members FOR EACH ROW "
        f"WHEN ({_member_changed('postgresql')}) EXECUTE FUNCTION wave_dashboard_facts_members()"
    )
    op.execute(
        "CREATE FUNCTION wave_dashboard_facts_subgroups() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE wave_members wm SET profile_values = "
        f"{_values('postgresql', 'm.profile', 'NEW.variables')} FROM members m "
        "WHERE m.id = wm.member_id AND wm.wave_id = NEW.wave_id; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER wave_subgroups_facts AFTER INSERT OR UPDATE OF variables "
        "ON wave_subgroups FOR EACH ROW EXECUTE FUNCTION wave_dashboard_facts_subgroups()"
    )
    # A member added to an open wave: only a withdrawn member, or a wave whose subgroups are
    # counted already, has anything to keep (opening a wave writes neither).
    op.execute(
        "CREATE FUNCTION wave_dashboard_facts_wave_members() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"UPDATE wave_members wm SET member_withdrawn = {_withdrawn('m.status')}, "
        f"profile_values = {_values('postgresql', 'm.profile', _kept_variables('wm'))} "
        "FROM added a, members m "
        "WHERE wm.wave_id = a.wave_id AND wm.member_id = a.member_id AND m.id = a.member_id "
        "AND (m.status = 'withdrawn' OR a.wave_id IN (SELECT wave_id FROM wave_subgroups)); "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER wave_members_dashboard_facts_insert AFTER INSERT ON wave_members "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        "EXECUTE FUNCTION wave_dashboard_facts_wave_members()"
    )


def _create_sqlite() -> None:
    op.execute(
        "CREATE TRIGGER members_dashboard_facts_update AFTER UPDATE ON members FOR EACH ROW "
        f"WHEN {_member_changed('sqlite')} BEGIN {_member_facts('sqlite', 'wave_members')} END"
    )
    for event in ("INSERT", "UPDATE OF variables"):
        name = "insert" if event == "INSERT" else "update"
        profile = "(SELECT m.profile FROM members m WHERE m.id = wave_members.member_id)"
        op.execute(
            f"CREATE TRIGGER wave_subgroups_facts_{name} AFTER {event} ON wave_subgroups "
            "FOR EACH ROW BEGIN UPDATE wave_members SET profile_values = "
            f"{_values('sqlite', profile, 'NEW.variables')} WHERE wave_id = NEW.wave_id; END"
        )
    profile = "(SELECT m.profile FROM members m WHERE m.id = NEW.member_id)"
    op.execute(
        "CREATE TRIGGER wave_members_dashboard_facts_insert AFTER INSERT ON wave_members "
        "FOR EACH ROW WHEN EXISTS (SELECT 1 FROM members m WHERE m.id = NEW.member_id"
        " AND m.status = 'withdrawn')"
        " OR EXISTS (SELECT 1 FROM wave_subgroups s WHERE s.wave_id = NEW.wave_id) BEGIN "
        "UPDATE wave_members SET member_withdrawn = (SELECT "
        f"{_withdrawn('m.status')} FROM members m WHERE m.id = NEW.member_id), "
        f"profile_values = {_values('sqlite', profile, _kept_variables('NEW'))} "
        "WHERE wave_id = NEW.wave_id AND member_id = NEW.member_id; END"
    )


_TRIGGERS = {
    "postgresql": (
        ("members_dashboard_facts_update", "members"),
        ("wave_subgroups_facts", "wave_subgroups"),
        ("wave_members_dashboard_facts_insert", "wave_members"),
    ),
    "sqlite": (
        ("members_dashboard_facts_update", "members"),
        ("wave_subgroups_facts_insert", "wave_subgroups"),
        ("wave_subgroups_facts_update", "wave_subgroups"),
        ("wave_members_dashboard_facts_insert", "wave_members"),
    ),
}
_FUNCTIONS = ("members", "subgroups", "wave_members")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "wave_members",
        sa.Column("member_withdrawn", sa.SmallInteger, nullable=False, server_default="0"),
    )
    op.add_column("wave_members", sa.Column("profile_values", sa.Text, nullable=True))
    op.create_table(
        "wave_subgroups",
        sa.Column("wave_id", sa.Integer, nullable=False),
        sa.Column("variables", sa.Text, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["wave_id"], ["waves.id"], name="fk_wave_subgroups_wave_id_waves"),
        sa.PrimaryKeyConstraint("wave_id", name="pk_wave_subgroups"),
    )
    op.create_index(
        "ix_wave_members_stoppable",
        "wave_members",
        ["wave_id"],
        postgresql_where=_STOPPABLE,
        sqlite_where=_STOPPABLE,
    )
    op.create_index(
        "ix_answer_events_answers",
        "answer_events",
        ["interview_id", "seq"],
        postgresql_include=["variable"],
        postgresql_where=_ANSWERS,
        sqlite_where=_ANSWERS,
    )
    if dialect == "postgresql":
        _create_postgresql()
    else:
        _create_sqlite()
    op.execute(
        "UPDATE wave_members SET member_withdrawn = 1 WHERE member_id IN"
        " (SELECT id FROM members WHERE status = 'withdrawn')"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table in _TRIGGERS["postgresql" if dialect == "postgresql" else "sqlite"]:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else "")
        )
    if dialect == "postgresql":
        for function in _FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS wave_dashboard_facts_{function}()")
    op.drop_index("ix_answer_events_answers", table_name="answer_events")
    op.drop_index("ix_wave_members_stoppable", table_name="wave_members")
    op.drop_table("wave_subgroups")
    op.drop_column("wave_members", "profile_values")  # SQLite's own DROP COLUMN (3.35)
    op.drop_column("wave_members", "member_withdrawn")
