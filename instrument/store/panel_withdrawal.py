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
  export leaves the case out), its calls' recordings and the recordings its
  answers name listed for deletion at the telephony provider
  (:mod:`~instrument.store.recording_deletions`), in the same transaction.

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
    answer_events,
    appointments,
    attempts,
    case_queue,
    cases,
    contacts,
    interviews,
    member_contacts,
    member_history,
    members,
    panel_messages,
    panels,
    phone_numbers,
    wave_members,
    waves,
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
    "FoundMember",
    "MemberMessage",
    "MemberWave",
    "MemberWithdrawal",
    "PanelWithdrawals",
    "WithdrawalPreview",
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
    recordings_listed: int = 0
    """Recordings listed for deletion at the telephony provider (the fieldwork worker deletes
    them there, :mod:`instrument.store.recording_deletions`)."""


@dataclass(frozen=True, slots=True)
class ContactsPurge:
    members: int
    contacts_deleted: int


@dataclass(frozen=True, slots=True)
class FoundMember:
    """A member found by the staff area's search, with the name of their panel."""

    panel: str
    member: MemberRecord


@dataclass(frozen=True, slots=True)
class MemberWave:
    """One wave a member was in: their case there and how far it got (no answers)."""

    wave_id: int
    key: str
    label: str
    case_id: str
    eligible: bool
    interview_status: str | None
    interview_mode: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    moved_to_phone_at: dt.datetime | None
    stopped_at: dt.datetime | None
    closed_at: dt.datetime | None
    case_withdrawn_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class MemberMessage:
    """A message (or action) of the contact plan for a member: which, how, its state, when.

    ``contact_kind`` and ``contact_rank`` name which detail it went to, never the detail.
    ``complaint`` is the feedback type of a spam complaint about it (``abuse``, as the
    provider's report says; ``panel_messages.detail["complaint"]``; empty if it said none)
    and ``complained_at`` when it was recorded; None when nobody complained.
    """

    wave_key: str
    kind: str
    step: str
    channel: str | None
    state: str
    contact_kind: str | None
    contact_rank: int | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    complaint: str | None = None
    complained_at: dt.datetime | None = None


def _member_message(row: dict[str, Any]) -> MemberMessage:
    """A message row as the member page shows it, a spam complaint kept on it read out."""
    complaint = (row.pop("detail") or {}).get("complaint")
    if not isinstance(complaint, dict):
        return MemberMessage(**row)
    recorded = complaint.get("recorded_at")
    return MemberMessage(
        **row,
        complaint=str(complaint.get("feedback_type") or ""),
        complained_at=(
            dt.datetime.fromisoformat(recorded).astimezone(dt.UTC)
            if isinstance(recorded, str)
            else None
        ),
    )


