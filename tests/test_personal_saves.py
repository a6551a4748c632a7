"""Identifying answers are saved with the interview, in the same atomic save, and only when changed.

Nothing a respondent entered may be lost: the interview's state and its
personal answers (``personal_answers``, kept apart from the answers) land
together or not at all, whatever fails between them (a refusing trigger, the
connection or the process killed mid-save), and a replayed, stale or withdrawn
save writes neither. A page turn that changes no identifying answer writes no
personal answer. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_interviews import T0, answer, given, seen, service_on, show
from test_personal_answers import ROSTER

from instrument.interviews import Replayed, Saved, Stale
from instrument.store import (
    InterviewWithdrawn,
    NewEvent,
    NulCharacterRefused,
    PersonalChange,
    StaleRevision,
    Store,
    open_store,
)
from instrument.store.schema import personal_answers
from tests.store_fixtures import *

T1 = T0 + dt.timedelta(minutes=5)
ROOT = Path(__file__).resolve().parent.parent
REFUSED = "personal answers refused"


def _refuse_personal_inserts(store: Store) -> None:
    """A trigger that makes the database itself fail every insert into personal_answers."""
    with store.engine.begin() as connection:
        if store.dialect == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_personal BEFORE INSERT ON personal_answers"
                f" BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_personal() RETURNS trigger LANGUAGE plpgsql"
                f" AS $$ BEGIN RAISE EXCEPTION '{REFUSED}'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_personal BEFORE INSERT ON personal_answers"
                " FOR EACH ROW EXECUTE FUNCTION refuse_personal()"
            )


def _allow_personal_inserts(store: Store) -> None:
    on = "" if store.dialect == "sqlite" else " ON personal_answers"
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TRIGGER refuse_personal{on}")


def _interview(store: Store) -> str:
    version = store.add_questionnaire_version("roster", "1", ROSTER)
    state: dict[str, Any] = {"answers": {}}
    return store.create_interview(version.id, mode="web", language="en", state=state, now=T0).id


def _save(store: Store, interview_id: str, expected: int, **kw: Any) -> Any:
    return store.save_interview(
        interview_id,
        expected_revision=expected,
        state={"answers": {"n_people": expected + 1}},
        status="active",
        mode="web",
        events=[NewEvent("n_people", expected + 1)],
        now=kw.pop("now", T0),
        **kw,
    )


def _updated_at(store: Store, interview_id: str) -> dict[str, dt.datetime]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(personal_answers.c.variable, personal_answers.c.updated_at).where(
                personal_answers.c.interview_id == interview_id
            )
        )
        return {variable: at for variable, at in rows.all()}  # noqa: C416 (Rows)


def test_a_save_and_its_personal_answers_land_together_or_not_at_all(store: Store) -> None:
    interview_id = _interview(store)
    _refuse_personal_inserts(store)
    change = PersonalChange({"first_name_1": "Ada"})
    with pytest.raises(Exception, match=REFUSED):
        _save(store, interview_id, 0, personal=change, idempotency_key="k1")
    # the state, the events and the key were written before the refusal, and undone with it
    assert store.load_interview(interview_id).revision == 0
    assert store.events_for(interview_id) == []
    assert store.personal_answers(interview_id) == {}
    _allow_personal_inserts(store)
    again = _save(store, interview_id, 0, personal=change, idempotency_key="k1")  # the retry
    assert not again.replayed and again.revision == 1
    assert store.personal_answers(interview_id) == {"first_name_1": "Ada"}


def test_refused_saves_write_no_personal_answer(store: Store) -> None:
    interview_id = _interview(store)
    _save(store, interview_id, 0, personal=PersonalChange({"email": "a@example.org"}), idempotency_key="k1")  # fmt: skip
    other = PersonalChange({"email": "b@example.org"})
    replayed = _save(store, interview_id, 0, personal=other, idempotency_key="k1")
    assert replayed.replayed
    with pytest.raises(StaleRevision):
        _save(store, interview_id, 0, personal=other)
    assert store.personal_answers(interview_id) == {"email": "a@example.org"}
    # a change that drops one key and puts another
    dropped = _save(
        store, interview_id, 1, personal=PersonalChange({"first_name_1": "Ada"}, ("email",))
    )
    assert dropped.revision == 2
    assert store.personal_answers(interview_id) == {"first_name_1": "Ada"}
    store.withdraw_interview(interview_id, now=T1)
    with pytest.raises(InterviewWithdrawn):
        _save(store, interview_id, 2, personal=other)
    assert store.personal_answers(interview_id) == {}


def test_personal_change_is_none_when_nothing_changed() -> None:
    assert PersonalChange.between({}, {}) is None
    assert PersonalChange.between({"a": "Ada"}, {"a": "Ada"}) is None
    change = PersonalChange.between({"a": "Ada", "b": "Bo"}, {"a": "Ada", "c": "Cy"})
    assert change == PersonalChange({"c": "Cy"}, ("b",))


def _race(store: Store, interview_id: str, revision: int, names: dict[str, str]) -> dict[str, Any]:
    """Both tabs save at ``revision`` at the same moment; the saves that were not refused."""
    won: dict[str, Any] = {}
    barrier = threading.Barrier(len(names))

    def tab(name: str) -> None:
        barrier.wait()
        try:
            change = PersonalChange({"first_name_1": names[name]})
            won[name] = _save(store, interview_id, revision, personal=change)
        except StaleRevision:
            pass

    threads = [threading.Thread(target=tab, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_concurrent_saves_leave_the_winners_personal_answers(store: Store) -> None:
    """Two tabs save at the same revision: one wins, and its personal answers are the stored ones."""
    interview_id = _interview(store)
    for revision in range(8):
        names = {"one": f"Ada{revision}", "two": f"Grace{revision}"}
        won = _race(store, interview_id, revision, names)
        assert len(won) == 1, won
        (winner,) = won
        assert store.personal_answers(interview_id) == {"first_name_1": names[winner]}
        assert store.load_interview(interview_id).revision == revision + 1


def _roster_service(store: Store, tmp_path: Path) -> Any:
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER, encoding="utf-8")
    return service_on(store, path)


def test_a_retried_form_after_a_failed_save_keeps_the_name(store: Store, tmp_path: Path) -> None:
    """The save fails in the database; the browser resends the same form: nothing is lost."""
    service = _roster_service(store, tmp_path)
    interview_id = service.start("roster", mode="web", actor="respondent", now=T0).interview.id
    answer(service, interview_id, {"n_people": "1"})
    shown = show(service, interview_id)
    _refuse_personal_inserts(store)
    form = given({"first_name_1": "Ada"})
    with pytest.raises(Exception, match=REFUSED):
        service.answer(interview_id, seen(shown, "name"), form, mode="web", actor="r", now=T0)
    _allow_personal_inserts(store)
    retried = service.answer(interview_id, seen(shown, "name"), form, mode="web", actor="r", now=T0)
    assert isinstance(retried, Saved)  # not Replayed: the failed save wrote nothing
    assert store.personal_answers(interview_id) == {"first_name_1": "Ada"}
    fresh = _roster_service(store, tmp_path)
    assert show(fresh, interview_id).step.questions[0].text == "How old is Ada?"


def test_personal_answers_are_written_only_when_they_change(store: Store, tmp_path: Path) -> None:
    service = _roster_service(store, tmp_path)
    interview_id = service.start("roster", mode="web", actor="respondent", now=T0).interview.id
    answer(service, interview_id, {"n_people": "2"})
    answer(service, interview_id, {"first_name_1": "Ada"})
    shown = show(service, interview_id)
    later = service.answer(
        interview_id, seen(shown, "age"), given({"age_1": "40"}), mode="web", actor="r", now=T1
    )
    assert isinstance(later, Saved)
    # the page turn after the name changed no identifying answer: the row is the one from T0
    assert _updated_at(store, interview_id) == {"first_name_1": T0}
    fresh = _roster_service(store, tmp_path)  # read from the store, not a kept snapshot
    shown = show(fresh, interview_id)
    changed = fresh.answer(
        interview_id, seen(shown, "n2"), given({"first_name_2": "Grace"}), mode="web", actor="r",
        now=T1,
    )  # fmt: skip
    assert isinstance(changed, Saved)
    assert _updated_at(store, interview_id) == {"first_name_1": T0, "first_name_2": T1}


def test_two_tabs_answering_a_name_keep_the_saved_ones(store: Store, tmp_path: Path) -> None:
    service = _roster_service(store, tmp_path)
    interview_id = service.start("roster", mode="web", actor="respondent", now=T0).interview.id
    answer(service, interview_id, {"n_people": "1"})
    tab_one, tab_two = show(service, interview_id), show(service, interview_id)
    first = service.answer(
        interview_id, seen(tab_one, "one"), given({"first_name_1": "Ada"}), mode="web",
        actor="r", now=T0,
    )  # fmt: skip
    late = service.answer(
        interview_id, seen(tab_two, "two"), given({"first_name_1": "Grace"}), mode="web",
        actor="r", now=T0,
    )  # fmt: skip
    resent = service.answer(
        interview_id, seen(tab_one, "one"), given({"first_name_1": "Ada"}), mode="web",
        actor="r", now=T0,
    )  # fmt: skip
    assert isinstance(first, Saved) and isinstance(late, Stale) and isinstance(resent, Replayed)
    assert store.personal_answers(interview_id) == {"first_name_1": "Ada"}


_DIE_MID_SAVE = """
import os, sys
import sqlalchemy as sa
from instrument.store import NewEvent, PersonalChange, open_store
store = open_store(sys.argv[1])
@sa.event.listens_for(store.engine, "connect")
def _die(dbapi_connection, _record):
    dbapi_connection.create_function("die", 0, lambda: os._exit(9))
