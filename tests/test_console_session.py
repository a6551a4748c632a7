"""What the console keeps in the interviewer's session cookie about the cases they were handed.

The cookie is read and verified on every request, so it is kept small: the
case being called keeps its interview and language, each earlier (closed)
attempt only its case and questionnaire, which is all its pages need to say
that it is closed, or that a second press coded nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from phone_console_helpers import Interviewer, console_with_cases

from instrument.server.app import get_host
from instrument_phone.console.views import HELD


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    with console_with_cases(tmp_path / "session.db", "c1", "c2") as app:
        yield app


def _held(ivy: Interviewer) -> dict[str, list[Any]]:
    with ivy.client.session_transaction() as session:
        return dict(session[HELD])


def test_an_earlier_attempt_keeps_only_its_case_and_its_pages_still_answer(app: Any) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    first = ivy.attempt_path
    ivy.post(first + "dial", {"rank": "1"})
    ivy.get(first + "script")  # starts the case's interview: kept with the attempt
    (entry,) = _held(ivy).values()
    assert entry[:2] == ["c1", "social_licence"] and entry[2] and entry[3] == "en"
    taken = ivy.post(first + "end", {"outcome": "no_answer", "then": "next"})
    assert "Case c2" in taken.text()
    second = ivy.attempt_path
    held = _held(ivy)
    assert held[first.split("/")[-2]] == ["c1", "social_licence"]
    assert held[second.split("/")[-2]] == ["c2", "social_licence", None, "en"]
    # the closed attempt's pages say so, and a second press of its coding codes nothing
    assert "no longer yours to call" in ivy.get(first + "script").text()
    again = ivy.post(first + "end", {"outcome": "no_answer"})
    assert "Case c1 had been coded already" in again.text()
    store = get_host(app).store
    assert [a.disposition for a in store.attempts_of("c1")] == ["no_answer"]
