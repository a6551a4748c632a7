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
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Final

import sqlalchemy as sa

from instrument.store.plumbing import StoreBase, sha256_hex, utc
from instrument.store.records import StaffUser
from instrument.store.schema import staff_sessions, staff_users

__all__ = ["TOUCH_EVERY", "StaffSessions", "close_sessions", "staff_user_columns"]

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
    ) -> StaffUser | None:
        """The account a session belongs to, or None if the session no longer counts.

        None when the id is unknown, the session was closed, the account is
        disabled, or (with ``idle_timeout``) the session was last seen longer
        ago than that; a session found idle is closed, so it stays ended
        whatever timeout a later caller passes. Otherwise the session is
        marked seen (at most once per :data:`TOUCH_EVERY`).
        """
        if not session_id or len(session_id) > _MAX_SESSION_ID_LENGTH:
            return None
        now = utc(now)
        digest = sha256_hex(session_id)
        row = self._read_one(_SESSION_USER, {"b_hash": digest})
        if row is None or row.closed_at is not None or row.disabled:
            return None
        if idle_timeout is not None and now - row.last_seen_at > idle_timeout:
            with self._transaction(write=True) as connection:
                close_sessions(connection, staff_sessions.c.id == digest, now)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
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
        return StaffUser(
            id=row.id,
            username=row.username,
            role=row.role,
            created_at=row.created_at,
            disabled=row.disabled,
            time_zone=row.time_zone,
        )

    def close_staff_session(self, session_id: str, *, now: dt.datetime | None = None) -> None:
        """End one session (signing out); an unknown or already closed session is left as it is."""
        if not session_id or len(session_id) > _MAX_SESSION_ID_LENGTH:
            return
        now = utc(now)
        with self._transaction(write=True) as connection:
            close_sessions(connection, staff_sessions.c.id == sha256_hex(session_id), now)

    def close_staff_sessions(self, user_id: int, *, now: dt.datetime | None = None) -> int:
        """End every open session of one account ("sign out everywhere"); how many were open.

        Done by the store itself when the account's password is changed or it is disabled.
        """
        now = utc(now)
        with self._transaction(write=True) as connection:
            return close_sessions(connection, staff_sessions.c.user_id == user_id, now)
