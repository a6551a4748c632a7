"""The call queue in the store (SQLite and PostgreSQL): order, holds, stale holds, and no case handed out twice."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections import Counter
from typing import Any

import sqlalchemy as sa

from instrument.store import Store, fieldwork_queue, open_store
from tests.fieldwork_store_helpers import T0, Win, add_case, open_window
from tests.store_fixtures import *


def test_next_case_takes_hard_then_soft_appointments_then_priority_then_earliest(
    store: Store,
) -> None:
    early = Win(T0 - dt.timedelta(hours=3), T0 + dt.timedelta(hours=1))
    add_case(store, "c-1", window=early)
    add_case(store, "c-2", priority=5)
    add_case(store, "c-3", window=open_window(kind="soft"))
    add_case(store, "c-4", window=open_window(kind="hard"))
    add_case(store, "c-5")
    order = [store.claim_next_case("ivy", now=T0) for _ in range(6)]
    assert [c.case_id if c else None for c in order] == ["c-4", "c-3", "c-2", "c-1", "c-5", None]
    first = order[0]
    assert first is not None and first.window_kind == "hard" and first.attempts == 1
    assert store.queue_row("c-4")["held_by"] == "ivy"  # type: ignore[index]


def test_next_case_skips_closed_reserved_final_and_undiallable_cases(store: Store) -> None:
    add_case(store, "c-1", window=Win(T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2)))
    add_case(store, "c-2", window=Win(T0 - dt.timedelta(hours=2), T0))  # ended as now begins
    add_case(store, "c-3", window=open_window(kind="hard", interviewer="una"))
    add_case(store, "c-4", numbers=("+442071230004", "+442071230044"))
    add_case(store, "c-5")
    store.set_window("c-5", window=None, now=T0)
    add_case(store, "c-6")
    store.change_disposition("c-6", disposition="refusal_hard", final=True, reason="x", actor="s")
    store.add_do_not_call("+442071230004", reason="asked", actor="sue", now=T0)
    store.set_number_working("c-4", 2, False)
    assert store.claim_next_case("ivy", now=T0) is None
    claim = store.claim_next_case("una", now=T0)
    assert claim is not None and claim.case_id == "c-3"
    store.set_number_working("c-4", 2, True)
    assert store.claim_next_case("ivy", now=T0).case_id == "c-4"  # type: ignore[union-attr]
    later = store.claim_next_case("ivy", now=T0 + dt.timedelta(hours=1))
    assert later is not None and later.case_id == "c-1"


def test_a_stale_hold_is_released_and_its_attempt_coded(store: Store) -> None:
    add_case(store, "c-1")
    add_case(store, "c-2")
    claim = store.claim_next_case("ivy", now=T0)
    other = store.claim_next_case("una", now=T0 + dt.timedelta(minutes=10))
    assert claim is not None and other is not None
    timeout = dt.timedelta(minutes=15)
    assert store.stale_holds(T0 + dt.timedelta(minutes=14), timeout) == []
    (stale,) = store.stale_holds(T0 + dt.timedelta(minutes=16), timeout)
    assert (stale.case_id, stale.attempt_id, stale.held_by) == ("c-1", claim.attempt_id, "ivy")
    retry = open_window()
    at = T0 + dt.timedelta(minutes=16)
    assert store.release_hold(
        "c-1", claim.attempt_id, disposition="held_too_long", window=retry, now=at
    )
    assert not store.release_hold(
        "c-1", claim.attempt_id, disposition="held_too_long", window=retry, now=at
    )
    (attempt,) = store.attempts_of("c-1")
    assert (attempt.disposition, attempt.ended_at) == ("held_too_long", at)
    late = store.code_attempt(
        claim.attempt_id, disposition="complete", final=True, window=None, actor="ivy", now=at
    )
    assert late.already_coded and late.disposition == "held_too_long"
    again = store.claim_next_case("una", now=at)
    assert again is not None and again.case_id == "c-1" and again.attempts == 2


def _claim_until_empty(
    url: str, interviewer: str, got: list[tuple[str, int]], errors: list[BaseException]
) -> None:
    try:
        with open_store(url, upgrade=False) as own:
            while (claim := own.claim_next_case(interviewer, now=T0)) is not None:
                got.append((claim.case_id, claim.attempt_id))
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)


def test_cases_that_cannot_be_dialled_are_passed_over(store: Store) -> None:
    for n in range(1, 7):
        add_case(store, f"c-{n}", priority=10 - n)  # c-1 first
    for n in range(1, 6):
        store.add_do_not_call(f"+4420{n:08d}", reason="asked", actor="sue", now=T0)
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None and claim.case_id == "c-6"
    assert store.claim_next_case("ivy", now=T0) is None


def test_many_interviewers_at_once_never_get_the_same_case(store: Store, database_url: str) -> None:
    """16 threads with their own stores, all walking the queue's index to its first free case."""
    cases, threads = 200, 16
    for n in range(cases):
        add_case(store, f"c-{n}", priority=n % 3)
    results: list[list[tuple[str, int]]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    workers = [
        threading.Thread(
            target=_claim_until_empty, args=(database_url, f"i{k}", results[k], errors)
        )
        for k in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    claimed = Counter(case for got in results for case, _ in got)
    assert len(claimed) == cases and set(claimed.values()) == {1}
    attempt_ids = [attempt for got in results for _, attempt in got]
    assert len(set(attempt_ids)) == cases
    assert sum(1 for got in results if got) > 1  # the claims really were spread over threads
    assert all(len(store.attempts_of(f"c-{n}")) == 1 for n in range(0, cases, 37))


def _claims_of_one_process(url: str, interviewer: str) -> list[tuple[str, int]]:
    got: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    _claim_until_empty(url, interviewer, got, errors)
    if errors:
        raise errors[0]
    return got


def test_many_worker_processes_at_once_never_get_the_same_case(
    store: Store, database_url: str
) -> None:
    """As gunicorn's workers would: separate processes, each with its own engine and pool."""
    cases, processes = 120, 4
    for n in range(cases):
        add_case(store, f"c-{n}")
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.starmap(
            _claims_of_one_process, [(database_url, f"p{k}") for k in range(processes)]
        )
    claimed = Counter(case for got in results for case, _ in got)
    assert len(claimed) == cases and set(claimed.values()) == {1}


def test_one_interviewer_pressing_next_case_at_once_holds_one_case(
    store: Store, database_url: str
) -> None:
    """A double click or two tabs: every press gets the same case and its one attempt."""
    for n in range(10):
        add_case(store, f"c-{n}")
    got: list[tuple[str, int, bool]] = []
    errors: list[BaseException] = []

    def press() -> None:
        try:
            with open_store(database_url, upgrade=False) as own:
                claim = own.claim_next_case("ivy", now=T0, resume=True)
                assert claim is not None
                got.append((claim.case_id, claim.attempt_id, claim.resumed))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=press) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({(case, attempt) for case, attempt, _ in got}) == 1
    assert sum(not resumed for _, _, resumed in got) == 1
    held = [n for n in range(10) if store.queue_row(f"c-{n}")["held_by"] == "ivy"]  # type: ignore[index]
    assert len(held) == 1
    assert store.claim_next_case("una", now=T0, resume=True).case_id != got[0][0]  # type: ignore[union-attr]


def test_next_case_walks_the_queue_index_and_sorts_nothing(store: Store) -> None:
    """Both planners run "next case" down ix_case_queue_order (the indexed expression and the
    partial index's condition match the query's), stopping at the first case, never sorting.

    Without the index (or with the expression spelled differently) PostgreSQL sorts every free
    case below the row lock on each press, and SQLite builds a temporary b-tree to sort.
    """
    from instrument.store.case_import import ImportedCase

    sample = [
        ImportedCase(
            f"p-{n:04d}",
            {"region": 1},
            numbers=(f"+44207946{n:04d}",),
            priority=n % 3,
            taken_by="automated" if n % 2 else "interviewer",  # the dialler's claim too
        )
        for n in range(1500)
    ]
    store.import_cases("mini", sample, now=T0)
    with store.engine.begin() as connection:
        # statistics taken while no window was set (as after an import, or the morning after):
        # the planners then believe no window is open and, could they use an index on
        # window_end, would take it and sort every callable case
        # (PostgreSQL); SQLite, with statistics taken after, finds a range on window_end the
        # more selective and, could it use that index, would take it and sort too
        if store.dialect == "postgresql":
            connection.exec_driver_sql("ANALYZE case_queue")
        connection.execute(
            sa.text(
                "UPDATE case_queue SET window_start = :s, window_end = :e, window_kind = 'normal'"
            ),
            {"s": T0 - dt.timedelta(hours=1), "e": T0 + dt.timedelta(hours=8)},
        )
        if store.dialect == "sqlite":
            connection.exec_driver_sql("ANALYZE")
    for statement in (
        fieldwork_queue.first_free_case("ivy", T0),
        fieldwork_queue.first_automated_case("ivr:outbound", T0, "mini"),
    ):
        _assert_walks_the_index(store, statement)


def _assert_walks_the_index(store: Store, statement: sa.Select[Any]) -> None:
    # bound as "next case" binds them (literals would hide a bound value in the ordering)
    compiled = statement.compile(dialect=store.engine.dialect)
    params: object = compiled.params
    if compiled.positiontup is not None:
        params = tuple(str(compiled.params[name]) for name in compiled.positiontup)
    prefix = "EXPLAIN " if store.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    with store.engine.begin() as connection:  # the claim's transaction, set up as it is
        if store.dialect == "postgresql":
            connection.execute(sa.select(fieldwork_queue.NO_SORT))
        rows = connection.exec_driver_sql(prefix + compiled.string, params).all()  # type: ignore[arg-type]
    plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_case_queue_order" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
