"""Spoken answers matched to the keys they stand for (instrument.ivr.speech): labels, yes/no,
don't know and refused in English and Welsh, numbers in words, the confidence threshold and
confirmation, and the recogniser's hints."""

from __future__ import annotations

import pytest

from instrument import catalogue
from instrument.ivr.keypad import DIGITS_DK, IVR_DK_KEY, IVR_REFUSED_KEY
from instrument.ivr.prompts import KeyChoice, Prompt, SpeechSettings
from instrument.ivr.reading import NOT_UNDERSTOOD, read_keys
from instrument.ivr.speech import (
    MAX_HINTS,
    Heard,
    confirm_prompt,
    hear,
    speech_hints,
    speech_words,
    spoken_number,
    takes_speech,
    yes_or_no,
)


def say(language: str):  # type: ignore[no-untyped-def]
    return lambda key, **values: catalogue.text(language, "ivr", key, **values)


EN = speech_words(say("en"))
CY = speech_words(say("cy"))
SURE = SpeechSettings()

TRAVEL = Prompt(
    kind="choice",
    key="travel",
    question="travel",
    says=(),
    repeat_says=(),
    keys=(
        KeyChoice("1", 1, "Walking"),
        KeyChoice("2", 2, "Bicycle"),
        KeyChoice("3", 3, "Bus"),
        KeyChoice("4", 4, "Car"),
    ),
    dk_key=IVR_DK_KEY,
    refused_key=IVR_REFUSED_KEY,
)
AGREE = Prompt(
    kind="choice",
    key="view",
    question="view",
    says=(),
    repeat_says=(),
    keys=(
        KeyChoice("1", 1, "Strongly agree"),
        KeyChoice("2", 2, "Agree"),
        KeyChoice("3", 3, "Neither agree nor disagree"),
        KeyChoice("4", 4, "Disagree"),
    ),
)
OPTION = Prompt(
    "option", "heard", "heard", (), (), keys=(), dk_key=IVR_DK_KEY, refused_key=None, option=1
)
INTEGER = Prompt("number", "age", "age", (), (), entry="digits", dk_key=DIGITS_DK)
DECIMAL = Prompt("number", "weight", "weight", (), (), entry="digits", integer=False)
DATE = Prompt("date", "moved", "moved", (), (), entry="digits")


@pytest.mark.parametrize(
    ("prompt", "text", "keys"),
    [
        (TRAVEL, "Bus", "3"),
        (TRAVEL, "bus.", "3"),
        (TRAVEL, "I usually go by bus", "3"),
        (TRAVEL, "Press two", "2"),
        (TRAVEL, "4", "4"),
        (TRAVEL, "I don't know", IVR_DK_KEY),
        (TRAVEL, "I'd rather not say", IVR_REFUSED_KEY),
        (AGREE, "strongly agree", "1"),
        (AGREE, "I'd say I strongly agree", "1"),  # "agree" inside "strongly agree": one answer
        (AGREE, "neither agree nor disagree", "3"),
        (OPTION, "Yes", "1"),
        (OPTION, "yeah", "1"),
        (OPTION, "nope", "2"),
        (OPTION, "I have no idea", IVR_DK_KEY),  # "no" inside "no idea"
        (INTEGER, "nineteen seventy five", "1975"),
        (INTEGER, "I'm 42", "42"),
        (INTEGER, "not sure", DIGITS_DK),
        (DECIMAL, "three point five", "3*5"),
        (DECIMAL, "72.5", "72*5"),
    ],
)
def test_words_stand_for_keys(prompt: Prompt, text: str, keys: str) -> None:
    heard = hear(prompt, text, 0.9, EN, SURE)
    assert (heard.status, heard.keys) == ("keys", keys)


@pytest.mark.parametrize(
    ("prompt", "text", "keys"),
    [(OPTION, "Ie", "1"), (OPTION, "naddo", "2"), (OPTION, "Dim yn gwybod", IVR_DK_KEY),
     (TRAVEL, "Wn i ddim", IVR_DK_KEY), (TRAVEL, "gwell gen i beidio", IVR_REFUSED_KEY)],
)  # fmt: skip
def test_welsh_words(prompt: Prompt, text: str, keys: str) -> None:
    assert hear(prompt, text, 0.9, CY, SURE).keys == keys


