"""Staff accounts: the research team who sign into the staff area.

Passwords are stored only as salted scrypt hashes (:mod:`instrument.store.passwords`),
made at the store's ``password_cost`` (:data:`~instrument.store.passwords.STRONG`
unless set; test suites set a cheap one). A login costs the same hashing time
whether or not the account exists, so timing does not tell which usernames do.
Changing an account's password or disabling it ends every session it has open
(:mod:`instrument.store.staff_sessions`). An account may have its own time zone,
the clock the interviewer console shows it times on (null: each study's default).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul
from instrument.store.passwords import (
    STRONG,
    PasswordCost,
    hash_password,
    unmatchable_hash,
    verify_password,
)
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import StaffUser
from instrument.store.schema import STAFF_ROLES, staff_sessions, staff_users
from instrument.store.staff_sessions import close_sessions, recently_verified, staff_user_columns

__all__ = ["StaffAccounts", "known_time_zone"]


@functools.cache
def _zone_names() -> frozenset[str]:
    """The IANA names this machine knows (read once: the zone database is hundreds of files)."""
    return frozenset(available_timezones())


def known_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else ValueError saying so.

    Only names of the zone database are taken (not a path zoneinfo would also
    open), so a zone stored for one staff member reads the same on every server;
    a near miss is suggested ("Europe/Berln": did you mean Europe/Berlin?).
    """
    if name in _zone_names():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return name
    close = difflib.get_close_matches(name, sorted(_zone_names()), n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ValueError(f"unknown time zone {name!r}: give an IANA name such as Europe/London{hint}")


def _sessions_of(username: str) -> sa.ColumnElement[bool]:
    return staff_sessions.c.user_id.in_(
        sa.select(staff_users.c.id).where(staff_users.c.username == username).scalar_subquery()
    )


class StaffAccounts(StoreBase):
    """Creating, reading, verifying, disabling and re-keying staff accounts."""

    password_cost: PasswordCost = STRONG
    """The scrypt cost of new password hashes (:meth:`set_password_cost` changes it)."""

    def set_password_cost(self, cost: PasswordCost, *, testing: bool = False) -> None:
        """Hash this store's new staff passwords at ``cost`` (the app's ``STAFF_PASSWORD_COST``).

        A cost weaker than :data:`~instrument.store.passwords.STRONG` is refused
        (ValueError) unless ``testing``: it is there to make test suites fast
        with a real but cheap hash, and a test configuration copied to a
        server must not weaken its staff's passwords.
        """
        if not isinstance(cost, PasswordCost):
            raise TypeError(f"a password cost is a PasswordCost, not {type(cost).__name__}")
        if cost.weaker_than(STRONG) and not testing:
            raise ValueError("a password cost weaker than the strong default is for tests only")
        self.password_cost = cost

    def create_staff_user(
        self,
        username: str,
        password: str,
        *,
        role: str = "researcher",
        now: dt.datetime | None = None,
    ) -> StaffUser:
        """Add a staff account; the password is stored only as a salted scrypt hash.

        ValueError for an unknown role, an empty username or password, a
        username that exists, or one with a NUL character (:class:`NulCharacterRefused`).
        """
        if role not in STAFF_ROLES:
            raise ValueError(f"unknown staff role {role!r}; use one of {STAFF_ROLES}")
        if not username or not password:
            raise ValueError("a staff user needs a username and a password")
        refuse_nul("staff user name", username)
        password_hash = hash_password(password, self.password_cost)
        try:
            with self._transaction(write=True) as connection:
                connection.execute(
                    staff_users.insert().values(
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        created_at=utc(now),
                        disabled=False,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise ValueError(f"staff user {username!r} already exists") from exc
        user = self.get_staff_user(username)
        assert user is not None
        return user

    def get_staff_user(self, username: str) -> StaffUser | None:
        """The staff account with this username (disabled ones included), or None."""
        row = self._staff_row(username)
        return None if row is None else StaffUser(**row._asdict())

    def get_staff_user_by_id(self, user_id: int) -> StaffUser | None:
        """The staff account with this id, or None (for a session that stores the id)."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(*staff_user_columns).where(staff_users.c.id == user_id)
            ).one_or_none()
        return None if row is None else StaffUser(**row._asdict())

    def verify_staff_password(self, username: str, password: str) -> StaffUser | None:
        """The user if the password is right and the account enabled, else None.

        Unknown and disabled accounts cost the same hashing time as real ones,
        so timing does not reveal which usernames exist.
        """
        row = self._staff_row(username, with_hash=True)
        if row is None or row.disabled:
            # as long as a real account's check: no password matches this one
            verify_password(password, unmatchable_hash(self.password_cost))
            return None
        if not verify_password(password, row.password_hash):
            return None
        values = row._asdict()
        del values["password_hash"]
        return StaffUser(**values)

    def _staff_row(self, username: str, *, with_hash: bool = False) -> sa.Row[Any] | None:
        if NUL in username:
            return None  # no stored name holds one (see instrument.store.nul)
        columns = (
            (*staff_user_columns, staff_users.c.password_hash) if with_hash else staff_user_columns
        )
        with self._transaction() as connection:
            return connection.execute(
                sa.select(*columns).where(staff_users.c.username == username)
            ).one_or_none()

    def set_staff_disabled(self, username: str, disabled: bool = True) -> None:
        """Disable (or re-enable) a staff account; LookupError if there is none.

        Disabling ends every session the account has open.
        """
        if NUL in username:
            raise LookupError(f"no staff user {username!r}")
        with self._transaction(write=True) as connection:
            result = connection.execute(
                staff_users.update()
                .where(staff_users.c.username == username)
                .values(disabled=disabled)
            )
            if result.rowcount != 1:
                raise LookupError(f"no staff user {username!r}")
            if disabled:
                close_sessions(connection, _sessions_of(username), utc(None))
        recently_verified(self).forget()

    def set_staff_password(self, username: str, password: str) -> None:
        """Replace a staff account's password (stored only as a salted scrypt hash).

        Ends every session the account has open, the one that changed it included.
        """
        if not password:
            raise ValueError("a password cannot be empty")
        if NUL in username:
            raise LookupError(f"no staff user {username!r}")
        # before the write lock: it takes a while
        password_hash = hash_password(password, self.password_cost)
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                staff_users.update()
                .where(staff_users.c.username == username)
                .values(password_hash=password_hash)
            )
            if updated.rowcount != 1:
                raise LookupError(f"no staff user {username!r}")
            close_sessions(connection, _sessions_of(username), utc(None))
        recently_verified(self).forget()

    def set_staff_time_zone(self, username: str, zone: str | None) -> StaffUser:
        """Give a staff account its own time zone (an IANA name), or None for the study's default.

        The account comes back as stored. ValueError for a zone this machine
        does not know (:func:`known_time_zone`), LookupError for no such account.
        Sessions stay open: the next page a signed-in interviewer opens uses it.
        """
        stored = None if zone is None else known_time_zone(zone)
        if NUL in username:
            raise LookupError(f"no staff user {username!r}")
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                staff_users.update()
                .where(staff_users.c.username == username)
                .values(time_zone=stored)
            )
            if updated.rowcount != 1:
                raise LookupError(f"no staff user {username!r}")
        recently_verified(self).forget()
        user = self.get_staff_user(username)
        assert user is not None
        return user

    def staff_time_zone(self, username: str) -> str | None:
        """A staff account's own time zone (None: the study's default); LookupError for no account."""
        user = self.get_staff_user(username)
        if user is None:
            raise LookupError(f"no staff user {username!r}")
        return user.time_zone
