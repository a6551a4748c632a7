"""Shared set-up for the supervisor's page tests: an app serving tests/data/mini.yaml, staff,
and a fieldwork history made through the call-queue service itself.

Not a test module: tests/test_phone_supervisor.py and tests/test_browser_supervisor.py
import it. The history is made with the service the pages read from (no rows
written behind its back), so the pages' figures can be compared with its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from callqueue_helpers import NAME, NUMBER, add_case, answer_first_page, claim

from instrument.callqueue import CallQueue, Coded
from instrument.fieldwork.settings import FieldworkSettings
from instrument.server.app import get_host

__all__ = [
    "NAME",
    "NOTE",
    "NUMBERS",
    "PASSWORD",
    "add_staff",
    "make_history",
    "queue_of",
]

PASSWORD = "supervisor-test-password"
NOTE = "spoke to Ann Example-Sample's son"
"""An interviewer's note naming the respondent: it must never reach the call records."""
NUMBERS = {case_id: f"+4420712345{i}0" for i, case_id in enumerate(("c1", "c2", "c3", "c4", "c5"))}
MINUTE = dt.timedelta(minutes=1)


def add_staff(app: Any) -> None:
    """A supervisor (sam), two interviewers (ivy, olga) and a researcher (rita)."""
    store = get_host(app).store
    store.create_staff_user("sam", PASSWORD, role="supervisor")
    store.create_staff_user("ivy", PASSWORD, role="interviewer")
    store.create_staff_user("olga", PASSWORD, role="interviewer")
    store.create_staff_user("rita", PASSWORD, role="researcher")


def queue_of(app: Any) -> CallQueue:
    """A call-queue service over the app's store and interview service, with mini's settings
    (it has no fieldwork file, so the defaults, as the app uses)."""
    host = get_host(app)
    settings = FieldworkSettings()
    return CallQueue(host.store, host.service, lambda _questionnaire_id: settings)


def _code(queue: CallQueue, who: str, disposition: str, now: dt.datetime) -> Coded:
    claimed = claim(queue, who, now)
    assert queue.place_call(claimed.attempt_id, 1, dialer=None, now=now).kind == "placed"
    coded = queue.code_outcome(
        claimed.attempt_id, disposition=disposition, note=NOTE, actor=who, now=now + 5 * MINUTE
    )
    assert isinstance(coded, Coded), coded
    return coded


def make_history(app: Any, t0: dt.datetime) -> CallQueue:
    """Five cases from ``t0`` (inside calling hours): c1 complete by ivy, c2 a hard refusal,
    c3 no answer, c4 held by olga (an open attempt), c5 never called."""
    store = get_host(app).store
    for case_id, number in NUMBERS.items():
        add_case(store, case_id, numbers=(number,), now=t0)
    queue = queue_of(app)
    first = claim(queue, "ivy", t0)
    interview_id = queue.interview_for(first.case_id, mode="cati", actor="ivy", now=t0)
    answer_first_page(
        queue.interviews, interview_id, {"parent": "2"}, mode="cati", actor="ivy", now=t0, key="k"
    )
    done = queue.code_outcome(
        first.attempt_id, disposition="complete", actor="ivy", now=t0 + 20 * MINUTE
    )
    assert isinstance(done, Coded)
    _code(queue, "ivy", "refusal_hard", t0 + 21 * MINUTE)
    _code(queue, "olga", "no_answer", t0 + 22 * MINUTE)
    held = claim(queue, "olga", t0 + 30 * MINUTE)
    assert held.case_id == "c4", held
    assert NAME and NUMBER  # the helpers' personal data, which the pages must never show
    return queue
