"""A case's phone numbers and the do-not-call list: the personal side of telephone fieldwork.

Numbers live only here (``phone_numbers``, ``do_not_call``), keyed by the
pseudonymous case id; attempts and calls name a number by its rank, so call
records and rates can be kept after a withdrawal deletes the numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from instrument.store.fieldwork_records import PhoneNumber, check_e164, dialect_insert
from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import CaseWithdrawn
from instrument.store.schema import (
    appointments,
    attempts,
    case_queue,
    cases,
    do_not_call,
    phone_numbers,
)

__all__ = ["PhoneNumbers", "forget_fieldwork", "refuse_withdrawn"]


def refuse_withdrawn(connection: sa.Connection, case_id: str) -> None:
    """:class:`CaseWithdrawn` if the case was withdrawn: its numbers and calls are never stored again."""
    withdrawn = connection.scalar(sa.select(cases.c.withdrawn_at).where(cases.c.id == case_id))
    if withdrawn is not None:
        raise CaseWithdrawn(f"case {case_id!r} was withdrawn on {withdrawn:%Y-%m-%d}")


def forget_fieldwork(connection: sa.Connection, case_id: str) -> dict[str, int]:
    """Withdrawal's share of the telephone tables, inside its transaction; how many rows went.

    Deleted: the case's numbers, its queue row (so it is never called again)
    and its appointments (a time and day promised to a person). Attempts and
    calls stay, as outcomes without numbers (they name a number only by its
    rank), so response rates still add up; the interviewers' notes on them,
    free text that may name the respondent, are emptied. The do-not-call list
    is kept: it is the respondent's own wish not to be called, whoever's
    case the number turns up in next.
    """

    def delete(table: sa.Table) -> int:
        return connection.execute(table.delete().where(table.c.case_id == case_id)).rowcount

    counts = {
        "phone_numbers_deleted": delete(phone_numbers),
        "appointments_deleted": delete(appointments),
        "queue_rows_deleted": delete(case_queue),
    }
    counts["attempt_notes_cleared"] = connection.execute(
        attempts.update()
        .where(attempts.c.case_id == case_id, attempts.c.note.is_not(None))
        .values(note=None)
    ).rowcount
    return counts


class PhoneNumbers(StoreBase):
    """:meth:`set_phone_numbers`, :meth:`phone_numbers_of`, :meth:`add_do_not_call`, :meth:`is_do_not_call`."""

    def set_phone_numbers(
        self, case_id: str, numbers: Sequence[str], now: dt.datetime | None = None
    ) -> list[PhoneNumber]:
        """Replace a case's numbers with ``numbers`` (E.164, first choice first), all working.

        ValueError for a number not in E.164 or given twice; :class:`CaseWithdrawn`
        for a withdrawn case. ``now`` is taken
        for the common signature (the table keeps no time).
        """
        refuse_nul("case id", case_id)
        utc(now)
        numbers = [check_e164(number) for number in numbers]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"case {case_id!r} has the same number twice")
        with self._transaction(write=True) as connection:
            refuse_withdrawn(connection, case_id)
            connection.execute(phone_numbers.delete().where(phone_numbers.c.case_id == case_id))
            if numbers:
                connection.execute(
                    phone_numbers.insert(),
                    [
                        {"case_id": case_id, "rank": rank, "e164": e164, "working": True}
                        for rank, e164 in enumerate(numbers, start=1)
                    ],
                )
        return self.phone_numbers_of(case_id)

    def phone_numbers_of(self, case_id: str) -> list[PhoneNumber]:
        """A case's numbers in rank order (dead ones included, with ``working`` False)."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(phone_numbers.c.rank, phone_numbers.c.e164, phone_numbers.c.working)
                .where(phone_numbers.c.case_id == case_id)
                .order_by(phone_numbers.c.rank)
            ).all()
        return [PhoneNumber(**row._asdict()) for row in rows]

    def cases_with_numbers(self, numbers: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``numbers`` stored for some case, those cases (for duplicate checks on import)."""
        found: dict[str, list[str]] = {}
        wanted = sorted(set(numbers))
        with self._transaction() as connection:
            for start in range(0, len(wanted), 500):  # bounded IN lists
                rows = connection.execute(
                    sa.select(phone_numbers.c.e164, phone_numbers.c.case_id)
                    .where(phone_numbers.c.e164.in_(wanted[start : start + 500]))
                    .order_by(phone_numbers.c.e164, phone_numbers.c.case_id)
                ).all()
                for row in rows:
                    found.setdefault(row.e164, []).append(row.case_id)
        return found

    def set_number_working(self, case_id: str, rank: int, working: bool) -> None:
        """Mark one of a case's numbers dead (not in service, a fax) or working again."""
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                phone_numbers.update()
                .where(phone_numbers.c.case_id == case_id, phone_numbers.c.rank == rank)
                .values(working=working)
            )
            if updated.rowcount != 1:
                raise LookupError(f"case {case_id!r} has no number of rank {rank}")

    def add_do_not_call(
        self, e164: str, *, reason: str | None, actor: str, now: dt.datetime | None = None
    ) -> bool:
        """Never dial ``e164`` again, in any case; False if it was on the list already."""
        check_e164(e164)
        refuse_nul("reason", reason)
        refuse_nul("actor", actor)
        statement = (
            dialect_insert(self.dialect, do_not_call)
            .on_conflict_do_nothing(index_elements=[do_not_call.c.e164])
            .returning(do_not_call.c.e164)
        )
        with self._transaction(write=True) as connection:
            added = connection.execute(
                statement,
                {"e164": e164, "reason": reason, "added_at": utc(now), "added_by": actor},
            ).scalar_one_or_none()
        return added is not None  # RETURNING: psycopg's rowcount is -1 for ON CONFLICT

    def is_do_not_call(self, e164: str) -> bool:
        """Whether ``e164`` is on the do-not-call list."""
        found = self._read_one(
            sa.select(do_not_call.c.e164).where(do_not_call.c.e164 == sa.bindparam("e164")),
            {"e164": e164},
        )
        return found is not None
