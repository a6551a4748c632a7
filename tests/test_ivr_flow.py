"""The call flow (instrument/ivr/flow.py): events in, one action out, the state plain JSON.

Pure: the flow against the real engine, no web or store. Whole calls through every kind are in
tests/test_ivr_reading.py (tests/ivr_driver.py drives this flow); here each move on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from ivr_driver import NOW, run_call

from instrument.engine import Engine, State, Step
from instrument.ivr.flow import NO_ANSWER, CallFlow, FlowState
from instrument.ivr.prompts import FREE_TEXT_SKIPPED, IvrSettings, ivr_words
from instrument.questionnaires import require
from instrument.stepflow import decode_value, encode_value
from instrument.values import DK, REFUSED

KINDS = Path(__file__).parent / "data" / "ivr_kinds.yaml"
FLOW = CallFlow(ivr_words(require(KINDS), "en"))
BEFORE = {
    "travel_mode": {"travel_mode": 1},
    "travel_dk": {"travel_dk": 1},
    "n_trips": {"n_trips": 1},
}


def at(page: str) -> tuple[Engine, State, Step]:
    """An interview of ivr_kinds.yaml standing at ``page``."""
    engine = Engine(require(KINDS))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    for _ in range(20):
        step = engine.current_step(state, html=False)
        if step.page_id == page:
            return engine, state, step
        engine.submit(state, BEFORE.get(step.page_id, {}), now=NOW, token=step.token)
    raise AssertionError(page)


def roundtrip(state: FlowState) -> FlowState:
    """The state as the store keeps it: through JSON text."""
    return FlowState.from_json(json.loads(json.dumps(state.to_json())))


def test_an_information_step_is_said_then_submitted_with_nothing() -> None:
    _, _, step = at("welcome")
    state, action = FLOW.show(FlowState(), step, revision=3)
    assert action.kind == "inform" and state.phase == "inform" and state.revision == 3
    state, action = FLOW.keys(roundtrip(state), step, None)
    assert action.kind == "submit" and action.answers == {} and state.phase == "submit"


def test_keys_move_through_the_prompts_and_submit_the_step() -> None:
    _, _, step = at("views")
    state, action = FLOW.show(FlowState(), step)
    assert action.kind == "ask" and action.index == 0 and not action.again
    state, action = FLOW.keys(roundtrip(state), step, "7")  # not a key
    assert (
        action.kind == "ask"
        and action.again
        and action.before == ("Sorry, that key is not one of the answers.",)
    )
    state, action = FLOW.keys(roundtrip(state), step, "*")  # repeat: not a failure
    assert action.kind == "ask" and action.again and action.before == () and state.failures == 1
    state, action = FLOW.keys(roundtrip(state), step, "1")
    assert action.kind == "ask" and action.index == 1 and state.failures == 0
    state, action = FLOW.keys(roundtrip(state), step, "9")
    assert action.kind == "submit"
    assert action.answers["view_safe"] == 1 and action.answers["view_cheap"] is REFUSED


def test_silence_gives_up_and_flags_the_question_or_says_goodbye() -> None:
    _, _, step = at("travel_mode")
    state, _ = FLOW.show(FlowState(), step)
    for _ in range(2):
        state, action = FLOW.keys(roundtrip(state), step, None)
        assert action.kind == "ask" and action.before == ("Sorry, I did not hear a key.",)
    state, action = FLOW.keys(roundtrip(state), step, None)
    assert action.kind == "submit" and action.answers == {"travel_mode": ""}
    assert action.flags == (("travel_mode", NO_ANSWER),)
    ending = CallFlow(FLOW.say, IvrSettings(reprompts=0, on_no_answer="end"))
    state, _ = ending.show(FlowState(), step)
    state, action = ending.keys(roundtrip(state), step, "")
    assert action.kind == "goodbye" and state.phase == "ended"
    assert "end the call" in action.words[0]
    assert ending.keys(state, step, "1")[1].kind == "goodbye"  # a late request: still goodbye


def test_a_number_read_back_is_kept_with_1_and_keyed_again_with_2() -> None:
    _, _, step = at("n_trips")
    flow = CallFlow(FLOW.say, IvrSettings(read_back=frozenset({"n_trips"})))
    state, _ = flow.show(FlowState(), step)
    state, action = flow.keys(roundtrip(state), step, "12#")
    assert action.kind == "ask" and action.prompt is not None
    assert action.asked.says == (
        "You keyed 12. If that is right, press 1. To key it again, press 2.",
    )
    state, action = flow.keys(roundtrip(state), step, "2")
    assert action.kind == "ask" and action.prompt is None and action.again
    state, action = flow.keys(roundtrip(state), step, "5#")
    state, action = flow.keys(roundtrip(state), step, "4")  # neither 1 nor 2: asked again
    assert action.kind == "ask" and action.prompt is not None and action.before
    state, action = flow.keys(roundtrip(state), step, "1")
    assert action.kind == "submit" and action.answers == {"n_trips": "5"}


def test_a_rejected_number_is_asked_again_with_the_engines_message() -> None:
    engine, interview, step = at("n_trips")
    state, _ = FLOW.show(FlowState(), step)
    state, action = FLOW.keys(state, step, "25#")
    assert action.kind == "submit"
    result = engine.submit(interview, action.answers, now=NOW, token=step.token)
    assert not result.accepted
    step = engine.current_step(interview, html=False)
    state, action = FLOW.rejected(roundtrip(state), step, result.problems, revision=0)
    assert action.kind == "ask" and "20" in action.asked.says[0]
    state, action = FLOW.keys(roundtrip(state), step, "5#")
    assert action.kind == "submit" and action.answers == {"n_trips": "5"}


def test_a_step_the_interview_left_is_not_answered_with_old_keys() -> None:
    """Keys arriving for a page the interview is no longer on ask the current page afresh."""
    _, _, old = at("travel_mode")
    state, _ = FLOW.show(FlowState(), old)
    _, _, current = at("travel_dk")
    state, action = FLOW.keys(roundtrip(state), current, "1")
    assert action.kind == "ask" and action.index == 0 and state.token == current.token
    assert state.values == {}


def test_free_text_is_recorded_after_consent() -> None:
    engine = Engine(require(KINDS))
    interview = engine.start(now=NOW, seed=1, mode="ivr")
    flow = CallFlow(FLOW.say, IvrSettings(recording=True))
    for _ in range(20):
        step = engine.current_step(interview, html=False)
        if step.page_id == "comment":
            break
        engine.submit(interview, BEFORE.get(step.page_id, {}), now=NOW, token=step.token)
    state, action = flow.show(FlowState(), step)
    assert action.kind == "ask" and action.asked.kind == "consent"
    state, action = flow.keys(roundtrip(state), step, "1")
    assert action.kind == "ask" and action.asked.entry == "recording"
    state, action = flow.recorded(roundtrip(state), step, "RE0123")
    assert action.kind == "submit" and action.answers == {"comment": "RE0123"}


def test_the_free_text_skipped_is_flagged() -> None:
    engine = Engine(require(KINDS))
    interview = engine.start(now=NOW, seed=1, mode="ivr")
    call = run_call(engine, interview, ["1", "1", "1#", "1#", "2", "2", "2", "01011999#", "1", "1"])
    assert interview.outcome == "complete" and not call.ended_early
    assert call.flags == [("comment", FREE_TEXT_SKIPPED)]
    assert all(FlowState.from_json(s).to_json() == s for s in call.states)


def test_values_round_trip_through_json() -> None:
    for value in (DK, REFUSED, [1, 3], {"day": "01", "month": "02", "year": "2000"}, "", True, 7):
        back = decode_value(json.loads(json.dumps(encode_value(value))))
        assert back is value if value in (DK, REFUSED) else back == value
    assert FlowState.from_json({"format": 999}) == FlowState()  # an unknown layout: afresh
    assert FlowState.from_json(None) == FlowState()


REQUIRED = Path(__file__).parent / "data" / "ivr_required.yaml"


def test_a_required_free_text_a_keypad_cannot_type_is_left_not_answered() -> None:
    """The engine takes no answer to required free text from a keypad mode (the call skips it):
    otherwise the call would submit the skip, be refused and skip it again for ever."""
    engine = Engine(require(REQUIRED))
    interview = engine.start(now=NOW, seed=1, mode="ivr")
    flow = CallFlow(ivr_words(require(REQUIRED), "en"))
    step = engine.current_step(interview, html=False)
    state, action = flow.show(FlowState(), step)
    assert action.kind == "submit" and action.flags == (("reason", FREE_TEXT_SKIPPED),)
    assert engine.submit(interview, action.answers, now=NOW, token=step.token).accepted
    web = engine.start(now=NOW, seed=1, mode="web")
    first = engine.current_step(web, html=False)
    assert not engine.submit(web, {"reason": ""}, now=NOW, token=first.token).accepted


def test_a_required_question_the_caller_gave_up_on_ends_the_call_politely() -> None:
    engine = Engine(require(REQUIRED))
    interview = engine.start(now=NOW, seed=1, mode="ivr")
    flow = CallFlow(ivr_words(require(REQUIRED), "en"))
    step = engine.current_step(interview, html=False)
    engine.submit(interview, {"reason": ""}, now=NOW, token=step.token)
    step = engine.current_step(interview, html=False)
    assert step.page_id == "consent"
    state, _ = flow.show(FlowState(), step)
    for _ in range(3):
        state, action = flow.keys(roundtrip(state), step, None)
    assert action.kind == "submit" and action.flags == (("consent", NO_ANSWER),)
    result = engine.submit(interview, action.answers, now=NOW, token=step.token)
    assert not result.accepted
    step = engine.current_step(interview, html=False)
    state, action = flow.rejected(roundtrip(state), step, result.problems, revision=1)
    assert action.kind == "goodbye" and state.phase == "ended"
    # a problem with keys the caller did give is asked again, as before
    state, _ = flow.show(FlowState(), step)
    state, action = flow.keys(state, step, "1")
    state, action = flow.rejected(roundtrip(state), step, result.problems, revision=1)
    assert action.kind == "ask"
