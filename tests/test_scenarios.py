"""``instrument test`` and the scenario runner behind it.

The command is driven with click's CliRunner, as a researcher runs it, on
``tests/data/mini.yaml`` and ``tests/data/engine_scenarios.yaml`` (every
scenario feature, all passing), and on copies with one thing made wrong, which
must fail with a message that says what went wrong.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.scenarios import run_scenarios, scenario_value
from instrument.values import DK, REFUSED

DATA = Path(__file__).parent / "data"
MINI = DATA / "mini.yaml"
FEATURES = DATA / "engine_scenarios.yaml"


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["test", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def changed(tmp_path: Path, source: Path, old: str, new: str, count: int = 1) -> Path:
    """A copy of ``source`` with ``old`` replaced by ``new`` (which must occur ``count`` times)."""
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times"
    target = tmp_path / source.name
    target.write_text(text.replace(old, new), encoding="utf-8")
    return target


def scenario_results(text: str) -> dict[str, object]:
    loaded = load_questionnaire_text(text, "inline.yaml")
    assert loaded.questionnaire is not None, [str(d) for d in loaded.diagnostics]
    return {r.name: r for r in run_scenarios(loaded.questionnaire)}


# ------------------------------------------------------------------ the command


def test_mini_scenarios_pass() -> None:
    code, output = run(MINI)
    assert code == 0, output
    assert output.count(": PASS ") == 3 and "FAIL" not in output
    assert "PASS two children, cati (complete, " in output
    assert "PASS non-parent screened out (screened_out, 2 questions)" in output
    assert output.rstrip().endswith("3 passed, 0 failed")


def test_feature_scenarios_pass_and_verbose_lists_questions() -> None:
    code, output = run("-v", FEATURES)
    assert code == 0, output
    assert output.rstrip().endswith("6 passed, 0 failed")
    assert "    asked: n age age age used liked liked note" in output


def test_wrong_value_expectation_fails_clearly(tmp_path: Path) -> None:
    path = changed(tmp_path, MINI, "values: {youngest: 3,", "values: {youngest: 4,")
    code, output = run(path)
    assert code == 1
    assert "FAIL two children, cati" in output
    assert "    expected youngest = 4, got 3" in output
    assert output.rstrip().endswith("2 passed, 1 failed")
    # the failing scenario is located in the file
    line = path.read_text(encoding="utf-8").splitlines().index("  - name: two children, cati") + 1
    assert f"{path}:{line}:" in output


def test_one_failing_file_among_several(tmp_path: Path) -> None:
    path = changed(tmp_path, MINI, "outcome: screened_out, asked", "outcome: complete, asked")
    code, output = run(FEATURES, path)
    assert code == 1
    assert "expected outcome complete, got screened_out" in output
    assert output.rstrip().endswith("8 passed, 1 failed")


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "asked: [parent, n_kids, kid_age, kid_age, heard,",
            "asked: [parent, heard, n_kids, kid_age, kid_age,",
            "expected 'n_kids' to be asked in that order",
        ),
        (
            "not_asked: [n_kids]",
            "not_asked: [parent]",
            "expected 'parent' not to be asked, but it was",
        ),
        ("      b2: 3\n", "", "page 'b2' asks 'b2', but the scenario gives no answer"),
        (
            "      born: 1980-05-01\n",
            "      born: 2020-05-01\n",
            "the answer to 'born' was rejected: You must be 16 or over.",
        ),
        (  # never reached: where the run stopped and why (it said "but it was accepted")
            "expect: {errors: [born]}",
            "expect: {errors: [height]}",
            "expected the answer to 'height' to be rejected, but 'height' was never asked: the run "
            "stopped at page 'born': the answer to 'born' was rejected: You must be 16 or over.",
        ),
        (  # asked and accepted
            "expect: {errors: [born]}",
            "expect: {errors: [born, parent]}",
            "expected the answer to 'parent' to be rejected, but it was accepted",
        ),
        (
            "asked: [parent, bye]",
            "asked: [parent, n_kids]",
            "expected 'n_kids' to be asked, but the interview ended (screened_out) at page 'bye'",
        ),
        (
            "trust_source_96: dk,",
            "trust_source_96: refused,",
            "expected trust_source_96 = <refused>, got <dk>",
        ),
        ("    preload: {region: 1}\n", "    preload: {region: 1}\n    language: cy\n", None),
    ],
)
def test_each_kind_of_failure_is_reported(
    tmp_path: Path, old: str, new: str, message: str | None
) -> None:
    code, output = run(changed(tmp_path, MINI, old, new))
    if message is None:  # a harmless change: still passes
        assert code == 0, output
        return
    assert code == 1, output
    assert message in output


def test_outcome_is_not_judged_after_an_expected_error(tmp_path: Path) -> None:
    path = changed(
        tmp_path, MINI, "expect: {errors: [born]}", "expect: {errors: [born], outcome: complete}"
    )
    code, output = run(path)
    # stopped on an expected error: the outcome is not judged, the scenario passes
    assert code == 0, output


def test_questionnaire_with_errors_cannot_run(tmp_path: Path) -> None:
    path = changed(tmp_path, MINI, "expr: min(kid_age)", "expr: min(no_such_variable)")
    code, output = run(path)
    assert code == 1
    assert "cannot run tests: the questionnaire has errors" in output
    assert "no_such_variable" in output
    assert output.rstrip().endswith("0 passed, 1 failed")


def test_questionnaire_without_scenarios(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8")
    path = tmp_path / "none.yaml"
    path.write_text(text[: text.index("\ntests:")] + "\n", encoding="utf-8")
    code, output = run(path)
    assert code == 0
    assert "no test scenarios" in output and "0 passed, 0 failed" in output


def test_bad_preload_cannot_start(tmp_path: Path) -> None:
    code, output = run(changed(tmp_path, MINI, "preload: {region: 1}", "preload: {region: 7}"))
    assert code == 1
    assert "cannot start: case data 'region' = 7 is not a valid single" in output


# ---------------------------------------------------------------- the runner


@pytest.fixture(scope="module")
def feature_results() -> dict[str, object]:
    return {r.name: r for r in run_scenarios(require_questionnaire(FEATURES))}


def test_keywords_lists_and_mappings(feature_results: dict[str, object]) -> None:
    result = feature_results["keywords, lists and mappings"]
    assert result.passed and result.outcome == "complete"  # type: ignore[attr-defined]
    state = result.state  # type: ignore[attr-defined]
    assert state.mode == "cati" and state.seed == 4 and state.case == {"expected_n": 3}
    assert (
        state.answers["age_1"] == 40
        and state.answers["age_2"] is DK
        and state.answers["age_3"] == 7
    )
    assert state.answers["liked_1"] == 1 and state.answers["liked_3"] is REFUSED
    assert state.answers["used"] == (1, 3) and state.answers["note"] is DK


def test_string_mapping_keys_and_language(feature_results: dict[str, object]) -> None:
    result = feature_results["mapping keys may be strings, in Welsh on the phone"]
    assert result.passed  # type: ignore[attr-defined]
    state = result.state  # type: ignore[attr-defined]
    assert (
        state.language == "cy"
        and state.answers["liked_2"] == 2
        and state.answers["note"] is REFUSED
    )


def test_expected_errors_and_unconfirmed_warnings(feature_results: dict[str, object]) -> None:
    rejected = feature_results["a rejected answer is expected"]
    warned = feature_results["an unconfirmed warning stops the interview"]
    for result in (rejected, warned):
        assert result.passed and result.outcome is None and result.asked == ["n"]  # type: ignore[attr-defined]
    assert "n" not in warned.state.answers  # type: ignore[attr-defined]


def test_zero_iterations_and_web_skips(feature_results: dict[str, object]) -> None:
    result = feature_results["zero iterations need no loop answers, and web skips are accepted"]
    assert result.passed and result.asked == ["n", "used", "note"]  # type: ignore[attr-defined]
    assert result.state.mode == "web" and result.state.seed == 1  # type: ignore[attr-defined]


def test_confirmed_warning_passes_when_confirming() -> None:
    text = FEATURES.read_text(encoding="utf-8").replace(
        "confirm_warnings: false", "confirm_warnings: true"
    )
    results = scenario_results(text)
    result = results["an unconfirmed warning stops the interview"]
    assert not result.passed  # type: ignore[attr-defined]
    failures = result.failures  # type: ignore[attr-defined]
    assert "expected the answer to 'n' to be rejected, but it was accepted" in failures
    assert any("but the scenario gives no answer" in f for f in failures)


def test_scenario_value_keywords() -> None:
    assert scenario_value("dk") is DK and scenario_value("refused") is REFUSED
    assert scenario_value([1, "dk", ["refused"]]) == [1, DK, [REFUSED]]
    assert scenario_value("DK") == "DK" and scenario_value(dt.date(2020, 1, 1)) == dt.date(
        2020, 1, 1
    )
