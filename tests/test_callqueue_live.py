"""The live call status and the telephony's suggestion, below the console: store and service.

The store reads an attempt's calls and their respondent legs' callbacks
(``Store.live_calls``): the respondent's leg has a Twilio sid of its own, so
its callbacks are found by the call id stored with them (indexed), whenever
they came, even before any of the call's own, on SQLite and PostgreSQL alike,
and never another call's. The service (``LiveCalls``) gives them only to the
interviewer holding the case, and works out where each call stands and what
outcome it suggests, by the rules tested here without a database.
"""

from __future__ import annotations

import datetime as dt

import pytest

from instrument.callqueue import CallQueue
from instrument.callqueue.live import LegStatus, LiveCall, LiveCalls, leg_status, suggest
from instrument.fieldwork.settings import FieldworkSettings
from instrument.store import Store
from instrument.store.fieldwork_live import LegEvent
from tests.fieldwork_store_helpers import T0
from tests.fieldwork_store_helpers import add_case as add_store_case
from tests.store_fixtures import *

# -- the store's read and the service, on both databases -------------------------------------


def _bridge_in_store(store: Store, case_id: str, sid: str) -> tuple[int, int]:
    add_store_case(store, case_id)
    claim = store.claim_next_case(f"iv-{case_id}", now=T0)
    assert claim is not None and claim.case_id == case_id
    call_id = store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=T0)
    store.set_call_sid(call_id, sid)
    return claim.attempt_id, call_id


def _event(store: Store, sid: str, status: str, n: int, **payload: str) -> None:
    store.record_call_event(
        sid, event_key=f"{sid}:{status}:{n}", status=status, at=T0 + dt.timedelta(seconds=n),
        payload={"CallSid": sid, "CallStatus": status, **payload}, now=T0,
    )  # fmt: skip


def test_each_calls_respondent_leg_is_its_own_among_others(store: Store) -> None:
    """Two bridges at once: each attempt reads its own respondent leg, not the other's."""
    a_attempt, a_call = _bridge_in_store(store, "c-1", "CA" + "a" * 32)
    b_attempt, b_call = _bridge_in_store(store, "c-2", "CA" + "b" * 32)
    for n, status in enumerate(("initiated", "ringing", "in-progress")):
        _event(store, "CA" + "a" * 32, status, n)
        _event(store, "CA" + "b" * 32, status, n)
    a_leg, b_leg = "CA" + "c" * 32, "CA" + "d" * 32
    for n, status in enumerate(("initiated", "ringing")):
        _event(store, a_leg, status, 10 + n, leg="respondent", call_id=str(a_call))
        _event(store, b_leg, status, 10 + n, leg="respondent", call_id=str(b_call))
    _event(store, b_leg, "busy", 12, leg="respondent", call_id=str(b_call), CallDuration="0")
    _event(store, a_leg, "in-progress", 13, leg="respondent", call_id=str(a_call))

    a_read, b_read = store.live_calls(a_attempt), store.live_calls(b_attempt)
    assert a_read is not None and b_read is not None
    assert {e.provider_sid for e in a_read.legs} == {a_leg}
    assert [e.status for e in b_read.legs] == ["initiated", "ringing", "busy"]
    assert (a_read.held_by, b_read.held_by) == ("iv-c-1", "iv-c-2")
    assert store.live_calls(b_attempt + 100) is None

    live = LiveCalls(CallQueue(store, None, lambda _q: FieldworkSettings()))  # type: ignore[arg-type]
    a = live.calls_for(a_attempt, interviewer="iv-c-1")
    b = live.calls_for(b_attempt, interviewer="iv-c-2")
    assert a is not None and b is not None
    assert a.current is not None and a.current.phase == "connected"
    assert b.current is not None and b.current.phase == "busy" and b.going
    assert live.calls_for(a_attempt, interviewer="iv-c-2") is None  # not theirs
    assert live.suggestion(b_attempt, ["busy", "no_answer"]) is not None
    assert live.suggestion(b_attempt, ["no_answer"]) is None  # busy not offered
    assert live.suggestion(a_attempt, ["busy", "no_answer"]) is None  # a person is on the line


