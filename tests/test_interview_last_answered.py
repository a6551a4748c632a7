"""``interviews.last_answered``: every save and import keeps the variable of the newest answer.

The wave dashboard's break-offs count stopped interviews by it instead of looking each
one up in the answer log (migration 0024_dashboard_reads), so it must always be what the
log says: the variable of the interview's newest ``answer`` event, NULL before any.
Checked on both backends (on PostgreSQL the save is one statement sent through psycopg,
on SQLite a Core transaction), against the log itself.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from instrument.store import ImportedInterview, NewEvent, Store
from instrument.store.schema import answer_events, interviews
from tests.store_fixtures import *

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
YAML = "meta:\n  id: social_licence\n  version: '1'\nquestions: []\n"


def _kept_and_logged(store: Store, interview_id: str) -> tuple[str | None, str | None]:
    """The row's ``last_answered`` and the newest answer's variable in the answer log."""
    with store.engine.connect() as connection:
        kept = connection.scalar(
            sa.select(interviews.c.last_answered).where(interviews.c.id == interview_id)
        )
        logged = connection.scalar(
            sa.select(answer_events.c.variable)
            .where(answer_events.c.interview_id == interview_id, answer_events.c.kind == "answer")
            .order_by(answer_events.c.seq.desc())
            .limit(1)
        )
    return kept, logged


def test_saves_keep_the_newest_answer(store: Store) -> None:
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    iv = store.create_interview(version.id, mode="web", language="en", state={}, now=T0)
    assert _kept_and_logged(store, iv.id) == (None, None)
    saves = [
        # (events of the save, the newest answer after it)
        ([NewEvent(None, {"page": "p1"}, kind="page")], None),
        ([NewEvent("q1", 1), NewEvent("q2", 2), NewEvent(None, {"page": "p2"}, kind="page")], "q2"),
        ([NewEvent(None, {"page": "p3"}, kind="page")], "q2"),  # a page alone keeps it
        ([], "q2"),  # a save without events too
        ([NewEvent("q1", 3)], "q1"),  # going back and answering again: the newest answer
        ([NewEvent("q7", 1), NewEvent(None, {"ms": 5}, kind="paradata")], "q7"),
    ]
    revision = 0
    for n, (events, newest) in enumerate(saves):
        result = store.save_interview(
            iv.id,
            expected_revision=revision,
            state={"n": n},
            status="active",
            mode="web",
            events=events,
            now=T0 + dt.timedelta(minutes=n + 1),
        )
        revision = result.revision
        assert _kept_and_logged(store, iv.id) == (newest, newest), f"after save {n}"
    store.save_interview(
        iv.id,
        expected_revision=revision,
        state={},
        status="abandoned",
        mode="web",
        events=[],
        now=T0 + dt.timedelta(hours=1),
    )
    assert _kept_and_logged(store, iv.id) == ("q7", "q7")
    assert not hasattr(store.load_interview(iv.id), "last_answered")  # internal
    store.withdraw_interview(iv.id, now=T0 + dt.timedelta(hours=2))
    assert _kept_and_logged(store, iv.id) == (None, None)  # withdrawn: the log and it are gone


def test_imports_keep_the_newest_answer(store: Store) -> None:
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    items = [
        ImportedInterview(
            state={},
            status="abandoned",
            mode="web",
            language="en",
            events=events,
            started_at=T0,
            finished_at=T0 + dt.timedelta(minutes=5),
        )
        for events in (
            [NewEvent("q1", 1), NewEvent("q2", 1), NewEvent(None, {"page": "p"}, kind="page")],
            [NewEvent(None, {"page": "p"}, kind="page")],
        )
    ]
    assert store.import_interviews(version.id, items) == 2
    with store.engine.connect() as connection:
        ids = connection.scalars(sa.select(interviews.c.id).order_by(interviews.c.last_seq.desc()))
        found = [_kept_and_logged(store, i) for i in ids.all()]
    assert found == [("q2", "q2"), (None, None)]
