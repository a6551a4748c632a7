"""The staff audit log, and both audit logs made append-only in the database.

Revision ID: 0013_staff_audit
Revises: 0012_panel_members
Create Date: 2026-12-04

``staff_audit`` records what staff did that touched personal data or data
(see ``instrument.store.schema``, "the staff audit log"). Triggers on it and
on ``fieldwork_audit`` refuse every UPDATE and DELETE (and, on PostgreSQL,
TRUNCATE), so the application's own database login cannot edit either log:
"staff can read it; nobody can edit it" holds below the code, not only in it.
The way down drops the triggers and the new table. Written out in full, not
imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_staff_audit"
down_revision = "0012_panel_members"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LOGS = ("staff_audit", "fieldwork_audit")
_PG_FUNCTION = "instrument_audit_append_only"


def upgrade() -> None:
    op.create_table(
        "staff_audit",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(150), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_audit"),
    )
    op.create_index("ix_staff_audit_at", "staff_audit", ["at"])
    op.create_index("ix_staff_audit_action", "staff_audit", ["action"])
    op.create_index("ix_staff_audit_subject", "staff_audit", ["subject"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the audit log % is appended to, never changed (% refused)', "
            "TG_TABLE_NAME, TG_OP; END $$"
        )
        for table in _LOGS:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
            )
    else:
        for table in _LOGS:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the audit log {table} is appended to, "
                    f"never changed ({event} refused)'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _LOGS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()")
    else:
        for table in _LOGS:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    op.drop_index("ix_staff_audit_subject", table_name="staff_audit")
    op.drop_index("ix_staff_audit_action", table_name="staff_audit")
    op.drop_index("ix_staff_audit_at", table_name="staff_audit")
    op.drop_table("staff_audit")
