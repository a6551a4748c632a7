"""``instrument check`` warns where an automated call would say a free-text answer aloud.

A keypad call skips free text (or keeps a recording's reference for it), so a later text that
fills in that answer has a gap: the ONS household example, run by IVR, said "What is  ’s date
of birth?" because the names are free text. The warning points at the text's line; an ``ivr:``
text without the names, or a fill that tests the name first, is taken as handled.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from instrument.cli import cli

ROOT = Path(__file__).resolve().parent.parent
ONS = ROOT / "questionnaires" / "examples" / "ons_household.yaml"


def _check(path: Path) -> list[str]:
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if " aloud, " in line]


def _line_of(path: Path, fragment: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if fragment in line)


def _ons_by_ivr(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    source = ONS.read_text(encoding="utf-8")
    assert "modes: [web, cati]" in source
    source = source.replace("modes: [web, cati]", "modes: [web, cati, ivr]")
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    copy = tmp_path / "ons_household.yaml"
    copy.write_text(source, encoding="utf-8")
    return copy


def test_the_ons_roster_by_ivr_is_warned_of_at_each_text_that_says_a_name(tmp_path: Path) -> None:
    copy = _ons_by_ivr(tmp_path)
    warned = _check(copy)
    by_line = {int(line.split(":")[1]): line for line in warned}
    date_of_birth = _line_of(copy, "- id: date_of_birth") + 6  # its text:
    sex = _line_of(copy, "- id: sex") + 4
    visitor = _line_of(copy, "- id: visitor_date_of_birth") + 6
    check_message = _line_of(copy, "message: >-")
    assert sorted(by_line) == sorted([date_of_birth, check_message, sex, visitor]), warned
    assert by_line[date_of_birth].endswith(
        "warning: question 'date_of_birth' says the answers to 'first_name', 'last_name' aloud, "
        "but an automated (ivr) call skips free text, so the caller hears nothing there; "
        "give it an ivr: text without them, or test them first ({% if ... %} or {{ ... or '...' }})"
    )
    assert (
        "check 1 of question 'date_of_birth' says the answers to 'first_name', 'last_name'"
        in (by_line[check_message])
    )
    assert "word it so it reads well without them" in by_line[check_message]
    assert "'visitor_first_name', 'visitor_last_name'" in by_line[visitor]


def test_an_ivr_text_or_a_tested_fill_is_taken_as_handled(tmp_path: Path) -> None:
    copy = _ons_by_ivr(
        tmp_path,
        (
            "%}What is {{ first_name }} {{ last_name }}’s date of birth?{% endif %}\n",
            "%}What is {{ first_name }} {{ last_name }}’s date of birth?{% endif %}\n"
            "            ivr: >-\n"
            "              {% if proxy == 1 %}What is your date of birth?{% else\n"
            "              %}What is the date of birth of person {{ loop.number }}?{% endif %}\n",
        ),
        (
            "%}{{ first_name }} {{ last_name }} is {{ age_years }} old.{% endif %}",
            "%}{% if first_name %}{{ first_name }} {{ last_name }}{% else %}This person"
            "{% endif %} is {{ age_years }} old.{% endif %}",
        ),
        (
            "What is {{ visitor_first_name }} {{ visitor_last_name }}’s date of birth?",
            "What is {{ visitor_first_name or 'the visitor' }} {{ visitor_last_name }}’s date of"
            " birth?",
        ),
    )
    warned = _check(copy)
    # Only 'sex' is left as it was; 'visitor_last_name' is said untested, so it is still a gap.
    assert [w.split("warning: ")[1].split(" says")[0] for w in warned] == [
        "question 'sex'",
        "question 'visitor_date_of_birth'",
    ], warned
    assert "the answer to 'visitor_last_name' aloud" in warned[1]


def test_a_recording_study_is_told_the_caller_hears_a_reference(tmp_path: Path) -> None:
    copy = _ons_by_ivr(tmp_path)
    (tmp_path / "ons_household.fieldwork.yaml").write_text(
        "telephony:\n  recording: true\n  consent_text: We record this call. Press 1 to agree.\n",
        encoding="utf-8",
    )
    warned = _check(copy)
    assert len(warned) == 4, warned
    assert all(
        "call records free text, so the caller hears a recording's reference" in w for w in warned
    )


def test_no_such_warning_for_the_web_or_for_texts_without_free_text_fills() -> None:
    assert _check(ONS) == []  # web and telephone interviewers: the names are asked
    for path in sorted((ROOT / "questionnaires").glob("*.yaml")):
        assert _check(path) == [], path  # the flagship runs by IVR and says no free text aloud


def test_hard_checks_of_free_text_are_said_not_to_run_on_a_call(tmp_path: Path) -> None:
    """The UCL biomass form's phone number is free text with a pattern check: a keypad call
    does not run it (tests/test_ivr_refusals.py), and check says so at the check's line."""
    examples = ROOT / "questionnaires" / "examples"
    for source in examples.glob("biomass_*"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    form = tmp_path / "biomass_plot.yaml"
    text = form.read_text(encoding="utf-8")
    assert "modes: [web, cati]" in text
    form.write_text(text.replace("modes: [web, cati]", "modes: [web, cati, ivr]"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(form)])
    warned = [line for line in result.output.splitlines() if "hard checks" in line]
    message_line = _line_of(form, '- error_if: "not regex(leader_number') + 1
    assert warned == [
        f"{form}:{message_line}:22: warning: question 'leader_number' has hard checks, which an "
        "automated (ivr) call does not run: free text there is left empty or a recording's "
        "reference, nothing the caller typed (the web and interviewers still run them)"
    ], result.output
    # the flagship's comment has a soft check only (an email address?): nothing to say
    flagship = CliRunner().invoke(
        cli, ["check", str(ROOT / "questionnaires" / "social_licence.yaml")]
    )
    assert "hard checks" not in flagship.output and "0 warnings" in flagship.output
