"""A sample stored in one transaction: all of it or none of it, history kept on a second import."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from instrument.callqueue import Claimed
from instrument.store import CaseBelongsElsewhere, CaseWithdrawn, Store
from instrument.store.case_import import CHUNK, ImportedCase
from tests.callqueue_helpers import T0, queue_on
from tests.store_fixtures import *


def _sample(count: int, *, start: int = 0) -> list[ImportedCase]:
    return [
        ImportedCase(
            f"s-{i:05d}",
            {"region": 1},
            numbers=(f"+44207946{i:04d}",),
            name=f"Person {i}",
            language="en",
            priority=i % 3,
        )
        for i in range(start, start + count)
    ]


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            table: int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("cases", "contacts", "phone_numbers", "case_queue")
        }


def test_a_sample_bigger_than_one_chunk_is_stored_whole(store: Store) -> None:
    count = CHUNK * 2 + 7
    queued = store.import_cases("mini", _sample(count), now=T0)
    assert len(queued) == count
    assert _counts(store) == {
        "cases": count,
        "contacts": count,
        "phone_numbers": count,
        "case_queue": count,
    }
    row = store.queue_row("s-00005")
    assert row is not None and (row["priority"], row["language"], row["window_end"]) == (
        2,
        "en",
        None,
    )
    assert store.get_contact("s-00005").name == "Person 5"  # type: ignore[union-attr]
    assert store.get_case("s-00005").preload == {"region": 1}  # type: ignore[union-attr]


@pytest.mark.parametrize("where", [0, CHUNK + 3])
def test_a_withdrawn_case_anywhere_in_the_sample_stores_nothing(store: Store, where: int) -> None:
    sample = _sample(CHUNK + 10)
    store.put_case(sample[where].case_id, "mini", {"region": 1}, now=T0)
    store.withdraw(sample[where].case_id, now=T0)
    before = _counts(store)
    with pytest.raises(CaseWithdrawn, match=sample[where].case_id):
        store.import_cases("mini", sample, now=T0)
    assert _counts(store) == before


def test_another_questionnaires_case_stores_nothing(store: Store) -> None:
    sample = _sample(20)
    store.put_case("s-00019", "other", {}, now=T0)
    with pytest.raises(CaseBelongsElsewhere, match="s-00019"):
        store.import_cases("mini", sample, now=T0)
    assert _counts(store) == {"cases": 1, "contacts": 0, "phone_numbers": 0, "case_queue": 0}


def test_bad_values_are_refused_before_anything_is_sent(store: Store) -> None:
    sample = _sample(3)
    with pytest.raises(ValueError, match="given twice"):
        store.import_cases("mini", [*sample, sample[1]], now=T0)
    wrong = ImportedCase("s-9", {"region": 1}, numbers=("+442079460000", "+442079460000"))
    with pytest.raises(ValueError, match="same number twice"):
        store.import_cases("mini", [*sample, wrong], now=T0)
    with pytest.raises(ValueError):
        store.import_cases("mini", [*sample, ImportedCase("s-8", {}, numbers=("0207",))], now=T0)
    assert _counts(store) == {"cases": 0, "contacts": 0, "phone_numbers": 0, "case_queue": 0}


def test_a_second_import_replaces_details_and_keeps_the_history(store: Store) -> None:
    queue = queue_on(store)
    store.import_cases("mini", _sample(2), now=T0)
    taken = queue.next_case("iv1", now=T0)  # the empty windows are renewed first
    assert isinstance(taken, Claimed)
    queue.code_outcome(
        taken.attempt_id, disposition="no_answer", actor="iv1", now=T0 + dt.timedelta(minutes=1)
    )
    changed = [
        ImportedCase(
            e.case_id,
            {"region": 2},
            numbers=("+447700900123",),
            name="New Name",
            zone="Europe/Dublin",
        )
        for e in _sample(2)
    ]
    store.import_cases("mini", changed, now=T0 + dt.timedelta(hours=1))
    row = store.queue_row(taken.case_id)
    assert row is not None and (row["zone"], row["attempts"], row["disposition"]) == (
        "Europe/Dublin",
        1,
        "no_answer",
    )
    assert [a.disposition for a in store.attempts_of(taken.case_id)] == ["no_answer"]
    assert [n.e164 for n in store.phone_numbers_of(taken.case_id)] == ["+447700900123"]
    assert store.get_contact(taken.case_id).name == "New Name"  # type: ignore[union-attr]
    assert store.get_case(taken.case_id).preload == {"region": 2}  # type: ignore[union-attr]


def test_a_file_without_telephone_columns_leaves_names_numbers_and_queue_alone(
    store: Store,
) -> None:
    store.import_cases("mini", _sample(1), now=T0)
    store.import_cases("mini", [ImportedCase("s-00000", {"region": 2})], now=T0)
    assert [n.e164 for n in store.phone_numbers_of("s-00000")] == ["+442079460000"]
    assert store.get_contact("s-00000").name == "Person 0"  # type: ignore[union-attr]
    assert store.queue_row("s-00000") is not None


def test_the_whole_sample_is_one_transaction(store: Store) -> None:
    """Every statement that writes (or locks) runs in one transaction."""
    begun: list[object] = []
    writes_in: set[int] = set()

    def note(*args: object) -> None:
        statement = str(args[2]).lstrip().upper()
        if statement.startswith(("INSERT", "UPDATE", "DELETE")) or "FOR UPDATE" in statement:
            writes_in.add(len(begun))

    # the writer and reader engines share the base engine's pool and its events
    sa.event.listen(store.engine, "begin", begun.append)
    sa.event.listen(store.engine, "before_cursor_execute", note)
    store.import_cases("mini", _sample(CHUNK * 3), now=T0)
    assert writes_in == {1} and len(begun) == 1
