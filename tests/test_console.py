"""The console mode: ``instrument try`` driven through standard input.

Most tests run the real command with click's CliRunner and scripted input,
then read the transcript (which ends with the engine's values); a few drive
:class:`ConsoleSession` directly to look at the interview state afterwards.
One test pipes input into a separate Python process to prove the command
works outside CliRunner too.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import instrument_console.plugin
from instrument.cli import cli
from instrument.engine import Engine
from instrument.loader import require_questionnaire
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.values import DK
from instrument_console.session import ConsoleSession

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)

# A complete web interview of mini.yaml. Randomised orders (the b1/b2 block,
# the grid rows) get the same answer whatever their order, so the script
# does not depend on the seed.
WEB_COMPLETE = [
    "1",  # parent: yes
    "2",  # n_kids
    "3",
    "12",  # kid_age_1, kid_age_2
    "1, 96",  # heard: TV and somewhere else
    "a poster",  # heard_other
    "nice",  # comment
    "1",  # trust_source_1
    "",  # trust_source_96: skipped, so the web prompts once ...
    "dk",  # ... and now offers don't know
    "1",
    "1",  # b1 and b2, in either order
    "1",
    "1",
    "1",  # grid rows g_a, g_b, g_c (youngest is under 5)
    "27 3 1980",  # born, day month year
    "1.7",  # height
    "",  # the closing information screen
]


def run_try(lines: list[str], *args: str, path: Path = MINI, seed: int = 3):
    runner = CliRunner()
    return runner.invoke(
        cli, ["try", str(path), "--seed", str(seed), *args], input="\n".join(lines) + "\n"
    )


def interview(lines: list[str], *, mode: str = "web", path: Path = MINI, seed: int = 3):
    """Run a ConsoleSession on scripted lines; return the engine, the state and the transcript."""
    engine = Engine(require_questionnaire(path))
    state = engine.start(now=NOW, seed=seed, mode=mode)
    feed = iter(lines)
    out: list[str] = []

    def read(prompt: str) -> str:
        out.append(prompt)
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    session = ConsoleSession(engine, state, read=read, write=out.append, now=lambda: NOW)
    session.run()
    return engine, session, "\n".join(out)


def values_block(output: str) -> dict[str, str]:
    """The 'Values:' summary printed at the end, as {key: shown value}."""
    block = output.split("\nValues:\n", 1)[1]
    values = {}
    for line in block.splitlines():
        if line.startswith("  ") and " = " in line:
            key, shown = line.strip().split(" = ", 1)
            values[key] = shown
    return values


@pytest.fixture
def phone_mini(tmp_path: Path) -> Path:
    """mini.yaml with an interviewer instruction and an option not read out."""
    text = MINI.read_text(encoding="utf-8")
    text = text.replace(
        '        text: {en: "How many children?", cy: "Faint o blant?"}',
        '        instruction: {en: "Include step-children", cy: "Cynnwys llysblant"}\n'
        '        text: {en: "How many children?", cy: "Faint o blant?"}',
    )
    text = text.replace(
        "{code: 96, label: Somewhere else, other_specify: true, fixed: true}",
        "{code: 96, label: Somewhere else, other_specify: true, fixed: true, not_read_out: true}",
    )
    assert "instruction:" in text and "not_read_out: true" in text
    path = tmp_path / "phone_mini.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------- respondent


def test_web_respondent_completes_mini() -> None:
    result = run_try(WEB_COMPLETE)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "About you" in out and "Your views" in out
    assert "Are you a parent?" in out
    assert "1) Yes" in out and "2) No" in out
    assert "1) Agree" in out
    assert "96) Somewhere else (please specify)" in out
    assert "(a whole number from 1 to 10)" in out
    assert "in metres" in out
    # don't know appears only once the skip was prompted, as offer_missing says
    assert out.count("dk) Don't know") == 1
    assert "You have not answered this question" in out
    assert "Outcome: complete" in out
    values = values_block(out)
    assert values["parent"] == "1 Yes"
    assert values["kid_age_2"] == "12"
    assert values["youngest"] == "3"
    assert values["heard"] == "1 TV, 96 Somewhere else"
    assert values["heard_other"] == "'a poster'"
    assert values["trust_source_96"] == "dk (don't know)"
    assert values["born"] == "1980-03-27"
    assert values["height"] == "1.7"
    assert values["g_c"] == "1 Agree"
    assert "\x1b[" not in out  # no colour when not a terminal


def test_web_values_reach_the_engine() -> None:
    engine, session, _ = interview(WEB_COMPLETE)
    assert session.state.outcome == "complete"
    values = engine.values(session.state)
    assert values["heard"] == (1, 96)
    assert values["trust_source_96"] is DK
    assert values["born"] == dt.date(1980, 3, 27)
    assert values["height"] == 1.7
    assert any(e.kind == "answer" and e.data["actor"] == "respondent" for e in session.events)


def test_invalid_values_are_reasked_with_the_engines_message() -> None:
    result = run_try(["1", "eleven", "11", "2", ":quit"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Enter a whole number, like 12" in out
    assert "Enter a number between 1 and 10" in out
    assert out.count("How many children?") == 3
    assert values_block(out)["n_kids"] == "2"


def test_a_code_that_is_not_an_option_is_reasked() -> None:
    result = run_try(["5", "1", ":quit"])
    assert "Select one of the answers shown" in result.output
    assert result.output.count("Are you a parent?") == 2
    assert values_block(result.output)["parent"] == "1 Yes"


def test_soft_warning_confirmed() -> None:
    result = run_try(["1", "7", "y", ":quit"])
    out = result.output
    assert "7 children: is that right?" in out
    assert "Confirm? [y/N]" in out
    assert "How old is child 1 of 7?" in out
    assert values_block(out)["n_kids"] == "7"


def test_soft_warning_declined_asks_again() -> None:
    result = run_try(["1", "7", "n", "2", ":quit"])
    out = result.output
    assert out.count("How many children?") == 2
    assert "How old is child 1 of 2?" in out
    assert values_block(out)["n_kids"] == "2"


def test_back_and_jump() -> None:
    lines = [
        "1",
        "2",
        "3",
        ":back",  # at child 2: back to child 1, which shows its answer
        "4",
        "12",
        ":jump n_kids",  # at the heard page
        "1",  # now one child: child 2 falls off the route
        "",  # child 1: Enter keeps 4
        ":quit",
    ]
    result = run_try(lines)
    out = result.output
    assert "(answer so far: 3; Enter keeps it, - clears it)" in out
    assert "(answer so far: 2; Enter keeps it, - clears it)" in out
    assert "Outcome: partial" in out
    values = values_block(out)
    assert values["n_kids"] == "1"
    assert values["kid_age_1"] == "4"
    assert "kid_age_2" not in values


def test_back_and_jump_use_the_engine() -> None:
    lines = ["1", "2", "3", ":back", "4", "12", ":jump n_kids", "1", "", ":quit"]
    engine, session, _ = interview(lines)
    kinds = [e.kind for e in session.events]
    assert "back" in kinds and "jump" in kinds
    assert session.state.answers["kid_age_2"] == 12  # kept in the history ...
    assert "kid_age_2" not in engine.values(session.state)  # ... but not in the data


def test_bad_commands_are_explained_and_the_question_asked_again() -> None:
    result = run_try([":back", ":jump nowhere", ":frobnicate", ":help", ":show", "1", ":quit"])
    out = result.output
    assert "this is the first page" in out
    assert "'nowhere' has not been asked" in out
    assert "Unknown command :frobnicate" in out
    assert ":jump NAME" in out  # the help text
    before_answer = out.split("Outcome:")[0]
    assert "  parent = (not answered)" in before_answer  # :show, before the answer
    assert values_block(out)["parent"] == "1 Yes"


def test_show_lists_answers_so_far() -> None:
    result = run_try(["1", "2", ":show", ":quit"])
    shown = result.output.split("Outcome:")[0]  # what :show printed, not the closing summary
    assert "  n_kids = 2" in shown and "  parent = 1 Yes" in shown


def test_quit_finishes_as_partial() -> None:
    result = run_try(["1", ":quit"])
    assert result.exit_code == 0
    assert "Outcome: partial" in result.output
    assert values_block(result.output)["parent"] == "1 Yes"


def test_end_of_input_also_keeps_a_partial() -> None:
    result = run_try(["1"])
    assert "(end of input: stopping)" in result.output
    assert "Outcome: partial" in result.output


def test_screened_out_shows_the_end_screen() -> None:
    result = run_try(["2"])
    assert "Thank you." in result.output
    assert "Outcome: screened_out" in result.output


# ---------------------------------------------------------------- languages


def test_welsh_from_the_start() -> None:
    result = run_try(["1", "dk", "1", ":quit"], "--lang", "cy")
    out = result.output
    assert "Amdanoch chi" in out
    assert "Ydych chi'n rhiant?" in out
    assert "1) Ie" in out
    assert "Faint o blant?" in out
    assert "Are you a parent?" not in out


def test_switching_language_mid_interview() -> None:
    result = run_try(["1", ":lang fr", ":lang cy", "2", "5", ":quit"])
    out = result.output
    assert "No language 'fr' here; this questionnaire has en, cy" in out
    before, after = out.split("(language: cy)")
    assert "How many children?" in before
    assert "Faint o blant?" in after
    assert "Beth yw oed plentyn 1?" in after
    assert values_block(out)["n_kids"] == "2"


def test_unknown_language_at_start_is_an_error() -> None:
    result = run_try([], "--lang", "fr")
    assert result.exit_code == 1
    assert "has no language 'fr'" in result.output


# ---------------------------------------------------------------- interviewer


def test_cati_interviewer(phone_mini: Path) -> None:
    lines = [
        "1",
        "",  # an interviewer must key something ...
        "dk",  # ... and don't know is always available
        "96",  # heard: volunteered "somewhere else"
        "a poster",
        "ref",  # comment refused
        "dk",  # trust_source_96
        "2",
        "2",
        ":quit",
    ]
    result = run_try(lines, "--mode", "cati", path=phone_mini)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "as the interviewer (cati)" in out
    assert "READ OUT: How many children?  [n_kids]" in out
    assert "INSTRUCTION: Include step-children" in out
    assert "96) Somewhere else (specify) (do not read out)" in out
    assert "dk) Don't know (do not read out)" in out
    assert "ref) Refused (do not read out)" in out
    assert "Key an answer, or don't know or refused" in out
    values = values_block(out)
    assert values["n_kids"] == "dk (don't know)"
    assert "kid_age_1" not in values  # no count, no roster
    assert values["heard"] == "96 Somewhere else"
    assert values["comment"] == "ref (refused)"
    assert values["trust_source_96"] == "dk (don't know)"


def test_cati_answers_are_keyed_by_the_interviewer(phone_mini: Path) -> None:
    _, session, _ = interview(["1", "dk", ":quit"], mode="cati", path=phone_mini)
    answers = [e for e in session.events if e.kind == "answer"]
    assert answers and all(e.data == {"actor": "interviewer", "mode": "cati"} for e in answers)


# ------------------------------------------------------------------------ ivr


def test_ivr_is_played_as_the_call(phone_mini: Path) -> None:
    # `try --mode ivr` plays the automated call's own flow (tests/test_try_ivr.py has more): a
    # multiple choice is asked option by option, 96 (not_read_out) is not offered, free text is
    # not asked by a call that does not record, don't know is 8 on a choice and *8# on a number.
    lines = ["1", "1", "4#", "2", "1", "8", ":quit"]
    result = run_try(lines, "--mode", "ivr", path=phone_mini)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "as an automated call (ivr)" in out
    assert "CALL SAYS: READ OUT: Are you a parent?" in out  # mini's read_out, spoken by the call
    assert "CALL SAYS: For Yes, press 1." in out
    assert "CALL SAYS: If you don't know, press star, 8, then hash." in out
    assert "(no #: the call takes 1 when it times out)" in out
    assert "CALL SAYS: TV" in out and "Somewhere else" not in out
    assert "CALL SAYS: If you don't know, press 8." in out
    assert "(comment left not answered: free text is not asked" in out
    values = values_block(out)
    assert values["n_kids"] == "1"
    assert values["kid_age_1"] == "4"
    assert values["heard"] == "dk (don't know)"  # 8 on one option answers the whole question
    assert values["comment"] == "(not answered)"


def test_ivr_keys_for_dont_know_on_a_choice(phone_mini: Path) -> None:
    # heard: 8 is don't know; comment skipped; trust loop is not asked (no codes)
    engine, session, out = interview(
        ["1", "1", "4", "8", "", "1", "1"], mode="ivr", path=phone_mini
    )
    values = engine.values(session.state)
    assert values["heard"] is DK
    assert values["kid_age_1"] == 4  # on a number, 8 and 4 are digits, not keys
    assert "For don't know, press 8." not in out.split("[kid_age_1]")[1].split("[heard]")[0]


# ----------------------------------------------------------------- loading


def test_broken_file_gives_file_line_col_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("meta: {id: x\n", encoding="utf-8")
    result = run_try([], path=bad)
    assert result.exit_code == 1
    assert f"{bad}:2:1: error:" in result.output
    assert "Traceback" not in result.output


def test_case_data_is_preloaded() -> None:
    result = run_try(["1", ":quit"], "--case", "region=1", "--case", "profile_kids=2")
    values = values_block(result.output)
    assert values["region"] == "1 North"
    assert values["profile_kids"] == "2"


def test_bad_case_data_is_an_error() -> None:
    result = run_try([], "--case", "shoe_size=9")
    assert result.exit_code == 1
    assert "not a preload variable" in result.output
    result = run_try([], "--case", "nonsense")
    assert result.exit_code == 2
    assert "expected name=value" in result.output


# ------------------------------------------------------------------ plugin


def test_console_mode_is_registered_through_the_plugin_host() -> None:
    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    modes = PluginFacade(pm).modes()
    assert "console" in modes
    spec = modes["console"]
    assert spec.label == "Terminal"
    assert {"self_completion", "interviewer"} <= spec.capabilities
    assert spec.create_blueprint is None
    assert modes.owner("console") == "console"


def test_console_plugin_registers_on_its_own() -> None:
    pm = get_plugin_manager(load_entrypoints=False, strict=True, disabled=["console"])
    assert "console" not in PluginFacade(pm).modes()
    pm.register(instrument_console.plugin, name="my_console")
    assert PluginFacade(pm).modes().owner("console") == "my_console"


def test_plugin_module_is_cheap_to_import() -> None:
    code = (
        "import sys, instrument_console.plugin; "
        "heavy = {'flask', 'werkzeug', 'twilio', 'pyreadstat', 'pyarrow', 'pandas', 'instrument.engine'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------ a real pipe


def _env() -> dict[str, str]:
    env = dict(os.environ)
    roots = [str(ROOT), str(ROOT / "modes"), str(ROOT / "plugins")]
    env["PYTHONPATH"] = os.pathsep.join(
        roots + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.pop("INSTRUMENT_DISABLE_PLUGINS", None)
    return env


def test_works_through_a_real_pipe() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from instrument.cli import main; main()",
            "try",
            str(MINI),
            "--seed",
            "3",
        ],
        input="\n".join(WEB_COMPLETE) + "\n",
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Outcome: complete" in done.stdout
    assert values_block(done.stdout)["trust_source_96"] == "dk (don't know)"
    assert "\x1b[" not in done.stdout
