"""The store API: every read and write of survey data goes through :class:`Store`.

Each method is one short transaction on its own connection, so a Store is
safe to share between the threads of a web worker. Writes that can race
(saving the same interview from two tabs, two workers) compare and set in
one statement: an ``UPDATE ... WHERE revision = expected`` that locks the row
on PostgreSQL, inside ``BEGIN IMMEDIATE`` on SQLite (see
:mod:`instrument.store.engine`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, NamedTuple, Self

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from instrument.store import migrate
from instrument.store.engine import (
    SINGLE_READ,
    WRITE_OPTION,
    PreSerialized,
    compact_json,
    create_store_engine,
    resolve_url,
)
from instrument.store.passwords import hash_password, verify_password
from instrument.store.pg_direct import DirectStatements, KeyAlreadyUsed
from instrument.store.records import (
    AccessToken,
    AnswerEvent,
    Contact,
    ExportRecord,
    ImportedInterview,
    InterviewNotFound,
    InterviewRecord,
    InterviewWithdrawn,
    NewEvent,
    QuestionnaireVersion,
    QuestionnaireVersionConflict,
    SaveResult,
    StaffUser,
    StaleRevision,
    StoreError,
    WithdrawalReport,
)
from instrument.store.schema import (
    FINISHED_STATUSES,
    INTERVIEW_STATUSES,
    STAFF_ROLES,
    UTCDateTime,
    access_tokens,
    answer_events,
    contacts,
    idempotency_keys,
    interviews,
    questionnaire_versions,
    staff_users,
)

__all__ = ["Store", "open_store"]

_MAX_TOKEN_LENGTH: Final = 200
# Verified against when the username is unknown or disabled, so that a login
# takes as long whether or not the account exists. It matches no password.
_DUMMY_HASH: Final = "scrypt$131072$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43

_INTERNAL_COLUMNS: Final = ("last_seq", "export_row")
_INTERVIEW_COLUMNS: Final = (
    *(column for column in interviews.c if column.name not in _INTERNAL_COLUMNS),
    questionnaire_versions.c.questionnaire_id,
    questionnaire_versions.c.version,
)

_RECENT_SAVES: Final = 512
"""Interviews per Store whose latest snapshot is kept in memory (see :class:`_Recent`)."""

# ----------------------------------------------------------------------
# The statements of a page turn, built once. Building a Core statement costs
# more CPU than running it (coercions, cache key); a statement built once is
# compiled once and its cache key is memoised on it.

_B_ID = sa.bindparam("b_id", type_=sa.String())
_B_NOW = sa.bindparam("b_now", type_=UTCDateTime())
_B_KEY = sa.bindparam("b_key", type_=sa.String())

# Interview columns other than the state, in InterviewRecord's terms.
_PLAIN_COLUMNS: Final = tuple(
    column
    for column in interviews.c
    if column.name != "state" and column.name not in _INTERNAL_COLUMNS
)

_LOAD: Final = (
    sa.select(
        *_PLAIN_COLUMNS,
        # The state as its JSON text: decoded here, and kept as text by the cache.
        sa.cast(interviews.c.state, sa.Text).label("state"),
        questionnaire_versions.c.questionnaire_id,
        questionnaire_versions.c.version,
    )
    .select_from(
        interviews.join(
            questionnaire_versions,
            interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
        )
    )
    .where(interviews.c.id == _B_ID)
)

_REVISION_OF: Final = sa.select(interviews.c.revision).where(interviews.c.id == _B_ID)

# The compare-and-set: one UPDATE that matches only the expected revision of
# an interview that is not withdrawn, moves the revision and the event counter
# on, and returns the new row (minus the state, which the caller holds).
_SAVE: Final = (
    interviews.update()
    .where(
        interviews.c.id == _B_ID,
        interviews.c.revision == sa.bindparam("b_expected", type_=sa.Integer()),
        interviews.c.status != sa.bindparam("b_withdrawn", "withdrawn", type_=sa.String()),
    )
    .values(
        state=sa.bindparam("b_state", type_=interviews.c.state.type),
        export_row=sa.bindparam("b_export_row", type_=sa.Text()),
        status=sa.bindparam("b_status", type_=sa.String()),
        mode=sa.bindparam("b_mode", type_=sa.String()),
        language=sa.func.coalesce(
            sa.bindparam("b_language", type_=sa.String()), interviews.c.language
        ),
        revision=interviews.c.revision + 1,
        updated_at=_B_NOW,
        finished_at=sa.case(
            (
                sa.bindparam("b_finished", type_=sa.Boolean()),
                sa.func.coalesce(interviews.c.finished_at, _B_NOW),
            ),
            else_=sa.null(),
        ),
        last_seq=interviews.c.last_seq + sa.bindparam("b_count", type_=sa.Integer()),
    )
    .returning(*_PLAIN_COLUMNS, interviews.c.last_seq)
)

_INSERT_EVENTS: Final = answer_events.insert()
_INSERT_KEY: Final = idempotency_keys.insert()

# Why a save matched nothing: no such interview, a replayed key, withdrawn, or stale.
_WHY_NOT_SAVED: Final = (
    sa.select(
        interviews.c.revision,
        interviews.c.status,
        idempotency_keys.c.revision.label("key_revision"),
        idempotency_keys.c.first_seq,
        idempotency_keys.c.event_count,
    )
    .select_from(
        interviews.outerjoin(
            idempotency_keys,
            sa.and_(
                idempotency_keys.c.interview_id == interviews.c.id,
                idempotency_keys.c.key == _B_KEY,
            ),
        )
    )
    .where(interviews.c.id == _B_ID)
)

_VERSION_LABELS: Final = sa.select(
    questionnaire_versions.c.questionnaire_id, questionnaire_versions.c.version
).where(questionnaire_versions.c.id == sa.bindparam("b_version_id", type_=sa.Integer()))


class _KeyAlreadyUsed(Exception):
    """Raised inside a save to roll it back: its idempotency key was used before."""


class _Snapshot(NamedTuple):
    record: InterviewRecord  # with an empty state: the state is ``state_text``
    state_text: str


class _Recent:
    """The latest snapshot of the interviews this process saved or read lately.

    Showing the page after a save, and reading the interview again for the
    next answer, would each read the whole row and decode its state. With
    this, a read asks the database only for the interview's revision (one
    integer, no BEGIN/COMMIT) and uses the snapshot when the revision is the
    one remembered. The revision is the interview row's version number: every
    change to the row (a save here, a save by another worker or process, a
    withdrawal) raises it, and rows are never deleted, so an equal revision
    proves the remembered row is the stored one. Anything else is a full read.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, _Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, interview_id: str) -> _Snapshot | None:
        with self._lock:
            return self._items.get(interview_id)

    def put(self, snapshot: _Snapshot) -> None:
        with self._lock:
            self._items[snapshot.record.id] = snapshot
            self._items.move_to_end(snapshot.record.id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, interview_id: str) -> None:
        with self._lock:
            self._items.pop(interview_id, None)


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware time")
    return now.astimezone(dt.UTC)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def open_store(url: str | URL | None = None, *, upgrade: bool = True) -> Store:
    """Open the store at ``url`` (else ``$INSTRUMENT_DATABASE_URL``, else ./instrument.db).

    The schema is created or migrated to the newest revision on first use
    (``upgrade=False`` skips that, for tools that only inspect a database).
    """
    engine = create_store_engine(resolve_url(url))
    if upgrade and migrate.current_revision(engine) != migrate.head_revision():
        migrate.upgrade(engine)
    return Store(engine)


