"""Who may take a queued case: an interviewer or the automated dialler.

Revision ID: 0018_case_queue_taken_by
Revises: 0017_wave_case_facts
Create Date: 2026-12-05

``case_queue`` gains ``taken_by``, ``'interviewer'`` (the default, and every
case queued so far) or ``'automated'``. A panel wave's ``automated_call`` step
moves its members' cases to the automated dialler, and ``instrument cases
import --automated`` loads a sample for it: the interviewer's "next case" takes
only interviewer cases, the dialler (``instrument calls place``, the fieldwork
worker) only automated ones, so neither is handed the other's.

Three more columns carry what a wave's ``automated_call`` step allows the
dialler for the case, NULL when nothing but the calling rules limits it (an
imported sample): ``automated_calls_left`` (calls it may still place: the
step's ``max_attempts``, one taken at each claim), ``automated_spacing_s`` (the
step's ``retry_after``, in seconds) and ``automated_not_before`` (no automated
call before then: the last claim's time plus the spacing).

``ix_case_queue_order`` (free cases in queue order, which "next case" walks and
stops at the first callable row) gets ``taken_by`` as its first column: the
claim names one value of it, so it is still one walk down the index with no
sort, within that value's cases. The expressions are spelled exactly as
``instrument.store.schema`` spells them (see 0009_queue_order).

On SQLite the column, with its CHECK, is added by a plain ``ALTER TABLE ... ADD
COLUMN`` (a batch rebuild of the table would drop migration 0017's triggers on
it); a column's own CHECK does not stop ``DROP COLUMN`` on the way down.
Written out in full, not imported from ``instrument.store.schema`` (see
0001_initial).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0018_case_queue_taken_by"
down_revision = "0017_wave_case_facts"
branch_labels = None
depends_on = None

_CHECK = "taken_by IN ('interviewer', 'automated')"
_CHECK_NAME = "ck_case_queue_taken_by"
_KIND_ORDER = "(CASE WHEN window_kind = 'hard' THEN 0 WHEN window_kind = 'soft' THEN 1 ELSE 2 END)"
_AUTOMATED = {
    "automated_calls_left": sa.Integer(),
    "automated_spacing_s": sa.Integer(),
    "automated_not_before": sa.DateTime(timezone=True),
}
_ORDER = [sa.text(_KIND_ORDER), sa.text("priority DESC"), "window_start", "case_id"]


def _free() -> sa.TextClause:
    false = "false" if op.get_bind().dialect.name == "postgresql" else "0"
    return sa.text(f"final IS {false} AND held_by IS NULL")


def _order_index(*columns: object) -> None:
    op.create_index(
        "ix_case_queue_order",
        "case_queue",
        [*columns, *_ORDER],  # type: ignore[list-item]
        postgresql_where=_free(),
        sqlite_where=_free(),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE case_queue ADD COLUMN taken_by VARCHAR(20) DEFAULT 'interviewer' "
            f"NOT NULL CONSTRAINT {_CHECK_NAME} CHECK ({_CHECK})"
        )
    else:
        op.add_column(
            "case_queue",
            sa.Column("taken_by", sa.String(20), nullable=False, server_default="interviewer"),
        )
        op.create_check_constraint(_CHECK_NAME, "case_queue", sa.text(_CHECK))
    for name, type_ in _AUTOMATED.items():
        op.add_column("case_queue", sa.Column(name, type_, nullable=True))
    op.drop_index("ix_case_queue_order", table_name="case_queue")
    _order_index("taken_by")


def downgrade() -> None:
    op.drop_index("ix_case_queue_order", table_name="case_queue")
    _order_index()
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError("SQLite 3.35 or later is needed to drop case_queue.taken_by")
    for name in reversed(_AUTOMATED):
        op.drop_column("case_queue", name)
    if sqlite:
        op.drop_column("case_queue", "taken_by")
        return
    op.drop_constraint(_CHECK_NAME, "case_queue", type_="check")
    op.drop_column("case_queue", "taken_by")
