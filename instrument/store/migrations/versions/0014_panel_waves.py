"""Panel waves at run time: the waves opened, their members' cases, every message sent.

Revision ID: 0014_panel_waves
Revises: 0013_staff_audit
Create Date: 2026-12-04

Three new tables (see ``instrument.store.schema``, "panel waves"): ``waves``
(a wave file as it was opened, its questionnaire version, when it opened and
closed), ``wave_members`` (each eligible member's own case in the wave, what
the worker learnt of it, and ``next_due``, indexed, so that due work is one
indexed query) and ``panel_messages`` (every message and action, with a unique
idempotency key and its delivery state; addresses only as kind and rank).
Nothing existing changes, so the way down drops them. Written out in full, not
imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_panel_waves"
down_revision = "0013_staff_audit"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STATES = (
    "state IN ('sending', 'queued', 'sent', 'delivered', 'failed', 'bounced', 'unknown', 'done')"
)


def upgrade() -> None:
    op.create_table(
        "waves",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("panel_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("questionnaire_id", sa.String(200), nullable=False),
        sa.Column("questionnaire_version_id", sa.Integer, nullable=False),
        sa.Column("file_digest", sa.String(64), nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("source_path", sa.Text, nullable=True),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("closes_at", _TS, nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("opened_by", sa.String(150), nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("closed_by", sa.String(150), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_waves"),
        sa.ForeignKeyConstraint(["panel_id"], ["panels.id"], name="fk_waves_panel_id_panels"),
        sa.ForeignKeyConstraint(
            ["questionnaire_version_id"],
            ["questionnaire_versions.id"],
            name="fk_waves_questionnaire_version_id_questionnaire_versions",
        ),
        sa.UniqueConstraint("panel_id", "key", name="uq_waves_panel_id_key"),
    )
    op.create_table(
        "wave_members",
        sa.Column("wave_id", sa.Integer, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=False),
        sa.Column("next_due", _TS, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("moved_to_phone_at", _TS, nullable=True),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("wave_id", "member_id", name="pk_wave_members"),
        sa.ForeignKeyConstraint(["wave_id"], ["waves.id"], name="fk_wave_members_wave_id_waves"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_wave_members_member_id_members"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_wave_members_case_id_cases"),
        sa.UniqueConstraint("case_id", name="uq_wave_members_case_id"),
    )
    op.create_index("ix_wave_members_next_due", "wave_members", ["next_due"])
    op.create_table(
        "panel_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("wave_id", sa.Integer, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("step", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(50), nullable=True),
        sa.Column("template", sa.String(100), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("contact_kind", sa.String(10), nullable=True),
        sa.Column("contact_rank", sa.Integer, nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_panel_messages"),
        sa.ForeignKeyConstraint(["wave_id"], ["waves.id"], name="fk_panel_messages_wave_id_waves"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_panel_messages_member_id_members"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_panel_messages_idempotency_key"),
        sa.CheckConstraint(_STATES, name="ck_panel_messages_state"),
    )
    op.create_index("ix_panel_messages_provider_id", "panel_messages", ["provider_id"])
    op.create_index("ix_panel_messages_member", "panel_messages", ["wave_id", "member_id"])
    op.create_index(
        "ix_panel_messages_channel_created",
        "panel_messages",
        ["wave_id", "channel", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_panel_messages_channel_created", table_name="panel_messages")
    op.drop_index("ix_panel_messages_member", table_name="panel_messages")
    op.drop_index("ix_panel_messages_provider_id", table_name="panel_messages")
    op.drop_table("panel_messages")
    op.drop_index("ix_wave_members_next_due", table_name="wave_members")
    op.drop_table("wave_members")
    op.drop_table("waves")
