"""Staff sessions the server can end (SQLite and PostgreSQL).

Passwords use the real scrypt cost here (half a second each), so every test
creates at most one or two accounts.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from instrument.store import Store
from tests.store_fixtures import *

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _last_seen(store: Store, session_id: str) -> dt.datetime:
    """The stored last_seen_at of a session (read directly: the store does not expose it)."""
    import hashlib

    digest = hashlib.sha256(session_id.encode()).hexdigest()
    with store.engine.connect() as connection:
        value = connection.execute(
            sa.text("SELECT last_seen_at FROM staff_sessions WHERE id = :id"), {"id": digest}
        ).scalar_one()
    if isinstance(value, str):  # SQLite hands back text for a raw query
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_a_session_opens_reads_and_closes_and_only_its_hash_is_stored(store: Store) -> None:
    user = store.create_staff_user("ana", "correct horse", role="admin", now=T0)
    session = store.open_staff_session(user.id, now=T0)
    assert len(session) >= 43
    assert store.staff_session_user(session, now=_at(1)) == user
    other = store.open_staff_session(user.id, now=T0)
    assert other != session
    with store.engine.connect() as connection:
        stored = [row[0] for row in connection.execute(sa.text("SELECT id FROM staff_sessions"))]
    assert session not in stored and other not in stored and len(stored) == 2
    store.close_staff_session(session, now=_at(2))
    assert store.staff_session_user(session, now=_at(3)) is None  # a copied cookie opens nothing
    assert store.staff_session_user(other, now=_at(3)) == user  # the other sign-in is untouched
    store.close_staff_session(session, now=_at(4))  # closing twice is harmless
    for unknown in ("", "x" * 500, "not-a-session", "nul\x00id"):
        assert store.staff_session_user(unknown, now=_at(5)) is None
        store.close_staff_session(unknown, now=_at(5))
    with pytest.raises(LookupError):
        store.open_staff_session(user.id + 1000, now=T0)
    # An account disabled behind the store's back (by hand, in SQL) counts as disabled too.
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE staff_users SET disabled = :t"), {"t": True})
    assert store.staff_session_user(other, now=_at(6)) is None


def test_last_seen_is_written_at_most_once_a_minute_and_idle_sessions_end(store: Store) -> None:
    user = store.create_staff_user("ana", "correct horse", now=T0)
    session = store.open_staff_session(user.id, now=T0)
    assert store.staff_session_user(session, now=_at(59)) == user
    assert _last_seen(store, session) == T0  # not touched within the minute
    assert store.staff_session_user(session, now=_at(60)) == user
    assert _last_seen(store, session) == _at(60)
    assert (
        store.staff_session_user(session, now=_at(30)) == user
    )  # a clock behind never moves it back
    assert _last_seen(store, session) == _at(60)
    timeout = dt.timedelta(minutes=30)
    assert store.staff_session_user(session, now=_at(60 + 30 * 60), idle_timeout=timeout) == user
    assert store.staff_session_user(session, now=_at(60 + 61 * 60), idle_timeout=timeout) is None
    # Found idle, it stays closed, whatever timeout a later caller passes.
    assert store.staff_session_user(session, now=_at(60 + 62 * 60)) is None


def test_a_new_password_or_a_disabled_account_ends_every_session(store: Store) -> None:
    ana = store.create_staff_user("ana", "correct horse", now=T0)
    ben = store.create_staff_user("ben", "battery staple", now=T0)
    first, second = (store.open_staff_session(ana.id, now=T0) for _ in range(2))
    bens = store.open_staff_session(ben.id, now=T0)
    store.set_staff_password("ana", "a new one")
    assert store.staff_session_user(first, now=_at(1)) is None
    assert store.staff_session_user(second, now=_at(1)) is None
    assert store.staff_session_user(bens, now=_at(1)) == ben
    third = store.open_staff_session(ana.id, now=_at(2))
    assert store.staff_session_user(third, now=_at(3)) == ana
    store.set_staff_disabled("ana")
    assert store.staff_session_user(third, now=_at(4)) is None
    with pytest.raises(ValueError, match="disabled"):
        store.open_staff_session(ana.id, now=_at(5))
    store.set_staff_disabled("ana", disabled=False)
    assert store.staff_session_user(third, now=_at(6)) is None  # re-enabling revives nothing
    fourth = store.open_staff_session(ana.id, now=_at(7))
    assert store.close_staff_sessions(ana.id, now=_at(8)) == 1  # sign out everywhere
    assert store.staff_session_user(fourth, now=_at(9)) is None
    assert store.staff_session_user(bens, now=_at(9)) == ben


def test_a_session_found_good_is_believed_briefly_and_this_stores_changes_count_at_once(
    store: Store, database_url: str
) -> None:
    """``reuse_for``: one read per page turn, not two, without letting a change go unseen for long.

    ``elsewhere`` is a second store object on the same database, as another
    gunicorn worker or the command line would be.
    """
    import time

    from instrument.store import open_store

    reuse = dt.timedelta(seconds=0.5)
    ana = store.create_staff_user("ana", "correct horse", now=T0)
    session = store.open_staff_session(ana.id, now=T0)
    elsewhere = open_store(database_url)
    try:
        assert store.staff_session_user(session, now=_at(1), reuse_for=reuse) == ana
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        assert store.staff_session_user(session, now=_at(2), reuse_for=reuse) == ana
        assert statements == []  # believed: nothing read
        assert store.staff_session_user(session, now=_at(2)) == ana  # without reuse: read
        assert len(statements) == 1

        # A change through this store object counts at once ...
        ben = store.create_staff_user("ben", "battery staple", now=T0)
        bens = store.open_staff_session(ben.id, now=T0)
        assert store.staff_session_user(bens, now=_at(3), reuse_for=reuse) == ben
        store.set_staff_disabled("ben")
        assert store.staff_session_user(bens, now=_at(3), reuse_for=reuse) is None
        zoned = store.set_staff_time_zone("ana", "Europe/Berlin")
        assert store.staff_session_user(session, now=_at(4), reuse_for=reuse) == zoned

        # ... and one made elsewhere within ``reuse_for`` (on the monotonic clock).
        assert store.staff_session_user(session, now=_at(5), reuse_for=reuse) == zoned
        elsewhere.close_staff_session(session, now=_at(5))
        assert store.staff_session_user(session, now=_at(5), reuse_for=reuse) == zoned
        time.sleep(reuse.total_seconds() + 0.1)
        assert store.staff_session_user(session, now=_at(5), reuse_for=reuse) is None
    finally:
        elsewhere.close()


def test_reuse_never_skips_the_idle_timeout_or_the_once_a_minute_touch(store: Store) -> None:
    reuse = dt.timedelta(seconds=60)  # long, so only the rules below can end a reuse
    idle = dt.timedelta(minutes=30)
    ana = store.create_staff_user("ana", "correct horse", now=T0)
    session = store.open_staff_session(ana.id, now=T0)
    assert store.staff_session_user(session, now=_at(10), idle_timeout=idle, reuse_for=reuse) == ana
    assert _last_seen(store, session) == T0  # less than a minute: no touch
    assert store.staff_session_user(session, now=_at(70), idle_timeout=idle, reuse_for=reuse) == ana
    assert _last_seen(store, session) == _at(70)  # a touch was due: read and written, not believed
    # Idle for longer than the timeout: ended, whatever was remembered.
    assert store.staff_session_user(session, now=_at(70 + 31 * 60), idle_timeout=idle, reuse_for=reuse) is None  # fmt: skip
    assert store.staff_session_user(session, now=_at(80 + 31 * 60), reuse_for=reuse) is None
