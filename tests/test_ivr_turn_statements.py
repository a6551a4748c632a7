"""How many SQL statements an automated call's webhook turn sends: a guard on its cost (issue 14).

The IVR benchmark (benchmarks/ivr.py) puts a call's turn at a few milliseconds of server CPU,
and much of it was statements: the call's row and turn read in a transaction of its own, the
interview's revision read again, the save, then the turn stored in a third transaction (BEGIN,
insert, update, COMMIT). These are upper bounds on the statements each webhook request of a
call through the flagship sends, counted as SQLAlchemy sends them (BEGIN included, so each
transaction counts) and, on PostgreSQL, as the store sends its fixed statements through psycopg
directly, on SQLite and PostgreSQL, so a change that adds a read or a transaction to a turn fails
here. Counts, not timings: they do not move with the machine's load.

Two apps on one database stand for two server workers: a turn served by the worker that did not
serve the call's last one has no interview kept and reads it (one statement more).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask
from store_fixtures import *
from test_console_statements import Counter
from test_ivr_webhooks import CALLER, FLAGSHIP, PUBLIC, Caller, ivr_app, new_case, sid, signed_post

from instrument.server.app import get_host

TURN_BUDGET = {"postgresql": 3, "sqlite": 8}
"""Most statements a turn may send when its worker keeps the interview: PostgreSQL: the call with
its turn and the interview's revision (one read), the answer's save (one statement), the turn
stored with the call's new state (one statement); SQLite: the read, the save's BEGIN IMMEDIATE,
compare-and-set, key and events, then BEGIN IMMEDIATE, the turn and the call's state."""

OTHER_WORKER = 1
"""Statements more for a turn whose worker did not serve the call's turn before (it keeps no
current copy of the interview): reading it."""

RECORDING = 1
"""Statements more for the turn a recorded answer ends: whether its status callback already
reported it lost (the callback may come first)."""

RETRY_BUDGET = 1
"""A turn answered before (Twilio's retry): the read that finds its TwiML, nothing more."""


@dataclass(frozen=True)
class Request:
    """One webhook request of the call, as counted."""

    url: str
    switched: bool  # served by the other worker than the request before
    recorded: bool  # a recorded answer ended
    statements: list[str]

    def budget(self, backend: str) -> int:
        extra = (OTHER_WORKER if self.switched else 0) + (RECORDING if self.recorded else 0)
        return TURN_BUDGET[backend] + extra


class CountedCaller(Caller):
    """A caller whose every request is counted on the app it is sent to."""

    def __init__(self, app: Flask, call_sid: str, start_url: str) -> None:
        self.counters: dict[int, Counter] = {}
        self.requests: list[Request] = []
        self.last: Flask = app
        super().__init__(app, call_sid, start_url)

    def post(self, url: str, extra: dict[str, str]) -> str:
        counter = self.counters.get(id(self.app))
        switched, self.last = self.app is not self.last, self.app
        if counter is None:
            return super().post(url, extra)
        name = f"{len(self.requests)} {url}"
        try:
            return counter.during(name, super().post, url, extra)
        finally:
            statements = counter.seen.get(name, [])
            self.requests.append(Request(url, switched, "RecordingSid" in extra, statements))


@pytest.fixture
def two_workers(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Flask]]:
    apps = [ivr_app(database_url, monkeypatch, FLAGSHIP) for _ in range(2)]
    yield apps
    for app in apps:
        get_host(app).store.close()


def _backend(app: Flask) -> str:
    return str(get_host(app).store.dialect)


def _report(requests: list[Request], backend: str) -> str:
    return "\n".join(
        f"{r.url}: {len(r.statements)} statements (budget {r.budget(backend)})\n  "
        + "\n  ".join(r.statements)
        for r in requests
    )


def test_each_turn_of_a_call_stays_within_its_statements(two_workers: list[Flask]) -> None:
    """A call through the flagship after its access code: every turn within the budget; every
    third turn served by the other worker, within the budget and the interview's read."""
    first, second = two_workers
    code = new_case(first)
    caller = CountedCaller(first, sid(1), f"{PUBLIC}/ivr/voice")
    caller.press("1")  # English
    caller.press(code + "#")  # the interview begins: once a call, not a turn
    caller.counters = {id(app): Counter(get_host(app).store) for app in two_workers}
    for number in range(200):
        if caller.hung_up:
            break
        caller.app = second if number % 3 == 2 else first
        root = ElementTree.fromstring(caller.twiml.encode("utf-8"))
        caller.press("1" if root.find("Gather") is not None else "#")
    assert caller.hung_up, caller.heard[-3:]
    backend = _backend(first)
    turns = [r for r in caller.requests if "/ivr/turn/" in r.url]
    assert len(turns) > 30  # the whole flagship, many turns on each worker
    over = [r for r in turns if len(r.statements) > r.budget(backend)]
    assert over == [], _report(over, backend)
    saved = [
        r for r in turns if any("answer_events" in s or "WITH saved" in s for s in r.statements)
    ]
    assert len(saved) > 10 and any(r.switched for r in saved)  # turns that saved answers, too


def test_a_retried_turn_reads_once_and_writes_nothing(two_workers: list[Flask]) -> None:
    app = two_workers[0]
    code = new_case(app)
    caller = Caller(app, sid(2), f"{PUBLIC}/ivr/voice")
    caller.press("1")
    caller.press(code + "#")
    url = ElementTree.fromstring(caller.twiml.encode()).find("Gather").attrib["action"]  # type: ignore[union-attr]
    form = {"CallSid": sid(2), "Digits": "1", "From": CALLER}
    once = signed_post(app, url, form)
    counter = Counter(get_host(app).store)
    again: Any = counter.during("retry", signed_post, app, url, form)
    assert again.status_code == 200 and again.data == once.data
    statements = counter.seen["retry"]
    assert len(statements) <= RETRY_BUDGET, statements
    assert not any(s.split()[0] in ("INSERT", "UPDATE", "WITH", "DELETE") for s in statements)
