"""Golden TwiML for every kind of question an automated call asks, in English and Welsh.

Each file in ``tests/golden/ivr/`` is what the telephone mode's compiler
(``instrument_phone.ivr.twiml``) makes of the core's plan of one prompt of
``tests/data/ivr_kinds.yaml``, pretty-printed. They were written once, read
by eye, and are compared exactly. After a deliberate change, rewrite them
with ``UPDATE_GOLDEN=1 python -m pytest tests/test_ivr_twiml.py`` and read
the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.dom import minidom

import pytest
from ivr_driver import NOW, URLS

from instrument.engine import Engine
from instrument.ivr.prompts import IvrSettings, StepPlan, ivr_words, plan_step
from instrument.questionnaires import require
from instrument_phone.ivr.twiml import (
    PromptUrls,
    Voice,
    VoiceNotConfigured,
    Voices,
    end_twiml,
    goodbye_twiml,
    info_twiml,
    prompt_twiml,
)

KINDS = Path(__file__).parent / "data" / "ivr_kinds.yaml"
GOLDEN = Path(__file__).parent / "golden" / "ivr"

# Each page of ivr_kinds.yaml, the answers that move past it, and the golden files it gives.
PAGES = [
    ("welcome", {}),
    ("travel_mode", {"travel_mode": 1}),
    ("travel_dk", {"travel_dk": 2}),
    ("n_trips", {"n_trips": 3}),
    ("distance", {"distance": 10}),
    ("heard", {"heard": [1]}),
    ("moved_in", {"moved_in": "2001-02-03"}),
    ("views", {"view_safe": 1, "view_cheap": 2}),
    ("comment", {"comment": ""}),
    ("thanks", {}),
]


def plans(language: str, settings: IvrSettings) -> dict[str, StepPlan]:
    """The plan of every page, the call's announcements carried from one to the next."""
    q = require(KINDS)
    engine = Engine(q)
    state = engine.start(now=NOW, seed=1, mode="ivr", language=language)
    say = ivr_words(q, language)
    found: dict[str, StepPlan] = {}
    announced: frozenset[str] = frozenset()
    for page, answers in PAGES:
        step = engine.current_step(state, html=False)
        assert step.page_id == page
        found[page] = plan = plan_step(step, say, settings=settings, announced=announced)
        announced = plan.announced
        if step.kind == "end":
            break
        result = engine.submit(state, answers, now=NOW, token=step.token)
        assert result.accepted, result.problems
    return found


def pretty(xml: str) -> str:
    return minidom.parseString(xml).toprettyxml(indent="  ")


def golden(name: str, xml: str) -> None:
    path = GOLDEN / f"{name}.xml"
    text = pretty(xml)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: write it with UPDATE_GOLDEN=1 and read it"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs"


CASES = [
    ("information", "welcome", None, {}),
    ("single", "travel_mode", 0, {}),
    ("single_dk_ref", "travel_dk", 0, {}),
    ("single_dk_ref_again", "travel_dk", 0, {"again": True, "before": ["not_a_key"]}),
    ("number", "n_trips", 0, {}),
    ("multi_first_option", "heard", 0, {}),
    ("multi_later_option", "heard", 2, {}),
    ("date", "moved_in", 0, {}),
    ("grid_first_row", "views", 0, {}),
    ("grid_later_row", "views", 1, {}),
    ("end", "thanks", None, {}),
]  # fmt: skip


@pytest.mark.parametrize("language", ["en", "cy"])
@pytest.mark.parametrize(("name", "page", "index", "options"), CASES)
def test_golden_twiml(
    language: str, name: str, page: str, index: int | None, options: dict
) -> None:
    plan = plans(language, IvrSettings())[page]
    if page == "welcome":
        xml = info_twiml(plan, urls=URLS)
    elif plan.end:
        xml = end_twiml(plan)
    else:
        say = ivr_words(require(KINDS), language)
        before = [say(key) for key in options.get("before", [])]
        xml = prompt_twiml(plan, index, urls=URLS, again=options.get("again", False), before=before)
    golden(f"{name}.{language}", xml)


@pytest.mark.parametrize("language", ["en", "cy"])
def test_golden_number_read_back(language: str) -> None:
    from instrument.ivr.reading import read_back_prompt

    settings = IvrSettings(read_back=frozenset({"distance"}))
    all_plans = plans(language, settings)
    plan = all_plans["distance"]
    assert plan.prompts[0].read_back and not all_plans["n_trips"].prompts[0].read_back
    golden(f"number_read_back.{language}", prompt_twiml(plan, 0, urls=URLS))
    check = read_back_prompt(plan.prompts[0], "12", ivr_words(require(KINDS), language))
    golden(f"number_read_back_confirm.{language}", prompt_twiml(plan, 0, urls=URLS, prompt=check))


@pytest.mark.parametrize("language", ["en", "cy"])
def test_golden_free_text(language: str) -> None:
    skipped = plans(language, IvrSettings())["comment"]
    assert [p.kind for p in skipped.prompts] == ["skipped"]
    with pytest.raises(ValueError, match="asks nothing"):
        prompt_twiml(skipped, 0, urls=URLS)
    recorded = plans(language, IvrSettings(recording=True, record_seconds=90))["comment"]
    assert [p.kind for p in recorded.prompts] == ["consent", "record"]
    golden(f"free_text_consent.{language}", prompt_twiml(recorded, 0, urls=URLS))
    golden(f"free_text_record.{language}", prompt_twiml(recorded, 1, urls=URLS))


