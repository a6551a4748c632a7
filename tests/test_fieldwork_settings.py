"""The study's fieldwork file: what it changes, every error at its line, and ``instrument check``."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.fieldwork.calling import DEFAULT_HOURS, CallingRules
from instrument.fieldwork.dispositions import DEFAULT_DISPOSITIONS, RateClass
from instrument.fieldwork.settings import (
    FieldworkSettings,
    fieldwork_path_for,
    load_fieldwork,
    load_fieldwork_text,
    parse_duration,
    settings_for,
)
from tests.test_check import HEAD

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"

FULL = """\
calling:
  hours:
    mon-thu: 10:00-20:00
    fri: [09:00-12:00, 14:00-18:00]
    sun: none
  parts_of_day:
    day: 09:00-17:00
    evening: 17:00-21:00
  max_attempts_per_case: 12
  max_attempts_per_number: 4
  max_attempts_per_part: 2
  max_refusals: 1
  refusal_cool_off: 14d
  hold_timeout: 20m
  appointment_grace: 1h30m
  default_zone: Europe/Berlin
dispositions:
  no_answer: {retry_after: 90m}
  refusal_soft: {final: true}
  moved_away:
    aapor: "2.35"
    label: Moved away, new number unknown
    rate_class: o
    final: true
    contact: true
telephony:
  recording: true
  consent_text: "  This call is recorded.  "
