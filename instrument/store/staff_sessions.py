"""Staff sessions the server can end: signing out, a new password or a disabled account.

A signed cookie alone stays valid until it expires, whoever copied it. So each
sign-in opens a row here and the cookie carries only a random session id
(256 bits); the row is keyed by the id's SHA-256, so the database never holds
a usable id. A session counts while its row is open, its account enabled and,
if the caller sets an idle timeout, it was seen recently. Closing the row ends
it for every copy of the cookie.

``last_seen_at`` is written at most once a minute per session
(:data:`TOUCH_EVERY`), so an active staff member's every request is one read,
not a write.

A caller may let a session found good be believed again for a couple of
seconds without reading it (``reuse_for``, :class:`RecentlyVerified`): an
interviewer's page turn is two requests a few milliseconds apart (the answer
and the page its redirect leads to), and the read was a fifth of the
console's server time under load. Whatever this store object itself changes
(signing out, a disabled account, a new password or time zone) forgets every
remembered session at once; a change made by another process (another
gunicorn worker, the command line) is seen within ``reuse_for``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.plumbing import StoreBase, sha256_hex, utc
from instrument.store.records import StaffUser
from instrument.store.schema import staff_sessions, staff_users

__all__ = [
    "TOUCH_EVERY",
    "RecentlyVerified",
    "StaffSessions",
    "close_sessions",
    "recently_verified",
    "staff_user_columns",
]

TOUCH_EVERY: Final = dt.timedelta(minutes=1)
"""``last_seen_at`` moves on only when it is at least this old."""

_MAX_SESSION_ID_LENGTH: Final = 200

staff_user_columns: Final = (
    staff_users.c.id,
    staff_users.c.username,
    staff_users.c.role,
    staff_users.c.created_at,
    staff_users.c.disabled,
    staff_users.c.time_zone,
)
"""The columns of a :class:`StaffUser`, in a select: ``StaffUser(**row._asdict())``."""

_SESSION_USER: Final = (
    sa.select(
        *staff_user_columns,
        staff_sessions.c.last_seen_at,
        staff_sessions.c.closed_at,
    )
    .select_from(staff_sessions.join(staff_users, staff_sessions.c.user_id == staff_users.c.id))
    .where(staff_sessions.c.id == sa.bindparam("b_hash", type_=sa.String()))
)


class RecentlyVerified:
    """Sessions read and found good lately, each with when (on this process's monotonic clock).

    Bounded: past :data:`KEEP` sessions it starts afresh, which costs only a
    read per session. The monotonic clock, not the request's time, decides
    how long an entry is believed, so a frozen or faked clock cannot keep one
    believed for ever; the request's time still decides idleness.
    """

    KEEP: Final = 4096

    def __init__(self) -> None:
        self._entries: dict[str, tuple[StaffUser, dt.datetime, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str, reuse_for: float) -> tuple[StaffUser, dt.datetime] | None:
        """(account, last seen) of a session verified less than ``reuse_for`` seconds ago."""
        found = self._entries.get(digest)
        if found is None or not 0 <= time.monotonic() - found[2] < reuse_for:
            return None
        return found[0], found[1]

    def put(self, digest: str, user: StaffUser, last_seen: dt.datetime) -> None:
        with self._lock:
            if len(self._entries) >= self.KEEP:
                self._entries.clear()
            self._entries[digest] = (user, last_seen, time.monotonic())

    def forget(self) -> None:
        """Believe nothing remembered: called on every change to staff accounts or sessions."""
        with self._lock:
            self._entries.clear()


def _believable(idle: dt.timedelta, idle_timeout: dt.timedelta | None) -> bool:
    """A remembered session stays believed while no touch is due and it is not idle too long."""
    if not dt.timedelta(0) <= idle < TOUCH_EVERY:
        return False
    return idle_timeout is None or idle <= idle_timeout


def recently_verified(store: Any) -> RecentlyVerified:
    """The store object's :class:`RecentlyVerified` (made on first use; one per store object)."""
    found = store.__dict__.get("_recently_verified")
    if found is None:
        found = store.__dict__.setdefault("_recently_verified", RecentlyVerified())
    return found  # type: ignore[no-any-return]


def close_sessions(
    connection: sa.Connection, which: sa.ColumnElement[bool], now: dt.datetime
) -> int:
    """Close every open session matching ``which`` inside the caller's transaction; how many."""
    return connection.execute(
        staff_sessions.update()
        .where(which, staff_sessions.c.closed_at.is_(None))
        .values(closed_at=now)
    ).rowcount


class StaffSessions(StoreBase):
    """Opening, checking and closing staff sessions."""

    def open_staff_session(self, user_id: int, *, now: dt.datetime | None = None) -> str:
        """Open a session for an enabled staff account and return its id: the only time it exists in clear.

        LookupError if there is no such account, ValueError if it is disabled.
        """
        now = utc(now)
        session_id = secrets.token_urlsafe(32)
        with self._transaction(write=True) as connection:
            disabled = connection.scalar(
                sa.select(staff_users.c.disabled).where(staff_users.c.id == user_id)
            )
            if disabled is None:
                raise LookupError(f"no staff user {user_id}")
            if disabled:
                raise ValueError(f"staff user {user_id} is disabled")
            connection.execute(
                staff_sessions.insert().values(
                    id=sha256_hex(session_id),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    closed_at=None,
                )
            )
        return session_id

    def staff_session_user(
        self,
        session_id: str,
        *,
        now: dt.datetime | None = None,
        idle_timeout: dt.timedelta | None = None,
        reuse_for: dt.timedelta | None = None,
    ) -> StaffUser | None:
        """The account a session belongs to, or None if the session no longer counts.

        None when the id is unknown, the session was closed, the account is
        disabled, or (with ``idle_timeout``) the session was last seen longer
        ago than that; a session found idle is closed, so it stays ended
        whatever timeout a later caller passes. Otherwise the session is
        marked seen (at most once per :data:`TOUCH_EVERY`).

        With ``reuse_for`` (a few seconds, well under :data:`TOUCH_EVERY`), a
        session this store object found good less than that long ago is
        believed without reading it again (see the module docstring).
        """
        if not session_id or len(session_id) > _MAX_SESSION_ID_LENGTH:
            return None
        now = utc(now)
        digest = sha256_hex(session_id)
        remembered = recently_verified(self)
        if reuse_for is not None:
            found = remembered.get(digest, reuse_for.total_seconds())
            # Believed only while no touch is due, so last_seen_at moves on as without reuse.
            if found is not None and _believable(now - found[1], idle_timeout):
                return found[0]
        row = self._read_one(_SESSION_USER, {"b_hash": digest})
        if row is None or row.closed_at is not None or row.disabled:
            return None
        if idle_timeout is not None and now - row.last_seen_at > idle_timeout:
            with self._transaction(write=True) as connection:
                close_sessions(connection, staff_sessions.c.id == digest, now)
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= TOUCH_EVERY:
            with self._transaction(write=True) as connection:
                connection.execute(
                    staff_sessions.update()
                    .where(
                        staff_sessions.c.id == digest,
                        staff_sessions.c.closed_at.is_(None),
                        staff_sessions.c.last_seen_at < now,
                    )
                    .values(last_seen_at=now)
                )
            last_seen = now
        user = StaffUser(
            id=row.id,
            username=row.username,
            role=row.role,
            created_at=row.created_at,
            disabled=row.disabled,
            time_zone=row.time_zone,
        )
        if reuse_for is not None:
            remembered.put(digest, user, last_seen)
        return user

    def close_staff_session(self, session_id: str, *, now: dt.datetime | None = None) -> None:
        """End one session (signing out); an unknown or already closed session is left as it is."""
        if not session_id or len(session_id) > _MAX_SESSION_ID_LENGTH:
            return
        now = utc(now)
        with self._transaction(write=True) as connection:
            close_sessions(connection, staff_sessions.c.id == sha256_hex(session_id), now)
        recently_verified(self).forget()

    def close_staff_sessions(self, user_id: int, *, now: dt.datetime | None = None) -> int:
        """End every open session of one account ("sign out everywhere"); how many were open.

        Done by the store itself when the account's password is changed or it is disabled.
        """
        now = utc(now)
        with self._transaction(write=True) as connection:
            closed = close_sessions(connection, staff_sessions.c.user_id == user_id, now)
        recently_verified(self).forget()
        return closed
