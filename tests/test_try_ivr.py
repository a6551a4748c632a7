"""``instrument try PATH --mode ivr``: the terminal plays the automated call itself.

The real command through click's CliRunner, keys fed on standard input: what the call says
(the flow the webhooks run), re-prompts after silence and wrong keys, ``*``, don't know and
refused announced once per call, a multiple choice asked option by option, numbers read back,
hard and soft checks spoken, the end; the flagship in English and the Welsh example in Welsh.
The transcript's spoken lines are compared with the TwiML the webhooks would answer the same
keys with (tests/ivr_driver.py), so the terminal says what a caller hears.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from ivr_driver import NOW, run_call
from test_console import values_block as values

from instrument.cli import cli
from instrument.engine import Engine
from instrument.ivr.prompts import IvrSettings
from instrument.questionnaires import require
from instrument_console.call import gathered

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
SCHOOL_TRAVEL = ROOT / "questionnaires" / "school_travel.yaml"
CALL = "CALL SAYS: "
CALL_CY = "MAE'R ALWAD YN DWEUD: "

# The flagship (seed 3, numbers read back) from the first question to the end.
FLAGSHIP_KEYS = [
    "s",  # parent: silence
    "5",  # not a key
    "*",  # the question again
    ":back",  # not on a call
    "1",  # a parent
    "25#",  # children: out of range ...
    "1",  # ... read back and kept, so the engine's check is spoken
    "7#",
    "1",  # seven, kept: the soft check is spoken
    "2",  # change it
    "2#",
    "1",
    "7#",
    "1",  # child 1 is 7
    "4#",
    "1",  # child 2 is 4
    "8",  # heard of joining up records: don't know
    "9",  # knew of the programs: refused (announced once, so not said again)
    *["1"] * 40,  # the rest, to the end
]


def run_try(lines: list[str], *args: str, path: Path = FLAGSHIP, seed: int = 3):
    return CliRunner().invoke(
        cli,
        ["try", str(path), "--mode", "ivr", "--seed", str(seed), *args],
        input="\n".join(lines) + "\n",
    )


def spoken(output: str, prefix: str = CALL) -> list[str]:
    """What the call said, in order (the prompt ``keys>`` and the echoed keys removed)."""
    lines = []
    for line in output.splitlines():
        line = re.sub(r"^(keys> \S*)+", "", line) if line.startswith("keys> ") else line
        if line.startswith(prefix):
            lines.append(line[len(prefix) :])
    return lines


def digits_of(lines: list[str], entries: list[str]) -> list[str | None]:
    """The ``Digits`` Twilio would post for each typed line (None: silence); commands dropped."""
    keys = [line for line in lines if not line.startswith(":")]
    return [
        None if line == "s" else gathered(line, entry)[0]
        for line, entry in zip(keys, entries, strict=False)
    ]


def test_the_flagship_is_played_as_the_call_to_its_end() -> None:
    result = run_try(FLAGSHIP_KEYS, "--read-back")
    assert result.exit_code == 0, result.output
    out = result.output
    said = spoken(out)
    question = "Are you a parent or guardian of a child under 16 who lives with you, at least some of the time?"
    assert said[:5] == [
        said[0],
        question,
        "For Yes, press 1.",
        "For No, press 2.",
        "To hear the question again, press star.",
    ]
    # silence, a wrong key, then * : asked again each time, the reason first
    assert said[5:7] == ["Sorry, I did not hear a key.", question]
    assert "Sorry, that key is not one of the answers." in said
    assert said.count(question) == 4
    assert "! :back is not something a caller can do" in out
    # a number read back, then the engine's hard check spoken before the question again
    assert "You keyed 25. If that is right, press 1. To key it again, press 2." in said
    assert said[
        said.index("You keyed 25. If that is right, press 1. To key it again, press 2.") + 1
    ] == ("Enter a number between 1 and 10")
    # the soft check: kept with 1, changed with 2
    assert "You said 7 children under 16 live with you. Is that right?" in said
    assert "To keep your answer, press 1. To change it, press 2." in said
    # don't know and refused are announced once in the call, with the first question offering them
    assert said.count("If you don't know, press 8.") == 1
    assert said.count("If you would rather not answer, press 9.") == 1
    assert said.count("If you don't know, press star, 8, then hash.") == 1
    # free text is not asked by a call that does not record: the transcript says so
    assert "(comment left not answered: free text is not asked by a call" in out
    assert said[-1] == "Thank you very much for taking part. Goodbye."
    assert "(the call hangs up)" in out
    assert "Outcome: complete" in out
    got = values(out)
    assert got["parent"] == "1 Yes"
    assert got["n_children"] == "2"
    assert (got["child_age_1"], got["child_age_2"]) == ("7", "4")
    assert got["aware_linkage"] == "dk (don't know)"
    assert got["aware_models"] == "ref (refused)"
    assert got["comment"] == "(not answered)"


def test_the_transcript_is_what_the_webhooks_twiml_says_for_the_same_keys() -> None:
    result = run_try(FLAGSHIP_KEYS, "--read-back")
    said = spoken(result.output)
    # The same call through the flow and the telephone mode's TwiML (tests/ivr_driver.py).
    engine = Engine(require(FLAGSHIP))
    state = engine.start(now=NOW, seed=3, mode="ivr")
    typed = [line for line in FLAGSHIP_KEYS if not line.startswith(":")]
    # every flagship prompt here is one key but the numbers (ended by #)
    entries = ["digits" if line.endswith("#") else "one_key" for line in typed]
    call = run_call(engine, state, digits_of(typed, entries), IvrSettings(read_back=True))
    assert not call.ended_early
    assert said == call.heard


def test_a_multiple_choice_is_asked_option_by_option() -> None:
    # aware of joining up records, so: where heard? one yes/no question per place (seed 3's order)
    lines = ["1", "2#", "7#", "4#", "1", "1", "2", "1", "2", "2", "2", "2", ":quit"]
    result = run_try(lines)
    assert result.exit_code == 0, result.output
    said = spoken(result.output)
    start = said.index("Where have you heard about this? Choose each place that applies.")
    assert said[start + 1 : start + 9] == [
        "I will read out some answers. For each one, press 1 for yes or 2 for no.",
        "Newspapers or news websites",
        "Press 1 for yes, or 2 for no.",
        "A school or nursery",
        "The council",
        "Social media",
        "Friends or family",
        "A GP, health visitor or other health service",
    ]
    assert said[start + 9] == "TV or radio"
    assert values(result.output)["heard_where"] == "2 Newspapers or news websites, 6 The council"
    assert "(you hung up: the interview stays a partial to resume)" in result.output
    assert "Outcome: partial" in result.output


def test_keys_a_caller_cannot_press_and_commands_a_caller_cannot_give() -> None:
    lines = ["yes", ":jump parent", ":lang cy", ":help", ":show", "12", ":quit"]
    result = run_try(lines)
    out = result.output
    assert result.exit_code == 0, out
    assert "! A caller presses 0-9, * and #" in out
    assert "! :jump is not something a caller can do" in out
    assert "! :lang is not something a caller can do: a call keeps the language it began in" in out
    assert "s              silence" in out  # the call's help
    assert out.count("explain_arm = 2 Stated purpose first") == 2  # :show, then the end
    assert "(a one-key question takes one key: 1; the rest is lost)" in out
    assert values(out)["parent"] == "1 Yes"


def test_silence_three_times_leaves_a_question_unanswered_and_goes_on() -> None:
    result = run_try(["1", "2#", "7#", "4#", "s", "s", "s", ":quit"])
    said = spoken(result.output)
    assert said.count("Sorry, I did not hear a key.") == 2  # asked again twice, then given up
    assert (
        "(aware_linkage left not answered: given up after silence or wrong keys; "
        "flag ivr_no_answer)"
    ) in result.output
    assert said[-4] == (
        "Did you know that some councils use computer programs to estimate which families "
        "might need help?"
    )


def test_a_required_question_given_up_on_ends_the_call_politely() -> None:
    """Asking it again would go round for ever: the call ends and the interview stays a partial."""
    result = run_try(["s", "s", "s", ":quit"])
    said = spoken(result.output)
    assert said[-1] == (
        "We have not been able to hear your answers, so we will end the call here. "
        "Thank you, goodbye."
    )
    assert "Outcome: partial" in result.output


def test_the_end_of_input_hangs_up() -> None:
    result = run_try(["1"])
    assert result.exit_code == 0, result.output
    assert "(end of input: stopping)" in result.output
    assert "(the call hangs up)" not in result.output
    assert "Outcome: partial" in result.output


@pytest.fixture
def school_travel_by_phone() -> Path:
    """The Welsh example, which lists automated calls among its modes (`instrument check` warns
    of its twelve school years on a keypad: two digits and #)."""
    assert "modes: [web, cati, ivr]" in SCHOOL_TRAVEL.read_text(encoding="utf-8")
    return SCHOOL_TRAVEL


def test_the_welsh_example_in_welsh(school_travel_by_phone: Path) -> None:
    lines = [
        "s",  # the date: silence
        "3#",  # not eight digits
        "*8#",  # don't know, on digits
        "2#",  # two children at school
        "1",
        "3#",  # child 1: Year 2 (key 3: two digits and # on this long list)
        "1",  # walking
        "1*5#",  # 1.5 miles
        "1",
        "8",  # child 2's year: don't know
        "4",  # by car
        "*9#",  # distance: refused
        *["1"] * 30,
    ]
    result = run_try(lines, "--lang", "cy", "--read-back", path=school_travel_by_phone)
    out = result.output
    assert result.exit_code == 0, out
    said = spoken(out, CALL_CY)
    assert "language cy" in out
    assert said[1] == "Meddyliwch am y diwrnod ysgol diwethaf. Beth oedd y dyddiad?"
    assert "Os nad ydych yn gwybod, pwyswch seren, 8, yna hash." in said
    assert said[said.index("Os nad ydych yn gwybod, pwyswch seren, 8, yna hash.") + 2] == (
        "I glywed y cwestiwn eto, pwyswch seren."
    )
    assert any(line.startswith("Mae'n ddrwg gen i") for line in said)  # silence, then a wrong date
    assert "Ar gyfer Blwyddyn 2, pwyswch 3." in said
    assert "Rydych wedi rhoi 1.5. Os yw hynny'n gywir, pwyswch 1. I'w roi eto, pwyswch 2." in said
    assert "(the call hangs up)" in out
    got = values(out)
    assert got["travel_date"] == "dk (don't know)"
    assert got["n_pupils"] == "2"
    assert got["pupil_year_1"] == "2 Blwyddyn 2"
    assert got["pupil_year_2"] == "dk (don't know)"
    assert got["pupil_distance_1"] == "1.5"
    assert got["pupil_distance_2"] == "ref (refused)"
