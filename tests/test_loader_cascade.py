"""One misspelt question type is one error: no follow-on errors about what names the question.

A flagship with `type: yesnoo` gave its "did you mean 'yesno'?" and then 16 more errors, one for
every condition, test answer and expectation naming `parent`, burying the one that mattered.
"""

from __future__ import annotations

from pathlib import Path

from instrument.loader import load_questionnaire_text

FLAGSHIP = Path(__file__).parent.parent / "questionnaires" / "social_licence.yaml"

CASCADE = """
meta: {id: cascade, version: '1', title: Cascade, languages: [en], modes: [web]}
choices:
  drinks: [{code: 1, label: Tea}, {code: 2, label: Coffee}]
items:
  - id: smoke
    type: yesnoo
    text: Do you smoke?
  - id: cigs
    type: integer
    min: 0
    when: smoke == 1
    text: "You said {{ smoke }}: how many a day?"
    checks:
      - warn_if: cigs > 40 and smoke == 1
        message: "That is a lot for {{ smoke }}"
  - id: liked
    type: mult
    choices: drinks
    text: Which?
  - loop: per_drink
    for_each: liked
    items:
      - {id: rating, type: integer, min: 0, text: "Rate {{ loop.label }}"}
  - id: heavy
    type: computed
    expr: if(smoke == 1, cigs, 0)
  - id: other
    type: integer
    min: 0
    when: cigss > 1
    text: Still reported
tests:
  - name: smoker
    answers: {smoke: 1, cigs: 10, liked: [1], rating: {1: 3}}
    expect: {asked: [smoke, cigs], not_asked: [liked], errors: [smoke], values: {smoke: 1, liked_1: 1}}
"""


def errors_of(text: str) -> list[str]:
    result = load_questionnaire_text(text)
    return [d.message for d in result.diagnostics if d.severity == "error"]


def test_a_misspelt_type_in_the_flagship_is_one_error() -> None:
    text = FLAGSHIP.read_text(encoding="utf-8")
    at = text.index("      - id: parent\n")
    at = text.index("type: yesno", at)
    errors = errors_of(text[:at] + "type: yesnoo" + text[at + len("type: yesno") :])
    assert len(errors) == 1, errors  # was 17
    assert "unknown question type 'yesnoo'; did you mean 'yesno'?" in errors[0]


def test_nothing_that_names_the_misspelt_question_is_reported_but_other_errors_are() -> None:
    errors = errors_of(CASCADE)
    assert sum("unknown question type" in e for e in errors) == 2  # yesnoo and mult
    assert [e for e in errors if "unknown question type" not in e] == [
        "the condition of question 'other': unknown variable 'cigss'; did you mean 'cigs'?"
    ]
