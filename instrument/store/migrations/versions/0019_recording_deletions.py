"""Recordings to delete at the telephony provider: an outbox written with each withdrawal.

Revision ID: 0019_recording_deletions
Revises: 0018_case_queue_taken_by
Create Date: 2026-12-07

``recording_deletions``: one row per recording (its provider and the provider's
id, unique: listing it twice lists it once), where it came from (``call``: an
interviewer's call recorded after the respondent's yes; ``answer``: a recorded
free-text answer of an automated call), why (``reason``, the pseudonymous case
and interview) and when; then each try (``tries``, ``next_try_at``,
``claimed_by``, ``last_tried_at``, ``last_error``) until the provider says the
recording is deleted or was gone (``state`` ``done``, ``outcome``,
``done_at``). Never a URL. The partial index on ``next_try_at`` of the pending
rows is the fieldwork worker's claim.
Written out in full, not imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_recording_deletions"
down_revision = "0018_case_queue_taken_by"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_table(
        "recording_deletions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("recording_sid", sa.String(64), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("interview_id", sa.String(36), nullable=True),
        sa.Column("requested_at", _TS, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("next_try_at", _TS, nullable=True),
        sa.Column("claimed_by", sa.String(150), nullable=True),
        sa.Column("last_tried_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=True),
        sa.Column("done_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recording_deletions"),
        sa.UniqueConstraint("recording_sid", name="uq_recording_deletions_recording_sid"),
        sa.CheckConstraint("state IN ('pending', 'done')", name="ck_recording_deletions_state"),
        sa.CheckConstraint("source IN ('call', 'answer')", name="ck_recording_deletions_source"),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('deleted', 'gone')",
            name="ck_recording_deletions_outcome",
        ),
    )
    op.create_index("ix_recording_deletions_case_id", "recording_deletions", ["case_id"])
    op.create_index(
        "ix_recording_deletions_due",
        "recording_deletions",
        ["next_try_at"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_recording_deletions_due", table_name="recording_deletions")
    op.drop_index("ix_recording_deletions_case_id", table_name="recording_deletions")
    op.drop_table("recording_deletions")
