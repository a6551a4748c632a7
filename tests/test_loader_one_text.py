"""A plain string in a questionnaire of several languages is warned about (issue 14).

The loader takes ``text: Do you agree?`` in a questionnaire with ``languages: [en, cy]`` as the
English text, and every Welsh respondent (and every Welsh automated call) would hear the English.
``instrument check`` warns, at the text's line, naming what it is and the languages without a
text; a warning, not an error, since a name or a unit may well read the same in every language
(and then ``{en: Aloyce, cy: Aloyce}`` says so). Numbers and texts that are only fills are the
same in every language and are not reported; a questionnaire of one language has nothing to warn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from instrument.loader import load_questionnaire, load_questionnaire_text

HEAD = """\
meta:
  id: t
  version: "1"
  title: {en: Title, cy: Teitl}
  languages: LANGUAGES
  modes: [web]
"""

BODY = """\
choices:
  agree:
    - {code: 1, label: Agree}
    - {code: 2, label: {en: Disagree, cy: Anghytuno}}
    - {code: 3, label: 10}
items:
  - id: a
    type: single
    text: Do you agree?
    choices: agree
  - id: b
    type: integer
    min: 0
    text: {en: How many?, cy: Sawl un?}
    unit: "{{ a }}"
"""


def warnings_of(languages: str, body: str = BODY) -> list[str]:
    result = load_questionnaire_text(HEAD.replace("LANGUAGES", languages) + body, "t.yaml")
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    return [str(d) for d in result.diagnostics if d.severity == "warning"]


def test_a_plain_string_in_two_languages_is_warned_about_where_it_is() -> None:
    assert warnings_of("[en, cy]") == [
        "t.yaml:9:24: warning: the label of option 1 in choice list 'agree' is one text, taken "
        "as the 'en' text: it has no 'cy' text, so the 'en' is shown in that language too; "
        "write it per language ({en: ..., cy: ...})",
        "t.yaml:15:11: warning: the text of question 'a' is one text, taken as the 'en' text: "
        "it has no 'cy' text, so the 'en' is shown in that language too; write it per language "
        "({en: ..., cy: ...})",
    ]


def test_every_language_without_a_text_is_named() -> None:
    found = [w for w in warnings_of("[cy, en, fr]") if "question 'a' is one text" in w]
    assert found == [
        "t.yaml:15:11: warning: the text of question 'a' is one text, taken as the 'cy' text: "
        "it has no 'en', 'fr' text, so the 'cy' is shown in those languages too; write it per "
        "language ({cy: ..., en: ...})"
    ]


def test_one_language_has_nothing_to_warn_about() -> None:
    plain = BODY.replace("{en: Disagree, cy: Anghytuno}", "Disagree").replace(
        "{en: How many?, cy: Sawl un?}", "How many?"
    )
    head = HEAD.replace("{en: Title, cy: Teitl}", "Title")
    result = load_questionnaire_text(head.replace("LANGUAGES", "[en]") + plain, "t.yaml")
    assert [str(d) for d in result.diagnostics] == []


@pytest.mark.parametrize(
    "path",
    [
        "questionnaires/social_licence.yaml",
        "questionnaires/school_travel.yaml",
        "questionnaires/examples/biomass_plot.yaml",
        "questionnaires/examples/ons_household.yaml",
    ],
)
def test_the_shipped_questionnaires_write_every_text_in_every_language(path: str) -> None:
    result = load_questionnaire(Path(__file__).resolve().parents[1] / path)
    assert not [str(d) for d in result.diagnostics if "is one text" in d.message]
