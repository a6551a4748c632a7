"""The first text of an interview by text, recorded before it goes: an outbox per turn.

Revision ID: 0026_sms_interview_attempts
Revises: 0025_cheaper_message_facts
Create Date: 2026-12-04

``sms_interview_attempts``: one row per first text of an interview by text (a wave's
``sms_interview`` step, ``instrument sms start``), keyed by the conversation's turn that
holds it (``call_sid``, ``seq``: the hashed number's conversation, never the number; the text
is the turn's TwiML) and deleted with it (a withdrawal deletes the conversation). Written
``to_send`` in the transaction that stores the turn, then set from the channel's answer
(``sent`` with the provider's id, ``failed``, ``refused``, ``unknown``), with the tries
(``attempts``), the error and when. A row still ``to_send`` long after its try began is a
text its worker never handed over: the fieldwork worker sends it again.
Written out in full, not imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_sms_interview_attempts"
down_revision = "0025_cheaper_message_facts"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sms_interview_attempts",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("call_sid", "seq", name="pk_sms_interview_attempts"),
        sa.ForeignKeyConstraint(
            ["call_sid", "seq"],
            ["ivr_turns.call_sid", "ivr_turns.seq"],
            name="fk_sms_interview_attempts_call_sid_ivr_turns",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "state IN ('to_send', 'sent', 'failed', 'refused', 'unknown')",
            name="ck_sms_interview_attempts_state",
        ),
    )


def downgrade() -> None:
    op.drop_table("sms_interview_attempts")
