"""An index for the wave dashboard's count of who was reached by an invitation.

Revision ID: 0015_panel_report_index
Revises: 0014_panel_waves
Create Date: 2026-12-04

The dashboard's figures (``instrument.store.panel_reports``) ask, for every
member of a wave, the best state any of their invitations reached. Without
this index PostgreSQL read every message of the wave from the table (a wave of
100,000 members has half a million) to pick out the invitations;
``ix_panel_messages_kind_member`` holds ``(wave_id, kind, member_id, state)``,
so the invitations are one range of the index, read without the table and
already in member order (benchmarks/panel_dashboard.py: that part of the read
went from about 180 ms to 60 ms). Nothing else changes, so the way down drops
the index. Written out in full, not imported from ``instrument.store.schema``
(see 0001_initial).
"""

from __future__ import annotations

from alembic import op

revision = "0015_panel_report_index"
down_revision = "0014_panel_waves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_panel_messages_kind_member",
        "panel_messages",
        ["wave_id", "kind", "member_id", "state"],
    )


def downgrade() -> None:
    op.drop_index("ix_panel_messages_kind_member", table_name="panel_messages")
