"""Telephone fieldwork: numbers, the call queue, attempts, calls, appointments, do-not-call.

Revision ID: 0007_fieldwork
Revises: 0006_personal_answers
Create Date: 2026-12-03

Eight new tables (see ``instrument.store.schema``, "fieldwork"): the personal
``phone_numbers`` and ``do_not_call``, and ``case_queue``, ``attempts``,
``calls``, ``call_events``, ``appointments`` and ``fieldwork_audit``, which
name a number only by its rank. Staff gain the roles ``interviewer`` and
``supervisor``: the CHECK constraint on ``staff_users.role`` is replaced
(SQLite cannot alter a constraint, so batch mode copies the table). Written
out in full, not imported from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_fieldwork"
down_revision = "0006_personal_answers"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD_ROLES = "role IN ('researcher', 'admin')"
_NEW_ROLES = "role IN ('researcher', 'admin', 'interviewer', 'supervisor')"


# 0001 named the constraint "ck_staff_users_role", which the naming convention
# prefixed once more; the new one gets the name schema.py gives it.
_OLD_NAME = "ck_staff_users_ck_staff_users_role"
_NEW_NAME = "ck_staff_users_role"


def _roles(drop: str, add: str, check: str) -> None:
    """Replace the CHECK on ``staff_users.role`` (SQLite: batch mode copies the table)."""
    with op.batch_alter_table("staff_users") as batch:
        # op.f: the names are final (the naming convention would prefix them again).
        batch.drop_constraint(op.f(drop), type_="check")
        batch.create_check_constraint(op.f(add), sa.text(check))


def upgrade() -> None:
    _roles(_OLD_NAME, _NEW_NAME, _NEW_ROLES)
    op.create_table(
        "phone_numbers",
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("working", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "rank", name="pk_phone_numbers"),
    )
    op.create_index("ix_phone_numbers_e164", "phone_numbers", ["e164"])
    op.create_table(
        "case_queue",
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("disposition", sa.String(50), nullable=True),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("window_start", _TS, nullable=True),
        sa.Column("window_end", _TS, nullable=True),
        sa.Column("window_kind", sa.String(10), nullable=True),
        sa.Column("window_interviewer", sa.String(150), nullable=True),
        sa.Column("held_by", sa.String(150), nullable=True),
        sa.Column("held_since", _TS, nullable=True),
        sa.Column("held_attempt_id", _ID, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_queue"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_queue_case_id_cases", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "window_kind IS NULL OR window_kind IN ('hard', 'soft', 'normal')",
            name="ck_case_queue_window_kind",
        ),
    )
    op.create_index("ix_case_queue_ready", "case_queue", ["final", "held_by", "window_start"])
    op.create_table(
        "attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("interviewer", sa.String(150), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("disposition", sa.String(50), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_attempts_case_id_cases"),
    )
    op.create_index("ix_attempts_case_id", "attempts", ["case_id"])
    op.create_table(
        "calls",
        sa.Column("id", _ID, nullable=False),
        sa.Column("attempt_id", _ID, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("number_rank", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("provider_sid", sa.String(64), nullable=True),
        sa.Column("placed_at", _TS, nullable=False),
        sa.Column("answered_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("duration_s", sa.Integer, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("answered_by", sa.String(30), nullable=True),
        sa.Column("recording", sa.Boolean, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("provider_sid", name="uq_calls_provider_sid"),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name="fk_calls_attempt_id_attempts"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_calls_case_id_cases"),
    )
    op.create_index("ix_calls_attempt_id", "calls", ["attempt_id"])
    op.create_index("ix_calls_case_id", "calls", ["case_id"])
    op.create_table(
        "call_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider_sid", sa.String(64), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
        sa.UniqueConstraint("event_key", name="uq_call_events_event_key"),
    )
    op.create_index("ix_call_events_provider_sid", "call_events", ["provider_sid"])
    op.create_table(
        "appointments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("at", _TS, nullable=True),
        sa.Column("day", sa.Date, nullable=True),
        sa.Column("part", sa.String(30), nullable=True),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("interviewer", sa.String(150), nullable=True),
        sa.Column("made_by", sa.String(150), nullable=False),
        sa.Column("made_at", _TS, nullable=False),
        sa.Column("cancelled_at", _TS, nullable=True),
        sa.Column("attempt_id", _ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_appointments_case_id_cases"),
        sa.CheckConstraint("kind IN ('hard', 'soft')", name="ck_appointments_kind"),
    )
    op.create_index("ix_appointments_case_id", "appointments", ["case_id"])
    op.create_table(
        "do_not_call",
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("added_at", _TS, nullable=False),
        sa.Column("added_by", sa.String(150), nullable=False),
        sa.PrimaryKeyConstraint("e164", name="pk_do_not_call"),
    )
    op.create_table(
        "fieldwork_audit",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(150), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_fieldwork_audit"),
    )
    op.create_index("ix_fieldwork_audit_case_id", "fieldwork_audit", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_fieldwork_audit_case_id", table_name="fieldwork_audit")
    op.drop_table("fieldwork_audit")
    op.drop_table("do_not_call")
    op.drop_index("ix_appointments_case_id", table_name="appointments")
    op.drop_table("appointments")
    op.drop_index("ix_call_events_provider_sid", table_name="call_events")
    op.drop_table("call_events")
    op.drop_index("ix_calls_case_id", table_name="calls")
    op.drop_index("ix_calls_attempt_id", table_name="calls")
    op.drop_table("calls")
    op.drop_index("ix_attempts_case_id", table_name="attempts")
    op.drop_table("attempts")
    op.drop_index("ix_case_queue_ready", table_name="case_queue")
    op.drop_table("case_queue")
    op.drop_index("ix_phone_numbers_e164", table_name="phone_numbers")
    op.drop_table("phone_numbers")
    _roles(_NEW_NAME, _OLD_NAME, _OLD_ROLES)
