"""The plugin hooks around loading: importers for other formats, and fill filters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
from click.testing import CliRunner

from instrument import hookimpl
from instrument.cli import cli
from instrument.engine import Engine
from instrument.loader import load_questionnaire_text
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.questionnaires import open_questionnaire

YAML = """\
meta: {id: t, version: "1", title: T, languages: [en]}
items:
  - {id: name_len, type: integer, text: "How many letters?"}
  - {id: shout, type: info, text: "You said {{ name_len | spelled }}"}
"""


class SpelledFilter:
    """A plugin adding a fill filter, as a research organisation might."""

    @hookimpl
    def prepare_text_environment(self, env: jinja2.Environment) -> None:
        env.filters["spelled"] = lambda n: {1: "one", 2: "two", 3: "three"}.get(n, str(n))


class TxtImporter:
    """A plugin reading a toy one-question-per-line format."""

    @hookimpl
    def load_questionnaire(self, path: Path):
        if path.suffix != ".txt":
            return None
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        body = "\n".join(
            f"  - {{id: q{i}, type: yesno, text: {text!r}}}" for i, text in enumerate(lines, 1)
        )
        return load_questionnaire_text(
            f"meta: {{id: txt, version: '1', title: T, languages: [en]}}\nitems:\n{body}\n"
        ).questionnaire


def facade_with(*plugins: object) -> PluginFacade:
    pm = get_plugin_manager(load_entrypoints=False)
    for plugin in plugins:
        pm.register(plugin)
    return PluginFacade(pm)


def test_hook_prepare_text_environment_filters_reach_fills(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(YAML)
    without = open_questionnaire(path, facade_with())
    assert not without.ok
    assert any("spelled" in d.message for d in without.diagnostics), without.diagnostics
    result = open_questionnaire(path, facade_with(SpelledFilter()))
    assert result.ok, result.diagnostics
    engine = Engine(result.questionnaire)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    state = engine.start(now=now, seed=1)
    assert engine.submit(state, {"name_len": "3"}, now=now).accepted
    assert engine.current_step(state).questions[0].text == "You said three"


def test_hook_load_questionnaire_reads_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("Do you like tea?\nDo you like coffee?\n")
    result = open_questionnaire(path, facade_with(TxtImporter()))
    assert result.ok
    assert list(result.questionnaire.questions) == ["q1", "q2"]
    nobody = open_questionnaire(path, facade_with())
    assert not nobody.ok and "no plugin can read" in nobody.diagnostics[0].message


def test_check_command_uses_plugin_importers(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("Do you like tea?\n")
    result = CliRunner().invoke(cli, ["check", str(path)], obj=facade_with(TxtImporter()))
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["check", str(path)], obj=facade_with())
    assert result.exit_code == 1
    assert f"{path}:1:1: error: no plugin can read" in result.output


class PercentType:
    """A plugin answer type: a percentage typed as '45%' or '45'."""

    @hookimpl
    def register_question_types(self):
        from instrument.plugin_types import QuestionType

        def coerce(raw):
            text = str(raw).strip().rstrip("%").strip()
            try:
                return float(text)
            except ValueError:
                raise ValueError("Enter a percentage, like 45%") from None

        def validate(value):
            return None if 0 <= value <= 100 else "A percentage is between 0 and 100"

        return [QuestionType("percent", "float", coerce, validate)]


PERCENT_YAML = """\
meta: {id: p, version: "1", title: T, languages: [en]}
items:
  - {id: share, type: percent, text: "What share of your time?"}
  - {id: big, type: yesno, text: "Is that a lot?", when: share > 50}
"""


def test_hook_register_question_types_defines_an_answer_type(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PERCENT_YAML)
    without = open_questionnaire(path, facade_with())
    assert not without.ok and "unknown question type 'percent'" in without.diagnostics[0].message
    loaded = open_questionnaire(path, facade_with(PercentType()))
    assert loaded.ok, loaded.diagnostics
    engine = Engine(loaded.questionnaire)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    state = engine.start(now=now, seed=1)
    bad = engine.submit(state, {"share": "lots"}, now=now)
    assert not bad.accepted and bad.errors[0].message == "Enter a percentage, like 45%"
    out_of_range = engine.submit(state, {"share": "140%"}, now=now)
    assert out_of_range.errors[0].message == "A percentage is between 0 and 100"
    assert engine.submit(state, {"share": "75%"}, now=now).accepted
    assert (
        engine.current_step(state).questions[0].id == "big"
    )  # share > 50 routes on the typed value
    assert engine.values(state)["share"] == 75.0


MISSING_FILL_YAML = """\
meta: {id: m, version: "1", title: T, languages: [en]}
items:
  - {id: n, type: integer, text: "How many?"}
  - id: after
    type: info
    text: "You said{% if n > 0 %} {{ n }}, plus one is {{ n + 1 }}{% endif %}{% if n == 0 %} none{% endif %}."
"""


def test_fills_treat_missing_answers_like_expressions_do() -> None:
    """A skipped or don't-know answer in a fill: comparisons false, prints nothing, no crash."""
    from instrument.values import DK

    q = load_questionnaire_text(MISSING_FILL_YAML).questionnaire
    engine = Engine(q)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for answer, shown in [
        ("2", "You said 2, plus one is 3."),
        ("0", "You said none."),
        (DK, "You said."),
    ]:
        state = engine.start(now=now, seed=1, mode="ivr")
        assert engine.submit(state, {"n": answer}, now=now).accepted
        assert engine.current_step(state, html=False).questions[0].text == shown


class BrokenImporter:
    """An importer whose output breaks what the engine and the exports rely on."""

    def __init__(self, make) -> None:
        self.make = make

    @hookimpl
    def load_questionnaire(self, path: Path, options):
        if path.suffix != ".broken":
            return None
        good = load_questionnaire_text(
            "meta: {id: b, version: '1', title: T, languages: [en]}\n"
            "items:\n  - {id: q1, type: yesno, text: Tea?}\n",
            **options.as_kwargs(),
        ).questionnaire
        return self.make(good)


def test_the_host_checks_what_any_importer_returns(tmp_path: Path) -> None:
    import dataclasses

    path = tmp_path / "q.broken"
    path.write_text("anything")
    cases = {
        "not an instrument.model.Questionnaire": lambda q: {"id": "b"},
        "unknown mode 'kiosk'": lambda q: dataclasses.replace(q, modes=("web", "kiosk")),
        "is not a valid SPSS and Stata name": lambda q: dataclasses.replace(
            q, variables={**q.variables, "1st": q.variables["q1"]}
        ),
        "does not have the policy this installation gives it": lambda q: dataclasses.replace(
            q, mode_policies={**q.mode_policies, "web": q.mode_policies["cati"]}
        ),
    }
    for message, make in cases.items():
        result = open_questionnaire(path, facade_with(BrokenImporter(make)))
        assert not result.ok, message
        # where the importer recorded a position, the report points there; else to the file
        assert any(message in d.message for d in result.diagnostics), (message, result.diagnostics)
    # a sound import passes, and the YAML reader's own questionnaires pass these checks untouched
    assert open_questionnaire(path, facade_with(BrokenImporter(lambda q: q))).ok
