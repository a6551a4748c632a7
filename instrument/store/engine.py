"""Choosing the database and configuring its connections.

SQLite is the embedded default; the same code runs on PostgreSQL through
psycopg 3. The differences the store cares about are set up here, once:

* SQLite: WAL (readers never block the writer), foreign keys on (off by
  default in SQLite), a busy timeout (a second writer waits instead of
  failing at once), and transactions that the store begins itself so that a
  write transaction can start with ``BEGIN IMMEDIATE``: it takes the write
  lock before reading the revision, which makes the compare-and-set safe.
  Python's sqlite3 module would otherwise begin transactions lazily, at the
  first write, after the read, too late to protect it.
* PostgreSQL: plain ``READ COMMITTED``. The store begins transactions itself
  here too: psycopg runs in autocommit mode and the ``begin`` handler sends
  ``BEGIN``. That lets a one-statement read (:data:`SINGLE_READ`) skip
  ``BEGIN`` and ``COMMIT`` (a single statement is atomic on its own and sees
  one snapshot), which is two of the three round trips of showing a page.
  psycopg's ``commit()`` and ``rollback()`` still send ``COMMIT`` and
  ``ROLLBACK`` whenever the server reports an open transaction, autocommit
  or not, so ``with connection.begin():`` keeps its meaning.

Stale pooled connections (PostgreSQL restarted, an idle connection cut by a
firewall): connections are recycled after :data:`PG_POOL_RECYCLE_S`, well
inside common idle timeouts, instead of being pinged (``pool_pre_ping``) with a
``SELECT 1`` round trip on every check-out. A connection that died anyway fails
on its first statement, before anything was written; SQLAlchemy then
invalidates the whole pool, and the store retries once on a fresh connection
(see ``Store._transaction`` and ``Store._read``), so callers see what pre-ping
gave them, at no cost per request.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from instrument.store.records import PostgresDriverMissing, StoreError

__all__ = [
    "DEFAULT_SQLITE_FILE",
    "ENV_VAR",
    "MIN_SQLITE_VERSION",
    "PG_POOL_RECYCLE_S",
    "POSTGRES_EXTRA_HINT",
    "SINGLE_READ",
    "WRITE_OPTION",
    "PreSerialized",
    "compact_json",
    "create_store_engine",
    "resolve_url",
]

ENV_VAR: Final = "INSTRUMENT_DATABASE_URL"
DEFAULT_SQLITE_FILE: Final = "instrument.db"
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000

WRITE_OPTION: Final = "instrument_write"
"""Execution option that makes the SQLite ``begin`` handler emit ``BEGIN IMMEDIATE``."""

SINGLE_READ: Final = "instrument_single_read"
"""Execution option for a connection that runs exactly one read statement: no ``BEGIN``.

