"""The store, on SQLite and on PostgreSQL (every test taking ``store`` or ``database_url`` runs on both)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from instrument.commands.db import db
from instrument.store import (
    InterviewNotFound,
    InterviewWithdrawn,
    NewEvent,
    QuestionnaireVersionConflict,
    StaleRevision,
    Store,
    migrate,
    open_store,
    resolve_url,
)
from instrument.store.engine import create_store_engine
from instrument.store.schema import metadata
from tests.store_fixtures import *

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
YAML = "meta:\n  id: social_licence\n  version: '1'\nquestions: []\n"


def _minutes(n: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def _dump_database(store: Store) -> str:
    """Every value in every table of the store, as one string."""
    parts: list[str] = []
    with store.engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def _new_interview(store: Store, **kwargs):  # type: ignore[no-untyped-def]
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    options = {"mode": "web", "language": "en", "state": {"answers": {}}, "now": T0, **kwargs}
    return store.create_interview(version.id, **options)


# ---------------------------------------------------------------- migrations


@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index"
)
def test_migrations_from_empty_give_exactly_the_schema(database_url: str) -> None:
    engine = create_store_engine(resolve_url(database_url))
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            # Autogenerate finds nothing to change: the migrations build schema.py exactly.
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
            indexes = set(
                connection.exec_driver_sql(
                    "SELECT indexname FROM pg_indexes"
                    if engine.dialect.name == "postgresql"
                    else "SELECT name FROM sqlite_master WHERE type = 'index'"
                ).scalars()
            )
        assert tables == set(metadata.tables) | {"alembic_version"}
        # Alembic cannot compare an index on an expression (it says so): on PostgreSQL it
        # reports it as removed and added, on SQLite it skips it. That it exists is checked
        # here; that the planner matches it to "next case" is tests/test_fieldwork_queue.py's.
        expression_indexes = {"ix_case_queue_order"}
        assert expression_indexes <= indexes
        differences = [
            d for d in differences
            if not (d[0] in ("add_index", "remove_index") and d[1].name in expression_indexes)
        ]  # fmt: skip
        assert differences == []
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.begin() as connection:  # and the way back works too
            command.downgrade(migrate.alembic_config(connection=connection), "base")
        with engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) == {"alembic_version"}
        assert migrate.current_revision(engine) is None
    finally:
        engine.dispose()


def test_open_store_migrates_once_when_workers_start_together(database_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start_worker() -> None:
        try:
            barrier.wait()
            open_store(database_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start_worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_store(database_url) as store, store.engine.connect() as connection:
        versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert [v for (v,) in versions] == [migrate.head_revision()]


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    """SQLite only (PostgreSQL has no such settings), so not run once per backend."""
    with (
        open_store(f"sqlite:///{tmp_path / 'store.db'}") as store,
        store.engine.connect() as connection,
    ):
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


@pytest.mark.postgres
def test_postgresql_connections_never_compile_statements(postgres_database: sa.URL) -> None:
    """JIT off on every pooled connection: the server compiled a next case whose planned cost
    passed jit_above_cost, 80 ms for a statement that runs in 0.2 ms."""
    with open_store(postgres_database) as store:
        for _ in range(3):  # several pooled connections, each set up on connect
            with store.engine.connect() as connection:
                assert connection.exec_driver_sql("SHOW jit").scalar() == "off"


# ---------------------------------------------------------------- questionnaire versions


def test_questionnaire_versions_are_stored_once_by_content(store: Store) -> None:
    first = store.add_questionnaire_version("social_licence", "1", YAML, now=T0)
    again = store.add_questionnaire_version("social_licence", "1", YAML, now=_minutes(5))
    assert again == first
    assert first.created_at == T0
    edited = store.add_questionnaire_version("social_licence", "1", YAML + "# typo fixed\n")
    assert edited.id != first.id
    assert [v.id for v in store.list_questionnaire_versions("social_licence")] == [
        first.id,
        edited.id,
    ]
    assert store.get_questionnaire_version(first.id).source_text == YAML
    assert store.questionnaire_ids() == ["social_licence"]
    with pytest.raises(QuestionnaireVersionConflict):
        store.add_questionnaire_version("another", "1", YAML)
    with pytest.raises(LookupError):
        store.get_questionnaire_version(9999)


def test_interview_stays_on_the_version_it_started_with(store: Store) -> None:
    old = store.add_questionnaire_version("social_licence", "1", YAML)
    interview = store.create_interview(old.id, mode="web", language="en", state={}, now=T0)
    store.add_questionnaire_version("social_licence", "2", YAML.replace("'1'", "'2'"))
    store.save_interview(
        interview.id, expected_revision=0, state={"x": 1}, status="active", mode="web", now=T0
    )
    loaded = store.load_interview(interview.id)
    assert loaded.questionnaire_version_id == old.id
    assert loaded.version == "1"


# ---------------------------------------------------------------- interviews


def test_create_load_save_round_trip_with_json_state(store: Store) -> None:
    state = {
        "answers": {"q1": 1, "q2": [1, 3], "q26": "Ceci n'est pas une pipe — 日本語 ✓", "q5": None},
        "route": ["q1", "q2"],
        "seed": 2**40 + 7,
        "ratio": 0.125,
        "flags": {"back": True, "soft_ok": False},
    }
    created = _new_interview(store, state=state, case_id="C-0001", language="cy", is_test=True)
    assert created.revision == 0
    assert created.status == "active"
    loaded = store.load_interview(created.id)
    assert loaded == created
    assert loaded.state == state
    assert (loaded.case_id, loaded.language, loaded.is_test) == ("C-0001", "cy", True)
    assert loaded.questionnaire_id == "social_licence"

    new_state = {**state, "answers": {**state["answers"], "q3": 2}}
    result = store.save_interview(
        created.id,
        expected_revision=0,
        state=new_state,
        status="complete",
        mode="phone",
        events=[NewEvent("q3", 2)],
        now=_minutes(12),
    )
    assert (result.revision, result.replayed, result.first_seq, result.event_count) == (
        1,
        False,
        1,
        1,
    )
    saved = store.load_interview(created.id)
    assert saved.state == new_state
    assert (saved.revision, saved.status, saved.mode) == (1, "complete", "phone")
    assert saved.started_at == T0
    assert saved.updated_at == saved.finished_at == _minutes(12)
    assert saved.updated_at.tzinfo is not None and saved.updated_at.utcoffset() == dt.timedelta(0)


def test_state_json_is_the_standard_librarys_text() -> None:
    """compact_json (orjson for speed) writes what json.dumps writes, and refuses what it refuses."""
    import json

    from markupsafe import Markup

    from instrument.store.engine import compact_json

    values = [
        {
            "answers": {"q1": 1, "q2": [1, 3], "q3": 'Ceci — 日本語 ✓ \u2028 "quoted" \\'},
            "seed": 2**40 + 7,
        },
        {"ratio": 0.125, "tiny": 5e-324, "big": 1e16, "neg": -0.0, "flags": [True, False, None]},
        {"fill": Markup("<b>bold</b>"), "pair": (1, 2)},
        {1: "integer keys are written by json", "n": 2**70},
    ]
    for value in values:
        assert compact_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for refused in (dt.date(2026, 5, 1), {"at": T0}, {"raw": b"bytes"}):
        with pytest.raises(TypeError):
            compact_json(refused)


def test_times_are_utc_and_naive_times_are_refused(store: Store) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2025, 3, 1, 11, 0, tzinfo=plus_two)
    interview = _new_interview(store, now=local)
    assert interview.started_at == T0
    assert interview.started_at.tzinfo == dt.UTC
    with pytest.raises(ValueError, match="naive"):
        _new_interview(store, now=dt.datetime(2025, 3, 1, 9, 0))


def test_unknown_interview_and_version(store: Store) -> None:
    with pytest.raises(InterviewNotFound):
        store.load_interview("no-such-id")
    with pytest.raises(InterviewNotFound):
        store.save_interview(
            "no-such-id", expected_revision=0, state={}, status="active", mode="web"
        )
    with pytest.raises(LookupError):
        store.create_interview(12345, mode="web", language="en", state={})


def test_stale_revision_is_refused_and_writes_nothing(store: Store) -> None:
    interview = _new_interview(store)
    store.save_interview(
        interview.id,
        expected_revision=0,
        state={"answers": {"q1": 1}},
        status="active",
        mode="web",
        events=[NewEvent("q1", 1)],
        now=_minutes(1),
    )
    with pytest.raises(StaleRevision) as refused:
        store.save_interview(
            interview.id,
            expected_revision=0,  # a second tab, loaded before the first save
            state={"answers": {"q1": 2}},
            status="complete",
            mode="phone",
            events=[NewEvent("q1", 2), NewEvent("q2", 5)],
            idempotency_key="tab-2",
            now=_minutes(2),
        )
    assert (refused.value.expected, refused.value.actual) == (0, 1)
    after = store.load_interview(interview.id)
    assert after.state == {"answers": {"q1": 1}}
    assert (after.revision, after.status, after.mode) == (1, "active", "web")
    assert after.updated_at == _minutes(1)
    assert [(e.variable, e.value) for e in store.events_for(interview.id)] == [("q1", 1)]
    # The refused key was not recorded: used again with the right revision, it writes.
    retried = store.save_interview(
        interview.id,
        expected_revision=1,
        state={"answers": {"q1": 2}},
        status="active",
        mode="web",
        idempotency_key="tab-2",
    )
    assert (retried.replayed, retried.revision) == (False, 2)


def test_repeated_idempotency_key_records_once(store: Store) -> None:
    interview = _new_interview(store)
    submit = {
        "state": {"answers": {"q1": 1}},
        "status": "active",
        "mode": "web",
        "events": [NewEvent("q1", 1), NewEvent(None, {"ms": 5300}, kind="paradata")],
        "idempotency_key": "form-7f3a",
        "now": _minutes(1),
    }
    first = store.save_interview(interview.id, expected_revision=0, **submit)
    # The double click arrives carrying the revision the page was rendered at.
    second = store.save_interview(interview.id, expected_revision=0, **submit)
    third = store.save_interview(
        interview.id, expected_revision=0, **{**submit, "now": _minutes(3)}
    )
    assert (first.replayed, second.replayed, third.replayed) == (False, True, True)
    assert second.revision == third.revision == first.revision == 1
    assert second.first_seq == first.first_seq == 1 and second.event_count == 2
    assert store.load_interview(interview.id).revision == 1
    assert store.load_interview(interview.id).updated_at == _minutes(1)
    assert len(store.events_for(interview.id)) == 2
    # Keys are per interview: another interview may use the same key.
    other = _new_interview(store)
    assert not store.save_interview(other.id, expected_revision=0, **submit).replayed


def test_a_key_reused_at_the_current_revision_replays_and_writes_nothing(store: Store) -> None:
    """A retried request that happens to carry the revision it produced is still a replay."""
    interview = _new_interview(store)
    submit = {"status": "active", "mode": "web", "idempotency_key": "k-1", "now": _minutes(1)}
    first = store.save_interview(
        interview.id,
        expected_revision=0,
        state={"answers": {"q1": 1}},
        events=[NewEvent("q1", 1)],
        **submit,
    )
    again = store.save_interview(
        interview.id,
        expected_revision=first.revision,
        state={"answers": {"q1": 2}},
        events=[NewEvent("q1", 2)],
        **submit,
    )
    assert (again.replayed, again.revision, again.first_seq) == (True, 1, 1)
    stored = store.load_interview(interview.id)
    assert (stored.revision, stored.state) == (1, {"answers": {"q1": 1}})
    assert [event.value for event in store.events_for(interview.id)] == [1]
    # The failed attempt left the counter alone: the next save numbers on from 2.
    later = store.save_interview(
        interview.id,
        expected_revision=1,
        state={"answers": {"q1": 3}},
        status="active",
        mode="web",
        events=[NewEvent("q1", 3)],
        now=_minutes(2),
    )
    assert later.first_seq == 2


def test_a_store_never_serves_a_remembered_state_after_another_writer(database_url: str) -> None:
    """Each web worker remembers recent interviews; a save or withdrawal elsewhere must show."""
    with open_store(database_url) as worker_a, open_store(database_url) as worker_b:
        interview = _new_interview(worker_a, case_id="case-9")
        worker_a.save_interview(
            interview.id,
            expected_revision=0,
            state={"answers": {"q1": 1}},
            status="active",
            mode="web",
            now=_minutes(1),
        )
        assert worker_a.load_interview(interview.id).state == {"answers": {"q1": 1}}
        worker_b.save_interview(
            interview.id,
            expected_revision=1,
            state={"answers": {"q1": 2}},
            status="active",
            mode="cati",
            now=_minutes(2),
        )
        seen = worker_a.load_interview(interview.id)
        assert (seen.revision, seen.state, seen.mode) == (2, {"answers": {"q1": 2}}, "cati")
        with pytest.raises(StaleRevision):
            worker_a.save_interview(
                interview.id,
                expected_revision=1,
                state={"answers": {"q1": 9}},
                status="active",
                mode="web",
                now=_minutes(3),
            )
        worker_b.withdraw("case-9", now=_minutes(4))
        gone = worker_a.load_interview(interview.id)
        assert (gone.status, gone.state) == ("withdrawn", {})
        with pytest.raises(InterviewWithdrawn):
            worker_a.save_interview(
                interview.id,
                expected_revision=gone.revision,
                state={"answers": {"q1": 9}},
                status="active",
                mode="web",
                now=_minutes(5),
            )


def test_what_a_store_remembers_of_a_save_is_what_a_full_read_gives(database_url: str) -> None:
    """The record a save returns (what the interview service keeps) equals reading the row afresh.

    On PostgreSQL the save's row comes back through psycopg directly, not
    through Core's types (instrument.store.pg_direct): its times must still
    be UTC, its flags booleans, its labels the version's.
    """
    with open_store(database_url) as worker, open_store(database_url) as fresh:
        interview = _new_interview(worker, case_id="case-1", is_test=True)
        for revision, status in enumerate(("active", "complete")):
            saved = worker.save_interview(
                interview.id, expected_revision=revision, state={"answers": {"q1": revision}},
                status=status, mode="web", language="cy", now=_minutes(revision + 1),
                events=[NewEvent("q1", revision), NewEvent(None, {"page": "p1"}, kind="paradata")],
                idempotency_key=f"key-{revision}",
            )  # fmt: skip
            remembered = saved.record  # what the interview service keeps for the next request
            read = fresh.load_interview(interview.id)
            assert remembered == read
            assert read.updated_at == _minutes(revision + 1)
            assert read.updated_at.tzinfo == dt.UTC and remembered.updated_at.tzinfo == dt.UTC
        assert read.finished_at == _minutes(2) and read.language == "cy" and read.is_test is True
        assert [(e.seq, e.kind) for e in fresh.events_for(interview.id)] == [
            (1, "answer"), (2, "paradata"), (3, "answer"), (4, "paradata"),
        ]  # fmt: skip


@pytest.mark.postgres
def test_pooled_connections_the_server_killed_are_replaced(postgres_database: sa.URL) -> None:
    """A PostgreSQL restart (or a firewall) kills idle pooled connections: nobody should notice.

    Every kind of statement is tried right after the server ended every
    connection of the store: the direct revision read and save of a page
    turn, a one-statement read through Core and a transaction.
    """
    import secrets

    name = f"instrument_kill_{secrets.token_hex(4)}"
    url = postgres_database.update_query_dict({"application_name": name})
    admin = sa.create_engine(
        postgres_database, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )

    def kill_all() -> int:
        with admin.connect() as connection:
            return len(
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = :name"
                    ),
                    {"name": name},
                ).all()
            )

    schema = f"k_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        with open_store(scoped.render_as_string(hide_password=False)) as store:
            interview = _new_interview(store)
            revision = 0
            for step in range(3):
                store.load_interview(interview.id)  # remembered after the first: a revision read
                assert kill_all() >= 1
                assert store.load_interview(interview.id).revision == revision
                assert kill_all() >= 1
                result = store.save_interview(
                    interview.id, expected_revision=revision, state={"answers": {"q1": step}},
                    status="active", mode="web", now=_minutes(step + 1),
                    events=[NewEvent("q1", step)], idempotency_key=f"k{step}",
                )  # fmt: skip
                revision = result.revision
                assert kill_all() >= 1
                assert store.count_by_status("social_licence")["active"] == 1
                assert kill_all() >= 1
                assert store.load_interview(interview.id).state == {"answers": {"q1": step}}
                with open_store(scoped.render_as_string(hide_password=False)) as reader:
                    assert kill_all() >= 1
                    assert reader.load_interview(interview.id).revision == revision  # a full read
            assert [e.value for e in store.events_for(interview.id)] == [0, 1, 2]
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migration_0002_numbers_on_from_the_events_already_stored(database_url: str) -> None:
    """A database last migrated to 0001 keeps its events and the next save continues their seq."""
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0001_initial")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO questionnaire_versions (id, questionnaire_id, version, content_hash,"
                    " source_text, created_at) VALUES (1, 'social_licence', '1', 'h', :yaml, :t)"
                ),
                {"yaml": YAML, "t": T0},
            )
            for interview_id in ("with-events", "without-events"):
                connection.execute(
                    sa.text(
                        "INSERT INTO interviews (id, questionnaire_version_id, mode, language, status,"
                        " is_test, state, revision, started_at, updated_at)"
                        " VALUES (:id, 1, 'web', 'en', 'active', :f, '{}', 3, :t, :t)"
                    ),
                    {"id": interview_id, "t": T0, "f": False},
                )
            for seq in (1, 2, 3):
                connection.execute(
                    sa.text(
                        "INSERT INTO answer_events (interview_id, seq, kind, variable, value, mode,"
                        " actor, at) VALUES ('with-events', :seq, 'answer', 'q1', '1', 'web',"
                        " 'respondent', :t)"
                    ),
                    {"seq": seq, "t": T0},
                )
    finally:
        engine.dispose()
    with open_store(database_url) as store:  # migrates to head
        for interview_id, expected_first in (("with-events", 4), ("without-events", 1)):
            result = store.save_interview(
                interview_id,
                expected_revision=3,
                state={"answers": {}},
                status="active",
                mode="web",
                events=[NewEvent("q2", 5), NewEvent("q3", 6)],
                now=_minutes(1),
            )
            assert (result.first_seq, result.event_count) == (expected_first, 2)
            seqs = [event.seq for event in store.events_for(interview_id)]
            assert seqs == list(range(1, expected_first + 2))


def test_events_get_consecutive_seq_and_default_mode_and_time(store: Store) -> None:
    interview = _new_interview(store)
    batches = [
        [NewEvent("q1", 1)],
        [],
        [NewEvent("q2", [1, 2]), NewEvent(None, "back", kind="navigation")],
        [NewEvent("q3", None, actor="interviewer:I-17", mode="phone", at=_minutes(30))],
    ]
    for n, batch in enumerate(batches, start=1):
        store.save_interview(
            interview.id,
            expected_revision=n - 1,
            state={"n": n},
            status="active",
            mode="web",
            events=batch,
            now=_minutes(n),
        )
    events = store.events_for(interview.id)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [(e.kind, e.variable, e.value) for e in events] == [
        ("answer", "q1", 1),
        ("answer", "q2", [1, 2]),
        ("navigation", None, "back"),
        ("answer", "q3", None),
    ]
    assert [e.mode for e in events] == ["web", "web", "web", "phone"]
    assert [e.actor for e in events] == ["respondent"] * 3 + ["interviewer:I-17"]
    assert [e.at for e in events] == [_minutes(1), _minutes(3), _minutes(3), _minutes(30)]


def test_two_threads_saving_the_same_revision_exactly_one_wins(store: Store) -> None:
    interview = _new_interview(store)
    racers = 6
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def save(n: int) -> None:
        loaded = store.load_interview(interview.id)
        barrier.wait()
        try:
            store.save_interview(
                interview.id,
                expected_revision=loaded.revision,
                state={"winner": n},
                status="active",
                mode="web",
                events=[NewEvent("q1", n)],
            )
            outcome = f"won:{n}"
        except StaleRevision:
            outcome = "stale"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(outcomes) == racers
    assert len(winners) == 1, outcomes
    winner = int(winners[0].split(":")[1])
    final = store.load_interview(interview.id)
    assert final.revision == 1 and final.state == {"winner": winner}
    assert [(e.seq, e.value) for e in store.events_for(interview.id)] == [(1, winner)]


def test_concurrent_retrying_writers_lose_nothing(store: Store) -> None:
    """Threads that reload and retry on StaleRevision: every save lands exactly once."""
    interview = _new_interview(store, state={"count": 0})
    writers, saves_each = 4, 15

    def work(n: int) -> None:
        for k in range(saves_each):
            while True:
                current = store.load_interview(interview.id)
                try:
                    store.save_interview(
                        interview.id,
                        expected_revision=current.revision,
                        state={"count": current.state["count"] + 1},
                        status="active",
                        mode="web",
                        events=[NewEvent("tick", f"{n}-{k}")],
                    )
                    break
                except StaleRevision:
                    continue

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = writers * saves_each
    final = store.load_interview(interview.id)
    assert final.state == {"count": total} and final.revision == total
    events = store.events_for(interview.id)
    assert [e.seq for e in events] == list(range(1, total + 1))
    assert sorted(e.value for e in events) == sorted(
        f"{n}-{k}" for n in range(writers) for k in range(saves_each)
    )


def test_save_rejects_unknown_status_and_direct_withdrawal(store: Store) -> None:
    interview = _new_interview(store)
    for status in ("finished", "withdrawn"):
        with pytest.raises(ValueError):
            store.save_interview(
                interview.id, expected_revision=0, state={}, status=status, mode="web"
            )
    assert store.load_interview(interview.id).revision == 0


# ---------------------------------------------------------------- reading for exports


def _populate(store: Store) -> dict[str, list[str]]:
    v1 = store.add_questionnaire_version("social_licence", "1", YAML)
    v2 = store.add_questionnaire_version("social_licence", "2", YAML + "# v2\n")
    other = store.add_questionnaire_version("other", "1", "meta:\n  id: other\n")
    ids: dict[str, list[str]] = {
        "complete": [],
        "active": [],
        "screened_out": [],
        "test": [],
        "created": [],
    }
    for n in range(30):
        version = v1 if n % 2 else v2
        interview = store.create_interview(
            version.id, mode="web", language="en", state={"n": n}, now=_minutes(n)
        )
        status = "complete" if n % 3 == 0 else ("screened_out" if n % 3 == 1 else "active")
        store.save_interview(
            interview.id,
            expected_revision=0,
            state={"n": n, "done": True},
            status=status,
            mode="web",
            now=_minutes(100 + n),
        )
        ids[status].append(interview.id)
        ids["created"].append(interview.id)
    for n in range(3):
        test = store.create_interview(
            v1.id, mode="web", language="en", state={}, is_test=True, now=_minutes(200 + n)
        )
        ids["test"].append(test.id)
    store.create_interview(other.id, mode="web", language="en", state={}, now=T0)
    return ids


def test_iter_interviews_streams_with_filters(store: Store) -> None:
    ids = _populate(store)
    real = ids["complete"] + ids["active"] + ids["screened_out"]

    cursors: list[str] = []

    def note_cursor(conn, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "FROM interviews" in statement:
            cursors.append(type(cursor).__name__)

    sa.event.listen(store.engine, "before_cursor_execute", note_cursor)
    everything = list(store.iter_interviews("social_licence", batch_size=4))
    sa.event.remove(store.engine, "before_cursor_execute", note_cursor)
    if store.dialect == "postgresql":
        assert cursors == ["ServerCursor"]  # rows come in batches, not all at once
    assert [r.id for r in everything] == ids["created"]  # oldest first
    assert {r.version for r in everything} == {"1", "2"}
    assert all(r.state["done"] for r in everything)

    complete = list(store.iter_interviews("social_licence", statuses=["complete"], batch_size=3))
    assert {r.id for r in complete} == set(ids["complete"]) and len(complete) == 10

    with_test = {r.id for r in store.iter_interviews("social_licence", include_test=True)}
    assert with_test == set(real) | set(ids["test"])

    recent = list(store.iter_interviews("social_licence", since=_minutes(120)))
    assert {r.updated_at for r in recent} == {_minutes(100 + n) for n in range(20, 30)}

    assert len(list(store.iter_interviews("other"))) == 1
    assert list(store.iter_interviews("nobody")) == []
    with pytest.raises(ValueError):
        list(store.iter_interviews("social_licence", statuses=["done"]))


def test_iter_interviews_is_a_snapshot_while_writes_continue(store: Store) -> None:
    ids = _populate(store)
    stream = store.iter_interviews("social_licence", batch_size=2)
    first = next(stream)
    # Writes by others while an export is halfway through neither block nor leak in.
    version_id = first.questionnaire_version_id
    late = store.create_interview(
        version_id, mode="web", language="en", state={}, now=_minutes(500)
    )
    rest = list(stream)
    seen = {first.id} | {r.id for r in rest}
    assert late.id not in seen
    assert len(seen) == len(ids["complete"] + ids["active"] + ids["screened_out"])


def test_count_by_status(store: Store) -> None:
    _populate(store)
    assert store.count_by_status("social_licence") == {
        "active": 10,
        "complete": 10,
        "screened_out": 10,
        "abandoned": 0,
        "withdrawn": 0,
    }
    assert store.count_by_status("social_licence", include_test=True)["active"] == 13
    assert sum(store.count_by_status("nobody").values()) == 0


def test_iter_events_streams_a_questionnaire_in_order(store: Store) -> None:
    first, second = _new_interview(store), _new_interview(store)
    for interview in (second, first):
        store.save_interview(
            interview.id,
            expected_revision=0,
            state={},
            status="active",
            mode="web",
            events=[NewEvent("q1", 1), NewEvent(None, {"ms": 10}, kind="paradata")],
        )
    streamed = list(store.iter_events("social_licence", batch_size=1))
    assert [(e.interview_id, e.seq) for e in streamed] == sorted(
        (i, s) for i in (first.id, second.id) for s in (1, 2)
    )
    paradata = list(store.iter_events("social_licence", kinds=["paradata"]))
    assert len(paradata) == 2 and {e.kind for e in paradata} == {"paradata"}


# ---------------------------------------------------------------- staff and tokens


def test_staff_passwords_are_salted_scrypt_and_verify(store: Store) -> None:
    alice = store.create_staff_user("alice", "correct horse battery", role="admin", now=T0)
    store.create_staff_user("bob", "correct horse battery")
    assert (alice.username, alice.role, alice.disabled, alice.created_at) == (
        "alice",
        "admin",
        False,
        T0,
    )
    assert store.verify_staff_password("alice", "correct horse battery") == alice
    assert store.verify_staff_password("alice", "Correct horse battery") is None
    assert store.verify_staff_password("mallory", "correct horse battery") is None
    with store.engine.connect() as connection:
        hashes = (
            connection.execute(sa.text("SELECT password_hash FROM staff_users")).scalars().all()
        )
    assert len(set(hashes)) == 2  # same password, different salts
    assert all(h.startswith("scrypt$") and "correct" not in h for h in hashes)
    assert "correct horse" not in _dump_database(store)
    store.set_staff_disabled("alice")
    assert store.verify_staff_password("alice", "correct horse battery") is None
    assert store.get_staff_user_by_id(alice.id).disabled  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        store.create_staff_user("bob", "another")
    with pytest.raises(ValueError):
        store.create_staff_user("carol", "pw", role="superuser")


def test_tokens_are_stored_only_as_hashes(store: Store, database_url: str) -> None:
    interview = _new_interview(store, case_id="C-0042")
    token = store.issue_token(
        "social_licence", case_id="C-0042", expires_at=_minutes(60 * 24 * 30), now=T0
    )
    assert len(token) >= 43
    found = store.find_token(token)
    assert found is not None
    assert (found.case_id, found.questionnaire_id, found.purpose) == (
        "C-0042",
        "social_licence",
        "respondent",
    )
    assert not found.is_expired(_minutes(10)) and found.is_expired(_minutes(60 * 24 * 30))
    assert store.find_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.find_token("") is None
    assert store.issue_token("social_licence") != token

    store.attach_token(found.id, interview.id, now=_minutes(1))
    attached = store.find_token(token)
    assert attached is not None and attached.interview_id == interview.id
    assert attached.used_at == _minutes(1)

    assert token not in _dump_database(store)
    if store.dialect == "sqlite":
        path = Path(resolve_url(database_url).database or "")
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert token.encode() not in raw


# ---------------------------------------------------------------- personal data and withdrawal


def test_withdrawal_removes_the_case_data(store: Store) -> None:
    secret = "my family had help in 2019"
    mine = [_new_interview(store, case_id="C-7"), _new_interview(store, case_id="C-7")]
    theirs = _new_interview(store, case_id="C-8")
    for interview in (*mine, theirs):
        store.save_interview(
            interview.id,
            expected_revision=0,
            state={"answers": {"q26": secret}},
            status="complete",
            mode="web",
            events=[NewEvent("q26", secret)],
            idempotency_key="k1",
        )
    store.set_contact("C-7", name="Ann Example", email="ann@example.org", phone="+44 7700 900123")
    store.set_contact("C-8", name="Ben Example", email="ben@example.org")
    token = store.issue_token("social_licence", case_id="C-7")

    report = store.withdraw("C-7", now=_minutes(90))
    assert set(report.interview_ids) == {i.id for i in mine}
    assert (report.events_deleted, report.contacts_deleted, report.tokens_revoked) == (2, 1, 1)

    for interview in mine:
        after = store.load_interview(interview.id)
        assert (after.status, after.state, after.revision) == ("withdrawn", {}, 2)
        assert store.events_for(interview.id) == []
        with pytest.raises(InterviewWithdrawn):
            store.save_interview(
                interview.id, expected_revision=2, state={"a": 1}, status="active", mode="web"
            )
    assert store.get_contact("C-7") is None
    revoked = store.find_token(token)
    assert revoked is not None and revoked.is_expired(_minutes(90))
    dump = _dump_database(store)
    assert "Ann Example" not in dump and "ann@example.org" not in dump
    assert dump.count(secret) == 2  # the other case's state and event remain

    assert store.load_interview(theirs.id).state == {"answers": {"q26": secret}}
    assert len(store.events_for(theirs.id)) == 1
    assert store.get_contact("C-8").email == "ben@example.org"  # type: ignore[union-attr]
    assert store.count_by_status("social_licence")["withdrawn"] == 2


def test_withdraw_a_single_open_link_interview(store: Store) -> None:
    interview = _new_interview(store)
    store.save_interview(
        interview.id,
        expected_revision=0,
        state={"answers": {"q1": 1}},
        status="active",
        mode="web",
        events=[NewEvent("q1", 1)],
    )
    report = store.withdraw_interview(interview.id)
    assert report.interview_ids == (interview.id,) and report.events_deleted == 1
    assert store.load_interview(interview.id).status == "withdrawn"


def test_contacts_are_replaced_not_duplicated(store: Store) -> None:
    store.set_contact("C-1", name="A", email="a@example.org", now=T0)
    updated = store.set_contact("C-1", email="new@example.org", now=_minutes(1))
    assert (updated.name, updated.email, updated.updated_at) == (
        None,
        "new@example.org",
        _minutes(1),
    )
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM contacts")).scalar() == 1


# ---------------------------------------------------------------- command line


def test_db_upgrade_and_current_commands(database_url: str) -> None:
    runner = CliRunner()
    empty = runner.invoke(db, ["current", "--database", database_url])
    assert empty.exit_code == 0, empty.output
    assert empty.output.startswith("none")

    upgraded = runner.invoke(db, ["upgrade", "--database", database_url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"empty database -> {migrate.head_revision()}" in upgraded.output

    again = runner.invoke(db, ["upgrade"], env={"INSTRUMENT_DATABASE_URL": database_url})
    assert again.exit_code == 0 and "already at" in again.output

    current = runner.invoke(db, ["current"], env={"INSTRUMENT_DATABASE_URL": database_url})
    assert current.exit_code == 0
    assert current.output.strip() == f"{migrate.head_revision()} (head)"


# ---------------------------------------------------------------- choosing the database (no server needed)


def test_url_comes_from_argument_then_environment_then_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTRUMENT_DATABASE_URL", raising=False)
    assert resolve_url(None).database == str(tmp_path / "instrument.db")
    monkeypatch.setenv("INSTRUMENT_DATABASE_URL", "sqlite:///from-env.db")
    assert resolve_url(None).database == "from-env.db"
    assert resolve_url("sqlite:///arg.db").database == "arg.db"
    assert resolve_url("postgresql://u@h:5433/db").drivername == "postgresql+psycopg"
    assert resolve_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(ValueError):
        resolve_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="psycopg 3"):
        resolve_url("postgresql+psycopg2://u@h/db")


def test_open_store_default_is_a_sqlite_file_in_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTRUMENT_DATABASE_URL", raising=False)
    with open_store() as store:
        assert store.dialect == "sqlite"
        assert store.questionnaire_ids() == []
    assert (tmp_path / "instrument.db").is_file()


def test_import_interviews_stores_batches_with_their_events(store: Store) -> None:
    from instrument.store import ImportedInterview, NewEvent

    version = store.add_questionnaire_version("social_licence", "1", "meta: {id: social_licence}\n")
    items = [
        ImportedInterview(
            state={"n": i},
            status="complete" if i % 2 else "abandoned",
            mode="web",
            language="en",
            events=[
                NewEvent("q1", i, at=_minutes(i)),
                NewEvent(None, {"page": "q1"}, kind="page", at=_minutes(i)),
            ],
            is_test=True,
            started_at=_minutes(i),
            finished_at=_minutes(i + 5),
        )
        for i in range(7)
    ]
    assert store.import_interviews(version.id, items, batch_size=3) == 7
    stored = list(
        store.iter_interviews(
            "social_licence", include_test=True, statuses=["complete", "abandoned"]
        )
    )
    assert sorted(r.state["n"] for r in stored) == list(range(7))
    assert all(r.is_test for r in stored)
    assert not list(store.iter_interviews("social_licence"))  # test data stays out of real exports
    one = next(r for r in stored if r.state["n"] == 3)
    events = store.events_for(one.id)
    assert [(e.seq, e.kind, e.variable, e.value) for e in events] == [
        (1, "answer", "q1", 3),
        (2, "page", None, {"page": "q1"}),
    ]
    assert one.finished_at == _minutes(8)
    with pytest.raises(LookupError):
        store.import_interviews(version.id + 99, items[:1])
    with pytest.raises(ValueError):
        store.import_interviews(
            version.id, [ImportedInterview(state={}, status="withdrawn", mode="web", language="en")]
        )


def test_a_token_attaches_to_one_interview_only(store: Store) -> None:
    version = store.add_questionnaire_version("social_licence", "1", "meta: {id: social_licence}\n")
    token = store.issue_token("social_licence", case_id="c1")
    found = store.find_token(token)
    first = store.create_interview(version.id, mode="web", language="en", state={})
    second = store.create_interview(version.id, mode="web", language="en", state={})
    assert store.attach_token(found.id, first.id) == first.id
    assert store.attach_token(found.id, second.id) == first.id  # the second device joins the first
    assert store.attach_token(found.id, first.id) == first.id
    assert store.find_token(token).interview_id == first.id


def test_staff_password_can_be_replaced(store: Store) -> None:
    store.create_staff_user("ana", "old secret")
    store.set_staff_password("ana", "new secret")
    assert store.verify_staff_password("ana", "old secret") is None
    assert store.verify_staff_password("ana", "new secret") is not None
    with pytest.raises(LookupError):
        store.set_staff_password("nobody", "x")
