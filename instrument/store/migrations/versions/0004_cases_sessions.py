"""Cases with their preload values, and staff sessions the server can end.

Revision ID: 0004_cases_sessions
Revises: 0003_export_row
Create Date: 2026-12-01

``cases`` holds the case a personal link belongs to and the values of the
questionnaire's ``preload:`` variables for it (pseudonymous: personal data stay
in ``contacts``). ``staff_sessions`` holds one row per staff sign-in, keyed by
the SHA-256 of the session id, so that signing out ends the session on the
server. Two new tables, nothing existing changes. Written out in full, not
imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_cases_sessions"
down_revision = "0003_export_row"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("questionnaire_id", sa.String(200), nullable=False),
        sa.Column("preload", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name="fk_staff_sessions_user_id_staff_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_sessions_user_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("cases")
