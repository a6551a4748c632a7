"""``meta.ivr``: read by the loader with file:line errors, checked by ``instrument check``, and
made into the call flow's settings with the fieldwork file's recording."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.ivr.prompts import IvrSettings, SpeechSettings
from instrument.ivr.settings import ivr_settings, missing_voices, voice_table
from instrument.loader import load_questionnaire_text
from instrument.model import IvrOptions

HEAD = """\
meta:
  id: ivr_settings
  version: "1"
  title: {{en: IVR settings, cy: Gosodiadau IVR}}
  languages: [en, cy]
  modes: [web, ivr]
{ivr}
items:
  - id: age
    type: integer
    min: 0
    text: {{en: How old are you?, cy: Faint yw eich oed?}}
  - id: weight
    type: decimal
    min: 0
    text: {{en: Your weight?, cy: Eich pwysau?}}
  - id: likes
    type: yesno
    text: {{en: Do you like it?, cy: Ydych chi'n ei hoffi?}}
"""


def load(ivr: str, name: str = "q.yaml") -> tuple[object, list[str]]:
    result = load_questionnaire_text(HEAD.format(ivr=ivr), name)
    return result.questionnaire, [str(d) for d in result.diagnostics]


def test_no_ivr_key_keeps_the_defaults() -> None:
    q, problems = load("")
    assert problems == []
    assert q.ivr == IvrOptions()  # type: ignore[attr-defined]
    assert ivr_settings(q) == IvrSettings()  # type: ignore[arg-type]


def test_every_key_is_read() -> None:
    q, problems = load(
        """\
  ivr:
    reprompts: 1
    on_no_answer: end
    read_back: [age]
    record_seconds: 30
    speech: {confidence: 0.7, confirm: always}
    voices:
      en: Polly.Brian
      cy: {voice: Polly.Gwyneth, language: cy-GB}"""
    )
    assert problems == []
    settings = ivr_settings(q, recording=True)  # type: ignore[arg-type]
    assert settings == IvrSettings(
        reprompts=1,
        on_no_answer="end",
        read_back=frozenset({"age"}),
        recording=True,
        record_seconds=30,
        speech=SpeechSettings(0.7, "always"),
    )
    assert voice_table(q) == {  # type: ignore[arg-type]
        "en": ("Polly.Brian", "en"),
        "cy": ("Polly.Gwyneth", "cy-GB"),
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [("on", SpeechSettings()), ("off", None), ("{input: off, confidence: 0.9}", None)],
)
def test_speech_on_or_off(given: str, expected: SpeechSettings | None) -> None:
    q, problems = load(f"  ivr:\n    speech: {given}\n    read_back: true")
    assert problems == []
    settings = ivr_settings(q)  # type: ignore[arg-type]
    assert settings.speech == expected and settings.read_back is True


@pytest.mark.parametrize(
    ("ivr", "message"),
    [
        (
            "  ivr:\n    reprompt: 2",
            "q.yaml:8:5: error: unknown key 'reprompt' in meta.ivr; did you mean 'reprompts'?",
        ),
        ("  ivr:\n    reprompts: 9", "q.yaml:8:5: error: meta.ivr.reprompts must be 0 to 5"),
        (
            "  ivr:\n    on_no_answer: stop",
            "q.yaml:8:5: error: meta.ivr.on_no_answer must be skip or end, not 'stop'",
        ),
        (
            "  ivr:\n    read_back: [likes]",
            "q.yaml:8:17: error: meta.ivr.read_back names 'likes', a yesno question: only "
            "numbers (integer, decimal) are read back",
        ),
        (
            "  ivr:\n    read_back: [agee]",
            "q.yaml:8:17: error: meta.ivr.read_back names 'agee', which is not a question; "
            "did you mean 'age'?",
        ),
        ("  ivr:\n    read_back: all", "q.yaml:8:16: error: meta.ivr.read_back (true, false or "
         "a list of question ids) must be a list"),
        ("  ivr:\n    record_seconds: 3", "q.yaml:8:5: error: meta.ivr.record_seconds must be 5 to 600"),
        (
            "  ivr:\n    speech: {confidence: 2}",
            "q.yaml:8:14: error: meta.ivr.speech.confidence must be from 0 to 1",
        ),
        (
            "  ivr:\n    speech: {confirm: never}",
            "q.yaml:8:14: error: meta.ivr.speech.confirm must be unsure or always, not 'never'",
        ),
        ("  ivr:\n    speech: maybe", "q.yaml:8:13: error: meta.ivr.speech (on or off) must be "
         "true or false, not 'maybe'"),
        (
            "  ivr:\n    voices: {fr: Polly.Celine}",
            "q.yaml:8:14: error: meta.ivr.voices.fr: 'fr' is not one of meta.languages (en, cy)",
        ),
        (
            "  ivr:\n    voices: {en: {language: en-GB}}",
            "q.yaml:8:18: error: meta.ivr.voices.en needs 'voice'",
        ),
    ],
)  # fmt: skip
def test_errors_name_the_file_and_line(ivr: str, message: str) -> None:
    q, problems = load(ivr)
    assert q is None
    assert message in problems, problems


def test_ivr_settings_without_an_ivr_mode_are_warned_of() -> None:
    text = HEAD.format(ivr="  ivr: {reprompts: 1}").replace("[web, ivr]", "[web]")
    result = load_questionnaire_text(text, "q.yaml")
    assert [str(d) for d in result.diagnostics] == [
        "q.yaml:7:8: warning: meta.ivr is set but ivr is not one of meta.modes: it is not used"
    ]


def test_check_reports_settings_errors_and_languages_without_a_voice(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD.format(ivr="  ivr:\n    on_no_answer: hang_up"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:8:5: error: meta.ivr.on_no_answer must be skip or end" in result.output
    swahili = tmp_path / "sw.yaml"
    swahili.write_text(
        HEAD.format(ivr="  ivr: {reprompts: 1}")
        .replace("[en, cy]", "[en, sw]")
        .replace("cy:", "sw:"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", str(swahili)])
    assert result.exit_code == 0, result.output
    assert (
        f"{swahili}:7:8: warning: an automated (ivr) call has no voice for language 'sw': "
        "name one in meta.ivr.voices.sw (calls in it cannot be answered)"
    ) in result.output
    named = tmp_path / "sw_voice.yaml"
    named.write_text(
        swahili.read_text(encoding="utf-8").replace(
            "ivr: {reprompts: 1}", "ivr: {voices: {sw: Google.sw-KE-Standard-A}}"
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", str(named)])
    assert "no voice" not in result.output, result.output


def test_missing_voices_fall_back_from_a_regional_tag() -> None:
    q, _ = load("")
    assert missing_voices(q) == []  # type: ignore[arg-type]
    text = HEAD.format(ivr="").replace("[en, cy]", "[en-GB, cy]").replace("en:", "en-GB:")
    regional = load_questionnaire_text(text, "q.yaml").questionnaire
    assert regional is not None and missing_voices(regional) == []
