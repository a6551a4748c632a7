"""An automated call is never stuck: what the engine refuses, and what the call cannot ask.

Found by running questionnaires written by others through ``instrument simulate --mode ivr
--end-to-end``:

* The UCL biomass XLSForm (questionnaires/examples/biomass_plot.yaml, with ``ivr`` added) asks a
  phone number as required free text with a hard check (a regex). A keypad call skips free text,
  so the check refused the empty answer and the call asked the skipped question again, for ever
  (``instrument try`` hung; the webhooks looped). A keypad mode now runs no check of a free-text
  question (its answer is empty or a recording's reference, nothing the person typed); and an
  error on a question the call does not ask ends the call politely instead of looping.
* A caller keying numbers out of range was asked again without end (the flagship's number of
  children, in a simulated call that fetched 500 documents). The engine's refusals of a step's
  answers now count like wrong keys: after the re-prompts, the answer is left not answered
  (``on_no_answer: skip``, flagged) or the call ends politely (``end``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from ivr_driver import NOW, run_call

from instrument.cli import cli
from instrument.engine import Engine, Problem
from instrument.ivr.flow import NO_ANSWER, CallFlow, FlowState
from instrument.ivr.prompts import FREE_TEXT_SKIPPED, IvrSettings, ivr_words
from instrument.questionnaires import require
from instrument_phone.ivr.simulator import Heard, Keys, Prompt, random_respondent, stated_range

PHONE_CHECK = """\
meta:
  id: phone_check
  version: "1"
  title: A phone number with a check
  languages: [en]
  modes: [web, ivr]
items:
  - id: member
    type: yesno
    required: true
    text: Are you a member of the panel?
  - id: phone
    type: text
    max_length: 20
    required: true
    text: What is your phone number?
    checks:
      - error_if: "not regex(phone, '^[0-9 ]{10,}$')"
        message: Please give a 10 digit phone number.
  - id: children
    type: integer
    min: 1
    max: 10
    required: REQUIRED
    text: How many children live with you?
  - id: happy
    type: yesno
    text: Are you happy with the survey?
  - {id: bye, type: end, outcome: complete, text: Thank you. Goodbye.}
"""


def questionnaire(tmp_path: Path, *, children_required: bool = False) -> Path:
    path = tmp_path / "phone_check.yaml"
    path.write_text(
        PHONE_CHECK.replace("REQUIRED", "true" if children_required else "false"), encoding="utf-8"
    )
    return path


def test_a_keypad_call_runs_no_check_of_free_text_it_cannot_ask(tmp_path: Path) -> None:
    path = questionnaire(tmp_path)
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    call = run_call(engine, state, ["1", "3#", "1"])
    assert not call.ended_early, call.heard
    assert state.finished_at is not None and state.outcome == "complete"
    assert ("phone", FREE_TEXT_SKIPPED) in call.flags
    assert "Please give a 10 digit phone number." not in call.heard
    assert state.answers["children"] == 3 and state.answers.get("phone") is None


def test_the_same_check_still_holds_on_the_web(tmp_path: Path) -> None:
    engine = Engine(require(questionnaire(tmp_path)))
    web = engine.start(now=NOW, seed=1, mode="web")
    first = engine.current_step(web, html=False)
    assert engine.submit(web, {"member": 1}, now=NOW, token=first.token).accepted
    step = engine.current_step(web, html=False)
    refused = engine.submit(web, {"phone": "call me"}, now=NOW, token=step.token)
    assert [p.message for p in refused.problems] == ["Please give a 10 digit phone number."]
    assert engine.submit(web, {"phone": "0123 456 7890"}, now=NOW, token=step.token).accepted


def test_a_recording_reference_is_not_judged_by_checks_for_typed_text(tmp_path: Path) -> None:
    """Where the study records, the free text's answer is the recording's reference (a question
    long enough to hold one: a shorter one is not recorded)."""
    path = questionnaire(tmp_path)
    path.write_text(path.read_text().replace("max_length: 20", "max_length: 60"))
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    engine.submit(state, {"member": 1}, now=NOW, token=engine.current_step(state).token)
    step = engine.current_step(state, html=False)
    reference = "recording:RE" + "0" * 32
    assert engine.submit(state, {"phone": reference}, now=NOW, token=step.token).accepted


def test_an_error_on_a_question_the_call_does_not_ask_ends_the_call_politely(
    tmp_path: Path,
) -> None:
    """Were the engine to refuse the skipped question (a check of another kind, a plugin's), the
    caller could not put it right: the call says goodbye rather than skipping it again."""
    path = questionnaire(tmp_path)
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    engine.submit(state, {"member": 1}, now=NOW, token=engine.current_step(state).token)
    step = engine.current_step(state, html=False)
    flow = CallFlow(ivr_words(require(path), "en"))
    flowing, action = flow.show(FlowState(), step)
    assert action.kind == "submit"  # nothing to ask: the skipped question is submitted empty
    problem = Problem("phone", "Please give a 10 digit phone number.", "phone#0", "error")
    ended, goodbye = flow.rejected(flowing, step, [problem], revision=1)
    assert goodbye.kind == "goodbye" and ended.phase == "ended"


def keyed_out_of_range(tmp_path: Path, settings: IvrSettings, *, required: bool):
    path = questionnaire(tmp_path, children_required=required)
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    keys = ["1", "25#", "50#", "99#", "1", "1", "1"]
    return state, run_call(engine, state, keys, settings)


def test_numbers_refused_three_times_in_a_row_are_left_not_answered(tmp_path: Path) -> None:
    state, call = keyed_out_of_range(tmp_path, IvrSettings(), required=False)
    said = "\n".join(call.heard)
    assert said.count("How many children live with you?") == 3, said
    assert not call.ended_early and state.outcome == "complete"
    assert ("children", NO_ANSWER) in call.flags
    assert state.answers.get("children") is None and state.answers["happy"] == 1


def test_a_required_number_refused_three_times_ends_the_call_politely(tmp_path: Path) -> None:
    state, call = keyed_out_of_range(tmp_path, IvrSettings(), required=True)
    assert call.ended_early and state.finished_at is None
    assert call.heard[-1].startswith("We have not been able to hear your answers")
    assert "\n".join(call.heard).count("How many children live with you?") == 3


def test_the_study_may_end_the_call_at_once_instead(tmp_path: Path) -> None:
    state, call = keyed_out_of_range(
        tmp_path, IvrSettings(on_no_answer="end", reprompts=1), required=False
    )
    assert call.ended_early and state.finished_at is None
    assert "\n".join(call.heard).count("How many children live with you?") == 2


def test_a_number_put_right_before_the_limit_is_taken(tmp_path: Path) -> None:
    path = questionnaire(tmp_path, children_required=True)
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    call = run_call(engine, state, ["1", "25#", "50#", "4#", "2"])
    assert not call.ended_early and state.answers["children"] == 4
    assert state.outcome == "complete"


def test_a_soft_check_changed_is_not_counted_as_a_refusal() -> None:
    """Only the engine's errors count: a caller who changes an answer after a soft check
    starts the count afresh (tests/test_try_ivr.py walks the flagship's soft checks)."""
    counted = FlowState(token="t", refusals=2)
    assert FlowState.from_json(json.loads(json.dumps(counted.to_json()))).refusals == 2


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (
            ["Are there stumps less than 4 metres", "For Yes, press 1.", "For No, press 2."],
            ["1", "2"],
        ),
        (["I gadw eich ateb, pwyswch 1. I'w newid, pwyswch 2."], ["1", "2"]),
        (["Circumference at 1.3 m (cm)", "For Plot 1001, press 1."], ["1"]),
        (["Press 1 for yes, or 2 for no."], ["1", "2"]),  # no key at a sentence's end: any digit
    ],
)
def test_a_simulated_caller_takes_the_keys_a_menu_offers(
    words: list[str], offered: list[str]
) -> None:
    prompt = Prompt(
        kind="gather",
        heard=tuple(Heard(text, "Polly.Amy", "en-GB") for text in words),
        attributes={"numDigits": "1"},
        url="https://example.org/ivr/turn/1",
        number=1,
    )
    assert prompt.offered_keys() == offered


