"""A mode a third party registers runs an interview end to end, as the built-in modes do.

The kiosk plugin (tests/plugins_for_tests/kiosk_mode_plugin.py) is installed as
a distribution with an entry point, as a real plugin would be. A questionnaire
names it in ``meta.modes``; the app mounts its blueprint, which drives the
interview service over JSON; the dataset codes the interview with the kiosk's
own dataset code and label. Nothing in the core tests the mode's name.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_plugins import install_distribution
from test_web_support import FakeClock, close_app, make_app

from instrument.cli import cli
from instrument.dataset import build_dataset
from instrument.plugins import PluginError, PluginFacade, get_plugin_manager
from instrument.questionnaires import require
from instrument.server.app import get_host

ROOT = Path(__file__).resolve().parent.parent
MINI = (ROOT / "tests" / "data" / "mini.yaml").read_text(encoding="utf-8")

ANSWERS = {
    "parent": "1", "n_kids": "1", "kid_age_1": "6", "heard": ["1"], "comment": "fine",
    "trust_source_1": "2", "b1": "1", "b2": "2", "g_a": "1", "g_b": "2", "g_c": "3",
    "born": {"day": "1", "month": "5", "year": "1980"}, "height": "1.7",
}  # fmt: skip


@pytest.fixture
def kiosk_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    install_distribution(tmp_path, monkeypatch, {"kiosk": "plugins_for_tests.kiosk_mode_plugin"})
    questionnaire = tmp_path / "kiosk.yaml"
    questionnaire.write_text(
        MINI.replace("modes: [web, cati, ivr]", "modes: [kiosk, web, cati]"), encoding="utf-8"
    )
    return questionnaire


def test_a_questionnaire_may_name_a_plugin_mode_only_when_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    questionnaire = tmp_path / "kiosk.yaml"
    questionnaire.write_text(
        MINI.replace("modes: [web, cati, ivr]", "modes: [kiosk, web, cati]"), encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["check", str(questionnaire)], obj=PluginFacade(get_plugin_manager())
    )
    assert result.exit_code != 0 and "unknown mode 'kiosk'" in result.output
    install_distribution(tmp_path, monkeypatch, {"kiosk": "plugins_for_tests.kiosk_mode_plugin"})
    facade = PluginFacade(get_plugin_manager())
    assert facade.mode_policies()["kiosk"].dataset_code == 7
    assert require(questionnaire, facade).modes == ("kiosk", "web", "cati")


def test_an_interview_runs_in_the_plugin_mode_and_is_exported_with_its_code(
    kiosk_installed: Path, tmp_path: Path
) -> None:
    clock = FakeClock()
    app = make_app(f"sqlite:///{tmp_path / 'kiosk.db'}", clock, kiosk_installed)
    try:
        client = app.test_client()
        started = client.post("/kiosk/mini/start")
        assert started.status_code == 201
        iid = started.get_json()["interview"]
        missing_seen = False
        for turn in itertools.count():
            assert turn < 40, "the interview never finished"
            page = client.get(f"/kiosk/interview/{iid}").get_json()
            if page["finished"]:
                break
            # the policy says don't know is announced: offered from the first page on
            assert all(page["missing_shown"])
            missing_seen = missing_seen or bool(page["missing_shown"])
            given = {key: ANSWERS[key] for key in page["keys"] if key in ANSWERS}
            clock.advance(5)
            reply = client.post(
                f"/kiosk/interview/{iid}",
                json={
                    "revision": page["revision"],
                    "token": page["token"],
                    "key": f"t{turn}",
                    "answers": given,
                },
            )
            assert reply.status_code == 200, (page, reply.get_json())
        assert missing_seen  # some page allowed don't know, and showed it at once
        host = get_host(app)
        record = host.store.load_interview(iid)
        assert (record.mode, record.status) == ("kiosk", "complete")
        answers = [e for e in host.store.events_for(iid) if e.kind == "answer"]
        assert answers and {e.mode for e in answers} == {"kiosk"}
        q = host.surveys["mini"].questionnaire
        dataset = build_dataset(q, host.store.iter_export_records("mini"))
        assert dataset.frame["mode"].tolist() == [7]
        assert dataset.codebook["mode"].value_labels[7] == "Kiosk in a waiting room"
        assert "Self-administered questionnaire: touch-screen kiosk" in [
            dataset.codebook.mode_policies[m].description for m in dataset.codebook.modes
        ]
    finally:
        close_app(app)


def test_a_plugin_cannot_serve_a_standard_mode_with_another_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "impostor_web.py"
    package.write_text(
        "from dataclasses import replace\n"
        "from instrument import hookimpl\n"
        "from instrument.modes import WEB\n"
        "from instrument.plugin_types import ModeSpec\n"
        "@hookimpl\n"
        "def register_modes():\n"
        # ivr: a standard mode, its built-in plugin disabled below so the impostor is alone
        "    return [ModeSpec(name='ivr', label='Not really', policy=replace(WEB, dataset_code=9))]\n",
        encoding="utf-8",
    )
    install_distribution(tmp_path, monkeypatch, {"impostor": "impostor_web"})
    monkeypatch.setenv("INSTRUMENT_DISABLE_PLUGINS", "ivr")  # the built-in ivr mode
    with pytest.raises(PluginError, match="'ivr' is registered with two different policies"):
        PluginFacade(get_plugin_manager()).mode_policies()
