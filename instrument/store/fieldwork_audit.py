"""The fieldwork audit log: who changed a case's outcome, when, from what to what, and why.

Supervisors may correct an outcome or release a case; each such change, and
each coded attempt, leaves a row in ``fieldwork_audit``. The log holds
outcomes and interviewer names, never numbers or respondents' names, so it is
kept when a case is withdrawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from instrument.store.nul import refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import case_queue, fieldwork_audit

__all__ = ["AuditEntry", "FieldworkAudit", "write_audit"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    case_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


def write_audit(
    connection: sa.Connection,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    case_id: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str | None,
) -> int:
    """Add an audit row inside the caller's transaction (so it commits with the change)."""
    for field, text in (("actor", actor), ("action", action), ("reason", reason)):
        refuse_nul(field, text)
    refuse_nul_in_json("audit", [before, after])
    return int(
        connection.execute(
            fieldwork_audit.insert()
            .values(
                at=at,
                actor=actor,
                action=action,
                case_id=case_id,
                before=None if before is None else dict(before),
                after=None if after is None else dict(after),
                reason=reason,
            )
            .returning(fieldwork_audit.c.id)
        ).scalar_one()
    )


class FieldworkAudit(StoreBase):
    """:meth:`audit`, :meth:`audit_of` and :meth:`change_disposition`."""

    def audit(
        self,
        *,
        actor: str,
        action: str,
        case_id: str | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str | None = None,
        now: dt.datetime | None = None,
    ) -> int:
        """Record something a member of staff did to the fieldwork; the entry's id."""
        with self._transaction(write=True) as connection:
            return write_audit(
                connection,
                at=utc(now),
                actor=actor,
                action=action,
                case_id=case_id,
                before=before,
                after=after,
                reason=reason,
            )

    def audit_of(self, case_id: str) -> list[AuditEntry]:
        """A case's audit entries, oldest first."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(fieldwork_audit)
                .where(fieldwork_audit.c.case_id == case_id)
                .order_by(fieldwork_audit.c.id)
            ).all()
        return [AuditEntry(**row._asdict()) for row in rows]

    def change_disposition(
        self,
        case_id: str,
        *,
        disposition: str,
        reason: str,
        actor: str,
        final: bool | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """A supervisor sets a case's outcome (and, given, whether it is final), with a reason.

        The old and new values go to the audit log in the same transaction.
        ValueError without a reason; LookupError for a case not in the queue.
        """
        if not reason or not reason.strip():
            raise ValueError("changing an outcome needs a reason (it is kept in the audit log)")
        refuse_nul("disposition", disposition)
        now = utc(now)
        with self._transaction(write=True) as connection:
            row = connection.execute(
                sa.select(case_queue.c.disposition, case_queue.c.final)
                .where(case_queue.c.case_id == case_id)
                .with_for_update()
            ).one_or_none()
            if row is None:
                raise LookupError(f"case {case_id!r} is not in the call queue")
            new_final = row.final if final is None else final
            connection.execute(
                case_queue.update()
                .where(case_queue.c.case_id == case_id)
                .values(disposition=disposition, final=new_final, updated_at=now)
            )
            write_audit(
                connection,
                at=now,
                actor=actor,
                action="change_disposition",
                case_id=case_id,
                before={"disposition": row.disposition, "final": row.final},
                after={"disposition": disposition, "final": new_final},
                reason=reason,
            )