def test_a_language_the_line_has_no_voice_for_is_not_counted_as_chosen(tmp_path: Path) -> None:
    """Two languages, one without a voice: the line offers no menu, so a simulated caller who
    would have chosen the other is not reported as interviewed in the wrong language."""
    text = PHONE_CHECK.replace("REQUIRED", "false").replace(
        "languages: [en]", "languages: [en, sw]"
    )
    path = tmp_path / "phone_check.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "phone_check.sw.po").write_text("", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["simulate", str(path), "--mode", "ivr", "--end-to-end", "-n", "6", "--seed", "1",
         "--format", "json"],
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert report["errors"] == 0 and report["finished"] == 6, report["error_list"]
    assert not any(key.startswith("chose_") for key in report), report


def test_a_simulated_caller_keys_within_the_range_the_call_names() -> None:
    def prompt(*words: str) -> Prompt:
        heard = tuple(Heard(text, "Polly.Amy", "en-GB") for text in words)
        return Prompt("gather", heard, {"finishOnKey": "#"}, "https://example.org/ivr/turn/2", 2)

    refused = prompt("Rhowch rif rhwng 1 a 10", "Faint o blant dan 16 oed?", "Rhowch y rhif.")
    assert stated_range(refused) == (1, 10)
    assert stated_range(prompt("How many children under 16 live with you?")) is None
    assert stated_range(prompt("Circumference at 1.3 m (cm)")) is None
    caller = random_respondent(random.Random(4), silence=0, invalid=0)
    keyed = {caller(refused) for _ in range(200)}
    assert keyed == {Keys(f"{n}#") for n in range(1, 11)}


def test_the_simulation_says_at_which_page_the_line_ended_calls(tmp_path: Path) -> None:
    """A hard check no keyed number passes: every call ends politely at that page, and the
    report says where, so a researcher sees which question callers cannot get past."""
    path = questionnaire(tmp_path, children_required=True)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "    text: How many children live with you?\n",
            "    text: How many children live with you?\n"
            "    checks:\n"
            "      - error_if: children >= 1\n"
            "        message: That cannot be right.\n",
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["simulate", str(path), "--mode", "ivr", "--end-to-end", "-n", "3", "--seed", "1",
         "--format", "json"],
    )  # fmt: skip
    assert result.exit_code != 0
    errors = json.loads(result.stdout)["error_list"]
    assert len(errors) == 3 and all(
        "the line ended the call at page 'children' (answers not given or refused after the "
        "re-prompts)" in error
        for error in errors
    ), errors
