"""The SMS mode's pure layer (instrument/sms): messages, reading replies, the conversation's flow.

Against the real engine and the real questionnaire (tests/data/sms_short.yaml), no web or store.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from instrument.engine import Engine
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.questionnaires import require
from instrument.sms.conversation import NO_ANSWER, SmsFlow, SmsSettings, SmsState
from instrument.sms.keywords import Heard, hear
from instrument.sms.messages import code_words, reply_numbers, sms_words
from instrument.sms.segments import sms_segments
from instrument.values import DK, REFUSED

SHORT = Path(__file__).parent / "data" / "sms_short.yaml"
NOW = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)


def questionnaire() -> Any:
    return require(SHORT, PluginFacade(get_plugin_manager()))


class Texting:
    """One interview by text through the flow, the engine taking the submits."""

    def __init__(self, language: str = "en", settings: SmsSettings = SmsSettings()) -> None:
        q = questionnaire()
        self.engine = Engine(q)
        self.state = self.engine.start(now=NOW, seed=1, mode="sms", language=language)
        self.flow = SmsFlow(sms_words(q, language), settings)
        self.step = self.engine.current_step(self.state)
        self.conv, action = self.flow.show(SmsState(), self.step)
        self.submits: list[Any] = []
        self.sent = self.settle(action)

    def settle(self, action: Any) -> str:
        while action.kind == "submit":
            self.submits.append(action)
            result = self.engine.submit(self.state, action.answers, now=NOW, token=self.step.token)
            self.step = self.engine.current_step(self.state)
            if result.errors:
                self.conv, action = self.flow.rejected(
                    self.conv, self.step, result.errors, revision=0
                )
            else:
                self.conv, action = self.flow.show(self.conv, self.step)
        if action.kind == "finish":
            return "END: " + action.text
        return str(action.text)

    def reply(self, body: str) -> str:
        conv = SmsState.from_json(json.loads(json.dumps(self.conv.to_json())))  # as stored
        self.conv, action = self.flow.reply(conv, self.step, body)
        self.sent = self.settle(action)
        return self.sent


def test_the_first_message_carries_the_information_the_options_and_the_reply_words_once() -> None:
    t = Texting()
    assert t.sent.splitlines() == [
        "Thank you for taking part.",
        "How is your health in general?",
        "1 Very good", "2 Good", "3 Fair", "4 Bad",
        "Reply with the number of your answer.",
        "Reply DK if you don't know.",
        "Reply REF if you would rather not answer.",
        "Reply HELP to see a question again.",
    ]  # fmt: skip
    second = t.reply("good")  # a label, in any case
    assert second.splitlines() == [
        "Do you smoke?",
        "1 Yes",
        "2 No",
        "Reply with the number of your answer.",
    ]
    assert t.submits[-1].answers == {"health": 2}


def test_replies_of_every_kind_dk_refusal_and_invalid_replies() -> None:
    t = Texting()
    assert t.reply("seven").startswith("Sorry, that is not one of the answers.\nHow is your health")
    t.reply("3.")
    assert "Do you smoke?" in t.reply("HELP")  # the question again, not a failure
    assert t.conv.failures == 0
    t.reply("DK")
    assert t.submits[-1].answers == {"smoke": DK}
    t.reply("1, 3")
    assert t.submits[-1].answers == {"active": [1, 3]}
    t.reply("ref")
    assert t.submits[-1].answers == {"hours": REFUSED}
    assert "not a date" in t.reply("yesterday")
    t.reply("1/2/2003")
    assert t.submits[-1].answers == {"moved": {"day": "1", "month": "2", "year": "2003"}}
    assert t.reply("Nothing, Thanks") == "END: That is all. Thank you!"
    assert t.submits[-1].answers == {"comment": "Nothing, Thanks"}
    assert t.engine.current_step(t.state).kind == "end"


def test_the_engine_range_check_is_sent_with_the_question() -> None:
    t = Texting()
    for body in ("1", "2", "4"):
        t.reply(body)
    assert t.reply("250").startswith(
        "Enter a number between 0 and 100\nHow many hours"
    )  # the engine's own words
    t.reply("7")
    assert t.submits[-1].answers == {"hours": "7"}


def test_a_question_is_asked_again_then_left_not_answered_and_flagged() -> None:
    t = Texting(settings=SmsSettings(reprompts=1))
    t.reply("maybe")
    assert t.conv.failures == 1
    assert "Do you smoke?" in t.reply("perhaps")  # given up: on to the next question
    assert t.submits[-1].answers == {"health": ""}
    assert t.submits[-1].flags == (("health", NO_ANSWER),)


def test_welsh_messages_and_reply_words() -> None:
    t = Texting("cy")
    assert "1 Da iawn" in t.sent and "Atebwch GWRTHOD" in t.sent
    t.reply("gwrthod")
    assert t.submits[-1].answers == {"health": REFUSED}
    t.reply("DK")  # the English words work in every language
    assert t.submits[-1].answers == {"smoke": DK}


@pytest.mark.parametrize(
    ("codes", "replies"),
    [([1, 2, 96], ["1", "2", "96"]), ([0, 1], ["1", "2"]), ([100, 200], ["1", "2"])],
)
def test_reply_numbers_are_the_codes_when_they_fit(codes: list[int], replies: list[str]) -> None:
    assert reply_numbers(codes) == replies


def test_messages_fit_one_or_two_parts() -> None:
    t = Texting()
    assert sms_segments(t.reply("1")).segments == 1


def test_each_language_has_its_own_stop_start_and_help_words_beside_the_carriers() -> None:
    words = code_words(questionnaire(), "cy")
    assert list(words) == ["cy", "en"]  # the conversation's language first
    assert words["cy"].opt_out == {"DIM", "STOPIO"} and words["cy"].opt_in == {"DECHRAU"}
    assert words["cy"].help == {"CYMORTH"}
    assert hear("Dim.", stopped=False, words=words) == Heard("stop", confirm_in="cy")
    assert hear("stop", stopped=False, words=words) == Heard("stop")  # Twilio confirms STOP
    assert hear("UNSUBSCRIBE", stopped=False, words={}) == Heard("stop")  # English always works
    assert hear("dechrau", stopped=True, words=words) == Heard("start")
    assert hear("start", stopped=True, words=words) == Heard("start")
    assert hear("1", stopped=True, words=words) == Heard("ignore")
    assert hear("DECHRAU", stopped=False, words=words) == Heard("read")  # an answer, not stopped
    assert hear("dim", stopped=False, words={}) == Heard("read")  # not a questionnaire in Welsh


def test_welsh_help_word_asks_the_question_again() -> None:
    t = Texting("cy")
    assert "Atebwch CYMORTH i weld cwestiwn eto." in t.sent
    assert t.reply("Cymorth").startswith("Sut mae eich iechyd")
    assert t.reply("help").startswith("Sut mae eich iechyd")  # English works too
    assert t.conv.failures == 0
