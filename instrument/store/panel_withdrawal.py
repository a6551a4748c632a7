"""A panel member's withdrawal: stop contact, delete contact details, delete answers too.

A member (through the link in a message) or a staff member chooses one of
:data:`WITHDRAWAL_CHOICES`, each including the ones before it:

- ``stop_contact``: the member's status becomes ``withdrawn`` (``deceased`` stays; a members file
  can no longer change it, nor give them contact details); each of their wave
  cases is stopped (``wave_members.stopped_at``, nothing due again) and leaves
  the phone queue, its open appointments cancelled. Answers stay.
- ``delete_contacts``: also every ``member_contacts`` row, and each case's
  phone numbers, appointments and contact row (what
  :func:`~instrument.store.fieldwork_numbers.forget_fieldwork` deletes); the
  interviewers' notes on calls are emptied. Answers stay.
- ``delete_all``: also each case withdrawn as :meth:`Store.withdraw` does it
  (answers, preload values, personal answers deleted; links revoked; the
  export leaves the case out).

Each is one transaction with its evidence: a ``member_history`` entry
(``withdrawal``: the choice, who, through what, counts) and, when staff did
it, a ``staff_audit`` entry (``withdraw_member``). Asking again for what is
already in force (or for less) changes nothing and writes nothing: the result
says so and when it was done.

Retention: :meth:`PanelWithdrawals.purge_withdrawn_contacts` deletes the
contact details of members withdrawn longer ago than a given time (the
evidence stays). An SMS STOP is per number, not a withdrawal:
:meth:`~instrument.store.panel_members.PanelMembers.mark_contact` marks the number ``opted_out``, and
:meth:`PanelWithdrawals.allow_sms_again` clears that on START.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.fieldwork_numbers import forget_fieldwork
from instrument.store.nul import refuse_nul
from instrument.store.panel_members import MemberRecord, fingerprint
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    appointments,
    case_queue,
    contacts,
    interviews,
    member_contacts,
    member_history,
    members,
    panels,
    wave_members,
)
from instrument.store.staff_audit import log_staff_action
from instrument.store.withdrawal import withdraw_in

__all__ = [
    "AUDIT_PURGE",
    "AUDIT_WITHDRAW",
    "HISTORY_PURGE",
    "HISTORY_SMS_START",
    "HISTORY_WITHDRAWAL",
    "WITHDRAWAL_CHOICES",
    "ContactsPurge",
    "MemberWithdrawal",
    "PanelWithdrawals",
]

WITHDRAWAL_CHOICES: Final = ("stop_contact", "delete_contacts", "delete_all")
"""The member's three choices, each including the ones before it."""

HISTORY_WITHDRAWAL: Final = "withdrawal"
HISTORY_PURGE: Final = "contacts_purged"
HISTORY_SMS_START: Final = "sms_start"
AUDIT_WITHDRAW: Final = "withdraw_member"
AUDIT_PURGE: Final = "purge_contacts"


@dataclass(frozen=True, slots=True)
class MemberWithdrawal:
    """What a withdrawal did, or (``done`` False) that it was in force already.

    ``choice`` is the choice in force afterwards, ``at`` when it was made (now,
    when ``done``).
    """

    member_id: int
    pseudonym: str
    choice: str
    done: bool
    at: dt.datetime
    contacts_deleted: int = 0
    cases_stopped: tuple[str, ...] = ()
    queue_rows_removed: int = 0
    cases_withdrawn: tuple[str, ...] = ()
    answer_events_deleted: int = 0


@dataclass(frozen=True, slots=True)
class ContactsPurge:
    members: int
    contacts_deleted: int


def _rank(choice: str | None) -> int:
    return -1 if choice is None else WITHDRAWAL_CHOICES.index(choice)


def _in_force(connection: sa.Connection, member: sa.Row[Any]) -> tuple[str, dt.datetime] | None:
    """The choice in force for a member and when it was made; None if they have not withdrawn.

    A member made ``withdrawn`` otherwise (a members file) counts as having
    stopped contact, since then.
    """
    rows = connection.execute(
        sa.select(member_history.c.at, member_history.c.after)
        .where(
            member_history.c.member_id == member.id,
            member_history.c.action == HISTORY_WITHDRAWAL,
        )
        .order_by(member_history.c.at, member_history.c.id)
    ).all()
    best: tuple[str, dt.datetime] | None = None
    for row in rows:
        choice = (row.after or {}).get("choice")
        if choice in WITHDRAWAL_CHOICES and _rank(choice) > _rank(best and best[0]):
            best = (choice, row.at)
    if best is None and member.status == "withdrawn":
        return ("stop_contact", member.updated_at)
    return best


