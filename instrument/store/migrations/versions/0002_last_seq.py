"""A per-interview counter of the last event seq, so a save needs no ``SELECT max(seq)``.

Revision ID: 0002_last_seq
Revises: 0001_initial
Create Date: 2026-11-22

``interviews.last_seq`` is the seq of the interview's newest answer event (0
when it has none). ``save_interview`` raises it by the number of events in
the same UPDATE that moves the revision on, and numbers the events from the
value that UPDATE returns: the counter is read and moved under the row lock
that the compare-and-set takes anyway.

Existing interviews get the highest seq they already have. Written out in
full, not imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_last_seq"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both backends, never Alembic's batch mode: on SQLite that
# copies the table and drops the old one, and dropping ``interviews`` with
# foreign keys on would cascade to every answer event. SQLite adds a NOT NULL
# column with a constant default, and drops a column (3.35+), in place.


def upgrade() -> None:
    op.add_column(
        "interviews",
        sa.Column("last_seq", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    interviews = sa.table(
        "interviews", sa.column("id", sa.String), sa.column("last_seq", sa.Integer)
    )
    answer_events = sa.table(
        "answer_events", sa.column("interview_id", sa.String), sa.column("seq", sa.Integer)
    )
    highest = (
        sa.select(sa.func.coalesce(sa.func.max(answer_events.c.seq), 0))
        .where(answer_events.c.interview_id == interviews.c.id)
        .scalar_subquery()
    )
    op.execute(interviews.update().values(last_seq=highest))


def downgrade() -> None:
    op.execute("ALTER TABLE interviews DROP COLUMN last_seq")
