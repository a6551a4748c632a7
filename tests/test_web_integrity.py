"""Nothing lost, nothing doubled: the web mode's saves on SQLite and on PostgreSQL.

Each test runs twice through ``database_url`` (tests/store_fixtures.py): on a
SQLite file and on the PostgreSQL server of this machine (skipped with the
reason if it is unreachable, a failure when CI is set).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from test_web_support import *

from instrument.server.app import get_host
from tests.store_fixtures import *


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[Any]:
    built = make_app(database_url, clock)
    yield built
    close_app(built)


def answers_for(app: Any, interview_id: str, key: str) -> list[Any]:
    return [e.value for e in events_of(app, interview_id, "answer") if e.variable == key]


def twin(app: Any, respondent: Respondent) -> Respondent:
    """A second tab: the same browser cookie, its own page."""
    other = Respondent(app, respondent.qid)
    cookie = respondent.client.get_cookie("instrument_session", domain="survey.test")
    other.client.set_cookie("instrument_session", cookie.value, domain="survey.test")
    return other


def test_a_resent_submit_records_once(app: Any) -> None:
    r = Respondent(app)
    page = r.start()
    first = r.post({"parent": "1"}, page=page, follow=False)
    assert first.status == 303
    again = r.post({"parent": "1"}, page=page, follow=False)  # the browser resends the same form
    assert again.status == 303
    now = r.get()
    assert now.keys == ["n_kids"]
    assert "already been answered" not in now.text()  # a replay is quietly the same success
    record = interview_of(app, r)
    assert record.revision == 1
    assert answers_for(app, record.id, "parent") == [1]
    assert (
        len([e for e in events_of(app, record.id, "paradata") if e.value["event"] == "submitted"])
        == 1
    )


def test_a_double_click_racing_itself_records_once(app: Any) -> None:
    r = Respondent(app)
    page = r.start()
    clicks = [twin(app, r) for _ in range(4)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(clicks))

    def click(tab: Respondent) -> None:
        barrier.wait()
        statuses.append(tab.post({"parent": "1"}, page=page, follow=False).status)

    threads = [threading.Thread(target=click, args=(tab,)) for tab in clicks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303] * 4
    record = interview_of(app, r)
    assert record.revision == 1
    assert answers_for(app, record.id, "parent") == [1]


def test_a_stale_second_tab_is_refused_and_overwrites_nothing(app: Any) -> None:
    r = Respondent(app)
    r.start()
    r.answer({"parent": "1"})
    tab1 = r
    tab2 = twin(app, r)
    tab2.get()
    tab1.answer({"n_kids": "2"})  # tab 1 moves on
    page = tab2.post({"n_kids": "5"})  # tab 2 still shows the old page
    assert "already been answered" in page.text()
    assert page.keys == ["kid_age_1"]
    record = interview_of(app, r)
    assert record.state["answers"]["n_kids"] == 2
    assert answers_for(app, record.id, "n_kids") == [2]


def test_a_stale_back_is_refused(app: Any) -> None:
    r = Respondent(app)
    r.start()
    r.answer({"parent": "1"})
    tab2 = twin(app, r)
    old = tab2.get()
    r.answer({"n_kids": "1"})
    page = tab2.back(page=old)
    assert "already been answered" in page.text()
    assert page.keys == ["kid_age_1"]
    assert events_of(app, interview_of(app, r).id, "back") == []


def test_nothing_acknowledged_is_lost_when_the_server_restarts(
    database_url: str, clock: FakeClock
) -> None:
    first = make_app(database_url, clock)
    r = Respondent(first)
    r.start()
    r.answer({"parent": "1"})
    page = r.answer({"n_kids": "2"})
    assert page.keys == ["kid_age_1"]
    cookie = r.client.get_cookie("instrument_session", domain="survey.test").value
    close_app(first)  # the process dies; only the database and the browser's cookie remain

    second = make_app(database_url, clock)
    try:
        again = Respondent(second)
        again.client.set_cookie("instrument_session", cookie, domain="survey.test")
        page = again.get()
        assert page.keys == ["kid_age_1"]
        page = again.back()
        assert page.value("n_kids") == "2"
        record = interview_of(second, again)
        assert record.state["answers"] == {"parent": 1, "n_kids": 2}
    finally:
        close_app(second)


def test_the_skip_prompt_is_saved_once(app: Any) -> None:
    r = Respondent(app)
    r.start()
    r.answer({"parent": "1"})
    r.answer({"n_kids": "1"})
    page = r.page
    prompted = r.post({}, page=page)
    assert "kid_age_1-missing" in prompted.names()
    resent = r.post({}, page=page)  # the same form again: replayed, not a second prompt
    assert resent.keys == ["kid_age_1"]
    record = interview_of(app, r)
    assert [e.variable for e in events_of(app, record.id, "prompt")] == ["kid_age_1"]
    r.answer({"kid_age_1-missing": "refused"}, page=prompted)
    assert get_host(app).service.load(record.id).state.answers["kid_age_1"].value == "refused"


def test_counts_follow_the_interviews(app: Any) -> None:
    done = Respondent(app)
    done.start()
    done.answer({"parent": "2"})
    going = Respondent(app)
    going.start()
    counts = get_host(app).store.count_by_status("mini")
    assert counts["screened_out"] == 1 and counts["active"] == 1


def _carry_cookie(source: Respondent, target: Respondent) -> None:
    """The same browser, its next request going to another worker behind the load balancer."""
    cookie = source.client.get_cookie("instrument_session", domain="survey.test")
    target.client.set_cookie("instrument_session", cookie.value, domain="survey.test")


def test_workers_behind_a_load_balancer_neither_lose_answers_nor_cry_stale(
    database_url: str, clock: FakeClock
) -> None:
    """Each worker remembers the interviews it served; a submit trusts that memory only as far
    as the save's compare-and-set allows, so another worker's saves never make it refuse a
    current form, nor let a stale one through."""
    worker_a, worker_b = make_app(database_url, clock), make_app(database_url, clock)
    try:
        on_a, on_b = Respondent(worker_a), Respondent(worker_b)
        on_a.start()
        on_a.answer({"parent": "1"})  # worker A remembers the interview at revision 1
        _carry_cookie(on_a, on_b)
        on_b.get()
        on_b.answer({"n_kids": "2"})  # revision 2, saved by worker B
        current = on_b.get()  # the kid_age_1 form, rendered at revision 2
        _carry_cookie(on_b, on_a)
        # The submit reaches worker A, whose memory is at revision 1: it reads the
        # interview again instead of calling the form stale.
        page = on_a.post({"kid_age_1": "7"}, page=current)
        assert "already been answered" not in page.text()
        assert page.keys == ["kid_age_2"]
        # The same form again, now to worker B (which remembers revision 2): a resend, replayed.
        _carry_cookie(on_a, on_b)
        again = on_b.post({"kid_age_1": "7"}, page=current)
        assert "already been answered" not in again.text()
        assert again.keys == ["kid_age_2"]
        # A form that really is old (revision 2) with a changed answer, to worker B: refused.
        changed = on_b.post({"kid_age_1": "9"}, page=current)
        assert changed.keys == ["kid_age_2"]
        record = interview_of(worker_a, on_a)
        assert record.revision == 3
        assert record.state["answers"]["kid_age_1"] == 7
        assert answers_for(worker_a, record.id, "kid_age_1") == [7]
    finally:
        close_app(worker_a)
        close_app(worker_b)
