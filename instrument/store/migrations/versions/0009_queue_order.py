"""Indexes that let "next case" and the window renewals stop at their first rows.

Revision ID: 0009_queue_order
Revises: 0008_call_recording
Create Date: 2026-12-03

"Next case" used to read 64 candidate cases in queue order (a sort of every
free case on each press) and then try to lock them one statement each; under
fifty interviewers pressing at once most of those statements met a case
someone else was locking. It is now one ``SELECT ... ORDER BY ... LIMIT 1
FOR UPDATE SKIP LOCKED``, which walks ``ix_case_queue_order`` (free cases in
queue order: due hard appointments, soft ones, priority, earliest window) and
stops at the first case it can lock. ``ix_case_queue_ended`` finds the free
cases whose window has ended, ``ix_case_queue_held`` the held ones (an
interviewer's own hold, looked for on every press; the stale ones). All are partial and replace
``ix_case_queue_ready``. The expressions are spelled exactly as
``instrument.store.schema`` spells them, since both databases match an indexed
expression and a partial index's condition against the query's; written out
here in full, not imported from the schema (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_queue_order"
down_revision = "0008_call_recording"
branch_labels = None
depends_on = None

_KIND_ORDER = "(CASE WHEN window_kind = 'hard' THEN 0 WHEN window_kind = 'soft' THEN 1 ELSE 2 END)"


def _free(*more: str) -> sa.TextClause:
    false = "false" if op.get_bind().dialect.name == "postgresql" else "0"
    return sa.text(" AND ".join((f"final IS {false}", "held_by IS NULL", *more)))


def upgrade() -> None:
    op.drop_index("ix_case_queue_ready", table_name="case_queue")
    op.create_index(
        "ix_case_queue_order",
        "case_queue",
        [sa.text(_KIND_ORDER), sa.text("priority DESC"), "window_start", "case_id"],
        postgresql_where=_free(),
        sqlite_where=_free(),
    )
    # "attempts >= 0" is true of every row: it fences the index off from every query
    # but the one that reads ended windows (see schema.ENDED_INDEX_FENCE)
    op.create_index(
        "ix_case_queue_ended",
        "case_queue",
        ["window_end", "case_id"],
        postgresql_where=_free("attempts >= 0"),
        sqlite_where=_free("attempts >= 0"),
    )
    op.create_index(
        "ix_case_queue_held",
        "case_queue",
        ["held_by"],
        postgresql_where=sa.text("held_by IS NOT NULL"),
        sqlite_where=sa.text("held_by IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_queue_held", table_name="case_queue")
    op.drop_index("ix_case_queue_ended", table_name="case_queue")
    op.drop_index("ix_case_queue_order", table_name="case_queue")
    op.create_index("ix_case_queue_ready", "case_queue", ["final", "held_by", "window_start"])
