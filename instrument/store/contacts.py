"""Contact details: the only personal data the store holds, kept apart from every answer.

Keyed by the pseudonymous case id alone. Nothing in the store joins this table
to interviews or events, and exports never read it: code that needs both (an
invitation) asks for the contact by case id, separately. Withdrawal deletes it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import Contact
from instrument.store.schema import contacts

__all__ = ["Contacts"]


class Contacts(StoreBase):
    """:meth:`set_contact` and :meth:`get_contact`."""

    def set_contact(
        self,
        case_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        now: dt.datetime | None = None,
    ) -> Contact:
        """Store or replace a case's contact details (kept apart from answers)."""
        for field, text in (
            ("case id", case_id),
            ("name", name),
            ("email", email),
            ("phone", phone),
        ):
            refuse_nul(field, text)
        values = {"name": name, "email": email, "phone": phone, "updated_at": utc(now)}
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                contacts.update().where(contacts.c.case_id == case_id).values(**values)
            )
            if updated.rowcount == 0:
                connection.execute(contacts.insert().values(case_id=case_id, **values))
        contact = self.get_contact(case_id)
        assert contact is not None
        return contact

    def get_contact(self, case_id: str) -> Contact | None:
        """A case's contact details, or None."""
        if NUL in case_id:
            return None  # no stored id holds one (see instrument.store.nul)
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(contacts).where(contacts.c.case_id == case_id)
            ).one_or_none()
        return None if row is None else Contact(**row._asdict())
