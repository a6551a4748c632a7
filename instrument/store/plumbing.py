"""What every part of the store shares: its engine, transactions, one-statement reads, the clock.

:class:`Store` is assembled from one class per concern (interviews, exports,
staff, ...); each of them derives from :class:`StoreBase`, which holds the
engine and the per-Store state and runs statements. Each method is one short
transaction on its own pooled connection, so a Store is safe to share between
the threads of a web worker.

PostgreSQL-only code (``instrument.store.pg_direct``, which imports psycopg)
is imported here only when the engine is PostgreSQL: psycopg is an optional
extra, and a store on SQLite must work without it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from instrument.store.engine import SINGLE_READ, WRITE_OPTION, compact_json
from instrument.store.schema import interviews, questionnaire_versions

if TYPE_CHECKING:
    from instrument.store.pg_direct import DirectStatements

__all__ = [
    "INTERVIEW_COLUMNS",
    "KeyAlreadyUsed",
    "TextWithNul",
    "PLAIN_COLUMNS",
    "StoreBase",
    "sha256_hex",
    "utc",
]


_INTERNAL_COLUMNS: Final = ("last_seq", "export_row", "last_answered")

PLAIN_COLUMNS: Final = tuple(
    column
    for column in interviews.c
    if column.name != "state" and column.name not in _INTERNAL_COLUMNS
)
"""Interview columns other than the state, in :class:`InterviewRecord`'s terms."""

INTERVIEW_COLUMNS: Final = (
    *(column for column in interviews.c if column.name not in _INTERNAL_COLUMNS),
    questionnaire_versions.c.questionnaire_id,
    questionnaire_versions.c.version,
)
"""Everything an :class:`InterviewRecord` holds, for selects joined to the version."""


class KeyAlreadyUsed(Exception):
    """A save's idempotency key was used before on this interview: the save wrote nothing.

    Internal to the store (both save paths raise it, the save answers from the key).
    """


class TextWithNul(Exception):
    """The PostgreSQL driver refused a text parameter holding a NUL; nothing was sent.

    Internal: the save that meets it looks for the NUL itself, to name where it is.
    """


def utc(now: dt.datetime | None) -> dt.datetime:
    """``now`` in UTC, or the current time; a naive datetime is refused (its zone is a guess)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware time")
    return now.astimezone(dt.UTC)


def sha256_hex(text: str) -> str:
    """The SHA-256 of a secret, as stored instead of the secret (tokens, sessions, sources)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StoreBase:
    """The engine, the caches and the transaction helpers every part of :class:`Store` uses."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Engines sharing the pool, with the options set once instead of per connection.
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._single_reader = engine.execution_options(**{SINGLE_READ: True})
        # Questionnaire version rows are never changed: their labels can be kept.
        self._version_labels: dict[int, tuple[str, str]] = {}
        # The pre-serialised state (and so the cache) needs the store's own JSON serializer.
        self._own_json = getattr(engine.dialect, "_json_serializer", None) is compact_json
        # PostgreSQL: the revision read and the save of every page turn bypass Core.
        self._direct: DirectStatements | None = None
        if engine.dialect.name == "postgresql":
            from instrument.store.pg_direct import DirectStatements

            self._direct = DirectStatements(
                engine, [c.name for c in (*PLAIN_COLUMNS, interviews.c.last_seq)]
            )

    @property
    def engine(self) -> Engine:
        """The underlying engine (for migrations and diagnostics, not for survey data)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close all pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction on a pooled connection.

        ``BEGIN`` is sent when the transaction starts (see
        :mod:`instrument.store.engine`), so it doubles as the liveness check
        pre-ping used to make: if the pooled connection turns out dead there,
        nothing has been sent yet, and one fresh connection is tried.
        """
        engine = self._writer if write else self._engine
        connection = engine.connect()
        try:
            try:
                transaction = connection.begin()
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                connection.close()
                connection = engine.connect()
                transaction = connection.begin()
            with transaction:
                yield connection
        finally:
            connection.close()

    def _read_one(self, statement: sa.Executable, params: Mapping[str, Any]) -> sa.Row[Any] | None:
        """Run one read statement without BEGIN/COMMIT; retried once on a dead connection."""
        for attempt in (1, 2):
            try:
                with self._single_reader.connect() as connection:
                    return connection.execute(statement, params).one_or_none()
            except sa.exc.DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")
