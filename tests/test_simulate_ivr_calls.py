"""``instrument simulate PATH --mode ivr --end-to-end``: random respondents calling in, end to end.

The real command (click's CliRunner) builds the real app in process with made-up Twilio
settings, and the call simulator calls its signed webhooks with access codes: what the store
holds afterwards is checked (every respondent's interview finished, every answer recorded with
mode ivr), and so is an error making the command exit non-zero. The host reaches the runner
only through ``ModeSpec.simulate_end_to_end``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from instrument.cli import cli
from instrument.plugin_types import EndToEndReport, EndToEndRun, ModeSpec
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import open_store
from instrument.store.schema import answer_events, interviews, ivr_calls

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
SEED = 1  # five respondents of this seed: one hangs up part way and calls back


def simulate(*args: str):
    return CliRunner().invoke(cli, ["simulate", *args])


def test_five_respondents_call_in_and_every_interview_is_stored_with_mode_ivr(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    result = simulate(
        str(FLAGSHIP), "--mode", "ivr", "--end-to-end", "-n", "5", "--seed", str(SEED),
        "--database", url, "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["respondents"] == 5
    assert report["finished"] == 5 and report["errors"] == 0 and report["error_list"] == []
    assert report["hung_up"] >= 1 and report["resumed"] == report["hung_up"]
    assert report["calls"] == 5 + report["hung_up"]
    assert report["turns"] > 5 * 3
    store = open_store(url)
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(
                sa.select(interviews.c.case_id, interviews.c.status, interviews.c.mode)
            ).all()
            modes = connection.execute(
                sa.select(answer_events.c.mode, sa.func.count())
                .where(answer_events.c.kind == "answer")
                .group_by(answer_events.c.mode)
            ).all()
            calls = connection.scalar(sa.select(sa.func.count()).select_from(ivr_calls))
    finally:
        store.close()
    assert len(rows) == 5  # one interview a case: a call back resumed it, never began another
    assert {case for case, _, _ in rows} == {f"ivr-sim-{SEED}-{i}" for i in range(5)}
    assert all(status in ("complete", "screened_out") for _, status, _ in rows)
    assert {mode for _, _, mode in rows} == {"ivr"}
    assert [mode for mode, _ in modes] == ["ivr"] and modes[0][1] > 5
    assert calls == report["calls"]


def test_the_text_report_counts_calls_and_the_same_seed_gives_the_same_calls() -> None:
    args = [str(FLAGSHIP), "--mode", "ivr", "--end-to-end", "-n", "3", "--seed", "5"]
    first, second = simulate(*args), simulate(*args)
    assert first.exit_code == 0, first.output
    assert "calling in to the ivr webhooks (seed 5)" in first.stdout
    assert "stored in a temporary SQLite database" in first.stdout
    assert "Interviews finished: 3 of 3" in first.stdout
    assert "Errors: none" in first.stdout
    assert first.stdout.splitlines()[1:] == second.stdout.splitlines()[1:]  # all but the time


def test_the_ons_household_example_is_finished_by_callers_who_key_dates(tmp_path: Path) -> None:
    """A questionnaire written by others (the ONS household example, its modes given ivr):
    its dates of birth are asked as eight digits, and the simulated callers key a date where
    they hear that asked, as a person would; a random number never was one, so every call
    ended with "we have not been able to hear your answers" and nobody finished."""
    source = ROOT / "questionnaires" / "examples" / "ons_household.yaml"
    text = source.read_text(encoding="utf-8")
    assert "  modes: [web, cati]\n" in text
    path = tmp_path / source.name
    path.write_text(text.replace("  modes: [web, cati]\n", "  modes: [web, cati, ivr]\n"), "utf-8")
    result = simulate(str(path), "--mode", "ivr", "--end-to-end", "-n", "6", "--seed", "2",
                      "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["finished"] == 6 and report["error_list"] == []


def test_an_error_in_a_call_is_reported_and_exits_non_zero(tmp_path: Path) -> None:
    # French has no voice configured for the calls: the webhooks answer 500
    path = tmp_path / "french.yaml"
    path.write_text(
        'meta: {id: french, version: "1", title: Essai, languages: [fr], modes: [ivr]}\n'
        "items:\n  - {id: bus, type: yesno, text: Prenez-vous le bus ?}\n",
        encoding="utf-8",
    )
    result = simulate(str(path), "--mode", "ivr", "--end-to-end", "-n", "2", "--seed", "3")
    assert result.exit_code == 6, result.output
    assert "ERRORS (2):" in result.stdout
    assert "respondent 0 (ivr-sim-3-0), call 1: ERROR" in result.stdout
    assert "Interviews finished: 0 of 2" in result.stdout


def test_a_mode_without_an_end_to_end_simulation_is_a_usage_error() -> None:
    result = simulate(str(FLAGSHIP), "--mode", "web", "--end-to-end", "-n", "1")
    assert result.exit_code == 2
    assert "mode 'web' has no end-to-end simulation" in result.output


def test_the_ivr_mode_offers_its_end_to_end_simulation_through_the_plugin_host() -> None:
    spec = PluginFacade(get_plugin_manager()).modes()["ivr"]
    assert spec.simulate_end_to_end is not None


def test_mode_spec_checks_its_end_to_end_simulation() -> None:
    def simulated(run: EndToEndRun) -> EndToEndReport:
        return EndToEndReport(("nothing",), {"respondents": run.n})

    assert ModeSpec("kiosk", "Kiosk", simulate_end_to_end=simulated).simulate_end_to_end
    with pytest.raises(TypeError, match="ModeSpec.simulate_end_to_end must be callable"):
        ModeSpec("kiosk", "Kiosk", simulate_end_to_end="simulate")  # type: ignore[arg-type]