class PanelWithdrawals(StoreBase):
    """:meth:`withdraw_member`, :meth:`purge_withdrawn_contacts`, :meth:`allow_sms_again`."""

    def member_by_id(self, member_id: int) -> MemberRecord | None:
        """A member by row id (what a member's link names), or None."""
        row = self._read_one(
            sa.select(members).where(members.c.id == sa.bindparam("i")), {"i": member_id}
        )
        return (
            None
            if row is None
            else MemberRecord(**{n: getattr(row, n) for n in MemberRecord.__slots__})
        )

    def withdrawal_in_force(self, member_id: int) -> tuple[str, dt.datetime] | None:
        """The member's choice in force and when it was made, or None."""
        with self._transaction() as connection:
            member = connection.execute(
                sa.select(members).where(members.c.id == member_id)
            ).one_or_none()
            return None if member is None else _in_force(connection, member)

    def member_cases(self, member_id: int) -> tuple[str, ...]:
        """The member's case ids, one per wave they were in, oldest wave first."""
        with self._transaction() as connection:
            return tuple(
                connection.scalars(
                    sa.select(wave_members.c.case_id)
                    .where(wave_members.c.member_id == member_id)
                    .order_by(wave_members.c.wave_id)
                )
            )

    def withdraw_member(
        self,
        member_id: int,
        choice: str,
        *,
        actor: str,
        by_staff: bool,
        via: str,
        now: dt.datetime,
        wave_id: int | None = None,
        reason: str | None = None,
    ) -> MemberWithdrawal:
        """Carry out ``choice`` for the member at once, with its evidence, in one transaction.

        :param actor: who: a staff username or ``cli:NAME`` (``by_staff``), or
            how the member did it themselves (``member:link``).
        :param via: through what (``link``, ``one_click``, ``cli``), for the history.
        :param wave_id: the wave whose message carried the member's link.
        :param reason: staff's reason, kept in the history and the audit log
            (never a contact detail).
        :raises LookupError: no such member.
        """
        if choice not in WITHDRAWAL_CHOICES:
            raise ValueError(
                f"a withdrawal is one of {', '.join(WITHDRAWAL_CHOICES)}, not {choice!r}"
            )
        for field, text in (("actor", actor), ("via", via), ("reason", reason)):
            refuse_nul(field, text)
        now = utc(now)
        with self._transaction(write=True) as connection:
            member = connection.execute(
                sa.select(members).where(members.c.id == member_id).with_for_update()
            ).one_or_none()
            if member is None:
                raise LookupError(f"no member {member_id}")
            before = _in_force(connection, member)
            if before is not None and _rank(before[0]) >= _rank(choice):
                return MemberWithdrawal(member.id, member.pseudonym, before[0], False, before[1])
            result = _carry_out(connection, member, choice, now)
            evidence: dict[str, Any] = {
                "choice": choice,
                "by": "staff" if by_staff else "member",
                "via": via,
                "wave": wave_id,
                "reason": reason,
                "previous": before[0] if before is not None else None,
                "contacts_deleted": result.contacts_deleted,
                "cases_stopped": list(result.cases_stopped),
                "queue_rows_removed": result.queue_rows_removed,
                "cases_withdrawn": list(result.cases_withdrawn),
                "answer_events_deleted": result.answer_events_deleted,
            }
            _history(
                connection, member.id, now, actor, HISTORY_WITHDRAWAL,
                before={"status": member.status}, after=evidence,
            )  # fmt: skip
            if by_staff:
                log_staff_action(
                    connection,
                    actor=actor,
                    action=AUDIT_WITHDRAW,
                    subject=f"member:{member.pseudonym}",
                    detail={k: v for k, v in evidence.items() if k != "by"},
                    at=now,
                )
        return result

    def purge_withdrawn_contacts(
        self, panel: str, *, older_than: dt.timedelta, now: dt.datetime, actor: str
    ) -> ContactsPurge:
        """Delete the contact details of the panel's members withdrawn before ``now - older_than``.

        When a member withdrew is their first ``withdrawal`` history entry (for
        one made ``withdrawn`` by a members file: when their record last
        changed). Each member purged gets a history entry; the purge as a whole
        one ``purge_contacts`` audit entry (written even when nothing was due,
        so a retention run leaves its trace). One transaction.
        """
        refuse_nul("actor", actor)
        now = utc(now)
        cutoff = now - older_than
        first_withdrawal = (
            sa.select(sa.func.min(member_history.c.at))
            .where(
                member_history.c.member_id == members.c.id,
                member_history.c.action == HISTORY_WITHDRAWAL,
            )
            .scalar_subquery()
        )
        has_contacts = sa.exists().where(member_contacts.c.member_id == members.c.id)
        due = (
            sa.select(members.c.id, members.c.pseudonym)
            .join(panels, panels.c.id == members.c.panel_id)
            .where(
                panels.c.name == panel,
                sa.or_(members.c.status == "withdrawn", first_withdrawal.is_not(None)),
                has_contacts,
                sa.func.coalesce(first_withdrawal, members.c.updated_at) <= cutoff,
            )
            .order_by(members.c.id)
            .with_for_update(of=members)
        )
        purged = deleted = 0
        with self._transaction(write=True) as connection:
            for member in connection.execute(due).all():
                count = connection.execute(
                    member_contacts.delete().where(member_contacts.c.member_id == member.id)
                ).rowcount
                for case_id in _cases_of(connection, member.id):
                    _forget_case_contacts(connection, case_id)
                _history(
                    connection, member.id, now, actor, HISTORY_PURGE,
                    after={"contacts_deleted": count, "older_than_days": older_than.days},
                )  # fmt: skip
                purged += 1
                deleted += count
            log_staff_action(
                connection,
                actor=actor,
                action=AUDIT_PURGE,
                subject=f"panel:{panel}",
                detail={
                    "older_than_days": older_than.days,
                    "members": purged,
                    "contacts_deleted": deleted,
                },
                at=now,
            )
        return ContactsPurge(purged, deleted)

    def allow_sms_again(self, lookup_hash: str, *, now: dt.datetime, actor: str) -> tuple[int, ...]:
        """An SMS START: texts may go to the numbers with this hash again; the members'.

        Only the SMS stop of those numbers is lifted: a member who withdrew
        stays withdrawn. Each number lifted gets a history entry.
        """
        now = utc(now)
        stopped = sa.and_(
            member_contacts.c.lookup_hash == lookup_hash,
            member_contacts.c.kind == "phone",
            member_contacts.c.opted_out_at.is_not(None),
        )
        with self._transaction(write=True) as connection:
            rows = connection.execute(
                sa.select(member_contacts).where(stopped).with_for_update()
            ).all()
            if rows:
                connection.execute(
                    member_contacts.update()
                    .where(stopped)
                    .values(opted_out_at=None, updated_at=now)
                )
            for row in sorted(rows, key=lambda r: (r.member_id, r.rank)):
                _history(
                    connection, row.member_id, now, actor, HISTORY_SMS_START,
                    before={"opted_out_at": row.opted_out_at.isoformat()},
                    after={"contact": fingerprint(row)},
                )  # fmt: skip
        return tuple(sorted({row.member_id for row in rows}))


