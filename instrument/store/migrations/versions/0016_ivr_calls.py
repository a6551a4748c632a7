"""Automated calls (IVR): one row per call and one per webhook turn answered.

Revision ID: 0016_ivr_calls
Revises: 0015_panel_report_index
Create Date: 2026-12-04

``ivr_calls``: a call by its provider's sid (Twilio's CallSid), the interview and
case it runs (null until an inbound caller's access code is good), the attempt an
outbound call belongs to, its direction, the call flow's state as JSON, the number
of the last webhook turn answered, the wrong access codes keyed on it, and when it
began, changed and ended. No phone number is stored. ``ivr_turns``: each turn's
TwiML under (call sid, turn number), so a retried or duplicated webhook gets the
same answer and stores nothing twice.

Access codes for inbound calls need no table: they are ``access_tokens`` rows with
the purpose ``ivr_code`` (a keyed hash, see ``instrument.store.ivr_calls``).
Written out in full, not imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_ivr_calls"
down_revision = "0015_panel_report_index"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ivr_calls",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("interview_id", sa.String(36), nullable=True),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("attempt_id", _ID, nullable=True),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("state", sa.JSON, nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("code_failures", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("call_sid", name="pk_ivr_calls"),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name="fk_ivr_calls_interview_id_interviews",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("direction IN ('inbound', 'outbound')", name="ck_ivr_calls_direction"),
    )
    op.create_index("ix_ivr_calls_interview_id", "ivr_calls", ["interview_id"])
    op.create_index("ix_ivr_calls_case_id", "ivr_calls", ["case_id"])
    op.create_table(
        "ivr_turns",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("twiml", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("call_sid", "seq", name="pk_ivr_turns"),
        sa.ForeignKeyConstraint(
            ["call_sid"],
            ["ivr_calls.call_sid"],
            name="fk_ivr_turns_call_sid_ivr_calls",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("ivr_turns")
    op.drop_index("ix_ivr_calls_case_id", table_name="ivr_calls")
    op.drop_index("ix_ivr_calls_interview_id", table_name="ivr_calls")
    op.drop_table("ivr_calls")
