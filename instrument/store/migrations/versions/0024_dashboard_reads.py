"""Each interview keeps the variable of its newest answer: the break-offs read it from the row.

Revision ID: 0024_dashboard_reads
Revises: 0020_dashboard_facts
Create Date: 2026-12-04

The wave dashboard's break-offs (``instrument.store.panel_reports``) count stopped
interviews by the last question they answered. That was one answer-log lookup
per stopped interview (the newest ``answer`` event, by ``ix_answer_events_answers``):
about 7,600 index descents at 100,000 members, some 40% of the statement.

``interviews.last_answered`` is the variable of the interview's newest ``answer``
event (NULL: none yet). Every save writes it in the UPDATE it already makes (the
revision, ``last_seq``): no trigger, no second write, a few bytes more per row.
The way up fills it from the answer log for the interviews that have events, and
drops ``ix_answer_events_answers``, which only the break-offs read: each answer
saved then costs one index entry fewer. The way down makes the index again and
drops the column. Written out in full, not imported from
``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_dashboard_reads"
down_revision = "0020_dashboard_facts"
branch_labels = None
depends_on = None

_ANSWERS = sa.text("kind = 'answer'")


def upgrade() -> None:
    op.add_column("interviews", sa.Column("last_answered", sa.String(200), nullable=True))
    op.execute(
        "UPDATE interviews SET last_answered = (SELECT e.variable FROM answer_events e"
        " WHERE e.interview_id = interviews.id AND e.kind = 'answer'"
        " ORDER BY e.seq DESC LIMIT 1) WHERE last_seq > 0"
    )
    op.drop_index("ix_answer_events_answers", table_name="answer_events")


def downgrade() -> None:
    op.create_index(
        "ix_answer_events_answers",
        "answer_events",
        ["interview_id", "seq"],
        postgresql_include=["variable"],
        postgresql_where=_ANSWERS,
        sqlite_where=_ANSWERS,
    )
    op.drop_column("interviews", "last_answered")  # SQLite's own DROP COLUMN (3.35)
