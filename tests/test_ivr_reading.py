"""Reading a caller's keys for every kind of prompt, the re-prompt rule, and whole calls.

Pure Python: the core's plan and reading (instrument/ivr) with the real engine; the TwiML
of every prompt a call meets is compiled and parsed on the way (tests/ivr_driver.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ivr_driver import NOW, run_call

from instrument.engine import Engine
from instrument.ivr.prompts import FREE_TEXT_SKIPPED, IvrSettings, StepPlan, ivr_words, plan_step
from instrument.ivr.reading import after_failure, answers_for, next_prompt, read_keys
from instrument.questionnaires import require
from instrument.values import DK, REFUSED

KINDS = Path(__file__).parent / "data" / "ivr_kinds.yaml"
FLAGSHIP = Path(__file__).parent.parent / "questionnaires" / "social_licence.yaml"
SAY = ivr_words(require(KINDS), "en")


def plan_of(
    page: str, answers_before: dict[str, dict], settings: IvrSettings = IvrSettings()
) -> StepPlan:
    """The plan of ``page`` of ivr_kinds.yaml, reached by submitting the pages before it."""
    engine = Engine(require(KINDS))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    for _ in range(20):
        step = engine.current_step(state, html=False)
        if step.page_id == page:
            return plan_step(step, SAY, settings=settings)
        assert engine.submit(
            state, answers_before.get(step.page_id, {}), now=NOW, token=step.token
        ).accepted
    raise AssertionError(page)


BEFORE = {
    "travel_mode": {"travel_mode": 1},
    "travel_dk": {"travel_dk": 1},
    "n_trips": {"n_trips": 1},
    "distance": {"distance": 1},
    "heard": {"heard": [1]},
    "moved_in": {"moved_in": "2000-01-01"},
    "views": {"view_safe": 1, "view_cheap": 1},
}


@pytest.mark.parametrize(
    ("page", "keys", "status", "value"),
    [
        ("travel_mode", "3", "answer", 3),
        ("travel_mode", "6", "invalid", None),  # "another way" is not read out: no key
        ("travel_mode", "8", "invalid", None),  # no don't know on this question
        ("travel_dk", "8", "answer", DK),
        ("travel_dk", "9", "answer", REFUSED),
        ("travel_dk", "*", "repeat", None),
        ("travel_dk", None, "silent", None),
        ("travel_dk", "", "silent", None),
        ("n_trips", "12", "answer", "12"),
        ("n_trips", "12#", "answer", "12"),
        ("n_trips", "*8", "answer", DK),
        ("n_trips", "*9", "answer", REFUSED),
        ("n_trips", "1*5", "invalid", None),  # a whole number has no decimal point
        ("distance", "*9", "invalid", None),  # refused is not offered here
        ("heard", "1", "answer", True),
        ("heard", "2", "answer", False),
        ("heard", "3", "invalid", None),
        ("heard", "8", "answer", DK),
        ("moved_in", "15031999", "answer", {"day": "15", "month": "03", "year": "1999"}),
        ("moved_in", "1531999", "invalid", None),
        ("moved_in", "*8", "answer", DK),
        ("views", "2", "answer", 2),
        ("views", "4", "invalid", None),
    ],
)
def test_read_keys(page: str, keys: str | None, status: str, value: object) -> None:
    reading = read_keys(plan_of(page, BEFORE).prompts[0], keys, SAY)
    assert reading.status == status
    if status == "answer":
        assert (
            reading.value == value
            if not (value is DK or value is REFUSED)
            else reading.value is value
        )
    if status in ("invalid", "silent"):
        assert reading.failed and reading.message
    else:
        assert not reading.failed


def test_messages_say_what_was_wrong() -> None:
    number = plan_of("n_trips", BEFORE).prompts[0]
    assert (
        read_keys(number, "1*2", SAY).message
        == "Sorry, please key in digits only, then press hash."
    )
    assert read_keys(number, None, SAY).message == "Sorry, I did not hear a key."
    choice = plan_of("travel_mode", BEFORE).prompts[0]
    assert read_keys(choice, "7", SAY).message == "Sorry, that key is not one of the answers."


def test_decimal_point_is_star_between_digits() -> None:
    q = require(FLAGSHIP)  # any questionnaire's words will do: the prompt is built by hand
    from instrument.ivr.prompts import Prompt

    prompt = Prompt("number", "x", "x", (), (), "digits", integer=False, dk_key="*8")
    say = ivr_words(q, "en")
    assert read_keys(prompt, "12*5", say).value == "12.5"
    assert read_keys(prompt, "*8", say).value is DK
    assert read_keys(prompt, "*", say).status == "repeat"


def test_reprompt_rule() -> None:
    default = IvrSettings()
    assert [after_failure(n, default) for n in (1, 2, 3)] == ["again", "again", "skip"]
    ending = IvrSettings(reprompts=0, on_no_answer="end")
    assert after_failure(1, ending) == "end"
    with pytest.raises(ValueError):
        IvrSettings(on_no_answer="hang up")  # type: ignore[arg-type]


def test_unfolded_multi_folds_back() -> None:
    plan = plan_of("heard", BEFORE)
    assert [p.option for p in plan.prompts] == [1, 2, 3]  # "none of these" is not asked
    assert answers_for(plan, {0: True, 1: False, 2: True}) == {"heard": [1, 3]}
    assert answers_for(plan, {0: False, 1: False, 2: False}) == {"heard": [97]}
    assert answers_for(plan, {0: True, 1: REFUSED}) == {"heard": REFUSED}
    assert next_prompt(plan, {0: True, 1: REFUSED}) is None  # refused answers the question
    assert answers_for(plan, {}) == {"heard": ""}  # nothing heard: not answered


def test_free_text_is_skipped_and_flagged_or_recorded_after_consent() -> None:
    plan = plan_of("comment", BEFORE)
    assert plan.prompts[0].flag == FREE_TEXT_SKIPPED
    assert next_prompt(plan, {}) is None and answers_for(plan, {}) == {"comment": ""}
    recorded = plan_of("comment", BEFORE, IvrSettings(recording=True))
    assert next_prompt(recorded, {}) == 0
    assert next_prompt(recorded, {0: True}) == 1
    assert next_prompt(recorded, {0: False}) is None  # no consent: no recording
    assert answers_for(recorded, {0: False}) == {"comment": ""}


def test_an_out_of_range_number_is_spoken_with_the_engines_message() -> None:
    q = require(KINDS)
    engine = Engine(q)
    state = engine.start(now=NOW, seed=1, mode="ivr")
    for page in ("welcome", "travel_mode", "travel_dk"):
        step = engine.current_step(state, html=False)
        assert engine.submit(state, BEFORE.get(page, {}), now=NOW, token=step.token).accepted
    step = engine.current_step(state, html=False)
    plan = plan_step(step, SAY)
    reading = read_keys(plan.prompts[0], "25", SAY)
    result = engine.submit(state, answers_for(plan, {0: reading.value}), now=NOW, token=step.token)
    assert not result.accepted
    again = plan_step(engine.current_step(state, html=False), SAY, problems=result.errors)
    message = result.errors[0].message
    assert "20" in message  # the engine's own words for the range
    assert again.prompts[0].says[0] == message
    assert again.prompts[0].says[1] == "How many trips did you make last week?"


def test_a_call_through_every_kind_with_dk_refusal_silence_and_invalid_keys() -> None:
    engine = Engine(require(KINDS))
    state = engine.start(now=NOW, seed=1, mode="ivr", language="cy")
    keys = [
        "1",  # travel_mode: walking
        "7", "8",  # travel_dk: an invalid key, then don't know
        None, "25", "5",  # n_trips: silence, out of range (the engine's message), then 5
        "*9",  # distance: refused is not offered -> invalid
        "12",
        "1", "2", "*", "1",  # heard: yes, no, repeat, yes
        "31021999", "15031999",  # moved_in: no 31 February (the engine says so), then a date
        "1", "9",  # views: agree, refused
    ]  # fmt: skip
    call = run_call(engine, state, keys)
    assert state.outcome == "complete" and not call.ended_early
    values = engine.values(state)
    assert values["travel_mode"] == 1 and values["travel_dk"] is DK
    assert values["n_trips"] == 5 and values["distance"] == 12
    assert values["heard"] == (1, 3)
    assert values["moved_in"].isoformat() == "1999-03-15"
    assert values["view_safe"] == 1 and values["view_cheap"] is REFUSED
    assert values["comment"] is None and call.flags == [("comment", FREE_TEXT_SKIPPED)]
    assert "Mae'n ddrwg gen i, ni chlywais allwedd." in call.heard  # silence, in Welsh
    assert call.heard[-1] == "Diolch. Hwyl fawr."


def test_silence_gives_up_as_the_settings_say() -> None:
    engine = Engine(require(KINDS))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    call = run_call(engine, state, [None, None, None, "1"], IvrSettings())
    values = engine.values(state)
    assert values.get("travel_mode") is None and values["travel_dk"] == 1  # skipped, went on
    assert call.ended_early and state.current is not None and state.current.page == "n_trips"
    ending = Engine(require(KINDS))
    stopped = ending.start(now=NOW, seed=1, mode="ivr")
    call = run_call(ending, stopped, [None, None], IvrSettings(reprompts=1, on_no_answer="end"))
    assert call.ended_early and not stopped.finished  # a partial, to resume on the next call


@pytest.mark.parametrize(
    ("seed", "profile", "opening"), [(1, 2, ["1", "2"]), (2, 3, ["1", "2", "1"])]
)
def test_the_flagship_by_keypad(seed: int, profile: int, opening: list[str]) -> None:
    """The whole flagship through plan -> keys -> engine: a parent of two, every kind it has;
    with a panel profile of 3 children the soft check is spoken and kept with key 1."""
    engine = Engine(require(FLAGSHIP))
    state = engine.start(
        now=NOW,
        seed=seed,
        mode="ivr",
        case={"profile_n_children": profile, "profile_age_band": 2, "profile_lone_parent": 2},
    )
    keys: list[str | None] = [*opening, "7", "4"]  # parent, 2 children (kept), ages 7 and 4
    keys += ["1"] * 60  # first option / yes / agree, wherever asked, until the end
    call = run_call(engine, state, keys)
    assert state.outcome == "complete", call.heard[-6:]
    values = engine.values(state)
    assert values["n_children"] == 2 and [values["child_age_1"], values["child_age_2"]] == [7, 4]
    assert ("comment", FREE_TEXT_SKIPPED) in call.flags and values["comment"] is None
    assert values["heard_where"] == (1, 2, 3, 4, 5, 6, 7)  # every source read out, answered yes
    assert call.heard[-1] == "Thank you very much for taking part. Goodbye."
    checked = any("Is 2 right?" in words for words in call.heard)
    assert checked == (profile != 2)