def _history(
    connection: sa.Connection,
    member_id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any],
) -> None:
    connection.execute(
        member_history.insert().values(
            member_id=member_id, at=at, actor=actor, action=action, before=before, after=after
        )
    )


def _cases_of(connection: sa.Connection, member_id: int) -> list[str]:
    return list(
        connection.scalars(
            sa.select(wave_members.c.case_id)
            .where(wave_members.c.member_id == member_id)
            .order_by(wave_members.c.wave_id)
            .with_for_update()
        )
    )


def _forget_case_contacts(connection: sa.Connection, case_id: str) -> None:
    """A case's own copies of contact details: its contact row, phone numbers, appointments."""
    connection.execute(contacts.delete().where(contacts.c.case_id == case_id))
    forget_fieldwork(connection, case_id)


def _carry_out(
    connection: sa.Connection, member: sa.Row[Any], choice: str, now: dt.datetime
) -> MemberWithdrawal:
    """Do ``choice`` (with everything it includes) inside the caller's transaction."""
    case_ids = _cases_of(connection, member.id)
    # A deceased member stays deceased (a relative using the link): that status ends contact too.
    status = "deceased" if member.status == "deceased" else "withdrawn"
    connection.execute(
        members.update().where(members.c.id == member.id).values(status=status, updated_at=now)
    )
    if case_ids:
        connection.execute(
            wave_members.update()
            .where(wave_members.c.member_id == member.id)
            .values(
                stopped_at=sa.func.coalesce(wave_members.c.stopped_at, now),
                next_due=None,
                updated_at=now,
            )
        )
    queue_rows = _leave_queue(connection, case_ids, now)
    contacts_deleted = 0
    withdrawn: list[str] = []
    events = 0
    if _rank(choice) >= _rank("delete_contacts"):
        contacts_deleted = connection.execute(
            member_contacts.delete().where(member_contacts.c.member_id == member.id)
        ).rowcount
        for case_id in case_ids:
            _forget_case_contacts(connection, case_id)
    if choice == "delete_all":
        for case_id in case_ids:
            report = withdraw_in(
                connection, interviews.c.case_id == case_id, case_id=case_id, now=now
            )
            withdrawn.append(case_id)
            events += report.events_deleted
    return MemberWithdrawal(
        member_id=member.id,
        pseudonym=member.pseudonym,
        choice=choice,
        done=True,
        at=now,
        contacts_deleted=contacts_deleted,
        cases_stopped=tuple(case_ids),
        queue_rows_removed=queue_rows,
        cases_withdrawn=tuple(withdrawn),
        answer_events_deleted=events,
    )


def _leave_queue(connection: sa.Connection, case_ids: Sequence[str], now: dt.datetime) -> int:
    """Take the cases out of the phone queue (no more calls) and cancel their appointments.

    The attempts and calls stay, so the outcomes and rates still add up; an
    interviewer on a call with one codes it as usual (coding a case that left
    the queue is allowed), and nobody is handed it again.
    """
    if not case_ids:
        return 0
    connection.execute(
        appointments.update()
        .where(appointments.c.case_id.in_(case_ids), appointments.c.cancelled_at.is_(None))
        .values(cancelled_at=now)
    )
    return int(
        connection.execute(case_queue.delete().where(case_queue.c.case_id.in_(case_ids))).rowcount
    )
