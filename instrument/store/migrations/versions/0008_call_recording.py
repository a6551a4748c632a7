"""A call's recording consent: when it was keyed, and the recording a "yes" started.

Revision ID: 0008_call_recording
Revises: 0007_fieldwork
Create Date: 2026-12-03

``calls.recording`` (0007) holds the respondent's decision (true, false, or
null when never asked). Two nullable columns join it: ``recording_at``, the
moment the interviewer keyed the decision (the proof of when consent was
given, before any recording), and ``recording_sid``, Twilio's id of the
recording started after a "yes" (``RE...``; null after a "no", or when the
provider would not start it). Existing calls keep null in both: they were
never asked. Written out in full, not imported from
``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_call_recording"
down_revision = "0007_fieldwork"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recording_sid", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_sid")
        batch.drop_column("recording_at")
