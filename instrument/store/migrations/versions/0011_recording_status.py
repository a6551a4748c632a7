"""How far a consented recording got, and the call each provider callback is about.

Revision ID: 0011_recording_status
Revises: 0010_staff_time_zone
Create Date: 2026-12-04

``calls`` gains what happened to the recording a "yes" asked for (0008 kept
only its sid): ``recording_status`` ("starting" while our request is out,
"failed" when the provider would not start it, then the provider's own
in-progress, completed, absent or failed), ``recording_error`` (why it
failed), ``recording_changed_at`` (when the status last moved; a "starting"
left by a server that died mid-request is taken over after a while),
``recording_duration_s`` and ``recording_url`` (the provider's reference to
the recording: nothing is downloaded). Existing calls keep null in all five:
a yes with a sid started its recording, which nobody reported on.

``call_events`` gains ``call_id``, indexed: our call a callback is about, from
the URL it was posted to. A respondent's leg has a sid nothing knew in
advance, so its callbacks were found by the call id in their JSON payload,
among those stored after the call's own first callback, which missed a leg
whose callbacks Twilio delivered first. Existing rows get it from their
payload (every callback has carried ``call_id`` there since 0007).

Plain ``ADD COLUMN`` / ``DROP COLUMN`` both ways (SQLite has dropped columns
natively since 3.35; batch mode before it). Written out in full, not imported
from ``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0011_recording_status"
down_revision = "0010_staff_time_zone"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_RECORDING = {
    "recording_status": sa.String(20),
    "recording_error": sa.String(300),
    "recording_changed_at": sa.DateTime(timezone=True),
    "recording_duration_s": sa.Integer(),
    "recording_url": sa.String(300),
}
_INDEX = "ix_call_events_call_id"


def upgrade() -> None:
    for name, type_ in _RECORDING.items():
        op.add_column("calls", sa.Column(name, type_, nullable=True))
    op.add_column("call_events", sa.Column("call_id", _ID, nullable=True))
    events = sa.table("call_events", sa.column("call_id", _ID), sa.column("payload", sa.JSON))
    found = events.c.payload["call_id"].as_string()
    op.execute(events.update().where(found.is_not(None)).values(call_id=sa.cast(found, _ID)))
    op.create_index(_INDEX, "call_events", ["call_id"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="call_events")
    names = list(_RECORDING)
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        with op.batch_alter_table("call_events") as batch:  # no DROP COLUMN before 3.35
            batch.drop_column("call_id")
        with op.batch_alter_table("calls") as batch:
            for name in reversed(names):
                batch.drop_column(name)
        return
    op.drop_column("call_events", "call_id")
    for name in reversed(names):
        op.drop_column("calls", name)