store.engine.dispose()
with store.engine.begin() as connection:
    connection.exec_driver_sql(
        "CREATE TRIGGER die BEFORE INSERT ON personal_answers BEGIN SELECT die(); END"
    )
store.save_interview(
    sys.argv[2], expected_revision=0, state={"answers": {"n_people": 1}}, status="active",
    mode="web", events=[NewEvent("n_people", 1)],
    personal=PersonalChange({"first_name_1": "Ada"}),
)
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_process_killed_mid_save_leaves_neither(store: Store, database_url: str) -> None:
    """SQLite: the process dies inside the save's transaction (after the state's UPDATE)."""
    interview_id = _interview(store)
    script = textwrap.dedent(_DIE_MID_SAVE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's code, whatever is installed
    command = [sys.executable, "-c", script, database_url, interview_id]
    died = subprocess.run(command, check=False, env=env)
    assert died.returncode == 9
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER die")
    assert store.load_interview(interview_id).revision == 0
    assert store.events_for(interview_id) == []
    assert store.personal_answers(interview_id) == {}


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_connection_killed_mid_save_leaves_neither(store: Store) -> None:
    """PostgreSQL: the server ends the save's connection while it writes the personal answers."""
    interview_id = _interview(store)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE FUNCTION kill_me() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); RETURN NEW;"
            " END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER kill_me BEFORE INSERT ON personal_answers"
            " FOR EACH ROW EXECUTE FUNCTION kill_me()"
        )
    change = PersonalChange({"first_name_1": "Ada"})
    with pytest.raises(Exception) as failed:  # psycopg's OperationalError, after one retry
        _save(store, interview_id, 0, personal=change, idempotency_key="k1")
    assert "terminat" in str(failed.value) or "closed" in str(failed.value), failed.value
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER kill_me ON personal_answers")
    assert store.load_interview(interview_id).revision == 0
    assert store.events_for(interview_id) == []
    assert store.personal_answers(interview_id) == {}
    again = _save(store, interview_id, 0, personal=change, idempotency_key="k1")
    assert not again.replayed and store.personal_answers(interview_id) == {"first_name_1": "Ada"}


def test_a_nul_in_a_personal_answer_is_refused_before_anything_is_written(store: Store) -> None:
    interview_id = _interview(store)
    for change in (PersonalChange({"email": "a\x00b"}), PersonalChange({"e\x00": "a"})):
        with pytest.raises(NulCharacterRefused, match="personal answer"):
            _save(store, interview_id, 0, personal=change)
    assert store.load_interview(interview_id).revision == 0
    assert store.personal_answers(interview_id) == {}


def test_opened_store_sees_the_saved_personal_answers(database_url: str) -> None:
    """Written by one store, read by another (another worker process)."""
    with open_store(database_url) as one, open_store(database_url) as two:
        interview_id = _interview(one)
        _save(one, interview_id, 0, personal=PersonalChange({"email": "a@example.org"}))
        assert two.personal_answers(interview_id) == {"email": "a@example.org"}