def test_below_the_threshold_or_two_answers_is_confirmed() -> None:
    assert hear(TRAVEL, "bus", 0.3, EN, SURE) == Heard("confirm", "3", "Bus")
    assert hear(TRAVEL, "bus", 0.5, EN, SURE).status == "keys"  # the threshold itself is enough
    two = hear(TRAVEL, "the bus or the car", 0.95, EN, SURE)
    assert two.status == "confirm" and two.keys in ("3", "4")
    assert hear(OPTION, "yes and no", 0.95, EN, SURE).status == "confirm"
    always = SpeechSettings(confidence=0.2, confirm="always")
    assert hear(TRAVEL, "bus", 0.99, EN, always) == Heard("confirm", "3", "Bus")
    assert hear(INTEGER, "1975", 0.2, EN, SURE) == Heard("confirm", "1975", "1975")


@pytest.mark.parametrize(
    ("prompt", "text"),
    [(TRAVEL, "by train"), (TRAVEL, ""), (INTEGER, "three or four"), (INTEGER, "lots"),
     (INTEGER, "3.5"), (DATE, "the third of May"), (OPTION, "perhaps")],
)  # fmt: skip
def test_words_that_answer_nothing_are_not_understood(prompt: Prompt, text: str) -> None:
    assert hear(prompt, text, 0.99, EN, SURE) == Heard("unclear", NOT_UNDERSTOOD)


def test_not_understood_is_read_as_an_invalid_entry_with_its_own_words() -> None:
    reading = read_keys(TRAVEL, NOT_UNDERSTOOD, say("en"))
    assert reading.status == "invalid" and reading.failed
    assert reading.message == "Sorry, I did not understand that."


@pytest.mark.parametrize(
    ("text", "digits"),
    [("1975", "1975"), ("1,975", "1975"), ("19 75", "1975"), ("nineteen seventy five", "1975"),
     ("nineteen oh five", "1905"), ("two thousand and five", "2005"), ("twenty twenty", "2020"),
     ("forty-two", "42"), ("a hundred", "100"), ("one hundred and twenty three", "123"),
     ("nineteen hundred and five", "1905"), ("three point five", "3.5"), ("about 30", "30"),
     ("zero", "0"), ("3 or 4", None), ("yes", None), ("", None), ("point", None)],
)  # fmt: skip
def test_spoken_numbers(text: str, digits: str | None) -> None:
    assert spoken_number(text) == digits


def test_dates_and_recordings_take_keys_only() -> None:
    record = Prompt("record", "c", "c", (), (), entry="recording", record_seconds=60)
    assert not takes_speech(DATE) and not takes_speech(record)
    assert all(takes_speech(p) for p in (TRAVEL, OPTION, INTEGER))


def test_hints_are_the_answers_words() -> None:
    assert speech_hints(TRAVEL, EN)[:4] == ("Walking", "Bicycle", "Bus", "Car")
    assert "don't know" in speech_hints(TRAVEL, EN)
    assert "prefer not to say" in speech_hints(TRAVEL, EN)
    yes_no = speech_hints(OPTION, EN)
    assert yes_no[:2] == ("yes", "yeah") and "no" in yes_no and "prefer not to say" not in yes_no
    assert "ie" in speech_hints(OPTION, CY)
    many = Prompt(
        "choice",
        "q",
        "q",
        (),
        (),
        keys=tuple(KeyChoice(str(n), n, f"Place {n}") for n in range(150)),
    )
    assert len(speech_hints(many, EN)) == MAX_HINTS


def test_the_confirmation_is_a_yes_no_question() -> None:
    check = confirm_prompt(TRAVEL, Heard("confirm", "3", "Bus"), say("en"))
    assert check.kind == "check" and check.says == (
        "Did you say Bus? If so, press 1 or say yes. If not, press 2 or say no.",
    )
    assert read_keys(check, "1", say("en")).value is True
    assert yes_or_no("Yes, that's right", EN) == "1"
    assert yes_or_no("no", EN) == "2" and yes_or_no("Na", CY) == "2"
    assert yes_or_no("maybe", EN) is None and yes_or_no("yes no", EN) is None
