"""Panel members: panels, members, their history, encrypted contact details, consents.

Revision ID: 0012_panel_members
Revises: 0011_recording_status
Create Date: 2026-12-04

Six new tables (see ``instrument.store.schema``, "panel members"): ``panels``;
``members`` (the panel's external id, a random pseudonym, status, language,
preferred mode, profile variables); ``member_history`` (what changed, contact
details only as fingerprints); the personal ``member_contacts`` (each value a
Fernet token, with a keyed HMAC to find it by); ``consents``; and
``panel_secrets`` (the HMAC key, itself encrypted). Nothing existing changes, so
the way down drops them. Written out in full, not imported from
``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_panel_members"
down_revision = "0011_recording_status"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STATUSES = "status IN ('active', 'paused', 'withdrawn', 'ineligible', 'deceased')"
_KINDS = "kind IN ('email', 'phone', 'address', 'name')"
_SCOPES = "scope IN ('membership', 'wave', 'recontact', 'data_linkage', 'recording')"


def upgrade() -> None:
    op.create_table(
        "panels",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_panels"),
        sa.UniqueConstraint("name", name="uq_panels_name"),
    )
    op.create_table(
        "members",
        sa.Column("id", _ID, nullable=False),
        sa.Column("panel_id", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("pseudonym", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("preferred_mode", sa.String(50), nullable=True),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.ForeignKeyConstraint(["panel_id"], ["panels.id"], name="fk_members_panel_id_panels"),
        sa.UniqueConstraint("panel_id", "external_id", name="uq_members_panel_id_external_id"),
        sa.UniqueConstraint("pseudonym", name="uq_members_pseudonym"),
        sa.CheckConstraint(_STATUSES, name="ck_members_status"),
    )
    op.create_table(
        "member_history",
        sa.Column("id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(150), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_member_history"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_member_history_member_id_members"
        ),
    )
    op.create_index("ix_member_history_member_id", "member_history", ["member_id"])
    op.create_table(
        "member_contacts",
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("lookup_hash", sa.String(64), nullable=False),
        sa.Column("bounced_at", _TS, nullable=True),
        sa.Column("opted_out_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("member_id", "kind", "rank", name="pk_member_contacts"),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_member_contacts_member_id_members",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(_KINDS, name="ck_member_contacts_kind"),
        sa.CheckConstraint("rank >= 1", name="ck_member_contacts_rank"),
    )
    op.create_index("ix_member_contacts_lookup_hash", "member_contacts", ["lookup_hash"])
    op.create_table(
        "consents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("wave", sa.String(100), nullable=True),
        sa.Column("sheet_version", sa.String(50), nullable=False),
        sa.Column("given", sa.Boolean, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("mode", sa.String(30), nullable=False),
        sa.Column("recorded_by", sa.String(150), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_consents_member_id_members"
        ),
        sa.CheckConstraint(_SCOPES, name="ck_consents_scope"),
        sa.CheckConstraint("(scope = 'wave') = (wave IS NOT NULL)", name="ck_consents_wave"),
    )
    op.create_index("ix_consents_member_id", "consents", ["member_id"])
    op.create_table(
        "panel_secrets",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_panel_secrets"),
    )


def downgrade() -> None:
    op.drop_table("panel_secrets")
    op.drop_index("ix_consents_member_id", table_name="consents")
    op.drop_table("consents")
    op.drop_index("ix_member_contacts_lookup_hash", table_name="member_contacts")
    op.drop_table("member_contacts")
    op.drop_index("ix_member_history_member_id", table_name="member_history")
    op.drop_table("member_history")
    op.drop_table("members")
    op.drop_table("panels")