The statement runs in autocommit mode, which is atomic and consistent for one
statement on both backends. Never set it on a connection that writes or reads twice.
"""

PG_POOL_RECYCLE_S: Final = 1800
"""Replace a pooled PostgreSQL connection after this many seconds (instead of pre-ping)."""


def resolve_url(url: str | URL | None = None) -> URL:
    """The database URL: the argument, else ``$INSTRUMENT_DATABASE_URL``, else ./instrument.db.

    ``postgresql://`` and ``postgres://`` are rewritten to use psycopg 3, the
    driver this project installs (SQLAlchemy would otherwise look for psycopg2).
    """
    if url is None or url == "":
        url = os.environ.get(ENV_VAR) or None
    if url is None:
        return URL.create("sqlite", database=str(Path.cwd() / DEFAULT_SQLITE_FILE))
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        # The hot statements go to psycopg 3 directly (instrument.store.pg_direct).
        raise ValueError(
            f"unsupported PostgreSQL driver {parsed.get_driver_name()!r}: "
            "use postgresql:// (the store runs on psycopg 3)"
        )
    return parsed


class PreSerialized:
    """A JSON value the store has already serialised with :func:`compact_json`.

    The store serialises a state snapshot once (to look for NUL characters in
    it and to write it) and hands this wrapper to SQLAlchemy, whose JSON type
    passes it to the engine's serializer: that returns the text unchanged, so
    the bytes written are exactly the bytes checked.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_ORJSON_STRICT: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def compact_json(value: Any) -> str:
    """The engines' JSON serializer (compact: the state snapshot is written on every page turn).

    orjson writes a state in a fraction of the standard library's time (the
    saving is in docs/store.md, "Concurrency rules"); for what it cannot or must not
    write alone the standard library decides, so the result is the same text
    a ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` gives, up
    to how a float is spelt: non-string keys and integers beyond 64 bits are
    written by ``json``, and dates and dataclasses, which orjson would turn
    into strings and objects, are refused by ``json`` with ``TypeError`` as before.
    NaN and the infinities, which no state holds (the engine refuses them as
    answers, and PostgreSQL's JSON has no spelling for them), become null.
    """
    if type(value) is PreSerialized:
        return value.text
    try:
        return orjson.dumps(value, option=_ORJSON_STRICT).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def create_store_engine(url: URL, **kwargs: Any) -> Engine:
    """An Engine for ``url`` with the per-backend settings described above."""
    options: dict[str, Any] = {"json_serializer": compact_json, **kwargs}
    if url.get_backend_name() == "sqlite":
        _require_sqlite_version()
        in_memory = url.database in (None, "", ":memory:")
        if in_memory:
            # One shared connection, or every connection would see its own empty database.
            options.setdefault("poolclass", StaticPool)
            options.setdefault("connect_args", {"check_same_thread": False})
        engine = sa.create_engine(url, **options)
        _configure_sqlite(engine, wal=not in_memory)
        return engine
    _require_psycopg()
    # No pool_pre_ping: see the module docstring (recycling plus one retry on a dead connection).
    options.setdefault("pool_recycle", PG_POOL_RECYCLE_S)
    engine = sa.create_engine(url, **options)
    _configure_postgresql(engine)
    return engine


POSTGRES_EXTRA_HINT: Final = "pip install 'survey-instrument[postgres]'"
"""The command that installs the PostgreSQL driver (the ``postgres`` extra in pyproject.toml)."""


MIN_SQLITE_VERSION: Final = (3, 35, 0)
"""The oldest SQLite the store runs on: a save is an ``UPDATE ... RETURNING`` (new in 3.35)."""


def _require_sqlite_version() -> None:
    """SQLite comes with Python, but its version with the Python build: say so if it is too old."""
    if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        wanted = ".".join(map(str, MIN_SQLITE_VERSION))
        raise StoreError(
            f"this Python's sqlite3 module has SQLite {sqlite3.sqlite_version}; the store needs "
            f"{wanted} or newer. Use a Python linked against a newer SQLite, or PostgreSQL."
        )


def _require_psycopg() -> None:
    """Import psycopg 3, or say what to install: it is an optional extra, SQLite needs nothing."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresDriverMissing(
            f"a PostgreSQL database needs the psycopg 3 driver, which could not be imported "
            f"({exc}). Install it with: {POSTGRES_EXTRA_HINT}"
        ) from exc


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly by the handler below (see module docstring).
        dbapi_connection.autocommit = True
        # No JIT: every statement here is short, and PostgreSQL compiles one whose estimated
        # cost passes jit_above_cost (a sort the claim's planner setting makes dear, a big
        # export read), which took 80 ms of the 81 ms of "next case" in the phone benchmark.
        dbapi_connection.execute("SET jit = off")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if not connection.get_execution_options().get(SINGLE_READ):
            connection.exec_driver_sql("BEGIN")


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                _enable_wal(cursor)
                # FULL: a commit that returned is on disk even if the machine then loses power.
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        options = connection.get_execution_options()
        if options.get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(SINGLE_READ):
            connection.exec_driver_sql("BEGIN")


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a persistent setting), waiting out other connections.

    Changing the journal mode needs a moment alone with the file, and SQLite
    reports "database is locked" at once instead of using the busy timeout,
    which is what several workers opening a new database together run into.
    So: skip when the file is already in WAL, otherwise retry with back-off.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
