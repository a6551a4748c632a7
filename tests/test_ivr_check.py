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
        f"{CHECK}:26:5: warning: question 'wide_single' reads out 8 options but an automated (ivr) "
        "call has 7 single keys for them: callers must key two digits and #; shorten or split the list",
        f"{CHECK}:36:5: warning: question 'long_multi' is asked by an automated (ivr) call as 8 "
        "yes/no questions, one per option (more than 6 is long to hear); shorten or split the list",
        f"{CHECK}:40:5: warning: question 'wide_grid' has a scale of 6 answers, read out for each "
        "row of an automated (ivr) call (more than 5 is hard to keep in mind); use a shorter scale",
        f"{CHECK}:46:5: warning: question 'note' asks for free text, which an automated (ivr) call "
        "cannot take by keypad: without recording it is skipped (not answered, flagged in paradata)",
    ]
    assert "1 file checked: 0 errors, 4 warnings" in result.output


def test_no_warning_without_a_keypad_mode(tmp_path: Path) -> None:
    web_only = tmp_path / "ivr_check.yaml"
    web_only.write_text(CHECK.read_text().replace("modes: [web, ivr]", "modes: [web]"))
    result = CliRunner().invoke(cli, ["check", str(web_only)])
    assert "0 errors, 0 warnings" in result.output, result.output
