"""The random-respondent simulator and `instrument simulate`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.commands.simulate import (
    DATABASE_ENV,
    EXIT_BAD_QUESTIONNAIRE,
    EXIT_ENGINE_ERROR,
    EXIT_OK,
    EXIT_UNREACHED,
    exit_code,
)
from instrument.engine import Engine
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.simulate import (
    Behaviour,
    SimulatedInterview,
    respondent_seed,
    simulate,
    simulate_respondent,
)
from instrument.simulate.storing import events_for_store
from instrument.store import ENV_VAR, open_store

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
NOW = dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.UTC)
QUIET = Behaviour(back=0.0, jump=0.0, breakoff=0.0)

# `impossible` can never be asked (the static check only warns about the contradiction);
# `northern` depends on a preload that a test leaves unset.
UNREACHABLE = """\
meta:
  id: unreachable
  version: "1"
  title: A questionnaire with a question nobody can reach
  languages: [en]
  modes: [web, cati, ivr]
preload:
  - {id: region, type: single, choices: regions, label: Region}
choices:
  regions:
    - {code: 1, label: North}
    - {code: 2, label: South}
items:
  - id: a
    type: single
    choices: regions
    text: Pick one
  - id: follow_up
    type: integer
    min: 0
    max: 20
    when: a == 1
    text: How many?
    checks:
      - warn_if: follow_up > 15
        message: That is a lot. Sure?
  - id: impossible
    type: text
    when: a == 1 and a == 2
    text: Nobody sees this
  - id: northern
    type: yesno
    when: region == 1
    text: Do you live in the north?
