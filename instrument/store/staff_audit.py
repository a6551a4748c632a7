"""The staff audit log: what staff did that touched personal data or data.

Every staff action that shows someone's contact details, writes data out of
the store (an export, a call-records download), withdraws a member or a case,
imports members or purges their details leaves one row in ``staff_audit``:
when, who, what, and what it touched by a pseudonymous id (a member's
pseudonym, a questionnaire id, a case id), with counts and options as
detail. Names, addresses, numbers and answers never go into it, so a
withdrawal never needs to edit it, and nothing does: the migration that made
the table (0013_staff_audit) refuses every UPDATE and DELETE of it, and of the
fieldwork audit log, in the database itself.

The entry is written in the transaction of the action it records where the
action is in the store (so neither is kept without the other), else straight
after it (an export writes files, then its entry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.nul import refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import staff_audit

__all__ = [
    "STAFF_AUDIT_PAGE_MAX",
    "StaffAudit",
    "StaffAuditEntry",
    "StaffAuditPage",
    "log_staff_action",
]

STAFF_AUDIT_PAGE_MAX: Final = 500
"""The most entries one page of the log may ask for."""

_INSERT: Final = (
    staff_audit.insert()
    .values(
        at=sa.bindparam("b_at", type_=staff_audit.c.at.type),
        actor=sa.bindparam("b_actor"),
        action=sa.bindparam("b_action"),
        subject=sa.bindparam("b_subject"),
        detail=sa.bindparam("b_detail", type_=staff_audit.c.detail.type),
    )
    .returning(staff_audit.c.id)
)


@dataclass(frozen=True, slots=True)
class StaffAuditEntry:
    """One staff action, as the log keeps it."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    subject: str | None
    detail: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class StaffAuditPage:
    """Newest first; ``older`` is the ``before`` of the next page (None: this is the last)."""

    entries: tuple[StaffAuditEntry, ...]
    older: int | None


def log_staff_action(
    connection: sa.Connection,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: dt.datetime,
) -> int:
    """Append one entry inside the caller's transaction; its id.

    For store code whose action and entry must stand or fall together.
    """
    if not actor or not action:
        raise ValueError("an audit entry needs an actor and an action")
    for field, text in (("actor", actor), ("action", action), ("subject", subject)):
        refuse_nul(field, text)
    if detail is not None:
        refuse_nul_in_json("detail", dict(detail))
    params = {
        "b_at": utc(at),
        "b_actor": actor[:150],
        "b_action": action[:50],
        "b_subject": None if subject is None else subject[:200],
        "b_detail": None if detail is None else dict(detail),
    }
    return int(connection.execute(_INSERT, params).scalar_one())


class StaffAudit(StoreBase):
    """:meth:`log_staff_action` and the reads of the log (newest first, paged)."""

    def log_staff_action(
        self,
        actor: str,
        action: str,
        *,
        subject: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Append one entry in a transaction of its own; its id."""
        with self._transaction(write=True) as connection:
            return log_staff_action(
                connection, actor=actor, action=action, subject=subject, detail=detail,
                at=utc(at),
            )  # fmt: skip

    def staff_audit_page(
        self,
        *,
        limit: int = 100,
        before: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
    ) -> StaffAuditPage:
        """One page of the log, newest first, optionally of one action, actor or subject."""
        if not 1 <= limit <= STAFF_AUDIT_PAGE_MAX:
            raise ValueError(f"limit must be between 1 and {STAFF_AUDIT_PAGE_MAX}")
        query = self._filtered(action=action, actor=actor, subject=subject)
        query = query.order_by(staff_audit.c.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(staff_audit.c.id < before)
        with self._transaction() as connection:
            rows = connection.execute(query).all()
        entries = tuple(StaffAuditEntry(**row._asdict()) for row in rows[:limit])
        older = entries[-1].id if len(rows) > limit else None
        return StaffAuditPage(entries, older)

    def staff_audit_entries(
        self,
        *,
        since: dt.datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        chunk: int = 1000,
    ) -> Iterator[StaffAuditEntry]:
        """Every entry (oldest first, read in chunks by id), for a download of the whole log."""
        query = self._filtered(action=action, actor=actor, subject=subject)
        if since is not None:
            query = query.where(staff_audit.c.at >= utc(since))
        after = 0
        while True:
            page = query.where(staff_audit.c.id > after).order_by(staff_audit.c.id).limit(chunk)
            with self._transaction() as connection:
                rows = connection.execute(page).all()
            for row in rows:
                yield StaffAuditEntry(**row._asdict())
            if len(rows) < chunk:
                return
            after = rows[-1].id

    @staticmethod
    def _filtered(*, action: str | None, actor: str | None, subject: str | None) -> sa.Select[Any]:
        query = sa.select(staff_audit)
        for column, value in (
            (staff_audit.c.action, action),
            (staff_audit.c.actor, actor),
            (staff_audit.c.subject, subject),
        ):
            if value:
                query = query.where(column == value)
        return query