def test_golden_goodbye_and_voices() -> None:
    words = [ivr_words(require(KINDS), "cy")("goodbye_no_answer")]
    golden("goodbye.cy", goodbye_twiml(words, "cy-GB"))
    voices = Voices({"en": Voice("Polly.Brian", "en-GB")})
    plan = plans("en", IvrSettings())["travel_mode"]
    assert 'voice="Polly.Brian"' in prompt_twiml(plan, 0, urls=URLS, voices=voices)
    with pytest.raises(VoiceNotConfigured, match="no voice is configured for language 'cy'"):
        prompt_twiml(plans("cy", IvrSettings())["travel_mode"], 0, urls=URLS, voices=voices)


def test_one_key_or_digits_and_the_silence_redirect() -> None:
    """Choices end on one key; numbers wait for #; every prompt redirects silence back."""
    urls = PromptUrls(action="https://x.example/a?p=1", silence="https://x.example/s?p=1")
    all_plans = plans("en", IvrSettings())
    choice = prompt_twiml(all_plans["travel_mode"], 0, urls=urls)
    number = prompt_twiml(all_plans["n_trips"], 0, urls=urls)
    assert 'numDigits="1"' in choice and "finishOnKey" not in choice
    assert 'finishOnKey="#"' in number and "numDigits" not in number
    for xml in (choice, number):
        assert xml.endswith('<Redirect method="POST">https://x.example/s?p=1</Redirect></Response>')
        assert 'action="https://x.example/a?p=1"' in xml


@pytest.mark.parametrize("language", ["en", "cy"])
def test_golden_speech(language: str) -> None:
    """Where the questionnaire turns speech on: dtmf and speech, hints, the voice's language."""
    from instrument.ivr.prompts import SpeechSettings
    from instrument.ivr.speech import Heard, confirm_prompt, speech_hints, speech_words

    say = ivr_words(require(KINDS), language)
    words = speech_words(say)
    all_plans = plans(language, IvrSettings(speech=SpeechSettings()))
    for name, page in (
        ("single", "travel_dk"),
        ("multi_first_option", "heard"),
        ("number", "n_trips"),
    ):
        plan = all_plans[page]
        hints = speech_hints(plan.prompts[0], words)
        golden(f"{name}_speech.{language}", prompt_twiml(plan, 0, urls=URLS, speech=hints))
    plan = all_plans["travel_dk"]
    check = confirm_prompt(
        plan.prompts[0], Heard("confirm", "3", plan.prompts[0].keys[2].spoken), say
    )
    hints = speech_hints(check, words)
    golden(
        f"speech_confirm.{language}", prompt_twiml(plan, 0, urls=URLS, prompt=check, speech=hints)
    )


@pytest.mark.parametrize("language", ["en", "cy"])
def test_golden_recording_with_its_status_callback(language: str) -> None:
    recorded = plans(language, IvrSettings(recording=True, record_seconds=90))["comment"]
    urls = PromptUrls(URLS.action, URLS.silence, "https://survey.example.org/ivr/recording/CA1/4")
    golden(f"free_text_record_callback.{language}", prompt_twiml(recorded, 1, urls=urls))


def test_golden_line_menu_and_access_code() -> None:
    """An inbound call before its interview is known: the choice of language, each offer in
    itself and its own voice, one key; then the access code in the language chosen."""
    from instrument_phone.ivr.line import line_languages, menu_said
    from instrument_phone.ivr.twiml import keys_twiml

    line = line_languages([(require(KINDS), Voices())])
    assert [(o.language, o.key) for o in line] == [("en", "1"), ("cy", "2")]
    golden("line_menu", keys_twiml(menu_said(line), urls=URLS, one_key=True))
    golden("line_menu_again", keys_twiml(menu_said(line, again=True), urls=URLS, one_key=True))
    for offer in line:
        words = (offer.say("enter_code"),)
        xml = keys_twiml([(words, offer.voice)], urls=URLS, one_key=False)
        golden(f"access_code.{offer.language}", xml)


@pytest.mark.parametrize("language", ["en", "cy"])
def test_golden_speech_announced_once_with_the_first_prompt_that_takes_it(language: str) -> None:
    """Where speech is on, the call says once that an answer may be said (with the call's first
    prompt that takes speech), like the don't know and refused keys; every re-prompt again."""
    from instrument.ivr.prompts import SpeechSettings
    from instrument.ivr.speech import speech_hints, speech_words

    say = ivr_words(require(KINDS), language)
    all_plans = plans(language, IvrSettings(speech=SpeechSettings()))
    first, later = all_plans["travel_mode"].prompts[0], all_plans["travel_dk"].prompts[0]
    assert say("say_answer") in first.says and say("say_answer") not in later.says
    assert say("say_answer") in later.repeat_says
    hints = speech_hints(first, speech_words(say))
    golden(
        f"single_speech_first.{language}",
        prompt_twiml(all_plans["travel_mode"], 0, urls=URLS, speech=hints),
    )
    keys_only = plans(language, IvrSettings())["travel_mode"].prompts[0]
    assert say("say_answer") not in keys_only.says + keys_only.repeat_says
    dates = plans(language, IvrSettings(speech=SpeechSettings()))["moved_in"].prompts[0]
    assert say("say_answer") not in dates.repeat_says  # a date takes keys only
