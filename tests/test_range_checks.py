"""A number question's range says what is accepted; a hard check must not refuse part of it.

The flagship once said "from 0 to 10" for the number of children (its range)
and then refused 0 (a hard check): the range is what every mode states, so
check now warns about such a check and the flagship's range starts at 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from instrument.loader import load_questionnaire, load_questionnaire_text

FLAGSHIP = Path(__file__).resolve().parent.parent / "questionnaires" / "social_licence.yaml"


def warnings_for(bounds: str, check: str, kind: str = "integer") -> list[str]:
    source = f"""\
meta: {{id: r, version: "1", title: R, languages: [en]}}
items:
  - id: n
    type: {kind}
    {bounds}
    text: How many?
    checks:
      - {{{check}, message: Not that}}
"""
    result = load_questionnaire_text(source, "r.yaml")
    assert result.ok, result.diagnostics
    return [f"{d.position.line}: {d.message}" for d in result.diagnostics]


@pytest.mark.parametrize(
    "bounds, check, says",
    [
        ("{min: 0, max: 10}", "error_if: n < 1", "refuses answers below 1, but the range says "
         "from 0 to 10, which every mode tells the respondent: set min: 1 instead"),
        ("{min: 0, max: 10}", "error_if: 1 > n", "refuses answers below 1"),
        ("{min: 0, max: 10}", "error_if: n <= 0", "refuses answers below 1"),
        ("{max: 20}", "error_if: n > 10", "refuses answers above 10, but the range says "
         "20 or less, which every mode tells the respondent: set max: 10 instead"),
        ("{min: 0}", "error_if: n >= 100", "refuses answers above 99"),
        ("{min: 0, max: 10}", "error_if: n < 1 or n > 8", "set min: 1"),
    ],
)  # fmt: skip
def test_a_hard_check_that_narrows_the_range_is_warned_about(
    bounds: str, check: str, says: str
) -> None:
    lines = bounds.strip("{}").replace(", ", "\n    ")
    found = warnings_for(lines, check)
    at_checks = 6 + lines.count("\n") + 1  # the line of `checks:`
    assert any(
        line.startswith(f"{at_checks}: question 'n': the check `") and says in line
        for line in found
    ), found


@pytest.mark.parametrize(
    "bounds, check, kind",
    [
        ("min: 1\n    max: 10", "error_if: n < 1", "integer"),  # agrees with the range
        ("min: 0\n    max: 10", "warn_if: n < 1", "integer"),  # a soft check may ask again
        ("min: 0\n    max: 10", "error_if: n < 1 and n != 0", "integer"),  # not a plain bound
        ("min: 0\n    max: 10", "error_if: n <= 0", "decimal"),  # no smallest decimal above 0
    ],
)
def test_checks_that_agree_with_the_range_or_are_not_plain_bounds_are_left_alone(
    bounds: str, check: str, kind: str
) -> None:
    assert warnings_for(bounds, check, kind) == []


def test_the_flagship_states_the_range_it_enforces() -> None:
    result = load_questionnaire(FLAGSHIP)
    assert result.diagnostics == []
    assert result.questionnaire is not None
    n_children = result.questionnaire.questions["n_children"]
    assert (n_children.min, n_children.max) == (1, 10)


def test_a_range_stated_in_the_hint_or_text_must_be_the_enforced_one() -> None:
    source = """\
meta: {id: r, version: "1", title: R, languages: [en]}
items:
  - {id: a, type: integer, min: 1, max: 10, text: How many?, hint: Enter a number from 0 to 10}
  - {id: b, type: integer, min: 1, max: 10, text: How many?, hint: Enter a number from 1 to 10}
  - {id: c, type: decimal, min: 0, max: 5, text: "How far, between 0 and 5.5 km?"}
  - {id: d, type: integer, text: How many?, hint: Any number from 1 to 3 will do}
"""
    result = load_questionnaire_text(source, "r.yaml")
    assert result.ok
    found = [f"{d.position.line}: {d.message}" for d in result.diagnostics if "says '" in d.message]
    assert [line.split(":")[0] for line in found] == ["3", "5", "6"], found
    assert (
        "its hint (en) says 'from 0 to 10', but the range it enforces is from 1 to 10" in found[0]
    )
    assert "its text (en) says 'between 0 and 5.5'" in found[1]
    assert "the range it enforces is any number" in found[2]
