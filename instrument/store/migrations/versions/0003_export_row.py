"""Each interview's dataset row, coded when it is saved (a cache for exports).

Revision ID: 0003_export_row
Revises: 0002_last_seq
Create Date: 2026-11-29

``interviews.export_row`` holds the export row of the stored state (one line
of CSV, see ``instrument.dataset.rows``), or NULL. Existing interviews get
NULL: the export codes them from their state, as it did before. Plain ALTER
TABLE on both backends (see 0002_last_seq for why never batch mode).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_export_row"
down_revision = "0002_last_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interviews", sa.Column("export_row", sa.Text, nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE interviews DROP COLUMN export_row")
