"""Initial store: questionnaire versions, interviews, events, staff, tokens, contacts.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01

Written out in full rather than imported from ``instrument.store.schema``: a
migration describes the schema as it was at this revision, and must not
change when the schema module does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "questionnaire_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("questionnaire_id", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_questionnaire_versions"),
        sa.UniqueConstraint("content_hash", name="uq_questionnaire_versions_content_hash"),
    )
    op.create_index(
        "ix_questionnaire_versions_questionnaire_id", "questionnaire_versions", ["questionnaire_id"]
    )

    op.create_table(
        "interviews",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("questionnaire_version_id", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("mode", sa.String(50), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("is_test", sa.Boolean, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_interviews"),
        sa.ForeignKeyConstraint(
            ["questionnaire_version_id"],
            ["questionnaire_versions.id"],
            name="fk_interviews_questionnaire_version_id_questionnaire_versions",
        ),
        sa.CheckConstraint(
            "status IN ('active', 'complete', 'screened_out', 'abandoned', 'withdrawn')",
            name="ck_interviews_status",
        ),
        sa.CheckConstraint("revision >= 0", name="ck_interviews_revision"),
    )
    op.create_index("ix_interviews_case_id", "interviews", ["case_id"])
    op.create_index(
        "ix_interviews_version_status", "interviews", ["questionnaire_version_id", "status"]
    )

    op.create_table(
        "answer_events",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("interview_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("variable", sa.String(200), nullable=True),
        sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("mode", sa.String(50), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_answer_events"),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name="fk_answer_events_interview_id_interviews",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("interview_id", "seq", name="uq_answer_events_interview_id_seq"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("interview_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("first_seq", sa.Integer, nullable=True),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name="fk_idempotency_keys_interview_id_interviews",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("interview_id", "key", name="uq_idempotency_keys_interview_id_key"),
    )

    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_users"),
        sa.UniqueConstraint("username", name="uq_staff_users_username"),
        sa.CheckConstraint("role IN ('researcher', 'admin')", name="ck_staff_users_role"),
    )

    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("interview_id", sa.String(36), nullable=True),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("questionnaire_id", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("used_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_tokens"),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name="fk_access_tokens_interview_id_interviews",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("token_hash", name="uq_access_tokens_token_hash"),
    )
    op.create_index("ix_access_tokens_case_id", "access_tokens", ["case_id"])

    op.create_table(
        "contacts",
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("phone", sa.Text, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_contacts"),
    )


def downgrade() -> None:
    for table in (
        "contacts",
        "access_tokens",
        "staff_users",
        "idempotency_keys",
        "answer_events",
        "interviews",
        "questionnaire_versions",
    ):
        op.drop_table(table)
