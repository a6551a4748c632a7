"""The plugin host: start-up, isolation of broken plugins, every hook, ``instrument plugins``.

Plugins here are real modules in ``tests/plugins_for_tests/``. Entry-point
tests install a real (tiny) distribution into a temporary folder on sys.path,
a ``*.dist-info`` with METADATA and entry_points.txt, so the standard
library's ``importlib.metadata`` discovers it exactly as it would a pip
install; none of our code is faked.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import warnings
from pathlib import Path

import click
import jinja2.sandbox
import pluggy
import pytest
from click.testing import CliRunner

import instrument.cli
import instrument.plugins.manager as plugins_module
from instrument.cli import LazyGroup
from instrument.commands.plugins import plugins as plugins_command
from instrument.plugin_types import InterviewEvent, ModeSpec, OutputFormat, QuestionType
from instrument.plugins import (
    DISABLE_ENV,
    STRICT_ENV,
    DuplicateNameError,
    PluginError,
    PluginFacade,
    PluginLoadError,
    PluginWarning,
    QuestionnaireNotLoadedError,
    get_plugin_manager,
)

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # pytest's default import mode adds it; importlib mode does not
    sys.path.insert(0, str(TESTS))

from plugins_for_tests import (
    clash_command_plugin,
    commands_plugin,
    duplicate_mode_plugin,
    events_plugin,
    failing_plugin,
    formats_plugin,
    loader_plugin,
    misspelt_plugin,
    modes_plugin,
    question_types_plugin,
    text_plugin,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own INSTRUMENT_* settings must not change these tests."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.fixture(autouse=True)
def only_test_plugins(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Hide our own built-ins (and their installed entry points) from these host tests,
    so each test sees exactly the plugins it registers. Tests of the real built-ins
    are marked ``with_builtins``."""
    if request.node.get_closest_marker("with_builtins"):
        return
    monkeypatch.setattr(plugins_module, "DEFAULT_PLUGINS", ())
    real_entry_points = plugins_module.metadata.entry_points

    def without_ours(**kwargs: object) -> list[object]:
        found = real_entry_points(**kwargs)  # type: ignore[arg-type]
        return [
            ep for ep in found if not (ep.dist is not None and ep.dist.name == "survey-instrument")
        ]

    monkeypatch.setattr(plugins_module.metadata, "entry_points", without_ours)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh manager with no third-party plugins: each test adds its own."""
    return get_plugin_manager(load_entrypoints=False, strict=True)


def install_distribution(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry_points: dict[str, str],
    *,
    name: str = "instrument-test-plugins",
    version: str = "1.2.3",
) -> None:
    """Make a distribution with ``[instrument]`` entry points discoverable."""
    info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = ["[instrument]"] + [f"{ep} = {target}" for ep, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))


def event(kind: str = "answered", **data: object) -> InterviewEvent:
    return InterviewEvent(
        kind=kind,
        interview_id="i-1",
        at=dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC),
        mode="web",
        data=data,
    )


# -- one test per hook ----------------------------------------------------------


def test_hook_register_modes(pm: pluggy.PluginManager) -> None:
    pm.register(modes_plugin, name="paper")
    modes = PluginFacade(pm).modes()
    assert list(modes) == ["paper"]
    paper = modes["paper"]
    assert isinstance(paper, ModeSpec)
    assert paper.capabilities == frozenset({"self_completion", "offline"})
    assert modes.owner("paper") == "paper"
    assert paper.supports is not None and paper.supports(object()) is True
    with pytest.raises(KeyError, match="no mode named 'web' .*known: paper"):
        modes["web"]


def test_hook_register_output_formats(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    pm.register(formats_plugin, name="formats")
    formats = PluginFacade(pm).output_formats()
    assert sorted(formats) == ["fancy", "jsonl"]
    jsonl = formats["jsonl"]
    assert isinstance(jsonl, OutputFormat) and jsonl.extensions == ("jsonl",)
    rows = [{"id": 1, "q1": 3}, {"id": 2, "q1": -9}]
    assert jsonl.can_write is not None and jsonl.can_write(rows) is None
    assert "list of rows" in jsonl.can_write("not rows")
    dest = tmp_path / "out.jsonl"
    jsonl.write(rows, dest)
    assert [json.loads(line) for line in dest.read_text().splitlines()] == rows
    assert jsonl.missing_requirements() == ()
    assert formats["fancy"].missing_requirements() == (formats_plugin.ABSENT_MODULE,)


def test_hook_register_question_types(pm: pluggy.PluginManager) -> None:
    pm.register(question_types_plugin, name="percent")
    percent = PluginFacade(pm).question_types()["percent"]
    assert isinstance(percent, QuestionType) and percent.value_type == "float"
    assert percent.coerce(" 45 % ") == 45.0
    assert percent.validate is not None
    assert percent.validate(45.0) is None
    assert percent.validate(120.0) == "a percentage is between 0 and 100"
    with pytest.raises(ValueError, match="not a percentage"):
        percent.coerce("lots")


def test_hook_load_questionnaire(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    pm.register(loader_plugin, name="qtxt")
    facade = PluginFacade(pm)
    source = tmp_path / "short.qtxt"
    source.write_text("age: How old are you?\n\nq2: Where do you live?\n", encoding="utf-8")
    loaded = facade.load_questionnaire(str(source))  # str accepted, Path passed on
    assert loaded.source == source
    assert loaded.questions == (("age", "How old are you?"), ("q2", "Where do you live?"))

    other = tmp_path / "survey.xlsx"
    other.write_bytes(b"")
    with pytest.raises(QuestionnaireNotLoadedError, match=r"survey\.xlsx.*tried: qtxt"):
        facade.load_questionnaire(other)


def test_load_questionnaire_first_result_wins_and_third_party_goes_first(
    pm: pluggy.PluginManager, tmp_path: Path
) -> None:
    class CatchAll:
        """Registered first, like a built-in fallback loader."""

        @instrument.hookimpl
        def load_questionnaire(self, path: Path) -> str:
            return "fallback"

    pm.register(CatchAll(), name="builtin_like")
    pm.register(loader_plugin, name="qtxt")  # registered later, so asked first
    source = tmp_path / "a.qtxt"
    source.write_text("a: A?\n", encoding="utf-8")
    facade = PluginFacade(pm)
    assert isinstance(facade.load_questionnaire(source), loader_plugin.TextQuestionnaire)
    assert facade.load_questionnaire(tmp_path / "x.yaml") == "fallback"


def test_hook_prepare_text_environment(pm: pluggy.PluginManager) -> None:
    pm.register(text_plugin, name="money")
    env = jinja2.sandbox.SandboxedEnvironment()
    PluginFacade(pm).prepare_text_environment(env)
    rendered = env.from_string("{{ survey_name }}: you spent {{ spend | pounds }}").render(
        spend=1234.5
    )
    assert rendered == "Household Panel: you spent £1,234.50"


def test_hook_interview_event(pm: pluggy.PluginManager) -> None:
    log = events_plugin.EventLog()
    pm.register(log, name="log")
    sent = event("answered", question="q1")
    PluginFacade(pm).interview_event(sent)
    assert log.events == [sent]
    assert log.events[0].data["question"] == "q1"
    with pytest.raises(TypeError):
        log.events[0].data["question"] = "changed"  # read-only for every subscriber
    with pytest.raises(TypeError, match="InterviewEvent"):
        PluginFacade(pm).interview_event({"kind": "answered"})  # type: ignore[arg-type]


def test_hook_register_commands(pm: pluggy.PluginManager) -> None:
    pm.register(commands_plugin, name="hello")
    group = LazyGroup("instrument", lazy=dict(instrument.cli.BUILTIN_COMMANDS))
    PluginFacade(pm).register_commands(group)
    result = CliRunner().invoke(group, ["hello", "survey"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello, survey\n"
    assert "hello" in group.list_commands(click.Context(group))


# -- start-up: entry points, broken plugins, strict mode, disabling -----------------


def test_entry_point_plugin_is_loaded_with_its_distribution_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(tmp_path, monkeypatch, {"paper": "plugins_for_tests.modes_plugin"})
    pm = get_plugin_manager()
    facade = PluginFacade(pm)
    assert "paper" in facade.modes()
    info = {i.name: i for i in facade.plugin_info()}["paper"]
    assert (info.source, info.distribution, info.version) == (
        "entry point",
        "instrument-test-plugins",
        "1.2.3",
    )
    assert info.hooks == ("register_modes",)


def test_broken_plugin_is_a_warning_naming_it_and_the_host_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(
        tmp_path,
        monkeypatch,
        {"broken": "plugins_for_tests.broken_plugin", "paper": "plugins_for_tests.modes_plugin"},
    )
    with pytest.warns(PluginWarning, match="plugin 'broken' could not be loaded: ImportError"):
        pm = get_plugin_manager()
    facade = PluginFacade(pm)
    assert list(facade.modes()) == ["paper"]
    assert pm.get_plugin("broken") is None
    assert facade.unavailable() == {
        "broken": "ImportError: broken_plugin needs a module that is not installed"
    }


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_strict_mode_raises_on_a_broken_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    install_distribution(tmp_path, monkeypatch, {"broken": "plugins_for_tests.broken_plugin"})
    if how == "environment":
        monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(PluginLoadError, match="plugin 'broken'") as raised:
        get_plugin_manager(strict=True if how == "argument" else None)
    assert isinstance(raised.value.__cause__, ImportError)


def test_misspelt_hook_fails_check_pending(pm: pluggy.PluginManager) -> None:
    pm.register(misspelt_plugin, name="typo")
    with pytest.raises(pluggy.PluginValidationError, match="register_mode"):
        pm.check_pending()


def test_misspelt_hook_at_startup_drops_only_that_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(
        tmp_path,
        monkeypatch,
        {"typo": "plugins_for_tests.misspelt_plugin", "paper": "plugins_for_tests.modes_plugin"},
    )
    with pytest.warns(
        PluginWarning, match=r"'typo'.*register_mode \(did you mean register_modes\?\)"
    ):
        pm = get_plugin_manager()
    assert pm.get_plugin("typo") is None
    assert list(PluginFacade(pm).modes()) == ["paper"]

    with pytest.raises(pluggy.PluginValidationError, match="register_mode"):
        get_plugin_manager(strict=True)


def test_duplicate_names_are_rejected_naming_both_plugins(pm: pluggy.PluginManager) -> None:
    pm.register(modes_plugin, name="paper_one")
    pm.register(duplicate_mode_plugin, name="paper_two")
    with pytest.raises(DuplicateNameError) as raised:
        PluginFacade(pm).modes()
    message = str(raised.value)
    assert "'paper_one'" in message and "'paper_two'" in message and "'paper'" in message


def test_command_names_cannot_be_taken_twice(pm: pluggy.PluginManager) -> None:
    pm.register(clash_command_plugin, name="impostor")
    group = LazyGroup("instrument", lazy=dict(instrument.cli.BUILTIN_COMMANDS))
    with pytest.raises(DuplicateNameError, match="'impostor' adds the command 'plugins'.*built-in"):
        PluginFacade(pm).register_commands(group)
    assert "plugins" not in group.commands  # the lazy built-in is still the one you get
    assert group.get_command(click.Context(group), "plugins") is plugins_command


@pytest.mark.parametrize("how", ["argument", "environment", "distribution"])
def test_disabled_plugins_are_blocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    install_distribution(
        tmp_path,
        monkeypatch,
        {"broken": "plugins_for_tests.broken_plugin", "paper": "plugins_for_tests.modes_plugin"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a blocked plugin is never imported, so no warning
        if how == "argument":
            pm = get_plugin_manager(disabled=["broken", "paper"])
        elif how == "environment":
            monkeypatch.setenv(DISABLE_ENV, " broken , paper,")
            pm = get_plugin_manager()
        else:
            pm = get_plugin_manager(disabled=["instrument-test-plugins"])
    assert pm.get_plugin("paper") is None and pm.get_plugin("broken") is None
    assert list(PluginFacade(pm).modes()) == []
    if how != "distribution":
        assert pm.is_blocked("paper")
        assert PluginFacade(pm).unavailable() == {"broken": "disabled", "paper": "disabled"}
        pm.register(modes_plugin, name="paper")  # a blocked name stays blocked
        assert pm.get_plugin("paper") is None


def test_a_plugin_failing_at_run_time_is_isolated(pm: pluggy.PluginManager) -> None:
    log = events_plugin.EventLog()
    pm.register(log, name="log")
    pm.register(failing_plugin, name="failing")
    pm.register(formats_plugin, name="formats")
    facade = PluginFacade(pm, strict=False)
    with pytest.warns(PluginWarning, match="'failing' failed in interview_event"):
        facade.interview_event(event("breakoff"))
    assert [e.kind for e in log.events] == ["breakoff"]
    with pytest.warns(PluginWarning, match="'failing' failed in register_output_formats"):
        assert sorted(facade.output_formats()) == ["fancy", "jsonl"]
    with pytest.raises(PluginError, match="'failing' failed in interview_event"):
        PluginFacade(pm, strict=True).interview_event(event())


def test_a_registration_hook_returning_the_wrong_type_is_reported(
    pm: pluggy.PluginManager,
) -> None:
    class Sloppy:
        @instrument.hookimpl
        def register_modes(self) -> dict[str, str]:
            return {"name": "web"}

    pm.register(Sloppy(), name="sloppy")
    with pytest.raises(PluginError, match="'sloppy'.*must return a list of ModeSpec"):
        PluginFacade(pm, strict=True).modes()
    with pytest.warns(PluginWarning, match="'sloppy'"):
        assert len(PluginFacade(pm, strict=False).modes()) == 0


def test_builtins_are_registered_under_their_entry_point_name_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "instrument.plugins.manager.DEFAULT_PLUGINS", (("paper", "plugins_for_tests.modes_plugin"),)
    )
    install_distribution(tmp_path, monkeypatch, {"paper": "plugins_for_tests.modes_plugin"})
    pm = get_plugin_manager(strict=True)
    assert pm.get_plugin("paper") is modes_plugin
    assert len(pm.get_plugins()) == 1
    info = PluginFacade(pm).plugin_info()
    assert [(i.name, i.source, i.distribution) for i in info] == [
        ("paper", "built-in", "survey-instrument")
    ]


def test_each_call_builds_an_independent_manager(pm: pluggy.PluginManager) -> None:
    pm.register(modes_plugin, name="paper")
    assert list(PluginFacade(get_plugin_manager(load_entrypoints=False)).modes()) == []


# -- descriptors --------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Web", "2web", "web-mode", "", "wéb"])
def test_descriptor_names_must_be_lower_case_identifiers(bad: str) -> None:
    with pytest.raises(ValueError, match="lower-case identifier"):
        ModeSpec(name=bad, label="x")
    with pytest.raises(ValueError, match="lower-case identifier"):
        OutputFormat(bad, ("csv",), "text/csv", write=lambda d, p: None)
    with pytest.raises(ValueError, match="lower-case identifier"):
        QuestionType(bad, "int", int)


def test_descriptor_fields_are_checked() -> None:
    def write(dataset: object, dest: Path) -> None:
        return None

    with pytest.raises(TypeError, match="not a string"):
        OutputFormat("sav", ("sav",), "application/x-spss-sav", write, requires="pyreadstat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leading dot"):
        OutputFormat("sav", (".sav",), "application/x-spss-sav", write)
    with pytest.raises(ValueError, match="media type"):
        OutputFormat("sav", ("sav",), "spss", write)
    with pytest.raises(TypeError, match="write must be callable"):
        OutputFormat("sav", ("sav",), "application/x-spss-sav", "write")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value_type"):
        QuestionType("rating", "integer", int)
    with pytest.raises(ValueError, match="timezone-aware"):
        InterviewEvent("answered", "i-1", dt.datetime(2026, 1, 1), "web", {})
    mode = ModeSpec("phone", "Telephone", ["voice", "interviewer"], requires=["twilio"])
    assert mode.capabilities == frozenset({"voice", "interviewer"})
    assert mode.requires == ("twilio",)


# -- instrument plugins ---------------------------------------------------------


def full_facade() -> PluginFacade:
    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    for module, name in [
        (modes_plugin, "paper"),
        (formats_plugin, "formats"),
        (question_types_plugin, "percent"),
        (commands_plugin, "hello"),
    ]:
        pm.register(module, name=name)
    return PluginFacade(pm)


def test_plugins_command_text() -> None:
    result = CliRunner().invoke(plugins_command, [], obj=full_facade())
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Plugins (4):" in out
    assert "  formats (no version)  [registered]\n    hooks: register_output_formats" in out
    assert (
        "paper  Paper questionnaire; capabilities: offline, self_completion  (plugin paper)" in out
    )
    assert "jsonl  .jsonl application/jsonl  (plugin formats)\n" in out
    assert (
        f"fancy  .fancy application/x-fancy  (plugin formats)  UNAVAILABLE, missing "
        f"{formats_plugin.ABSENT_MODULE}: pip install 'survey-instrument[fancy]'"
    ) in out
    assert "percent  values: float  (plugin percent)" in out


def test_plugins_command_json_through_the_cli_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(
        tmp_path,
        monkeypatch,
        {"broken": "plugins_for_tests.broken_plugin", "paper": "plugins_for_tests.modes_plugin"},
    )
    # No facade passed: the command builds its own manager from entry points.
    with pytest.warns(PluginWarning, match="'broken'"):
        result = CliRunner().invoke(instrument.cli.cli, ["plugins", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["plugins"] == [
        {
            "name": "paper",
            "source": "entry point",
            "distribution": "instrument-test-plugins",
            "version": "1.2.3",
            "hooks": ["register_modes"],
        }
    ]
    assert report["not_loaded"] == {
        "broken": "ImportError: broken_plugin needs a module that is not installed"
    }
    assert [m["name"] for m in report["modes"]] == ["paper"]
    assert report["modes"][0]["available"] is True
    assert report["output_formats"] == [] and report["errors"] == []


def test_plugins_command_reports_duplicates_and_fails() -> None:
    facade = full_facade()
    facade.pm.register(duplicate_mode_plugin, name="paper_two")
    result = CliRunner().invoke(instrument.cli.cli, ["plugins", "--format", "json"], obj=facade)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert "plugins 'paper_two' and 'paper' both register the mode 'paper'" in report["errors"][0]
    assert report["modes"] == [] and len(report["output_formats"]) == 2


@pytest.mark.with_builtins
def test_the_real_builtins_register_through_the_host() -> None:
    """console, web and outputs are plugins like any other, loaded by name."""
    facade = PluginFacade(get_plugin_manager(strict=True))
    names = {info.name for info in facade.plugin_info()}
    assert {"console", "web", "outputs"} <= names
    assert {"console", "web"} <= set(facade.modes())


@pytest.mark.with_builtins
def test_instrument_plugins_lists_the_contact_channels() -> None:
    """The built-in channels (and a third party's, by the same hook) appear in `instrument plugins`."""
    facade = PluginFacade(get_plugin_manager(strict=True))
    text = CliRunner().invoke(plugins_command, [], obj=facade)
    assert text.exit_code == 0, text.output
    assert "Contact channels (3):" in text.output
    assert (
        "  email  Email over SMTP; sends to: email; templates: invitation, reminder  (plugin channels)"
        in text.output
    )
    as_json = CliRunner().invoke(plugins_command, ["--format", "json"], obj=facade)
    rows = {row["name"]: row for row in json.loads(as_json.output)["contact_channels"]}
    assert set(rows) == {"email", "sms", "letter"}
    assert (rows["sms"]["needs"], rows["sms"]["plugin"]) == ("phone", "channels")
    assert rows["letter"]["templates"] == []
