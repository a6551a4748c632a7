"""The web load generator, tested against the real app served in-process on SQLite.

benchmarks/web_load.py's numbers are only worth something if its respondents
really complete interviews and its answer check really compares with the
store. Here it drives the app under werkzeug (a thread, a temporary SQLite
file) through three flagship interviews, and the check must find every answer
it sent, once; then one stored answer is deleted behind its back and the same
check must report it lost.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from instrument.server.app import create_app, get_host

ROOT = Path(__file__).resolve().parent.parent


def _load_benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("web_load", ROOT / "benchmarks" / "web_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("web_load", module)
    spec.loader.exec_module(module)
    return module


web_load = _load_benchmark()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, int]]:
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'load.db'}",
            "QUESTIONNAIRES": [str(web_load.FLAGSHIP)],
            "SECRET_KEY": "smoke-test-secret",
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        get_host(app).store.close()


def test_generator_completes_flagship_interviews_and_the_store_holds_every_answer(
    served: tuple[Any, int],
) -> None:
    app, port = served
    result = web_load.run_load(port, flow="flagship", interviews=3, concurrency=3, seconds=60)

    assert result.errors == []
    assert len(result.interviews) == 3
    assert all(log.complete and log.interview_id for log in result.interviews)
    # The flagship for an eligible parent is about 25 pages; every one was a timed page turn.
    pages = sum(log.pages for log in result.interviews)
    assert pages >= 3 * 20 and len(result.turn_durations) == pages
    assert all(d > 0 for d in result.turn_durations)

    store = get_host(app).store
    check = web_load.check_store_answers(store, result.interviews)
    assert check.ok, check.problems
    assert check.interviews == 3 and check.answers_sent == check.answers_stored >= 3 * 30
    for log in result.interviews:
        assert store.load_interview(log.interview_id).status == "complete"
    counts = store.count_by_status("social_licence")
    assert counts["complete"] == 3 and sum(counts.values()) == 3

    # The check is not a formality: remove one stored answer and it must be reported lost.
    victim = result.interviews[0]
    with store.engine.begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM answer_events WHERE interview_id = :i AND kind = 'answer' "
                "AND variable = 'parent'"
            ),
            {"i": victim.interview_id},
        )
    again = web_load.check_store_answers(store, result.interviews)
    assert again.lost == 1 and again.extra == 0 and not again.ok


def test_answers_are_chosen_from_the_form_and_reported_as_the_store_keeps_them() -> None:
    page = web_load.Page(
        200,
        """<form class="back-form" method="post" action="/web/q/"><input type="hidden" name="csrf_token" value="c"></form>
        <form method="post" action="/web/q/" novalidate class="question-form">
        <input type="hidden" name="csrf_token" value="c&amp;1">
        <input type="hidden" name="form_state" value="s">
        <input class="radios__input" id="f-a" name="a" type="radio" value="1">
        <input class="radios__input" id="f-a-2" name="a" type="radio" value="96" data-reveals="reveal-a_other">
        <input id="f-a_other" name="a_other" type="text" value="">
        <input class="radios__input" id="f-a-dk" name="a" type="radio" value="dk" data-exclusive>
        <input name="m" type="checkbox" value="1"><input name="m" type="checkbox" value="2">
        <input name="m" type="checkbox" value="97" data-exclusive>
        <input id="f-n" name="n" type="text" inputmode="numeric" value="">
        <input name="n-missing" type="checkbox" value="dk" data-exclusive>
        <input name="d-day" type="text" inputmode="numeric"><input name="d-month" type="text" inputmode="numeric"><input name="d-year" type="text" inputmode="numeric">
        <textarea id="f-t" name="t" rows="6">
        </form>""",
    )
    assert page.kind == "question"
    form = page.form("question-form")
    fields, sent = web_load.choose_answers(form, web_load.random.Random(3), {"a": "1"})
    posted = dict(fields)
    assert posted["csrf_token"] == "c&1" and posted["form_state"] == "s"
    assert posted["action"] == "continue" and "n-missing" not in posted
    assert sent["a"] == "1" and sent["a_other"] is None and posted["a_other"] == ""
    assert set(sent["m"]) <= {"1", "2"} and 1 <= len(sent["m"]) <= 2
    assert 1 <= int(sent["n"]) <= 3
    assert (
        sent["d"] == f"{posted['d-year']}-{int(posted['d-month']):02d}-{int(posted['d-day']):02d}"
    )
    # Stored values come back tagged (codes, dates) and typed: normalised alike.
    assert web_load.normalise({"$codes": [2, 1]}) == ("1", "2")
    assert web_load.normalise({"$date": "1990-02-03"}) == "1990-02-03"
    assert web_load.normalise(3) == "3" and web_load.normalise(None) is None


def _load_turn_cost() -> Any:
    spec = importlib.util.spec_from_file_location(
        "web_turn_cost", ROOT / "benchmarks" / "web_turn_cost.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_turn_cost_completes_interviews_through_the_wsgi_function(tmp_path: Path) -> None:
    """benchmarks/web_turn_cost.py counts the page turns of complete interviews; its section is written."""
    turn_cost = _load_turn_cost()
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cost.db'}",
            "QUESTIONNAIRES": [str(web_load.FLAGSHIP)],
            "SECRET_KEY": "smoke-test-secret",
        }
    )
    try:
        client = turn_cost.interviews(app, 2, seed=5)
        counts = get_host(app).store.count_by_status("social_licence")
    finally:
        get_host(app).store.close()
    assert counts["complete"] == 2
    assert client.posts >= 2 * 15 and client.requests > 2 * client.posts - 5
    assert client.cpu > 0
    result = {"per_turn": [1500.0, 1400.0], "server_share": 0.87, "posts": client.posts}
    text = turn_cost.render(result, {"per_turn": 9.2e6, "turns": 160}, ["--callgrind"])
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n## Web\n\nweb text\n\n## Web page turn cost\n\nold\n\n## Later\n\nkept\n"
    )
    turn_cost.write_section(text, docs)
    written = docs.read_text()
    assert "old" not in written and "web text" in written and "## Later\n\nkept" in written
    assert "1,400 µs (median 1,450 µs)" in written and "9.20 million" in written