"""


def test_a_full_file_changes_what_it_says_and_keeps_the_rest() -> None:
    settings, diagnostics = load_fieldwork_text(FULL, "s.fieldwork.yaml")
    assert diagnostics.items == []
    calling = settings.calling
    assert calling.hours[0] == ((time(10), time(20)),) and calling.hours[3] == calling.hours[0]
    assert calling.hours[4] == ((time(9), time(12)), (time(14), time(18)))
    assert calling.hours[5] == DEFAULT_HOURS[5]  # Saturday not mentioned: the default
    assert calling.hours[6] == ()
    assert [p.name for p in calling.parts_of_day] == ["day", "evening"]
    assert (calling.max_attempts_per_case, calling.max_attempts_per_number) == (12, 4)
    assert (calling.max_attempts_per_part, calling.max_refusals) == (2, 1)
    assert calling.refusal_cool_off == timedelta(days=14)
    assert calling.hold_timeout == timedelta(minutes=20)
    assert calling.appointment_grace == timedelta(hours=1, minutes=30)
    assert calling.default_zone == "Europe/Berlin"
    table = settings.dispositions
    assert table["no_answer"].retry_after == timedelta(minutes=90)
    assert table["refusal_soft"].final and table["refusal_soft"].retry_after is None
    assert table["moved_away"].rate_class is RateClass.O and table["moved_away"].final
    assert table["busy"] == DEFAULT_DISPOSITIONS["busy"]
    assert list(table)[-1] == "moved_away"
    assert (
        settings.telephony.recording and settings.telephony.consent_text == "This call is recorded."
    )
    assert settings.source == "s.fieldwork.yaml"


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    settings, diagnostics = settings_for(tmp_path / "q.yaml")
    assert settings == FieldworkSettings() and diagnostics.items == []
    assert settings.calling == CallingRules() and not settings.telephony.recording
    assert fieldwork_path_for(tmp_path / "q.yaml") == tmp_path / "q.fieldwork.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("3h", timedelta(hours=3)), ("7d", timedelta(days=7)),
     ("2w", timedelta(weeks=2)), ("1h30m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)),
     ("0m", timedelta(0)), ("3 h", None), ("3", None), ("h", None), ("-3h", None), ("3x", None)],
)  # fmt: skip
def test_durations(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


# (name, yaml, expected fragment, line, severity)
CASES = [
    ("yaml syntax", "calling: [1\n", "YAML syntax", 2, "error"),
    ("empty", "", "the file is empty", 1, "error"),
    ("not a mapping", "- 1\n", "the fieldwork file must be a mapping", 1, "error"),
    ("unknown top key", "dispositon: {}\n", "unknown key 'dispositon' in the fieldwork file; did you mean 'dispositions'?", 1, "error"),
    ("unknown calling key", "calling:\n  max_attempt_per_case: 3\n", "did you mean 'max_attempts_per_case'?", 2, "error"),
    ("duration in words", "calling:\n  refusal_cool_off: 7 days\n", "calling.refusal_cool_off must be a duration such as 90m, 3h or 7d, not '7 days'", 2, "error"),
    ("duration as number", "calling:\n  hold_timeout: 15\n", "must be a duration such as 90m", 2, "error"),
    ("duration too long", "calling:\n  hold_timeout: 400d\n", "longer than a year", 2, "error"),
    ("zero attempts", "calling:\n  max_attempts_per_case: 0\n", "calling.max_attempts_per_case must be from 1 to 1000", 2, "error"),
    ("attempts in words", "calling:\n  max_attempts_per_number: ten\n", "must be a whole number, not 'ten'", 2, "error"),
    ("attempts as yes", "calling:\n  max_attempts_per_part: yes\n", "must be a whole number, not True", 2, "error"),
    ("bad zone", "calling:\n  default_zone: Europe/Londn\n", "unknown time zone 'Europe/Londn'", 2, "error"),
    ("bad day", "calling:\n  hours:\n    mon-fry: 09:00-21:00\n", "'mon-fry' is not a day or a range of days such as mon-fri; did you mean 'fri'?", 3, "error"),
    ("backward days", "calling:\n  hours:\n    fri-mon: 09:00-21:00\n", "runs forward", 3, "error"),
    ("bad range", "calling:\n  hours:\n    mon: 9-21\n", "calling.hours.mon must be a range such as 09:00-21:00, not '9-21'", 3, "error"),
    ("sexagesimal", "calling:\n  hours:\n    sat: 10:00\n", "must be a range such as 09:00-21:00, not 600", 3, "error"),
    ("reversed range", "calling:\n  hours:\n    mon: 21:00-09:00\n", "21:00-09:00 must start before it ends", 3, "error"),
    ("bad minutes", "calling:\n  hours:\n    mon: 09:75-21:00\n", "must be a range such as", 3, "error"),
    ("day twice", "calling:\n  hours:\n    mon-fri: 09:00-21:00\n    wed: 10:00-12:00\n", "wed is given twice (first at line 3)", 4, "error"),
    ("overlap", "calling:\n  hours:\n    mon: [09:00-13:00, 12:00-15:00]\n", "calling: mon: calling hours overlap", 2, "error"),
    ("part with two ranges", "calling:\n  parts_of_day:\n    day: [09:00-12:00, 13:00-17:00]\n", "is one range", 3, "error"),
    ("outcome key", "dispositions:\n  no_answer: {retry: 2h}\n", "unknown key 'retry' in dispositions.no_answer; did you mean 'retry_after'?", 2, "error"),
    ("outcome name", "dispositions:\n  No-Answer: {retry_after: 2h}\n", "'No-Answer' is not an outcome name", 2, "error"),
    ("new outcome incomplete", "dispositions:\n  moved:\n    label: Moved\n", "new outcome 'moved' needs aapor, rate_class, final", 2, "error"),
    ("new outcome near a default", "dispositions:\n  no_answr: {retry_after: 2h}\n", "did you mean 'no_answer'?", 2, "error"),
    ("rate class", "dispositions:\n  no_answer: {rate_class: X}\n", "must be one of I, P, R, NC, O, UH, UO, NE, not 'X'", 2, "error"),
    ("unquoted aapor", "dispositions:\n  no_answer: {aapor: 3.13}\n", "must be text in quotes such as '2.35', not 3.13", 2, "error"),
    ("flag as text", "dispositions:\n  no_answer: {contact: maybe}\n", "must be true or false, not 'maybe'", 2, "error"),
    ("final retried", "dispositions:\n  moved: {aapor: '2.35', label: M, rate_class: O, final: true, retry_after: 1d}\n", "dispositions.moved: a final outcome is never retried", 2, "error"),
    ("made not final", "dispositions:\n  complete: {final: false}\n", "dispositions.complete: an outcome that is not final needs retry_after", 2, "error"),
    ("class against aapor", "dispositions:\n  odd:\n    aapor: '4.70'\n    label: Odd\n    rate_class: I\n    final: true\n", "AAPOR counts 4.70 as NE, not I", 5, "warning"),
    ("not an aapor code", "dispositions:\n  odd: {aapor: '7.1', label: Odd, rate_class: O, final: true}\n", "'7.1' is not a code of AAPOR's table", 2, "warning"),
    ("recording without consent", "telephony:\n  recording: true\n", "telephony.recording needs consent_text", 2, "error"),
    ("empty consent", "telephony:\n  recording: true\n  consent_text: '  '\n", "telephony.consent_text is empty", 3, "error"),
    ("consent not a language", "telephony:\n  recording: true\n  consent_text:\n    en: We record.\n    Welsh: Rydyn ni'n recordio.\n", "telephony.consent_text: 'Welsh' is not a language code", 5, "error"),
    ("consent empty in one language", "telephony:\n  recording: true\n  consent_text: {en: We record., cy: ''}\n", "telephony.consent_text.cy is empty", 3, "error"),
    ("consent a list", "telephony:\n  recording: true\n  consent_text: [We record.]\n", "telephony.consent_text must be text, or a text per language", 3, "error"),
    ("voicemail too long in one language", "telephony:\n  automated:\n    on_machine: leave_message\n    voicemail_message: {en: Hello, cy: " + "x" * 501 + "}\n", "voicemail_message has 501 characters", 4, "error"),
    ("telephony key", "telephony:\n  recordings: false\n", "did you mean 'recording'?", 2, "error"),
    ("yes as a key", "calling:\n  hours:\n    yes: 09:00-10:00\n", "is not text; quote it", 3, "error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "fragment", "line", "severity"), CASES, ids=[c[0] for c in CASES]
)
def test_each_problem_is_reported_at_its_line(
    name: str, text: str, fragment: str, line: int, severity: str
) -> None:
    _, diagnostics = load_fieldwork_text(text, "study.fieldwork.yaml")
    found = [d for d in diagnostics.items if fragment in d.message]
    assert found, [str(d) for d in diagnostics.items]
    assert (found[0].position.line, found[0].severity) == (line, severity), str(found[0])
    assert str(found[0]).startswith(f"study.fieldwork.yaml:{line}:")


def test_empty_sections_change_nothing() -> None:
    settings, diagnostics = load_fieldwork_text("calling:\ndispositions:\ntelephony:\n", "f.yaml")
    assert diagnostics.items == [] and settings == FieldworkSettings(source="f.yaml")


def test_with_errors_the_rest_of_the_file_still_counts() -> None:
    text = "calling:\n  max_attempts_per_case: 0\n  max_attempts_per_number: 3\n"
    settings, diagnostics = load_fieldwork_text(text, "f.yaml")
    assert diagnostics.has_errors()
    assert settings.calling.max_attempts_per_number == 3
    assert settings.calling.max_attempts_per_case == 10


QUESTIONNAIRE = HEAD + "items:\n  - {id: a, type: info, text: Hello}\n"


def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.output


def test_check_validates_the_file_beside_the_questionnaire(tmp_path: Path) -> None:
    questionnaire = tmp_path / "study.yaml"
    questionnaire.write_text(QUESTIONNAIRE, encoding="utf-8")
    code, output = run_check(str(questionnaire))
    assert code == 0, output  # no fieldwork file: nothing more to check
    beside = tmp_path / "study.fieldwork.yaml"
    beside.write_text("calling:\n  max_attempts_per_case: 6\n  refusal_cool_off: soon\n")
    code, output = run_check(str(questionnaire))
    assert code == 1
    assert f"{beside}:3:21: error: calling.refusal_cool_off must be a duration" in output
    code, output = run_check(str(questionnaire), "--format", "json")
    problems = json.loads(output)["problems"]
    assert [(p["file"], p["line"]) for p in problems] == [(str(beside), 3)]
    # named on its own
    code, output = run_check(str(beside))
    assert code == 1 and "refusal_cool_off" in output
    beside.write_text("calling:\n  max_attempts_per_case: 6\n")
    assert run_check(str(questionnaire))[0] == 0
    assert run_check(str(beside))[0] == 0


def test_check_strict_fails_on_a_fieldwork_warning(tmp_path: Path) -> None:
    questionnaire = tmp_path / "study.yaml"
    questionnaire.write_text(QUESTIONNAIRE, encoding="utf-8")
    (tmp_path / "study.fieldwork.yaml").write_text(
        "dispositions:\n  odd: {aapor: '4.70', label: Odd, rate_class: I, final: true}\n"
    )
    code, output = run_check(str(questionnaire))
    assert code == 0 and "warning: dispositions.odd: AAPOR counts 4.70 as NE" in output
    assert run_check(str(questionnaire), "--strict")[0] == 1


def test_the_flagship_fieldwork_file_is_clean(tmp_path: Path) -> None:
    beside = fieldwork_path_for(FLAGSHIP)
    assert beside.is_file()
    settings, diagnostics = load_fieldwork(beside)
    assert diagnostics.items == []
    assert settings.telephony.recording and settings.telephony.consent_text
    assert settings.dispositions["web_link_resent"].rate_class is RateClass.O
    code, output = run_check(str(FLAGSHIP), "--strict")
    assert code == 0, output
    # and a broken copy of it is caught through the questionnaire
    shutil.copy(FLAGSHIP, tmp_path / FLAGSHIP.name)
    broken = beside.read_text(encoding="utf-8").replace("max_refusals: 2", "max_refusal: 2")
    (tmp_path / beside.name).write_text(broken, encoding="utf-8")
    code, output = run_check(str(tmp_path / FLAGSHIP.name))
    assert code == 1 and "did you mean 'max_refusals'?" in output


def test_an_unreadable_file(tmp_path: Path) -> None:
    settings, diagnostics = load_fieldwork(tmp_path / "absent.fieldwork.yaml")
    assert settings.calling == CallingRules()
    assert "cannot read the file" in diagnostics.items[0].message
    (tmp_path / "bin.fieldwork.yaml").write_bytes(b"\xff\xfe\x00")
    assert load_fieldwork(tmp_path / "bin.fieldwork.yaml")[1].has_errors()


def test_documented_example_is_clean() -> None:
    """The file shown in docs/fieldwork.md reads without a problem."""
    doc = (ROOT / "docs" / "fieldwork.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    _, diagnostics = load_fieldwork_text(textwrap.dedent(block), "docs/fieldwork.md")
    assert diagnostics.items == [], [str(d) for d in diagnostics.items]


def test_consent_and_voicemail_may_be_written_per_language() -> None:
    """A study fielded in English and Welsh reads its recording consent and leaves its voicemail
    in the respondent's language; one text still serves every language."""
    from instrument.fieldwork.wording import in_language

    text = (
        "telephony:\n  recording: true\n  consent_text:\n    en: ' This call is recorded. '\n"
        "    cy: Mae'r alwad hon yn cael ei recordio.\n  automated:\n"
        "    on_machine: leave_message\n    voicemail_message: {en: We will call again., "
        "cy: Byddwn ni'n ffonio eto.}\n"
    )
    settings, diagnostics = load_fieldwork_text(text, "s.fieldwork.yaml")
    assert diagnostics.items == []
    consent = settings.telephony.consent_text
    assert consent is not None
    assert in_language(consent, "cy") == "Mae'r alwad hon yn cael ei recordio."
    assert in_language(consent, "en-GB") == "This call is recorded."  # the base language
    assert in_language(consent, "fr") == in_language(consent, None) == "This call is recorded."
    voicemail = settings.telephony.automated.voicemail_message
    assert voicemail is not None and in_language(voicemail, "cy") == "Byddwn ni'n ffonio eto."
    assert in_language("One text.", "cy") == "One text."