@dataclass(frozen=True, slots=True)
class WithdrawalPreview:
    """What each withdrawal choice would delete for a member now, counted (never shown in clear).

    ``delete_contacts`` deletes the ``contact_details`` (by kind) and the cases'
    ``case_contacts``, ``phone_numbers`` and ``appointments``, and empties
    ``call_notes``; ``delete_all`` also the ``answers`` of the ``interviews``.
    """

    cases: tuple[str, ...]
    contact_details: dict[str, int]
    case_contacts: int
    phone_numbers: int
    appointments: int
    call_notes: int
    interviews: int
    answers: int


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
    """:meth:`withdraw_member`, :meth:`purge_withdrawn_contacts`, :meth:`allow_sms_again`.

    And the reads of the staff area's member page (:meth:`find_members`,
    :meth:`member_waves`, :meth:`member_messages`, :meth:`withdrawal_preview`):
    none of them reads a contact detail, only counts and names them by kind.
    """

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

    def find_members(self, text: str) -> tuple[FoundMember, ...]:
        """The members whose external id or pseudonym is exactly ``text``, in any panel.

        For the staff area's search: an exact match only, so nobody can page
        through the members by trying prefixes.
        """
        statement = (
            sa.select(members, panels.c.name.label("panel_name"))
            .join(panels, panels.c.id == members.c.panel_id)
            .where(sa.or_(members.c.external_id == text, members.c.pseudonym == text))
            .order_by(panels.c.name, members.c.id)
        )
        with self._transaction() as connection:
            rows = connection.execute(statement).all()
        return tuple(
            FoundMember(
                row.panel_name, MemberRecord(**{n: getattr(row, n) for n in MemberRecord.__slots__})
            )
            for row in rows
        )

    def member_waves(self, member_id: int) -> tuple[MemberWave, ...]:
        """The waves the member was in, oldest first, with their case's progress."""
        newest = (
            sa.select(interviews.c.status, interviews.c.mode)
            .where(interviews.c.case_id == wave_members.c.case_id)
            .order_by(interviews.c.started_at.desc(), interviews.c.id.desc())
            .limit(1)
        )
        statement = (
            sa.select(
                waves.c.id.label("wave_id"), waves.c.key, waves.c.label, wave_members.c.case_id,
                wave_members.c.eligible,
                newest.with_only_columns(interviews.c.status).scalar_subquery().label("status"),
                newest.with_only_columns(interviews.c.mode).scalar_subquery().label("mode"),
                wave_members.c.started_at, wave_members.c.finished_at,
                wave_members.c.moved_to_phone_at, wave_members.c.stopped_at,
                sa.func.coalesce(wave_members.c.closed_at, waves.c.closed_at).label("closed_at"),
                cases.c.withdrawn_at,
            )
            .join(waves, waves.c.id == wave_members.c.wave_id)
            .outerjoin(cases, cases.c.id == wave_members.c.case_id)
            .where(wave_members.c.member_id == member_id)
            .order_by(waves.c.starts_at, waves.c.id)
        )  # fmt: skip
        with self._transaction() as connection:
            return tuple(
                MemberWave(
                    row.wave_id,
                    row.key,
                    row.label,
                    row.case_id,
                    row.eligible,
                    row.status,
                    row.mode,
                    row.started_at,
                    row.finished_at,
                    row.moved_to_phone_at,
                    row.stopped_at,
                    row.closed_at,
                    row.withdrawn_at,
                )  # fmt: skip
                for row in connection.execute(statement)
            )

    def member_messages(self, member_id: int) -> tuple[MemberMessage, ...]:
        """The messages and actions of every wave's contact plan for the member, oldest first."""
        statement = (
            sa.select(
                waves.c.key.label("wave_key"), panel_messages.c.kind, panel_messages.c.step,
                panel_messages.c.channel, panel_messages.c.state, panel_messages.c.contact_kind,
                panel_messages.c.contact_rank, panel_messages.c.created_at,
                panel_messages.c.sent_at, panel_messages.c.detail,
            )
            .join(waves, waves.c.id == panel_messages.c.wave_id)
            .where(panel_messages.c.member_id == member_id)
            .order_by(panel_messages.c.created_at, panel_messages.c.id)
        )  # fmt: skip
        with self._transaction() as connection:
            return tuple(_member_message(row._asdict()) for row in connection.execute(statement))

    def withdrawal_preview(self, member_id: int) -> WithdrawalPreview:
        """What deleting the member's contact details (and answers) would delete now, counted.

        What a person confirming a withdrawal is told; the withdrawal itself
        counts again inside its own transaction.
        """
        with self._transaction() as connection:
            case_ids = tuple(
                connection.scalars(
                    sa.select(wave_members.c.case_id)
                    .where(wave_members.c.member_id == member_id)
                    .order_by(wave_members.c.wave_id)
                )
            )
            kinds = dict(
                connection.execute(
                    sa.select(member_contacts.c.kind, sa.func.count())
                    .where(member_contacts.c.member_id == member_id)
                    .group_by(member_contacts.c.kind)
                ).all()
            )

            def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
                return int(
                    connection.execute(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(table.c.case_id.in_(case_ids), *where)
                    ).scalar_one()
                )

            live = interviews.c.status != "withdrawn"
            answers = connection.execute(
                sa.select(sa.func.count())
                .select_from(
                    answer_events.join(interviews, interviews.c.id == answer_events.c.interview_id)
                )
                .where(interviews.c.case_id.in_(case_ids), live)
            ).scalar_one()
            return WithdrawalPreview(
                cases=case_ids,
                contact_details={kind: int(n) for kind, n in sorted(kinds.items())},
                case_contacts=count(contacts),
                phone_numbers=count(phone_numbers),
                appointments=count(appointments),
                call_notes=count(attempts, attempts.c.note.is_not(None)),
                interviews=count(interviews, live),
                answers=int(answers),
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
                "recordings_listed": result.recordings_listed,
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
    events = recordings = 0
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
            recordings += report.recordings_listed
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
        recordings_listed=recordings,
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