def test_a_respondent_leg_heard_before_the_calls_own_first_callback_is_read(store: Store) -> None:
    """Twilio posts each leg's callbacks on their own requests, in no order across legs: the
    respondent's leg may be stored before any callback of the interviewer's (theirs delayed or
    retried). The read found respondent legs only above the call's own first callback, so
    these were lost: none at all until the call's own arrived, and the early ones for good."""
    attempt, call_id = _bridge_in_store(store, "c-1", "CA" + "a" * 32)
    _other_attempt, other_call = _bridge_in_store(store, "c-2", "CA" + "b" * 32)
    leg, other_leg = "CA" + "c" * 32, "CA" + "d" * 32
    _event(store, leg, "initiated", 10, leg="respondent", call_id=str(call_id))
    _event(store, other_leg, "initiated", 10, leg="respondent", call_id=str(other_call))
    _event(store, leg, "ringing", 11, leg="respondent", call_id=str(call_id))
    read = store.live_calls(attempt)
    assert read is not None
    assert [(e.provider_sid, e.status) for e in read.legs] == [
        (leg, "initiated"),
        (leg, "ringing"),
    ]  # no callback of the call's own yet
    _event(store, "CA" + "a" * 32, "initiated", 1)
    _event(store, "CA" + "a" * 32, "in-progress", 3)
    _event(store, leg, "in-progress", 12, leg="respondent", call_id=str(call_id))
    read = store.live_calls(attempt)
    assert read is not None
    assert [e.status for e in read.legs] == ["initiated", "ringing", "in-progress"]
    live = LiveCalls(CallQueue(store, None, lambda _q: FieldworkSettings()))  # type: ignore[arg-type]
    found = live.calls_for(attempt, interviewer="iv-c-1")
    assert found is not None and found.current is not None
    assert found.current.phase == "connected"


# -- the rules, without a database ----------------------------------------------------------


def _leg(*statuses: str, **payload: str) -> LegStatus | None:
    return leg_status(
        [
            LegEvent(1, "CA" + "e" * 32, s, T0 + dt.timedelta(seconds=i), T0, dict(payload))
            for i, s in enumerate(statuses)
        ]
    )


def _call(status: str, leg: LegStatus | None, *, ended: bool = False) -> LiveCall:
    return LiveCall(1, 1, "twilio", status, T0, None, T0 if ended else None, None, None, leg)


@pytest.mark.parametrize(
    ("status", "leg", "ended", "phase"),
    [
        ("queued", None, False, "ringing_you"),
        ("ringing", None, False, "ringing_you"),
        ("in-progress", None, False, "ringing_respondent"),
        ("in-progress", ("initiated", "ringing"), False, "ringing_respondent"),
        ("in-progress", ("initiated", "in-progress", "ringing"), False, "connected"),
        ("completed", ("ringing", "in-progress", "completed"), True, "ended"),
        ("in-progress", ("ringing", "busy"), False, "busy"),
        ("completed", ("ringing", "no-answer"), True, "no_answer"),
        ("completed", ("failed",), True, "failed"),
        ("completed", ("ringing", "canceled"), True, "cancelled"),
        ("completed", ("initiated", "ringing"), True, "cancelled"),  # the leg's end never came
        ("busy", None, True, "you_busy"),
        ("no-answer", None, True, "you_no_answer"),
        ("failed", None, True, "you_failed"),
        ("completed", None, True, "ended"),
    ],
)
def test_the_phase_of_a_call(
    status: str, leg: tuple[str, ...] | None, ended: bool, phase: str
) -> None:
    assert _call(status, None if leg is None else _leg(*leg), ended=ended).phase == phase


def test_the_first_final_status_of_a_leg_stands_and_a_machine_is_told() -> None:
    leg = _leg("ringing", "busy", "completed", "in-progress")
    assert leg is not None and leg.status == "busy" and leg.final
    machine = _leg("ringing", "in-progress", AnsweredBy="machine_start")
    assert _call("in-progress", machine).phase == "machine"
    found = suggest(
        _call(
            "completed", _leg("in-progress", "completed", AnsweredBy="machine_end_beep"), ended=True
        )
    )
    assert found is not None and (found.code, found.reason, found.leg) == (
        "answering_machine", "machine", "respondent",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "leg", "expected"),
    [
        ("completed", ("ringing", "busy"), ("busy", "busy", "respondent")),
        ("completed", ("ringing", "no-answer"), ("no_answer", "no-answer", "respondent")),
        ("completed", ("failed",), ("technical_problem", "failed", "respondent")),
        ("completed", ("ringing", "in-progress", "completed"), None),  # a person answered
        ("completed", ("ringing", "canceled"), None),
        ("no-answer", None, None),  # the interviewer's own phone: nobody dialled the respondent
        ("busy", None, None),
        ("failed", None, ("technical_problem", "failed", "call")),  # the call never got placed
        ("completed", None, None),
    ],
)
def test_the_suggestion_takes_the_respondents_leg(
    status: str, leg: tuple[str, ...] | None, expected: tuple[str, str, str] | None
) -> None:
    found = suggest(_call(status, None if leg is None else _leg(*leg), ended=True))
    assert (None if found is None else (found.code, found.reason, found.leg)) == expected


def test_a_detection_verdict_alone_says_who_answered() -> None:
    """Twilio's answering-machine verdict is stored as 'amd', a status nobody ranks."""
    leg = _leg("amd", AnsweredBy="fax")
    assert leg is not None and (leg.status, leg.answered_by) == ("in-progress", "fax")
    assert _call("in-progress", leg).phase == "machine"
    assert _leg("amd") is None  # nothing ranked, nobody named: nothing to say
    found = suggest(_call("completed", _leg("ringing", "amd", "completed", AnsweredBy="fax")))
    assert found is not None and (found.code, found.reason) == ("fax", "fax")
