"""Every error path of ``instrument check`` has a broken file here.

Each case is a small questionnaire with one thing wrong, the message we expect
(a fragment) and the line it must point at. The command itself is driven with
click's CliRunner, as a researcher would run it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.loader import load_questionnaire, load_questionnaire_text

HEAD = """\
meta:
  id: t
  version: "1"
  title: T
  languages: [en]
"""


def q(body: str, head: str = HEAD) -> str:
    return head + textwrap.dedent(body)


# (name, yaml, expected fragment, expected line or None, severity)
CASES = [
    ("yaml syntax", "meta: [1\nitems: 2\n", "YAML syntax", 2, "error"),
    ("empty file", "", "the file is empty", 1, "error"),
    (
        "impossible date",
        "meta:\n  id: t\n  version: 2025-02-30\n",
        "cannot read '2025-02-30' as a date (put it in quotes",
        3,
        "error",
    ),
    ("year zero", "0000-00-00\n", "cannot read '0000-00-00' as a date", 1, "error"),
    ("top level not a map", "- 1\n- 2\n", "must be a mapping", 1, "error"),
    (
        "unknown top key",
        q("items:\n  - {id: a, type: info, text: x}\nchoice: {}\n"),
        "unknown key 'choice' in the questionnaire; did you mean 'choices'?",
        8,
        "error",
    ),
    ("missing items", HEAD, "the questionnaire needs 'items'", 1, "error"),
    (
        "missing meta key",
        "meta:\n  id: t\n  title: T\n  languages: [en]\nitems:\n  - {id: a, type: info, text: x}\n",
        "meta needs 'version'",
        2,
        "error",
    ),
    (
        "duplicate key",
        q("items:\n  - id: a\n    type: info\n    text: x\n    text: y\n"),
        "duplicate key 'text'",
        10,
        "error",
    ),
    (
        "misspelt question key",
        q("items:\n  - id: a\n    type: yesno\n    txt: Hi\n"),
        "did you mean 'text'?",
        9,
        "error",
    ),
    ("missing text", q("items:\n  - id: a\n    type: yesno\n"), "needs 'text'", 7, "error"),
    (
        "unknown type",
        q("items:\n  - {id: a, type: singel, text: x}\n"),
        "unknown question type 'singel'; did you mean 'single'?",
        7,
        "error",
    ),
    (
        "key for another type",
        q("items:\n  - {id: a, type: integer, text: x, choices: yn}\n"),
        "'choices' does not apply",
        7,
        "error",
    ),
    (
        "duplicate id",
        q("items:\n  - {id: a, type: yesno, text: x}\n  - {id: a, type: yesno, text: y}\n"),
        "duplicate name 'a'",
        8,
        "error",
    ),
    (
        "duplicate id ignoring case",
        q("items:\n  - {id: Age, type: integer, text: x}\n  - {id: age, type: integer, text: y}\n"),
        "names must differ ignoring case",
        8,
        "error",
    ),
    (
        "bad variable name",
        q("items:\n  - {id: 1st, type: yesno, text: x}\n"),
        "not a valid SPSS and Stata name",
        7,
        "error",
    ),
    (
        "name too long",
        q("items:\n  - {id: a_very_long_variable_name_over_32, type: yesno, text: x}\n"),
        "Stata allows at most 32",
        7,
        "error",
    ),
    (
        "reserved word",
        q("items:\n  - {id: with, type: yesno, text: x}\n"),
        "reserved word",
        7,
        "error",
    ),
    (
        "unknown variable",
        q(
            "items:\n  - {id: a, type: yesno, text: x}\n  - {id: b, type: yesno, text: y, when: aa == 1}\n"
        ),
        "did you mean 'a'?",
        8,
        "error",
    ),
    (
        "variable asked later",
        q(
            "items:\n  - {id: a, type: yesno, text: x, when: b == 1}\n  - {id: b, type: yesno, text: y}\n"
        ),
        "'b', which is asked later",
        7,
        "error",
    ),
    (
        "same page reference",
        q(
            "items:\n  - page: p\n    items:\n      - {id: a, type: yesno, text: x}\n      - {id: b, type: yesno, text: y, when: a == 1}\n"
        ),
        "asked on the same page",
        10,
        "error",
    ),
    (
        "code not in list",
        q(
            "items:\n  - {id: a, type: yesno, text: x}\n  - {id: b, type: yesno, text: y, when: a == 3}\n"
        ),
        "no option with code 3",
        8,
        "error",
    ),
    (
        "circular computed",
        q(
            "items:\n  - {id: a, type: computed, expr: b + 1}\n  - {id: b, type: computed, expr: a + 1}\n"
        ),
        "in a circle",
        None,
        "error",
    ),
    (
        "code collides with missing frame",
        q(
            "choices:\n  c:\n    - {code: -1, label: Minus one}\n    - {code: 1, label: One}\nitems:\n  - {id: a, type: single, choices: c, text: x}\n"
        ),
        "collides with the missing-value code for dk",
        8,
        "error",
    ),
    (
        "overridden frame collision",
        q(
            "missing: {dk: 98, refused: 99, routed_past: 97, unanswered: 96}\nchoices:\n  c:\n    - {code: 98, label: X}\nitems:\n  - {id: a, type: single, choices: c, text: x}\n"
        ),
        "collides with the missing-value code for dk",
        9,
        "error",
    ),
    (
        "fill unknown variable",
        q("items:\n  - {id: a, type: integer, text: 'You have {{ kids }} children'}\n"),
        "the fill names an unknown variable 'kids'",
        7,
        "error",
    ),
    (
        "fill syntax",
        q("items:\n  - {id: a, type: integer, text: 'You have {{ a'}\n"),
        "fill syntax",
        7,
        "error",
    ),
    (
        "long label warning",
        q("items:\n  - {id: a, type: yesno, text: x, label: " + "L" * 90 + "}\n"),
        "Stata variable labels hold 80",
        7,
        "warning",
    ),
    (
        "very long label warning",
        q("items:\n  - {id: a, type: yesno, text: x, label: " + "L" * 300 + "}\n"),
        "SPSS variable labels hold 256",
        7,
        "warning",
    ),
    (
        "long value label",
        q(
            "choices:\n  c:\n    - {code: 1, label: "
            + "V" * 130
            + "}\nitems:\n  - {id: a, type: single, choices: c, text: x}\n"
        ),
        "SPSS value labels hold 120",
        8,
        "warning",
    ),
    (
        "never true",
        q(
            "items:\n  - {id: a, type: yesno, text: x}\n  - {id: b, type: yesno, text: y, when: a == 1 and a == 2}\n"
        ),
        "never be true",
        8,
        "warning",
    ),
    (
        "duplicate option code",
        q(
            "choices:\n  c:\n    - {code: 1, label: A}\n    - {code: 1, label: B}\nitems:\n  - {id: a, type: single, choices: c, text: x}\n"
        ),
        "code 1 is used twice",
        9,
        "error",
    ),
    (
        "unknown choice list",
        q("items:\n  - {id: a, type: single, choices: yesno_list, text: x}\n"),
        "unknown choice list 'yesno_list'",
        7,
        "error",
    ),
    (
        "unknown language",
        q("items:\n  - id: a\n    type: yesno\n    text: {en: x, fr: y}\n"),
        "language 'fr' is not in meta.languages",
        9,
        "error",
    ),
    (
        "missing translation warning",
        HEAD.replace("[en]", "[en, cy]")
        + "items:\n  - id: a\n    type: yesno\n    text: {en: x}\n",
        "has no 'cy' text",
        9,
        "warning",
    ),
    (
        "condition not boolean",
        q(
            "items:\n  - {id: a, type: integer, text: x}\n  - {id: b, type: yesno, text: y, when: a}\n"
        ),
        "true or false",
        8,
        "error",
    ),
    (
        "expression syntax",
        q(
            "items:\n  - {id: a, type: integer, text: x}\n  - {id: b, type: yesno, text: y, when: 'a = 1'}\n"
        ),
        "use == to compare",
        8,
        "error",
    ),
    (
        "loops nested four deep",
        q(
            "items:\n  - loop: l1\n    count: 2\n    max: 2\n    items:\n"
            "      - loop: l2\n        count: 2\n        max: 2\n        items:\n"
            "          - loop: l3\n            count: 2\n            max: 2\n            items:\n"
            "              - loop: l4\n                count: 2\n                max: 2\n"
            "                items:\n                  - {id: a, type: yesno, text: x}\n"
        ),
        "loops nest at most 3 deep",
        19,
        "error",
    ),
    (
        "loop without max",
        q(
            "items:\n  - loop: l1\n    count: 2\n    items:\n      - {id: a, type: yesno, text: x}\n"
        ),
        "needs 'max'",
        7,
        "error",
    ),
    (
        "loop var outside loop",
        q(
            "items:\n  - loop: l1\n    count: 2\n    max: 2\n    items:\n      - {id: a, type: integer, text: x}\n  - {id: b, type: yesno, text: y, when: a > 1}\n"
        ),
        "loop",
        12,
        "error",
    ),
    (
        "for_each not multi",
        q(
            "items:\n  - {id: a, type: yesno, text: x}\n  - loop: l1\n    for_each: a\n    items:\n      - {id: b, type: yesno, text: y}\n"
        ),
        "multiple-choice",
        9,
        "error",
    ),
    (
        "generated name collides",
        q(
            "choices:\n  c:\n    - {code: 1, label: A}\n    - {code: 2, label: B}\nitems:\n  - {id: m, type: multi, choices: c, text: x}\n  - {id: m_1, type: yesno, text: y}\n"
        ),
        "'m_1', which the exports make for 'm'",
        11,
        "error",
    ),
    (
        "check without kind",
        q(
            "items:\n  - id: a\n    type: integer\n    text: x\n    checks:\n      - {message: hi}\n"
        ),
        "needs exactly one of error_if",
        11,
        "error",
    ),
    (
        "min above max",
        q("items:\n  - {id: a, type: integer, text: x, min: 5, max: 1}\n"),
        "min 5 above max 1",
        7,
        "error",
    ),
    (
        "bad date bound",
        q("items:\n  - {id: a, type: date, text: x, min: yesterday}\n"),
        "must be a date like",
        7,
        "error",
    ),
    (
        "bad outcome",
        q("items:\n  - {id: a, type: end, text: x, outcome: done}\n"),
        "outcome must be one of",
        7,
        "error",
    ),
    (
        "yes as key",
        q(
            "items:\n  - id: a\n    type: info\n    text: x\nchoices:\n  c:\n    - {code: 1, label: {en: A, yes: B}}\n"
        ),
        "is not text; quote it",
        12,
        "error",
    ),
    (
        "test answers unknown",
        q("items:\n  - {id: a, type: yesno, text: x}\ntests:\n  - name: t\n    answers: {b: 1}\n"),
        "answers 'b', which is not a question",
        10,
        "error",
    ),
    (
        "bad web_missing",
        HEAD + "  web_missing: sometimes\nitems:\n  - {id: a, type: yesno, text: x}\n",
        "meta.web_missing must be one of",
        6,
        "error",
    ),
    (
        "bad mode",
        HEAD + "  modes: [web, capi]\nitems:\n  - {id: a, type: yesno, text: x}\n",
        "unknown mode 'capi'",
        6,
        "error",
    ),
    (
        "page holds container",
        q(
            "items:\n  - page: p\n    items:\n      - block: b\n        items:\n          - {id: a, type: yesno, text: x}\n"
        ),
        "a page holds questions only",
        9,
        "error",
    ),
    (
        "fill of option label",
        q(
            "choices:\n  c:\n    - {code: 1, label: '{{ a }}'}\nitems:\n  - {id: a, type: single, choices: c, text: x}\n"
        ),
        "option labels must be fixed text",
        8,
        "error",
    ),
]


@pytest.mark.parametrize("name,source,fragment,line,severity", CASES, ids=[c[0] for c in CASES])
def test_each_problem_is_reported_where_it_is(name, source, fragment, line, severity):
    result = load_questionnaire_text(source, "broken.yaml")
    matching = [d for d in result.diagnostics if fragment in d.message and d.severity == severity]
    assert matching, f"no {severity} containing {fragment!r}; got:\n" + "\n".join(
        map(str, result.diagnostics)
    )
    if line is not None:
        assert any(d.position.line == line for d in matching), [str(d) for d in matching]
    assert all(d.position.file == "broken.yaml" for d in result.diagnostics)
    if severity == "error":
        assert result.questionnaire is None


def test_a_clean_file_has_no_diagnostics():
    result = load_questionnaire_text(q("items:\n  - {id: a, type: yesno, text: x}\n"), "ok.yaml")
    assert result.diagnostics == []
    assert result.questionnaire is not None


def test_check_command_prints_file_line_col_and_exits_1(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(q("items:\n  - {id: a, type: yesno, txt: x}\n"))
    result = CliRunner().invoke(cli, ["check", str(bad)])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{bad}:7:"), first
    assert ": error: " in first


def test_check_command_exits_0_on_a_clean_file(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(q("items:\n  - {id: a, type: yesno, text: x}\n"))
    result = CliRunner().invoke(cli, ["check", str(good)])
    assert result.exit_code == 0, result.output


def test_check_json_format(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(q("items:\n  - {id: a, type: singel, text: x}\n"))
    result = CliRunner().invoke(cli, ["check", "--format", "json", str(bad)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False
    assert data["problems"][0]["line"] == 7
    assert data["problems"][0]["severity"] == "error"


def test_unreadable_file_is_a_diagnostic_not_a_traceback(tmp_path: Path):
    result = load_questionnaire(tmp_path / "missing.yaml")
    assert not result.ok
    assert "cannot read the file" in result.diagnostics[0].message


def test_mini_and_examples_are_clean():
    root = Path(__file__).parent
    result = load_questionnaire(root / "data" / "mini.yaml")
    assert result.ok, "\n".join(map(str, result.diagnostics))
