"""A withdrawn case stays withdrawn: ``cases.withdrawn_at``.

Revision ID: 0005_case_withdrawn
Revises: 0004_cases_sessions
Create Date: 2026-12-03

Withdrawal empties a case's preload values; the time it was withdrawn is now
kept on the case, so importing the same case again, starting its interview or
issuing it a link is refused instead of quietly undoing the withdrawal.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_case_withdrawn"
down_revision = "0004_cases_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("withdrawn_at")
