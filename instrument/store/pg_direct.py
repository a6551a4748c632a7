"""The two statements of every web page turn, sent to PostgreSQL through psycopg directly.

Showing a page reads one integer (the interview's revision, see
``Store.load_interview``) and answering saves once (the one-statement save,
see ``Store.save_interview``). Both are fixed SQL with plain parameters, and
through SQLAlchemy Core each cost about twice the CPU of sending them with
psycopg itself: an execution context, parameter and result processing, and a
``Connection`` wrapped round the pooled connection, every time (the figures
are in docs/store.md, "Concurrency rules").

This is the store's only module that imports psycopg, an optional extra; it is
imported when a PostgreSQL store is opened (``instrument.store.plumbing``), so
SQLite works without psycopg installed.

What is kept from SQLAlchemy: its connection pool. Connections come from
``Engine.raw_connection()``, so the pool size, recycling, the ``connect``
handler that puts psycopg in autocommit mode (``instrument.store.engine``)
and ``dispose()`` all apply as before. A statement that fails because the
connection died (PostgreSQL restarted, an idle connection cut) is retried
once on a fresh connection after the pool is emptied, as SQLAlchemy does when
it sees a disconnect; nothing was written by a statement whose connection was
dead, and a save that did commit before its answer was lost is recognised on
the retry by its moved-on revision and idempotency key.

Only fixed statements belong here: anything that is built from user choices,
or runs rarely, goes through Core, which is safer to change. Other store
modules send their own fixed reads through :meth:`DirectStatements.first_row`
(the interviewer's case screen: ``instrument.store.pg_case_screen``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.engine import Engine

from instrument.store.plumbing import KeyAlreadyUsed, TextWithNul

__all__ = ["DirectStatements"]

_REVISION_SQL: Final = "SELECT revision FROM interviews WHERE id = %(b_id)s"


class DirectStatements:
    """``revision_of`` and ``save`` on one engine's pool (PostgreSQL with psycopg 3 only)."""

    def __init__(self, engine: Engine, returned_columns: Sequence[str]) -> None:
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
            raise ValueError("direct statements need PostgreSQL through psycopg 3")
        self._engine = engine
        self._returned = tuple(returned_columns)
        self._saves: dict[tuple[int, bool, int, bool], str] = {}
        self._event_keys: list[tuple[str, str, str, str, str, str]] = []

    def revision_of(self, interview_id: str) -> int | None:
        """The stored revision of an interview, or None if there is no such interview."""
        row = self._run(_REVISION_SQL, {"b_id": interview_id})
        return None if row is None else int(row[0])

    def first_row(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """A fixed read's first row, for the store's other direct reads (``pg_case_screen``)."""
        return self._run(sql, params)

    def save(
        self,
        params: Mapping[str, Any],
        event_count: int,
        with_key: bool,
        personal: tuple[int, bool] = (0, False),
    ) -> dict[str, Any] | None:
        """Run the one-statement save; the returned row by column name, or None if it matched nothing.

        ``params`` are those of :meth:`save_sql`. Raises :class:`KeyAlreadyUsed`
        if the idempotency key was used before (the statement wrote nothing),
        and :class:`TextWithNul` if a text parameter holds a NUL, which psycopg
        refuses before sending anything.
        """
        try:
            row = self._run(self.save_sql(event_count, with_key, *personal), params)
        except pg_errors.UniqueViolation as exc:
            raise KeyAlreadyUsed from exc
        except psycopg.DataError as exc:
            if "NUL" in str(exc):
                raise TextWithNul from exc
            raise
        if row is None:
            return None
        return {name: _utc_if_time(value) for name, value in zip(self._returned, row, strict=True)}

    def event_keys(self, event_count: int) -> list[tuple[str, str, str, str, str, str]]:
        """The parameter names of events 1 to ``event_count`` in :meth:`save_sql`, built once.

        Per event: ``(kind, variable, value, mode, actor, at)``, e.g.
        ``("e1_kind", "e1_variable", ...)``; spelling them on every save costs
        more than the rest of filling in the parameters.
        """
        keys = self._event_keys
        while len(keys) < event_count:
            n = len(keys) + 1
            keys.append(
                (
                    f"e{n}_kind",
                    f"e{n}_variable",
                    f"e{n}_value",
                    f"e{n}_mode",
                    f"e{n}_actor",
                    f"e{n}_at",
                )
            )
        return keys

    def save_sql(
        self, event_count: int, with_key: bool, personal_put: int = 0, personal_drop: bool = False
    ) -> str:
        """The save as one statement with data-modifying CTEs (built once per shape).

        The compare-and-set UPDATE, the idempotency key and the events are one
        statement: atomic on its own, so it runs without BEGIN/COMMIT, one
        round trip. The key and the events are inserted only from the row the
        UPDATE returned, so a stale or withdrawn save inserts nothing; a key
        used before fails the whole statement on its unique constraint. Events
        are numbered from the ``last_seq`` the UPDATE moved on, under the row
        lock it holds. Parameters: ``b_id``, ``b_expected``, ``b_state`` (JSON
        text), ``b_export_row``, ``b_status``, ``b_mode``, ``b_language``,
        ``b_now``, ``b_finished``, ``b_count``, ``b_last_answered`` (the variable of the
        save's last answer, or None to keep the row's), ``b_key``, and per event ``eN_kind``,
        ``eN_variable``, ``eN_value`` (JSON text or None), ``eN_mode``,
        ``eN_actor``, ``eN_at``.

        An interview's identifying answers that changed are written by the same
        statement, from the same ``saved`` row: ``personal_put`` upserts
        (parameters ``pN_variable``, ``pN_value`` as JSON text or None) and,
        with ``personal_drop``, a delete of the keys in ``b_drop`` (a list).
        The two never name the same key (``PersonalChange``), so no row is
        touched twice in the statement.
        """
        shape = (event_count, with_key, personal_put, personal_drop)
        cached = self._saves.get(shape)
        if cached is not None:
            return cached
        returned = ", ".join(self._returned)
        parts = [
            (
                "WITH saved AS ("
                " UPDATE interviews SET state = CAST(%(b_state)s AS JSON), export_row = %(b_export_row)s,"
                " status = %(b_status)s, mode = %(b_mode)s,"
                " language = COALESCE(CAST(%(b_language)s AS VARCHAR), language),"
                " revision = revision + 1, updated_at = %(b_now)s,"
                " finished_at = CASE WHEN %(b_finished)s THEN COALESCE(finished_at, %(b_now)s) ELSE NULL END,"
                " last_seq = last_seq + %(b_count)s,"
                " last_answered = COALESCE(CAST(%(b_last_answered)s AS VARCHAR), last_answered)"
                " WHERE id = %(b_id)s AND revision = %(b_expected)s AND status <> 'withdrawn'"
                f" RETURNING {returned})"
            )
        ]
        if with_key:
            parts.append(
                ", saved_key AS (INSERT INTO idempotency_keys"
                " (interview_id, key, revision, first_seq, event_count, created_at)"
                " SELECT id, CAST(%(b_key)s AS VARCHAR), revision,"
                " CASE WHEN %(b_count)s > 0 THEN last_seq - %(b_count)s + 1 END, %(b_count)s, %(b_now)s"
                " FROM saved)"
            )
        if event_count:
            rows = ", ".join(
                f"({i}, CAST(%(e{i}_kind)s AS VARCHAR), CAST(%(e{i}_variable)s AS VARCHAR),"
                f" CAST(%(e{i}_value)s AS JSON), CAST(%(e{i}_mode)s AS VARCHAR),"
                f" CAST(%(e{i}_actor)s AS VARCHAR), CAST(%(e{i}_at)s AS TIMESTAMPTZ))"
                for i in range(1, event_count + 1)
            )
            parts.append(
                ", saved_events AS (INSERT INTO answer_events"
                " (interview_id, seq, kind, variable, value, mode, actor, at)"
                " SELECT saved.id, saved.last_seq - %(b_count)s + e.n, e.kind, e.variable, e.value,"
                " e.mode, e.actor, e.at"
                f" FROM saved, (VALUES {rows}) AS e(n, kind, variable, value, mode, actor, at))"
            )
        if personal_drop:
            parts.append(
                ", dropped_personal AS (DELETE FROM personal_answers USING saved"
                " WHERE personal_answers.interview_id = saved.id"
                " AND personal_answers.variable = ANY(CAST(%(b_drop)s AS VARCHAR[])))"
            )
        if personal_put:
            rows = ", ".join(
                f"(CAST(%(p{i}_variable)s AS VARCHAR), CAST(%(p{i}_value)s AS JSON))"
                for i in range(1, personal_put + 1)
            )
            parts.append(
                ", put_personal AS (INSERT INTO personal_answers"
                " (interview_id, variable, value, updated_at)"
                " SELECT saved.id, p.variable, p.value, %(b_now)s"
                f" FROM saved, (VALUES {rows}) AS p(variable, value)"
                " ON CONFLICT (interview_id, variable)"
                " DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at)"
            )
        parts.append(f" SELECT {returned} FROM saved")
        return self._saves.setdefault(shape, "".join(parts))

    def _run(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """One statement in autocommit mode; its first row. Retried once on a dead connection."""
        for attempt in (1, 2):
            pooled = self._engine.raw_connection()
            try:
                connection: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)  # type: ignore[arg-type]  # fixed SQL, built here
                    return cursor.fetchone()
            except psycopg.OperationalError as exc:
                if attempt == 2 or not pooled.driver_connection.broken:  # type: ignore[union-attr]
                    raise
                pooled.invalidate(exc)
                # Every connection opened before this one may be dead too (a server
                # restart): start the pool afresh, as SQLAlchemy does on a disconnect.
                self._engine.dispose()
            finally:
                pooled.close()
        raise AssertionError("unreachable")


def _utc_if_time(value: Any) -> Any:
    """Times as UTC (what ``UTCDateTime`` gives through Core); anything else unchanged."""
    if type(value) is dt.datetime and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value
