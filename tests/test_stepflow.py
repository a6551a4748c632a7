"""The state automated calls and text conversations share: one JSON layout, read back exactly."""

from __future__ import annotations

import json

import pytest

from instrument.engine import Problem
from instrument.ivr.flow import FlowState
from instrument.sms.conversation import SmsState
from instrument.stepflow import StepState, decode_value, encode_value
from instrument.values import DK, REFUSED

# A call's state as the webhooks stored it before the shared layout: it must still read.
STORED_CALL = {
    "format": 1,
    "phase": "ask",
    "token": "t-7",
    "revision": 4,
    "announced_before": ["dk"],
    "announced": ["dk", "refused"],
    "problems": [["age", "Enter a number from 16 to 120", "", "error"]],
    "values": {"0": 42, "1": {"__ivr_missing__": "dk"}},
    "index": 2,
    "again": True,
    "before": ["That key is not one of the choices."],
    "failures": 1,
    "read_back": 17,
    "submitted": {"age": 42, "kids": [1, 3]},
    "flags": [["notes", "ivr_free_text_skipped"]],
}

STORED_TEXT = {
    "format": 1,
    "phase": "submit",
    "token": "t-2",
    "revision": 9,
    "announced_before": [],
    "announced": ["help"],
    "problems": [],
    "values": {"0": 1},
    "index": 0,
    "failures": 0,
    "submitted": None,
    "flags": [],
    "carry": ["Thank you.", "Next:"],
}


def test_a_call_state_stored_earlier_reads_back_field_for_field() -> None:
    state = FlowState.from_json(STORED_CALL)
    assert state.problems == (("age", "Enter a number from 16 to 120", "", "error"),)
    assert state.announced == ("dk", "refused")
    assert state.flags == (("notes", "ivr_free_text_skipped"),)
    assert state.before == ("That key is not one of the choices.",)
    assert state.again is True and state.read_back == 17 and state.index == 2
    assert state.keyed() == {0: 42, 1: DK}
    # kept before the engine's refusals were counted: none so far, and written out from now on
    assert state.refusals == 0
    assert state.to_json() == {**STORED_CALL, "refusals": 0}
    assert FlowState.from_json(state.to_json()) == state


def test_a_text_state_stored_earlier_reads_back_field_for_field() -> None:
    state = SmsState.from_json(STORED_TEXT)
    assert state.carry == ("Thank you.", "Next:")
    assert state.phase == "submit" and state.revision == 9 and state.submitted is None
    assert state.to_json() == STORED_TEXT


@pytest.mark.parametrize("kind", [StepState, FlowState, SmsState])
def test_an_unknown_layout_or_nothing_starts_afresh(kind: type[StepState]) -> None:
    assert kind.from_json({"format": 999, "phase": "ask"}) == kind()
    assert kind.from_json(None) == kind()
    assert kind.from_json({}) == kind()


def test_the_json_goes_through_a_real_encoder_and_back() -> None:
    state = FlowState.from_json(STORED_CALL)
    again = FlowState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state


def test_problems_travel_as_rows_and_come_back_as_problems() -> None:
    problems = [Problem("age", "Too old", "", "error"), Problem("kids", "Sure?", "w1", "warning")]
    rows = [p.as_row() for p in problems]
    assert rows == [("age", "Too old", "", "error"), ("kids", "Sure?", "w1", "warning")]
    assert [Problem.from_row(list(r)) for r in rows] == problems


def test_dont_know_and_refused_survive_encoding_inside_lists() -> None:
    value = (1, DK, [REFUSED, 3])
    assert decode_value(json.loads(json.dumps(encode_value(value)))) == [1, DK, [REFUSED, 3]]


def test_taking_a_value_keeps_it_encoded_under_the_piece_asked() -> None:
    state = SmsState(phase="ask", index=3).taking(REFUSED)
    assert state.values == {"3": {"__ivr_missing__": "refused"}}
    assert state.keyed() == {3: REFUSED}
