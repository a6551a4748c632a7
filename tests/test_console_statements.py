"""How many SQL statements each console request sends: a guard on the console's cost (issue 12).

The telephone benchmark (benchmarks/phone.py) found the console's server time
in its statements: the end-of-call page sent 25 and the case screen 14, where
one read of the case does. These are upper bounds on statements counted
as SQLAlchemy sends them (BEGIN included) and, on PostgreSQL, as the store
sends its fixed statements through psycopg directly (the page turn's revision
read and save, the case screen, who holds a case), on SQLite and PostgreSQL, so a change that adds a read to a request fails here instead
of showing up months later as a slower benchmark. Counts, not timings: they do
not move with the machine's load.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from phone_console_helpers import Interviewer, add_case, console_app
from test_web_support import FakeClock, close_app

from instrument.server.app import get_host
from tests.store_fixtures import *

BUDGET = {
    "next case": 6,  # was 7 (the claim: lock, own hold, first free case, attempt, hold)
    "case screen": 7,  # was 14 (PostgreSQL: 1)
    "dial by hand": 6,  # was 12
    "script page": 1,  # the revision read
    "script answer": 4,  # SQLite: BEGIN IMMEDIATE, the compare-and-set, key, events
    "end-of-call page": 8,  # was 25
    "code the outcome": 12,  # was 19
}
"""Most statements each request may send (the interviewer's session already believed)."""


class Counter:
    """Statements per request, by the request's name: through Core and sent directly."""

    def __init__(self, store: Any) -> None:
        self.seen: dict[str, list[str]] = collections.defaultdict(list)
        self.current: str | None = None
        sa.event.listen(store.engine, "before_cursor_execute", self._count)
        direct = store._direct  # PostgreSQL: the store's statements sent through psycopg
        if direct is not None:
            run = direct._run

            def counted(statement: str, params: Any) -> Any:
                self._count(None, None, statement)
                return run(statement, params)

            direct._run = counted

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if self.current is not None:
            self.seen[self.current].append(" ".join(statement.split())[:100])

    def during(self, name: str, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.current = name
        try:
            return request(*args, **kwargs)
        finally:
            self.current = None


@pytest.fixture
def console(database_url: str) -> Iterator[tuple[Any, FakeClock]]:
    clock = FakeClock()
    app = console_app(database_url, clock)
    add_case(app, "c1", clock)
    add_case(app, "c2", clock)
    try:
        yield app, clock
    finally:
        close_app(app)


def _one_case(ivy: Interviewer, counter: Counter | None) -> None:
    """Next case, case screen, dial, the first script page, one answer, end page, no answer."""

    def during(name: str, request: Any, *args: Any, **kwargs: Any) -> Any:
        return request(*args, **kwargs) if counter is None else counter.during(name, request, *args, **kwargs)  # fmt: skip

    ivy.get("/cati/console/")  # the home page, whose form "next case" is
    taken = during("next case", ivy.post, "/cati/console/next", {}, follow=False)
    assert taken.status == 303, taken.status
    case = taken.location or ""
    assert during("case screen", ivy.get, case).status == 200
    dialled = during("dial by hand", ivy.post, f"{case}dial", {"rank": "1"}, follow=False)
    assert dialled.status == 303
    ivy.get(f"{case}script")  # the first script page starts the interview: once per case
    assert "script-form" in during("script page", ivy.get, f"{case}script").html
    form = {**ivy.script_form(), "action": "continue"}
    answered = during(
        "script answer", ivy.client.post, f"{case}script", data=form, follow_redirects=False
    )
    assert answered.status_code in (303, 422), answered.status_code
    end = during("end-of-call page", ivy.get, f"{case}end")
    assert 'value="no_answer"' in end.html
    coded = during("code the outcome", ivy.post, f"{case}end", {"outcome": "no_answer"}, follow=False)  # fmt: skip
    assert coded.status == 303, coded.status


def test_each_console_request_stays_within_its_statements(console: tuple[Any, FakeClock]) -> None:
    """The second case's requests: the first case paid for the once-only work (the queue's
    first sweep, the questionnaire version's label, the staff session's first read)."""
    app, clock = console
    ivy = Interviewer(app)
    ivy.sign_in()
    _one_case(ivy, None)
    counter = Counter(get_host(app).store)
    _one_case(ivy, counter)
    over = {
        name: statements
        for name, statements in counter.seen.items()
        if len(statements) > BUDGET[name]
    }
    assert over == {}, "\n".join(
        f"{name}: {len(s)} statements (budget {BUDGET[name]}):\n  " + "\n  ".join(s)
        for name, s in over.items()
    )
    assert set(counter.seen) == set(BUDGET)  # every request was counted
