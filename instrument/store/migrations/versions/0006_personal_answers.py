"""Answers that identify a person, kept apart from the interview's state and events.

Revision ID: 0006_personal_answers
Revises: 0005_case_withdrawn
Create Date: 2026-12-03

``personal_answers`` holds the answers to questions marked ``identifying`` (a
roster's first names, an email typed in the interview), one row per interview
and variable key, so that ``interviews.state``, ``answer_events`` and the
export rows (all that an export reads) never hold them. A new table; nothing
existing changes. Written out in full, not imported from
``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_personal_answers"
down_revision = "0005_case_withdrawn"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_answers",
        sa.Column("interview_id", sa.String(36), nullable=False),
        sa.Column("variable", sa.String(200), nullable=False),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("interview_id", "variable", name="pk_personal_answers"),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name="fk_personal_answers_interview_id_interviews",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("personal_answers")
