"""A staff account's own time zone, for the interviewer console's clocks.

Revision ID: 0010_staff_time_zone
Revises: 0009_queue_order
Create Date: 2026-12-04

Appointments are kept in UTC and belong to the respondent's zone, but an
interviewer reads and types times on their own clock, which need not be the
study's: an interviewer in Berlin calling London is an hour ahead most of the
year. ``staff_users.time_zone`` holds that clock as an IANA name
(``Europe/Berlin``); null, as every existing account gets, means "the study's
default zone", which is what the console showed everyone before.

Both directions are a plain ``ADD COLUMN`` / ``DROP COLUMN`` (SQLite has
dropped columns natively since 3.35), not batch mode: copying ``staff_users``
on SQLite would delete every open staff session through their ``ON DELETE
CASCADE`` and sign everyone out. Written out in full, not imported from
``instrument.store.schema`` (see 0001_initial).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0010_staff_time_zone"
down_revision = "0009_queue_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        with op.batch_alter_table("staff_users") as batch:  # no DROP COLUMN before 3.35
            batch.drop_column("time_zone")
        return
    op.drop_column("staff_users", "time_zone")