class Store:
    """Typed access to questionnaires, interviews, events, staff, tokens and contacts."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Engines sharing the pool, with the options set once instead of per connection.
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._single_reader = engine.execution_options(**{SINGLE_READ: True})
        self._recent = _Recent(_RECENT_SAVES)
        # Questionnaire version rows are never changed: their labels can be kept.
        self._version_labels: dict[int, tuple[str, str]] = {}
        # The pre-serialised state (and so the cache) needs the store's own JSON serializer.
        self._own_json = getattr(engine.dialect, "_json_serializer", None) is compact_json
        # PostgreSQL: the revision read and the save of every page turn bypass Core (pg_direct).
        self._direct = (
            DirectStatements(engine, [c.name for c in (*_PLAIN_COLUMNS, interviews.c.last_seq)])
            if engine.dialect.name == "postgresql"
            else None
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

    # ------------------------------------------------------------------
    # Questionnaire versions

    def add_questionnaire_version(
        self,
        questionnaire_id: str,
        version: str,
        source_text: str,
        *,
        now: dt.datetime | None = None,
    ) -> QuestionnaireVersion:
        """Store a questionnaire's source text once; the same text again returns the first row.

        Raises :class:`QuestionnaireVersionConflict` if that exact text was
        stored under a different questionnaire id or version label.
        """
        content_hash = _sha256(source_text)
        existing = self._version_by_hash(content_hash)
        if existing is None:
            try:
                with self._transaction(write=True) as connection:
                    connection.execute(
                        questionnaire_versions.insert().values(
                            questionnaire_id=questionnaire_id,
                            version=version,
                            content_hash=content_hash,
                            source_text=source_text,
                            created_at=_utc(now),
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # stored by a concurrent caller a moment ago; read theirs
            existing = self._version_by_hash(content_hash)
            assert existing is not None
        if (existing.questionnaire_id, existing.version) != (questionnaire_id, version):
            raise QuestionnaireVersionConflict(
                f"this source text is already stored as {existing.questionnaire_id!r} "
                f"version {existing.version!r}"
            )
        return existing

    def _version_by_hash(self, content_hash: str) -> QuestionnaireVersion | None:
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(questionnaire_versions).where(
                    questionnaire_versions.c.content_hash == content_hash
                )
            ).one_or_none()
        return None if row is None else QuestionnaireVersion(**row._asdict())

    def get_questionnaire_version(self, version_id: int) -> QuestionnaireVersion:
        """The questionnaire version with this id; LookupError if there is none."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(questionnaire_versions).where(questionnaire_versions.c.id == version_id)
            ).one_or_none()
        if row is None:
            raise LookupError(f"no questionnaire version {version_id}")
        return QuestionnaireVersion(**row._asdict())

    def list_questionnaire_versions(
        self, questionnaire_id: str | None = None
    ) -> list[QuestionnaireVersion]:
        """All stored versions (of one questionnaire, if given), oldest first."""
        stmt = sa.select(questionnaire_versions).order_by(questionnaire_versions.c.id)
        if questionnaire_id is not None:
            stmt = stmt.where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
        with self._transaction() as connection:
            return [QuestionnaireVersion(**row._asdict()) for row in connection.execute(stmt)]

    def questionnaire_ids(self) -> list[str]:
        """The ids of every questionnaire with at least one stored version, sorted."""
        stmt = sa.select(questionnaire_versions.c.questionnaire_id).distinct()
        with self._transaction() as connection:
            return sorted(connection.scalars(stmt))

    # ------------------------------------------------------------------
    # Interviews

    def create_interview(
        self,
        version_id: int,
        *,
        mode: str,
        language: str,
        state: dict[str, Any],
        case_id: str | None = None,
        is_test: bool = False,
        now: dt.datetime | None = None,
        interview_id: str | None = None,
    ) -> InterviewRecord:
        """Start an interview at revision 0 on questionnaire version ``version_id``."""
        now = _utc(now)
        new_id = interview_id or str(uuid.uuid4())
        with self._transaction(write=True) as connection:
            exists = connection.scalar(
                sa.select(questionnaire_versions.c.id).where(
                    questionnaire_versions.c.id == version_id
                )
            )
            if exists is None:
                raise LookupError(f"no questionnaire version {version_id}")
            connection.execute(
                interviews.insert().values(
                    id=new_id,
                    questionnaire_version_id=version_id,
                    case_id=case_id,
                    mode=mode,
                    language=language,
                    status="active",
                    is_test=is_test,
                    state=state,
                    revision=0,
                    started_at=now,
                    updated_at=now,
                    finished_at=None,
                )
            )
            return self._load(connection, new_id)

    def import_interviews(
        self,
        version_id: int,
        items: Iterable[ImportedInterview],
        *,
        batch_size: int = 1000,
        now: dt.datetime | None = None,
    ) -> int:
        """Store finished interviews in bulk, with their events; returns how many.

        For test data (``instrument simulate --database``) and migrations from
        other systems, where nobody else can be editing these interviews: each
        batch of ``batch_size`` interviews and all their events go in one
        transaction with one multi-row insert per table, instead of two
        durable transactions per interview.
        """
        now = _utc(now)
        with self._transaction() as connection:
            if (
                connection.scalar(
                    sa.select(questionnaire_versions.c.id).where(
                        questionnaire_versions.c.id == version_id
                    )
                )
                is None
            ):
                raise LookupError(f"no questionnaire version {version_id}")
        total = 0
        batch: list[ImportedInterview] = []
        for item in items:
            batch.append(item)
            if len(batch) >= batch_size:
                total += self._import_batch(version_id, batch, now)
                batch = []
        if batch:
            total += self._import_batch(version_id, batch, now)
        return total

    def _import_batch(
        self, version_id: int, batch: Sequence[ImportedInterview], now: dt.datetime
    ) -> int:
        interview_rows = []
        event_rows = []
        for item in batch:
            if item.status not in INTERVIEW_STATUSES or item.status == "withdrawn":
                raise ValueError(f"cannot import an interview with status {item.status!r}")
            new_id = item.interview_id or str(uuid.uuid4())
            started = _utc(item.started_at) if item.started_at else now
            finished = _utc(item.finished_at) if item.finished_at else None
            interview_rows.append(
                {
                    "id": new_id,
                    "questionnaire_version_id": version_id,
                    "case_id": item.case_id,
                    "mode": item.mode,
                    "language": item.language,
                    "status": item.status,
                    "is_test": item.is_test,
                    "state": item.state,
                    "export_row": item.export_row,
                    "revision": 1,
                    "last_seq": len(item.events),
                    "started_at": started,
                    "updated_at": finished or started,
                    "finished_at": finished if item.status in FINISHED_STATUSES else None,
                }
            )
            for seq, event in enumerate(item.events, start=1):
                event_rows.append(
                    {
                        "interview_id": new_id,
                        "seq": seq,
                        "kind": event.kind,
                        "variable": event.variable,
                        "value": event.value,
                        "mode": event.mode or item.mode,
                        "actor": event.actor,
                        "at": _utc(event.at) if event.at is not None else started,
                    }
                )
        with self._transaction(write=True) as connection:
            connection.execute(interviews.insert(), interview_rows)
            if event_rows:
                connection.execute(answer_events.insert(), event_rows)
        return len(interview_rows)

    def load_interview(self, interview_id: str, *, recent: bool = False) -> InterviewRecord:
        """The interview's current snapshot; :class:`InterviewNotFound` if unknown.

        One statement, without BEGIN/COMMIT. When this process saved or read
        the interview lately, only its revision is read, and the remembered
        snapshot is returned if that is still the stored revision (see
        :class:`_Recent`); otherwise the whole row.

        ``recent=True`` returns the remembered snapshot without asking the
        database at all. It may be out of date, so it is only for a caller
        that saves next with ``expected_revision`` (a compare-and-set that
        refuses a stale revision, and replays a used idempotency key) and
        reads again when the revision is not the one it expected.
        """
        params = {"b_id": interview_id}
        remembered = self._recent.get(interview_id)
        if remembered is not None and recent:
            return dataclasses.replace(remembered.record, state=json.loads(remembered.state_text))
        if remembered is not None:
            revision = self.revision_of(interview_id)
            if revision is None:
                self._recent.drop(interview_id)
                raise InterviewNotFound(interview_id)
            if revision == remembered.record.revision:
                return dataclasses.replace(
                    remembered.record, state=json.loads(remembered.state_text)
                )
        row = self._read_one(_LOAD, params)
        if row is None:
            self._recent.drop(interview_id)
            raise InterviewNotFound(interview_id)
        values = row._asdict()
        state_text = values.pop("state")
        self._version_labels[row.questionnaire_version_id] = (row.questionnaire_id, row.version)
        record = InterviewRecord(**values, state=json.loads(state_text))
        if self._own_json:
            self._recent.put(_Snapshot(dataclasses.replace(record, state={}), state_text))
        return record

    def revision_of(self, interview_id: str) -> int | None:
        """The interview's stored revision (None if there is no such interview): one small read.

        For callers that keep an interview in memory between requests: an
        equal revision proves the kept copy is the stored one (see
        :class:`_Recent`; rows are never deleted and every change raises it).
        """
        if self._direct is not None:
            return self._direct.revision_of(interview_id)
        current = self._read_one(_REVISION_OF, {"b_id": interview_id})
        return None if current is None else int(current.revision)

    def _labels(self, version_id: int) -> tuple[str, str]:
        """``(questionnaire_id, version)`` of a questionnaire version (rows never change)."""
        labels = self._version_labels.get(version_id)
        if labels is None:
            row = self._read_one(_VERSION_LABELS, {"b_version_id": version_id})
            if row is None:
                raise LookupError(f"no questionnaire version {version_id}")
            labels = self._version_labels.setdefault(version_id, (row[0], row[1]))
        return labels

    @staticmethod
    def _interview_select() -> sa.Select[Any]:
        return sa.select(*_INTERVIEW_COLUMNS).select_from(
            interviews.join(
                questionnaire_versions,
                interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
            )
        )

    def _load(self, connection: sa.Connection, interview_id: str) -> InterviewRecord:
        row = connection.execute(
            self._interview_select().where(interviews.c.id == interview_id)
        ).one_or_none()
        if row is None:
            raise InterviewNotFound(interview_id)
        return InterviewRecord(**row._asdict())

    def interviews_for_case(self, case_id: str) -> list[InterviewRecord]:
        """Every interview of one case, oldest first (a case may span waves or restarts)."""
        stmt = (
            self._interview_select()
            .where(interviews.c.case_id == case_id)
            .order_by(interviews.c.started_at, interviews.c.id)
        )
        with self._transaction() as connection:
            return [InterviewRecord(**row._asdict()) for row in connection.execute(stmt)]

    def save_interview(
        self,
        interview_id: str,
        *,
        expected_revision: int,
        state: dict[str, Any],
        status: str,
        mode: str,
        events: Sequence[NewEvent] = (),
        idempotency_key: str | None = None,
        now: dt.datetime | None = None,
        language: str | None = None,
        export_row: str | None = None,
    ) -> SaveResult:
        """Save a new state snapshot and append events, all or nothing.

        In one transaction: lock the interview row; if ``idempotency_key``
        was used before on this interview, return that save's result with
        ``replayed=True`` and write nothing; otherwise require the stored
        revision to equal ``expected_revision`` (else :class:`StaleRevision`,
        nothing written), write the state at revision + 1, append ``events``
        with consecutive seq numbers, and record the key.

        ``export_row`` is the dataset row this state gives (see
        :class:`instrument.dataset.RowCoder`); without one the stored row is
        cleared, so a row is never older than its state.
        """
        if status not in INTERVIEW_STATUSES:
            raise ValueError(f"unknown interview status {status!r}")
        if status == "withdrawn":
            raise ValueError("withdrawal deletes data: use Store.withdraw, not save_interview")
        now = _utc(now)
        # Serialised once: the same text is written and remembered (see _Recent).
        state_text = compact_json(state) if self._own_json else None
        params = {
            "b_id": interview_id,
            "b_expected": expected_revision,
            "b_state": PreSerialized(state_text) if state_text is not None else state,
            "b_export_row": export_row,
            "b_status": status,
            "b_mode": mode,
            "b_language": language,
            "b_now": now,
            "b_finished": status in FINISHED_STATUSES,
            "b_count": len(events),
        }
        if self._direct is not None:
            state_json = state_text if state_text is not None else compact_json(state)
            saved = self._save_in_one_statement(
                params, state_json, events, idempotency_key, mode, now
            )
            if saved is None:
                with self._transaction() as connection:
                    return self._not_saved(
                        connection, interview_id, expected_revision, idempotency_key
                    )
            last_seq = saved.pop("last_seq")
            first_seq = last_seq - len(events) + 1 if events else None
            values = saved
        else:
            try:
                row, first_seq = self._save_in_a_transaction(
                    params, events, idempotency_key, mode, now
                )
            except _KeyAlreadyUsed:
                row = None
            if row is None:
                with self._transaction() as connection:
                    return self._not_saved(
                        connection, interview_id, expected_revision, idempotency_key
                    )
            values = row._asdict()
            del values["last_seq"]
        questionnaire_id, version = self._labels(values["questionnaire_version_id"])
        record = InterviewRecord(
            **values, questionnaire_id=questionnaire_id, version=version, state=state
        )
        if state_text is not None:
            self._recent.put(_Snapshot(dataclasses.replace(record, state={}), state_text))
        return SaveResult(
            interview_id=interview_id,
            revision=values["revision"],
            replayed=False,
            first_seq=first_seq,
            event_count=len(events),
            record=record,
        )

    def _save_in_a_transaction(
        self,
        params: dict[str, Any],
        events: Sequence[NewEvent],
        idempotency_key: str | None,
        mode: str,
        now: dt.datetime,
    ) -> tuple[sa.Row[Any] | None, int | None]:
        """The save as an UPDATE and two INSERTs in one write transaction (SQLite)."""
        with self._transaction(write=True) as connection:
            # Compare-and-set: matches only at the expected revision. SQLite's
            # BEGIN IMMEDIATE holds the write lock throughout.
            row = connection.execute(_SAVE, params).one_or_none()
            if row is None:
                return None, None
            first_seq = row.last_seq - len(events) + 1 if events else None
            if idempotency_key is not None:
                try:
                    connection.execute(
                        _INSERT_KEY,
                        {
                            "interview_id": params["b_id"],
                            "key": idempotency_key,
                            "revision": row.revision,
                            "first_seq": first_seq,
                            "event_count": len(events),
                            "created_at": now,
                        },
                    )
                except sa.exc.IntegrityError as exc:
                    # The key was used at an earlier revision, and this save
                    # carries the current one: undo the UPDATE, answer from the key.
                    raise _KeyAlreadyUsed from exc
            if events:
                assert first_seq is not None
                connection.execute(
                    _INSERT_EVENTS,
                    [
                        {
                            "interview_id": params["b_id"],
                            "seq": first_seq + offset,
                            "kind": item.kind,
                            "variable": item.variable,
                            "value": item.value,
                            "mode": item.mode or mode,
                            "actor": item.actor,
                            "at": _utc(item.at) if item.at is not None else now,
                        }
                        for offset, item in enumerate(events)
                    ],
                )
        return row, first_seq

    def _save_in_one_statement(
        self,
        params: dict[str, Any],
        state_json: str,
        events: Sequence[NewEvent],
        idempotency_key: str | None,
        mode: str,
        now: dt.datetime,
    ) -> dict[str, Any] | None:
        """The save as one statement without BEGIN/COMMIT (PostgreSQL; see :meth:`DirectStatements.save_sql`).

        None when it matched nothing or its idempotency key was used before:
        the caller then asks why.
        """
        assert self._direct is not None
        values = dict(params)
        values["b_state"] = state_json
        values["b_key"] = idempotency_key
        for i, item in enumerate(events, start=1):
            values[f"e{i}_kind"] = item.kind
            values[f"e{i}_variable"] = item.variable
            values[f"e{i}_value"] = None if item.value is None else compact_json(item.value)
            values[f"e{i}_mode"] = item.mode or mode
            values[f"e{i}_actor"] = item.actor
            values[f"e{i}_at"] = _utc(item.at) if item.at is not None else now
        try:
            return self._direct.save(values, len(events), idempotency_key is not None)
        except KeyAlreadyUsed:
            return None

    @staticmethod
    def _not_saved(
        connection: sa.Connection,
        interview_id: str,
        expected_revision: int,
        idempotency_key: str | None,
    ) -> SaveResult:
        """Why a save wrote nothing, in the order the API promises: unknown, replay, withdrawn, stale.

        Called in the save's own transaction, after its UPDATE matched no row,
        or after a save rolled back because its key was used before. The
        revision only ever grows and withdrawal is final, so whatever made the
        UPDATE miss is still true here.
        """
        why = connection.execute(
            _WHY_NOT_SAVED, {"b_id": interview_id, "b_key": idempotency_key}
        ).one_or_none()
        if why is None:
            raise InterviewNotFound(interview_id)
        if idempotency_key is not None and why.key_revision is not None:
            return SaveResult(
                interview_id=interview_id,
                revision=why.key_revision,
                replayed=True,
                first_seq=why.first_seq,
                event_count=why.event_count,
            )
        if why.status == "withdrawn":
            raise InterviewWithdrawn(f"interview {interview_id} was withdrawn")
        if why.revision != expected_revision:
            raise StaleRevision(interview_id, expected_revision, why.revision)
        raise StoreError(
            f"interview {interview_id} could not be saved at revision {expected_revision}"
        )

    def iter_interviews(
        self,
        questionnaire_id: str,
        *,
        statuses: Collection[str] | None = None,
        include_test: bool = False,
        since: dt.datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[InterviewRecord]:
        """Stream the interviews of a questionnaire (all its versions), oldest first.

        ``statuses`` limits to those statuses (all if None); test interviews
        are left out unless ``include_test``; ``since`` keeps interviews
        *updated* at or after that time. Rows arrive ``batch_size`` at a time
        (a server-side cursor on PostgreSQL), so memory stays flat for
        100,000 interviews. The read runs in one transaction, so the stream
        is a consistent snapshot on PostgreSQL and in SQLite's WAL mode.
        """
        stmt = self._interview_filter(
            self._interview_select(), questionnaire_id, statuses, include_test, since
        )
        with self._transaction() as connection:
            result = connection.execute(stmt.execution_options(yield_per=batch_size))
            for row in result:
                yield InterviewRecord(**row._asdict())

    def iter_export_records(
        self,
        questionnaire_id: str,
        *,
        export_keys: Collection[str] = (),
        statuses: Collection[str] | None = None,
        include_test: bool = False,
        since: dt.datetime | None = None,
        batch_size: int = 5000,
    ) -> Iterator[ExportRecord]:
        """Stream what an export needs of each interview, oldest first (filters as :meth:`iter_interviews`).

        Each record carries the interview's stored export row; one whose row
        begins with one of ``export_keys`` (all of one length) comes without
        its state (``{}``): the export reads the row instead, and the
        database sends and decodes no state for it. No times are read except
        ``updated_at`` when selecting by ``since``.
        """
        keys = sorted(set(export_keys))
        if len({len(key) for key in keys}) > 1:
            raise ValueError("export keys must all have the same length")
        state: sa.ColumnElement[Any] = interviews.c.state
        if keys:
            state = sa.type_coerce(
                sa.case(
                    (sa.func.substr(interviews.c.export_row, 1, len(keys[0])).in_(keys), sa.null()),
                    else_=interviews.c.state,
                ),
                interviews.c.state.type,
            )
        stmt = sa.select(
            interviews.c.id,
            interviews.c.questionnaire_version_id,
            questionnaire_versions.c.content_hash,
            interviews.c.status,
            interviews.c.is_test,
            interviews.c.updated_at if since is not None else sa.null().label("updated_at"),
            interviews.c.export_row,
            state.label("state"),
        ).select_from(
            interviews.join(
                questionnaire_versions,
                interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
            )
        )
        stmt = self._interview_filter(stmt, questionnaire_id, statuses, include_test, since)
        make = ExportRecord._make
        with self._transaction() as connection:
            result = connection.execute(stmt.execution_options(yield_per=batch_size))
            for row in result:
                record = make(row)
                yield record if record.state is not None else record._replace(state={})

    @staticmethod
    def _interview_filter(
        stmt: sa.Select[Any],
        questionnaire_id: str,
        statuses: Collection[str] | None,
        include_test: bool,
        since: dt.datetime | None,
    ) -> sa.Select[Any]:
        stmt = stmt.where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
        if statuses is not None:
            unknown = set(statuses) - set(INTERVIEW_STATUSES)
            if unknown:
                raise ValueError(f"unknown interview statuses {sorted(unknown)}")
            stmt = stmt.where(interviews.c.status.in_(list(statuses)))
        if not include_test:
            stmt = stmt.where(interviews.c.is_test.is_(False))
        if since is not None:
            stmt = stmt.where(interviews.c.updated_at >= _utc(since))
        return stmt.order_by(interviews.c.started_at, interviews.c.id)

    def count_by_status(
        self, questionnaire_id: str, *, include_test: bool = False
    ) -> dict[str, int]:
        """Interviews of a questionnaire per status; every status is present, zeros included."""
        stmt = (
            sa.select(interviews.c.status, sa.func.count())
            .select_from(
                interviews.join(
                    questionnaire_versions,
                    interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
                )
            )
            .where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
            .group_by(interviews.c.status)
        )
        if not include_test:
            stmt = stmt.where(interviews.c.is_test.is_(False))
        counts = dict.fromkeys(INTERVIEW_STATUSES, 0)
        with self._transaction() as connection:
            for status, count in connection.execute(stmt):
                counts[status] = count
        return counts

    # ------------------------------------------------------------------
    # Events

    def events_for(self, interview_id: str) -> list[AnswerEvent]:
        """The interview's event log in seq order."""
        stmt = (
            sa.select(answer_events)
            .where(answer_events.c.interview_id == interview_id)
            .order_by(answer_events.c.seq)
        )
        with self._transaction() as connection:
            return [AnswerEvent(**row._asdict()) for row in connection.execute(stmt)]

    def iter_events(
        self,
        questionnaire_id: str,
        *,
        kinds: Collection[str] | None = None,
        include_test: bool = False,
        batch_size: int = 5000,
    ) -> Iterator[AnswerEvent]:
        """Stream every event of a questionnaire's interviews, by interview then seq.

        One query for the whole questionnaire, for exports such as the
        paradata file, instead of one :meth:`events_for` per interview.
        """
        stmt = (
            sa.select(answer_events)
            .select_from(
                answer_events.join(
                    interviews, answer_events.c.interview_id == interviews.c.id
                ).join(
                    questionnaire_versions,
                    interviews.c.questionnaire_version_id == questionnaire_versions.c.id,
                )
            )
            .where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
            .order_by(answer_events.c.interview_id, answer_events.c.seq)
        )
        if kinds is not None:
            stmt = stmt.where(answer_events.c.kind.in_(list(kinds)))
        if not include_test:
            stmt = stmt.where(interviews.c.is_test.is_(False))
        with self._transaction() as connection:
            for row in connection.execute(stmt.execution_options(yield_per=batch_size)):
                yield AnswerEvent(**row._asdict())

    # ------------------------------------------------------------------
    # Staff users

    def create_staff_user(
        self,
        username: str,
        password: str,
        *,
        role: str = "researcher",
        now: dt.datetime | None = None,
    ) -> StaffUser:
        """Add a staff account; the password is stored only as a salted scrypt hash."""
        if role not in STAFF_ROLES:
            raise ValueError(f"unknown staff role {role!r}; use one of {STAFF_ROLES}")
        if not username or not password:
            raise ValueError("a staff user needs a username and a password")
        password_hash = hash_password(password)
        try:
            with self._transaction(write=True) as connection:
                connection.execute(
                    staff_users.insert().values(
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        created_at=_utc(now),
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
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(staff_users).where(staff_users.c.username == username)
            ).one_or_none()
        return None if row is None else self._staff(row)

    def get_staff_user_by_id(self, user_id: int) -> StaffUser | None:
        """The staff account with this id, or None (for a session that stores the id)."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(staff_users).where(staff_users.c.id == user_id)
            ).one_or_none()
        return None if row is None else self._staff(row)

    @staticmethod
    def _staff(row: sa.Row[Any]) -> StaffUser:
        return StaffUser(
            id=row.id,
            username=row.username,
            role=row.role,
            created_at=row.created_at,
            disabled=row.disabled,
        )

    def verify_staff_password(self, username: str, password: str) -> StaffUser | None:
        """The user if the password is right and the account enabled, else None.

        Unknown and disabled accounts cost the same hashing time as real ones,
        so timing does not reveal which usernames exist.
        """
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(staff_users).where(staff_users.c.username == username)
            ).one_or_none()
        if row is None or row.disabled:
            verify_password(password, _DUMMY_HASH)
            return None
        return self._staff(row) if verify_password(password, row.password_hash) else None

    def set_staff_disabled(self, username: str, disabled: bool = True) -> None:
        """Disable (or re-enable) a staff account; LookupError if there is none."""
        with self._transaction(write=True) as connection:
            result = connection.execute(
                staff_users.update()
                .where(staff_users.c.username == username)
                .values(disabled=disabled)
            )
            if result.rowcount != 1:
                raise LookupError(f"no staff user {username!r}")

    # ------------------------------------------------------------------
    # Access tokens

    def issue_token(
        self,
        questionnaire_id: str,
        *,
        case_id: str | None = None,
        interview_id: str | None = None,
        purpose: str = "respondent",
        expires_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        """Create a personal-link token and return it; this is the only time it exists in clear.

        The token has 256 bits from :func:`secrets.token_urlsafe`; only its
        SHA-256 is stored (a fast hash is enough for a random secret that
        long: there is nothing to guess offline).
        """
        token = secrets.token_urlsafe(32)
        with self._transaction(write=True) as connection:
            connection.execute(
                access_tokens.insert().values(
                    token_hash=_sha256(token),
                    interview_id=interview_id,
                    case_id=case_id,
                    questionnaire_id=questionnaire_id,
                    purpose=purpose,
                    created_at=_utc(now),
                    expires_at=_utc(expires_at) if expires_at is not None else None,
                    used_at=None,
                )
            )
        return token

    def find_token(self, token: str) -> AccessToken | None:
        """The stored token whose hash matches ``token``, or None.

        Expiry is reported, not enforced: the caller checks
        :meth:`AccessToken.is_expired` so that it can tell the respondent why.
        """
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        digest = _sha256(token)
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(access_tokens).where(access_tokens.c.token_hash == digest)
            ).one_or_none()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return AccessToken(**row._asdict())

    def attach_token(
        self, token_id: int, interview_id: str, *, now: dt.datetime | None = None
    ) -> str:
        """Record that a token's link started ``interview_id``; return the interview it is attached to.

        Compare-and-set: a token attaches to one interview only. When two devices
        open a new personal link at the same instant, the first attach wins and
        the other caller gets the winner's id back (its own fresh interview is
        then left unattached, with nothing answered in it).
        """
        with self._transaction(write=True) as connection:
            connection.execute(
                access_tokens.update()
                .where(
                    access_tokens.c.id == token_id,
                    sa.or_(
                        access_tokens.c.interview_id.is_(None),
                        access_tokens.c.interview_id == interview_id,
                    ),
                )
                .values(
                    interview_id=interview_id,
                    used_at=sa.func.coalesce(access_tokens.c.used_at, _utc(now)),
                )
            )
            attached = connection.scalar(
                sa.select(access_tokens.c.interview_id).where(access_tokens.c.id == token_id)
            )
        if attached is None:
            raise LookupError(f"no access token {token_id}")
        return str(attached)

    def set_staff_password(self, username: str, password: str) -> None:
        """Replace a staff account's password (stored only as a salted scrypt hash)."""
        if not password:
            raise ValueError("a password cannot be empty")
        with self._transaction(write=True) as connection:
            updated = connection.execute(
                staff_users.update()
                .where(staff_users.c.username == username)
                .values(password_hash=hash_password(password))
            )
        if updated.rowcount != 1:
            raise LookupError(f"no staff user {username!r}")

    # ------------------------------------------------------------------
    # Contacts (personal data)

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
        values = {"name": name, "email": email, "phone": phone, "updated_at": _utc(now)}
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
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(contacts).where(contacts.c.case_id == case_id)
            ).one_or_none()
        return None if row is None else Contact(**row._asdict())

    # ------------------------------------------------------------------
    # Withdrawal

    def withdraw(self, case_id: str, *, now: dt.datetime | None = None) -> WithdrawalReport:
        """Delete a case's answers and contact details, keeping a tombstone.

        In one transaction, for every interview of the case: delete its
        events and idempotency keys, empty its state and export row, set status
        ``withdrawn`` and bump its revision (so any save still in flight is
        refused); delete the case's contact row; expire its access tokens.
        What remains is the interview row without answers (questionnaire
        version, mode, times), so response rates still add up.
        """
        return self._withdraw(interviews.c.case_id == case_id, case_id=case_id, now=now)

    def withdraw_interview(
        self, interview_id: str, *, now: dt.datetime | None = None
    ) -> WithdrawalReport:
        """Withdraw one interview (an open-link respondent has no case id); as :meth:`withdraw`."""
        record = self.load_interview(interview_id)
        return self._withdraw(
            interviews.c.id == interview_id, case_id=record.case_id, now=now, keep_contact=True
        )

    def _withdraw(
        self,
        which: sa.ColumnElement[bool],
        *,
        case_id: str | None,
        now: dt.datetime | None,
        keep_contact: bool = False,
    ) -> WithdrawalReport:
        now = _utc(now)
        with self._transaction(write=True) as connection:
            ids = tuple(
                connection.scalars(
                    sa.select(interviews.c.id)
                    .where(which)
                    .order_by(interviews.c.id)
                    .with_for_update()
                )
            )
            events_deleted = 0
            if ids:
                events_deleted = connection.execute(
                    answer_events.delete().where(answer_events.c.interview_id.in_(ids))
                ).rowcount
                connection.execute(
                    idempotency_keys.delete().where(idempotency_keys.c.interview_id.in_(ids))
                )
                connection.execute(
                    interviews.update()
                    .where(interviews.c.id.in_(ids))
                    .values(
                        state={},
                        export_row=None,
                        status="withdrawn",
                        revision=interviews.c.revision + 1,
                        updated_at=now,
                        finished_at=sa.func.coalesce(interviews.c.finished_at, now),
                    )
                )
            contacts_deleted = 0
            if case_id is not None and not keep_contact:
                contacts_deleted = connection.execute(
                    contacts.delete().where(contacts.c.case_id == case_id)
                ).rowcount
            token_match = []
            if case_id is not None and not keep_contact:
                token_match.append(access_tokens.c.case_id == case_id)
            if ids:
                token_match.append(access_tokens.c.interview_id.in_(ids))
            tokens_revoked = 0
            if token_match:
                tokens_revoked = connection.execute(
                    access_tokens.update()
                    .where(
                        sa.or_(*token_match),
                        sa.or_(
                            access_tokens.c.expires_at.is_(None), access_tokens.c.expires_at > now
                        ),
                    )
                    .values(expires_at=now)
                ).rowcount
        return WithdrawalReport(
            case_id=case_id,
            interview_ids=ids,
            events_deleted=events_deleted,
            contacts_deleted=contacts_deleted,
            tokens_revoked=tokens_revoked,
        )
