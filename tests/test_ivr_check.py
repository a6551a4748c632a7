"""``instrument check`` warns, at the question's line, of questions an automated call cannot ask well."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from instrument.cli import cli

CHECK = Path(__file__).parent / "data" / "ivr_check.yaml"


def test_check_warns_of_what_a_keypad_cannot_ask_well() -> None:
    result = CliRunner().invoke(cli, ["check", str(CHECK)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if ": warning: " in line]
    assert lines == [
        f"{CHECK}:27:5: warning: question 'wide_single' reads out 8 options but an automated (ivr) "
        "call has 7 single keys for them: callers must key two digits and #; shorten or split the list",
        f"{CHECK}:37:5: warning: question 'long_multi' is asked by an automated (ivr) call as 11 "
        "yes/no questions, one per option (more than 10 is long to hear); shorten or split the list",
        f"{CHECK}:41:5: warning: question 'wide_grid' has a scale of 6 answers, read out for each "
        "row of an automated (ivr) call (more than 5 is hard to keep in mind); use a shorter scale",
        f"{CHECK}:47:5: warning: question 'note' asks for free text, which an automated (ivr) call "
        "cannot take by keypad: without recording it is skipped (not answered, flagged in paradata)",
    ]
    assert "1 file checked: 0 errors, 4 warnings" in result.output


def test_no_warning_without_a_keypad_mode(tmp_path: Path) -> None:
    web_only = tmp_path / "ivr_check.yaml"
    web_only.write_text(CHECK.read_text().replace("modes: [web, ivr]", "modes: [web]"))
    result = CliRunner().invoke(cli, ["check", str(web_only)])
    assert "0 errors, 0 warnings" in result.output, result.output


def test_free_text_is_not_warned_of_when_the_study_records(tmp_path: Path) -> None:
    """A study whose fieldwork file records calls asks free text by recording, after consent."""
    copy = tmp_path / "ivr_check.yaml"
    copy.write_text(CHECK.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "ivr_check.fieldwork.yaml").write_text(
        "telephony:\n  recording: true\n  consent_text: We record this call. Press 1 to agree.\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", str(copy)])
    assert "question 'note'" not in result.output, result.output
    assert "0 errors, 3 warnings" in result.output, result.output
