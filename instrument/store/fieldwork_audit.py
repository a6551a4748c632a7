"""The fieldwork audit log, and the supervisor's changes that write to it.

Supervisors may correct an outcome, release a case or keep it for an
interviewer; each such change, and each coded attempt, leaves a row in
``fieldwork_audit``. The log holds outcomes and interviewer names, never
numbers or respondents' names, so it is kept when a case is withdrawn.

A supervisor's change acts on the case as a page showed it. Each change is
given the case's *version* (:meth:`FieldworkAudit.supervised_case`) and is
applied, with its audit entries, in one transaction that first locks the
case's queue row and reads the version again: a different version raises
:class:`CaseChanged` and nothing is written. So a form sent twice, from two
tabs or to two server processes, acts once, whichever process gets it: the
first change moves the version (it writes an audit entry) before the second
can read it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.fieldwork_queue import free_held_case, window_values
from instrument.store.fieldwork_records import WindowLike
from instrument.store.nul import refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import StoreError
from instrument.store.schema import case_queue, fieldwork_audit

__all__ = [
    "AuditEntry",
    "AuditPage",
    "CaseChanged",
    "FieldworkAudit",
    "SupervisedCase",
    "write_audit",
]

AUDIT_PAGE_MAX: Final = 500
"""The most audit entries one page may ask for."""


class CaseChanged(StoreError):
    """A supervisor's change was refused: the case is no longer at the version it was made for.

    It was coded, claimed, released or changed by someone else (or by the same
    form sent before) since its version was read; nothing was written.
    """


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


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Audit entries newest first; ``older``: pass as ``before`` for the next page (None: no more)."""

    entries: tuple[AuditEntry, ...]
    older: int | None


@dataclass(frozen=True, slots=True)
class SupervisedCase:
    """A case's queue row as a supervisor's change acts on it, with its ``version``.

    The version is a short digest of what such a change depends on (outcome,
    final, who holds it and by which attempt, whom its window is kept for) and
    of the newest audit entry, so any coding, release or correction changes
    it, and so does any claim (a new attempt id).
    """

    case_id: str
    disposition: str | None
    final: bool
    held_by: str | None
    held_attempt_id: int | None
    window_interviewer: str | None
    version: str


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
    values = {
        "b_at": at, "b_actor": actor, "b_action": action, "b_case_id": case_id,
        "b_before": None if before is None else dict(before),
        "b_after": None if after is None else dict(after), "b_reason": reason,
    }  # fmt: skip
    return int(connection.execute(_ADD_AUDIT, values).scalar_one())


_ADD_AUDIT: Final = (
    fieldwork_audit.insert()
    .values(
        at=sa.bindparam("b_at", type_=fieldwork_audit.c.at.type),
        actor=sa.bindparam("b_actor"),
        action=sa.bindparam("b_action"),
        case_id=sa.bindparam("b_case_id"),
        before=sa.bindparam("b_before", type_=fieldwork_audit.c.before.type),
        after=sa.bindparam("b_after", type_=fieldwork_audit.c.after.type),
        reason=sa.bindparam("b_reason"),
    )
    .returning(fieldwork_audit.c.id)
)
"""One audit row, built once (every coding writes one)."""


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

    def audit_page(
        self, case_id: str | None = None, *, before: int | None = None, limit: int = 50
    ) -> AuditPage:
        """Up to ``limit`` audit entries (one case's, or all), newest first, older than ``before``.

        Paged by entry id (keyset), so a page stays right while entries are
        added: the next page starts where this one ended, not at an offset.
        """
        if not 1 <= limit <= AUDIT_PAGE_MAX:
            raise ValueError(f"an audit page holds 1 to {AUDIT_PAGE_MAX} entries, not {limit}")
        query = sa.select(fieldwork_audit).order_by(fieldwork_audit.c.id.desc()).limit(limit + 1)
        if case_id is not None:
            query = query.where(fieldwork_audit.c.case_id == case_id)
        if before is not None:
            query = query.where(fieldwork_audit.c.id < before)
        with self._transaction() as connection:
            rows = connection.execute(query).all()
        entries = tuple(AuditEntry(**row._asdict()) for row in rows[:limit])
        return AuditPage(entries, entries[-1].id if len(rows) > limit else None)

    def supervised_case(self, case_id: str) -> SupervisedCase | None:
        """The case as a supervisor's change acts on it, with its version; None if not queued."""
        with self._transaction() as connection:
            return _supervised(connection, case_id, lock=False)

    def change_disposition(
        self,
        case_id: str,
        *,
        disposition: str,
        reason: str,
        actor: str,
        final: bool | None = None,
        now: dt.datetime | None = None,
        expected: str | None = None,
    ) -> None:
        """A supervisor sets a case's outcome (and, given, whether it is final), with a reason.

        The old and new values go to the audit log in the same transaction.
        ValueError without a reason; LookupError for a case not in the queue;
        :class:`CaseChanged` when ``expected`` is given and the case's version
        is no longer that.
        """
        _need_reason(reason)
        refuse_nul("disposition", disposition)
        now = utc(now)
        with self._transaction(write=True) as connection:
            row = _locked(connection, case_id, expected)
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

    def release_case(
        self,
        case_id: str,
        *,
        expected: str,
        disposition: str,
        window: WindowLike | None,
        actor: str,
        reason: str,
        now: dt.datetime | None = None,
    ) -> bool:
        """A supervisor frees a held case: its open attempt is coded ``disposition``, its next
        window set to ``window`` (None: final), audited, in one transaction.

        False (nothing written) when nobody holds it; :class:`CaseChanged` when
        its version is no longer ``expected``.
        """
        _need_reason(reason)
        refuse_nul("disposition", disposition)
        now = utc(now)
        with self._transaction(write=True) as connection:
            row = _locked(connection, case_id, expected)
            if row.held_by is None:
                return False
            _release_audited(connection, row, disposition, window, actor, reason, now)
        return True

    def reserve_case(
        self,
        case_id: str,
        *,
        expected: str,
        window: WindowLike,
        release_as: str,
        actor: str,
        reason: str,
        now: dt.datetime | None = None,
    ) -> None:
        """A supervisor keeps the case's next ``window`` for ``window.interviewer``, in one
        transaction: whoever holds it is released first (the open attempt coded
        ``release_as``, audited as a release), then the window is set and audited.

        :class:`CaseChanged` when its version is no longer ``expected``.
        """
        _need_reason(reason)
        interviewer = getattr(window, "interviewer", None)
        if not interviewer:
            raise ValueError("a kept window names the interviewer it is kept for")
        now = utc(now)
        with self._transaction(write=True) as connection:
            row = _locked(connection, case_id, expected)
            if row.held_by is not None:
                _release_audited(
                    connection, row, release_as, window, actor, f"reassigned: {reason}", now
                )
            else:
                connection.execute(
                    case_queue.update()
                    .where(case_queue.c.case_id == case_id)
                    .values(**window_values(window), updated_at=now)
                )
            write_audit(
                connection,
                at=now,
                actor=actor,
                action="reassign",
                case_id=case_id,
                before={"window_interviewer": row.window_interviewer},
                after={"window_interviewer": interviewer, "window_start": window.start.isoformat()},
                reason=reason,
            )


