"""A message handed over updates its member's facts from the message alone, with a kept plan.

Revision ID: 0025_cheaper_message_facts
Revises: 0024_dashboard_reads
Create Date: 2026-12-04

Migration 0017's ``wave_case_facts_panel_messages`` (PostgreSQL) worked a member's
``invitation_reach`` and ``handed_steps`` out again from all their messages each
time one of their invitations or reminders changed state: once for every message
the fieldwork worker hands over (``sending`` to ``sent``). It was created with
``plan_cache_mode = force_custom_plan`` (a plan cached while ``panel_messages``
was small had been kept as the table grew, docs/benchmarks.md "Panel"), so
PL/pgSQL planned its UPDATE and two subqueries afresh on every call, and that
planning was most of the trigger's cost: on a copy of a 100,000-member wave,
20,000 messages moved from ``sending`` to ``sent`` in one statement took 3.76 s
with it, 1.14 s with the plans kept, 0.79 s updating from the message alone,
0.39 s with no trigger. Only keeping the plans is not safe: with sequential scans
off it still fell from 700 to 190 messages a second over a run (a kept plan for
the subqueries that grew with the table).

Here a message that can only add to its member's facts updates them from itself,
with no look at ``panel_messages``: an INSERT, or an UPDATE that keeps the
message's member, kind, step and channel, was not handed over before and moves
to a state ranked no lower (``sending`` to ``sent`` or ``failed``). Then
``invitation_reach`` (the highest rank of the member's invitations) is the
greater of what it was and the message's rank, and ``handed_steps`` gains the
message's ``step<US>channel`` when it is handed over and the member had none
handed (a member with some already has them worked out again, to keep their
order). Those two statements read ``wave_members`` by its primary key only, so
their kept plans stay right whatever size the tables grow to. Everything else (a
downgrade, a deletion, a message moved, a reminder added to a list) works the
facts out again as before, through ``EXECUTE``: planned on each call, as 0017
did. The facts are the same as a recount (tests/test_panel_case_facts.py);
SQLite's triggers (statements, no cached plans) are untouched. The way down
puts 0017's function back.
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0025_cheaper_message_facts"
down_revision = "0024_dashboard_reads"
branch_labels = None
depends_on = None

_HANDED = "('queued', 'sent', 'delivered', 'unknown')"
_UNDELIVERED = "('failed', 'bounced')"
_MEMBER = "wave_id = NEW.wave_id AND member_id = NEW.member_id"


def _rank(state: str) -> str:
    return (
        f"(CASE WHEN {state} IN {_HANDED} THEN 2 WHEN {state} IN {_UNDELIVERED} THEN 1 ELSE 0 END)"
    )


def _rederive() -> str:
    """0017's statement for the member ($1 wave, $2 member), as text for EXECUTE."""
    facts = importlib.import_module("instrument.store.migrations.versions.0017_wave_case_facts")
    statement = (
        f"UPDATE wave_members SET {facts._message_facts('postgresql', '$1', '$2')}"
        " WHERE wave_id = $1 AND member_id = $2"
    )
    return "'" + statement.replace("'", "''") + "'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    rederive = _rederive()
    kept = (
        "OLD.wave_id = NEW.wave_id AND OLD.member_id = NEW.member_id AND OLD.kind = NEW.kind"
        " AND OLD.step = NEW.step AND OLD.channel IS NOT DISTINCT FROM NEW.channel"
    )
    only_adds = (
        f"TG_OP = 'INSERT' OR ({kept} AND OLD.state NOT IN {_HANDED}"
        f" AND {_rank('NEW.state')} >= {_rank('OLD.state')})"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION wave_case_facts_panel_messages() RETURNS trigger "
        "LANGUAGE plpgsql SET enable_seqscan = off AS $$ DECLARE steps text; BEGIN "
        f"IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NOT ({kept.split(' AND OLD.kind')[0]})) "
        f"THEN EXECUTE {rederive} USING OLD.wave_id, OLD.member_id; END IF; "
        "IF TG_OP = 'DELETE' THEN RETURN NULL; END IF; "
        f"IF {only_adds} THEN "
        f"SELECT handed_steps INTO steps FROM wave_members WHERE {_MEMBER} FOR UPDATE; "
        f"IF NOT FOUND THEN RETURN NULL; END IF; "
        f"IF NEW.state NOT IN {_HANDED} OR steps = '' THEN "
        "UPDATE wave_members SET invitation_reach = CASE WHEN NEW.kind = 'invitation' "
        f"THEN GREATEST(invitation_reach, {_rank('NEW.state')}) ELSE invitation_reach END, "
        f"handed_steps = CASE WHEN NEW.state IN {_HANDED} "
        "THEN NEW.step || COALESCE(chr(31) || NEW.channel, '') ELSE handed_steps END "
        f"WHERE {_MEMBER}; RETURN NULL; END IF; END IF; "
        f"EXECUTE {rederive} USING NEW.wave_id, NEW.member_id; RETURN NULL; END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    facts = importlib.import_module("instrument.store.migrations.versions.0017_wave_case_facts")
    op.execute(
        "CREATE OR REPLACE FUNCTION wave_case_facts_panel_messages() RETURNS trigger "
        "LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$ BEGIN "
        f"IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({facts._moved('postgresql', 'panel_messages')})) "
        f"THEN {facts._body('panel_messages', 'postgresql', 'OLD')} END IF; "
        f"IF TG_OP <> 'DELETE' THEN {facts._body('panel_messages', 'postgresql', 'NEW')} END IF; "
        "RETURN NULL; END $$"
    )