"""

WEB_ONLY = UNREACHABLE.replace("modes: [web, cati, ivr]", "modes: [web]").replace(
    "    when: a == 1 and a == 2\n", ""
)


def _questionnaire(text: str, name: str = "q.yaml") -> Any:
    result = load_questionnaire_text(text, name)
    assert result.questionnaire is not None, [str(d) for d in result.diagnostics]
    return result.questionnaire


@pytest.fixture(scope="module")
def mini() -> Any:
    return require_questionnaire(MINI)


def _comparable(report: Any) -> dict[str, Any]:
    data = report.to_json()
    for timing in ("seconds", "engine_seconds", "respondents_per_second"):
        data.pop(timing)
    return data


def test_mini_reaches_every_question_without_engine_errors(mini: Any) -> None:
    report = simulate(mini, 400, seed=3, now=NOW)
    assert report.failures == []
    assert report.never_reached == []
    assert report.ok and exit_code(report) == EXIT_OK
    assert sum(report.outcomes.values()) == 400
    assert set(report.outcomes) <= {"complete", "screened_out", "partial"}
    assert report.outcomes.get("complete", 0) > 50 and report.outcomes.get("screened_out", 0) > 50
    assert len(report.pages) == 400
    # every question of the file is listed once, grids and loop questions included
    ids = [s.id for s in report.questions]
    assert len(ids) == len(set(ids))
    assert {"grid", "kid_age", "trust_source", "bye", "done"} <= set(ids)
    by_id = {s.id: s.reached for s in report.questions}
    assert by_id["parent"] <= 400 and by_id["parent"] >= 390  # a few break off on the first page
    assert by_id["bye"] == report.outcomes["screened_out"]


def test_reached_counts_follow_the_routing_exactly(mini: Any) -> None:
    parents = 0

    def count(interview: SimulatedInterview) -> None:
        nonlocal parents
        parents += interview.state.answers.get("parent") == 1

    report = simulate(mini, 300, seed=11, now=NOW, behaviour=QUIET, on_interview=count)
    reached = {s.id: s.reached for s in report.questions}
    # n_kids is behind `parent == 1` (the end item screens the others out)
    assert reached["n_kids"] == parents
    assert reached["bye"] == 300 - parents == report.outcomes["screened_out"]
    assert 0.3 < parents / 300 < 0.7


def test_reached_counts_roughly_follow_the_routing_with_back_jump_and_breakoff() -> None:
    q = _questionnaire(UNREACHABLE)
    chose_one = 0

    def count(interview: SimulatedInterview) -> None:
        nonlocal chose_one
        chose_one += Engine(q).values(interview.state).get("a") == 1

    report = simulate(
        q,
        1000,
        seed=5,
        now=NOW,
        on_interview=count,
        behaviour=Behaviour(back=0.1, jump=0.05, breakoff=0.02),
    )
    reached = {s.id: s.reached for s in report.questions}
    assert (
        abs(reached["follow_up"] - chose_one) <= 60
    )  # changed minds and break-offs blur it a little
    assert report.backs > 0 and report.breakoffs > 0


def test_unreachable_question_is_reported(mini: Any) -> None:
    loaded = load_questionnaire_text(UNREACHABLE, "u.yaml")
    assert loaded.questionnaire is not None  # the contradiction is only a warning for `check`
    report = simulate(loaded.questionnaire, 300, seed=1, now=NOW)
    assert report.failures == []
    assert report.never_reached == ["impossible"]
    assert exit_code(report) == EXIT_UNREACHED
    # with no preload at all, the question that depends on it is unreachable too
    bare = simulate(loaded.questionnaire, 100, seed=1, now=NOW, case={})
    assert bare.never_reached == ["impossible", "northern"]
    northern = simulate(loaded.questionnaire, 100, seed=1, now=NOW, case={"region": 1})
    assert northern.never_reached == ["impossible"]
    assert {s.id: s.reached for s in northern.questions}["northern"] >= 95


def test_same_seed_same_report_other_seed_other_report(mini: Any) -> None:
    first = simulate(mini, 150, seed=42, now=NOW)
    second = simulate(mini, 150, seed=42, now=NOW)
    other = simulate(mini, 150, seed=43, now=NOW)
    assert _comparable(first) == _comparable(second)
    assert _comparable(first) != _comparable(other)
    assert respondent_seed(42, 0) != respondent_seed(42, 1) != respondent_seed(43, 1)


def test_same_seed_same_interviews(mini: Any) -> None:
    states: list[list[dict[str, Any]]] = [[], []]
    for run in (0, 1):
        simulate(
            mini,
            40,
            seed=9,
            now=NOW,
            on_interview=lambda i, run=run: states[run].append(i.state.to_json()),
        )
    assert states[0] == states[1]


@pytest.mark.parametrize("mode", ["web", "cati", "ivr"])
def test_invalid_inputs_are_tried_and_rejected(mini: Any, mode: str) -> None:
    report = simulate(mini, 300, seed=7, mode=mode, now=NOW, behaviour=Behaviour(invalid=0.3))
    assert report.failures == []
    tried = report.invalid_tried
    assert sum(tried.values()) > 100
    assert report.invalid_rejected == tried
    for kind in ("not_an_option", "out_of_range", "malformed", "too_long", "date_out_of_range"):
        assert tried.get(kind, 0) > 0, kind


def test_dont_know_refused_skips_and_checks_are_exercised(mini: Any) -> None:
    web = simulate(mini, 400, seed=2, now=NOW)
    assert web.dk > 0 and web.refused > 0
    assert web.rejections.get("skip_prompt", 0) > 0  # skips on the web are prompted once
    checks = {(c.question, c.index, c.severity): c for c in web.checks}
    assert set(checks) == {("n_kids", 0, "warning"), ("born", 0, "error")}
    assert checks[("n_kids", 0, "warning")].fired > 0
    assert checks[("born", 0, "error")].fired > 0
    assert web.warnings_confirmed > 0
    cati = simulate(mini, 200, seed=2, mode="cati", now=NOW)
    assert cati.rejections.get("skip_prompt", 0) == 0  # an interviewer must key something
    assert cati.rejections.get("unanswered", 0) > 0


def test_breakoffs_end_as_partial_and_can_be_switched_off(mini: Any) -> None:
    report = simulate(mini, 300, seed=4, now=NOW, behaviour=Behaviour(breakoff=0.05))
    assert report.outcomes.get("partial", 0) == report.breakoffs > 0
    none = simulate(mini, 300, seed=4, now=NOW, behaviour=Behaviour(breakoff=0.0))
    assert "partial" not in none.outcomes


class _LenientEngine(Engine):
    """An engine with a validation bug: it drops inputs it should refuse and carries on."""

    def submit(self, state: Any, answers: Any, **kwargs: Any) -> Any:
        result = super().submit(state, answers, **kwargs)
        if result.errors and all(p.kind == "error" and "#" not in p.id for p in result.errors):
            bad = {p.key for p in result.errors}
            kept = {k: v for k, v in answers.items() if k not in bad}
            return super().submit(state, kept, **{**kwargs, "confirm": True})
        return result


class _CrashingEngine(Engine):
    """An engine that fails on one page."""

    def current_step(self, state: Any, **kwargs: Any) -> Any:
        step = super().current_step(state, **kwargs)
        if step.page_id == "height":
            raise KeyError("boom on height")
        return step


def test_an_engine_that_accepts_invalid_input_is_an_engine_error(mini: Any) -> None:
    report = simulate(
        mini, 100, seed=1, now=NOW, engine=_LenientEngine(mini), behaviour=Behaviour(invalid=0.5)
    )
    assert report.failures
    assert exit_code(report) == EXIT_ENGINE_ERROR
    assert all("invalid input" in f.message for f in report.failures)
    # the same respondents pass against the real engine
    assert simulate(mini, 100, seed=1, now=NOW, behaviour=Behaviour(invalid=0.5)).failures == []


def test_engine_exceptions_are_reported_with_a_replayable_seed(mini: Any) -> None:
    engine = _CrashingEngine(mini)
    report = simulate(mini, 60, seed=8, now=NOW, engine=engine, behaviour=QUIET)
    assert report.failures and exit_code(report) == EXIT_ENGINE_ERROR
    failure = report.failures[0]
    assert failure.message == "KeyError: 'boom on height'"
    assert "current_step" in failure.traceback
    assert failure.seed == respondent_seed(8, failure.respondent)
    assert "simulate_respondent" in failure.reproduce()
    interview, again = simulate_respondent(
        engine,
        failure.seed,
        failure.mode,
        now=failure.started_at,
        language=failure.language,
        behaviour=QUIET,
    )
    assert interview is None and [f.message for f in again] == [failure.message]
    # failed interviews are counted nowhere else
    assert sum(report.outcomes.values()) == 60 - len(report.failures)


def test_simulate_refuses_a_mode_the_questionnaire_does_not_run_in() -> None:
    with pytest.raises(ValueError, match="does not run in mode 'cati'"):
        simulate(_questionnaire(WEB_ONLY), 1, seed=1, mode="cati")


def test_events_for_store_keep_answers_actor_and_mode(mini: Any) -> None:
    captured: list[SimulatedInterview] = []
    simulate(mini, 5, seed=1, mode="cati", now=NOW, behaviour=QUIET, on_interview=captured.append)
    interview = captured[0]
    rows = events_for_store(interview.events)
    assert len(rows) == len(interview.events)
    answers = [r for r in rows if r.kind == "answer"]
    assert answers and all(r.actor.startswith("interviewer:") and r.mode == "cati" for r in answers)
    assert {r.variable for r in answers} >= {"parent"}
    json.dumps([r.value for r in rows])  # every value is JSON
    assert rows[-1].kind == "finish"


# --------------------------------------------------------------------------------------------------
# The command


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    runner = CliRunner()
    return runner.invoke(cli, ["simulate", *args], env=env or {}, catch_exceptions=False)


def test_cli_reports_and_exits_zero_on_mini() -> None:
    result = _invoke([str(MINI), "-n", "200", "--seed", "3"])
    assert result.exit_code == EXIT_OK, result.output
    assert "Simulated 200 respondents of mini" in result.output
    assert "Never reached: none" in result.output
    assert "Engine errors: none" in result.output
    assert "n_kids#0" in result.output


def test_cli_exit_code_for_an_unreachable_question(tmp_path: Path) -> None:
    path = tmp_path / "unreachable.yaml"
    path.write_text(UNREACHABLE, encoding="utf-8")
    result = _invoke([str(path), "-n", "100"])
    assert result.exit_code == EXIT_UNREACHED
    assert "Never reached (1): impossible" in result.output
    data = json.loads(_invoke([str(path), "-n", "100", "--format", "json"]).output)
    assert data["never_reached"] == ["impossible"] and data["ok"] is False
    assert {q["id"]: q["reached"] for q in data["questions"]}["impossible"] == 0


def test_cli_json_is_deterministic_and_complete() -> None:
    first = json.loads(
        _invoke([str(MINI), "-n", "80", "--seed", "5", "--format", "json", "--mode", "ivr"]).output
    )
    second = json.loads(
        _invoke([str(MINI), "-n", "80", "--seed", "5", "--format", "json", "--mode", "ivr"]).output
    )
    for data in (first, second):
        for timing in ("seconds", "engine_seconds", "respondents_per_second"):
            data.pop(timing)
    assert first == second
    assert first["mode"] == "ivr" and first["n"] == 80 and first["engine_errors"] == []
    assert sum(first["outcomes"].values()) == 80


def test_cli_no_partial_and_usage_errors(tmp_path: Path) -> None:
    data = json.loads(_invoke([str(MINI), "-n", "150", "--no-partial", "--format", "json"]).output)
    assert "partial" not in data["outcomes"]
    web_only = tmp_path / "web_only.yaml"
    web_only.write_text(WEB_ONLY, encoding="utf-8")
    assert _invoke([str(web_only), "--mode", "cati"]).exit_code == 2
    assert _invoke([str(MINI), "-n", "0"]).exit_code == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("meta: {id: x}\nitems: [{id: q, type: nonsense}]\n", encoding="utf-8")
    result = _invoke([str(broken)])
    assert result.exit_code == EXIT_BAD_QUESTIONNAIRE
    assert "Traceback" not in result.output


def test_cli_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    for code in (
        "0  every question",
        "1  engine error",
        "3  some questions were never reached",
        "5  storing",
    ):
        assert code in result.output


def test_cli_stores_test_interviews_in_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    result = _invoke(
        [str(MINI), "-n", "25", "--seed", "2", "--database", url, "--now", "2026-03-01T10:00"]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "Stored 25 test interviews" in result.output
    with open_store(url) as store:
        assert list(store.iter_interviews("mini")) == []  # test data stays out of real exports
        records = list(store.iter_interviews("mini", include_test=True))
        assert len(records) == 25
        assert all(r.is_test for r in records)
        assert {r.status for r in records} <= {"complete", "screened_out", "abandoned"}
        assert all(r.revision == 1 and r.finished_at is not None for r in records)
        assert min(r.started_at for r in records) == dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
        first = records[0]
        assert first.state["questionnaire_id"] == "mini" and first.state["outcome"] is not None
        events = store.events_for(first.id)
        assert events and [e.seq for e in events] == list(range(1, len(events) + 1))
        assert any(e.kind == "answer" and e.variable == "parent" for e in events)
        assert events[-1].kind == "finish"
        versions = store.list_questionnaire_versions("mini")
        assert len(versions) == 1 and versions[0].source_text == MINI.read_text(encoding="utf-8")


def test_cli_uses_the_database_environment_variable(tmp_path: Path) -> None:
    assert DATABASE_ENV == ENV_VAR
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = _invoke([str(MINI), "-n", "10", "--format", "json"], env={DATABASE_ENV: url})
    assert result.exit_code == EXIT_OK
    assert json.loads(result.output)["stored"]["interviews"] == 10
    with open_store(url) as store:
        assert len(list(store.iter_interviews("mini", include_test=True))) == 10