def _need_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValueError("a supervisor's change needs a reason (it is kept in the audit log)")


_SUPERVISED_COLUMNS: Final = (
    case_queue.c.case_id,
    case_queue.c.disposition,
    case_queue.c.final,
    case_queue.c.held_by,
    case_queue.c.held_attempt_id,
    case_queue.c.window_interviewer,
)


def _supervised(connection: sa.Connection, case_id: str, *, lock: bool) -> SupervisedCase | None:
    """Read the case's row (locked for the rest of the transaction with ``lock``) and version.

    The newest audit id is read after the lock is held: on PostgreSQL each
    statement sees what was committed before it began, so a change that
    committed while this one waited for the lock is seen.
    """
    query = sa.select(*_SUPERVISED_COLUMNS).where(case_queue.c.case_id == case_id)
    row = connection.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        return None
    newest = connection.execute(
        sa.select(sa.func.max(fieldwork_audit.c.id)).where(fieldwork_audit.c.case_id == case_id)
    ).scalar_one()
    seen = [row.disposition, row.final, row.held_by, row.held_attempt_id, row.window_interviewer]
    digest = hashlib.sha256(json.dumps([*seen, newest]).encode()).hexdigest()[:16]
    return SupervisedCase(
        case_id=row.case_id,
        disposition=row.disposition,
        final=row.final,
        held_by=row.held_by,
        held_attempt_id=row.held_attempt_id,
        window_interviewer=row.window_interviewer,
        version=digest,
    )


def _locked(connection: sa.Connection, case_id: str, expected: str | None) -> SupervisedCase:
    """The case's row, locked; LookupError if not queued, CaseChanged if not at ``expected``."""
    found = _supervised(connection, case_id, lock=True)
    if found is None:
        raise LookupError(f"case {case_id!r} is not in the call queue")
    if expected is not None and found.version != expected:
        raise CaseChanged(f"case {case_id!r} changed since it was read; nothing was changed")
    return found


def _release_audited(
    connection: sa.Connection,
    row: SupervisedCase,
    disposition: str,
    window: WindowLike | None,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> None:
    """Free the locked, held case (:func:`_free_hold`) and write the release to the audit log."""
    _free_hold(connection, row, disposition, window, now)
    write_audit(
        connection,
        at=now,
        actor=actor,
        action="release",
        case_id=row.case_id,
        before={"held_by": row.held_by, "attempt_id": row.held_attempt_id},
        after={"held_by": None, "disposition": disposition},
        reason=reason,
    )


def _free_hold(
    connection: sa.Connection,
    row: SupervisedCase,
    disposition: str,
    window: WindowLike | None,
    now: dt.datetime,
) -> None:
    """Free the locked, held case and code its open attempt, as the timeout's release does."""
    freed = free_held_case(
        connection, row.case_id, row.held_attempt_id, disposition=disposition, window=window,
        final=window is None, now=now,
    )  # fmt: skip
    if not freed:  # cannot happen: the row is locked and was read held
        raise RuntimeError(f"case {row.case_id!r} was not held as read under its lock")
