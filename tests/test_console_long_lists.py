"""Number entry for long lists on an interviewer's screen (issue 11: "number entry in CATI").

A choice list read from a CSV file can hold thousands of options. On the
terminal's interviewer screen (``--mode cati``) such a list is never printed, whatever
the question's display: it says how many answers there are, the option's code keyed
as a number is the answer (several, separated by commas, for a multiple choice), a
label typed whole is too, and a few letters list the options that match, with their
codes, before asking again. A short list is still listed in full.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_console import interview

QUESTIONNAIRE = """\
meta: {id: long_lists, version: "1", title: Places, languages: [en], modes: [web, cati]}
choices:
  places: {file: places.csv}
  sizes: [{code: 1, label: Small}, {code: 2, label: Large}]
items:
  - {id: home, type: single, choices: places, text: Where do you live?}
  - {id: before, type: single, choices: places, display: search, text: Where did you live before?}
  - {id: visited, type: multi, choices: places, text: Which of these have you visited?}
  - {id: size, type: single, choices: sizes, text: Is it small or large?}
"""


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    with (folder / "places.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "label"])
        for i in range(1, 3001):
            writer.writerow([1000 + i, f"Place {i:04d}" + (" Upper" if i % 1000 == 0 else "")])
    path = folder / "long_lists.yaml"
    path.write_text(QUESTIONNAIRE, encoding="utf-8")
    return path


def test_the_interviewer_keys_the_code_of_a_long_list_as_a_number(places: Path) -> None:
    _, session, transcript = interview(
        ["2007", "1500", "1001, 2999", "1"], mode="cati", path=places
    )
    answers = session.state.answers
    assert (answers["home"], answers["before"], answers["visited"], answers["size"]) == (
        2007,
        1500,
        (1001, 2999),
        1,
    )
    assert "Place 0003" not in transcript  # no list of 3,000 lines on the screen
    assert transcript.count("(3,000 answers: type the code of one") == 3
    assert "  1) Small" in transcript and "  2) Large" in transcript  # a short list is listed
    assert len(transcript.splitlines()) < 80


def test_letters_list_the_matches_and_a_label_typed_whole_is_the_answer(places: Path) -> None:
    _, session, transcript = interview(
        ["upper", "2000", "place 0042", "Place 0001, Place 0002", "1001, 1002", "2"],
        mode="cati",
        path=places,
    )
    found = transcript.split("Answers that match 'upper' (type the code):", 1)[1]
    assert found.split("\n>")[0].split("\n")[1:] == [
        "  2000) Place 1000 Upper",
        "  3000) Place 2000 Upper",
        "  4000) Place 3000 Upper",
    ]
    answers = session.state.answers
    assert (answers["home"], answers["before"], answers["visited"]) == (2000, 1042, (1001, 1002))
    assert "No answer matches 'Place 0001, Place 0002'" in transcript  # not one label


def test_a_code_the_list_does_not_have_is_refused_with_the_engines_message(places: Path) -> None:
    _, session, transcript = interview(["99", "1001"], mode="cati", path=places)
    assert "! Select one of the answers shown" in transcript
    assert session.state.answers["home"] == 1001


def test_check_warns_of_thousands_of_radio_buttons(places: Path) -> None:
    from instrument.loader import load_questionnaire

    warnings = [str(d) for d in load_questionnaire(places).diagnostics if d.severity == "warning"]
    assert warnings == [
        f"{places}:6:30: warning: question 'home' shows its 3,000 options as radio buttons, one a "
        "line of the web page: give it display: search (a field suggesting the labels as they are "
        "typed; an interviewer keys the code)"
    ]
