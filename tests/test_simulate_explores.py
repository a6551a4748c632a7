"""The simulator explores real questionnaires: it gets past pattern checks and reaches the
questions that conditions open only for particular numbers, dates and texts.

Random answers drawn from a step alone never match a pattern such as an 11-digit phone number,
so nearly every simulated respondent used to stop at the first page of tests/data/simulate/
contact_form.yaml, and questions asked only of households over 12 or of people in Cardiff were
never reached. The respondent now also draws from what the questionnaire's expressions compare
answers with (instrument/simulate/hints.py).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from instrument.commands.simulate import stuck_lines
from instrument.engine import Engine
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.simulate import Behaviour, SimulatedInterview, simulate
from instrument.simulate.hints import questionnaire_hints, text_matching

FORM = Path(__file__).parent / "data" / "simulate" / "contact_form.yaml"


def test_most_simulated_respondents_get_past_a_phone_number_pattern() -> None:
    q = require_questionnaire(FORM)
    report = simulate(q, 200, seed=3)
    reached = {stat.id: stat.reached for stat in report.questions}
    assert reached["town"] >= 0.8 * 200  # was 2 of 200: random words never match
    assert report.never_reached == []
    # and the questions that conditions open only for particular answers are reached
    for question in ("cardiff_area", "large_household", "old_tenancy", "low_income"):
        assert reached[question] >= 10, (question, reached[question])
    assert not report.failures


def test_hints_are_what_the_expressions_compare_questions_with() -> None:
    hints = questionnaire_hints(require_questionnaire(FORM))
    assert hints.patterns == {"phone": ("^0[0-9]{10}$",)}  # a check needs a match
    assert hints.traps == {"comment": (r"\w+@\w+",)}  # a match fires a check
    assert hints.texts == {"town": ("Cardiff",)}
    assert hints.numbers == {"household": (12,), "income": (250.5,)}
    assert [d.isoformat() for d in hints.dates["moved_in"]] == ["1990-01-01"]


def test_text_drawn_from_a_pattern_matches_it_and_fits() -> None:
    rng = random.Random(1)
    for pattern in ("^0[0-9]{10}$", r"^[A-Z]{1,2}[0-9] ?[0-9][A-Z]{2}$", r"\w+@\w+\.org"):
        for _ in range(20):
            text = text_matching(pattern, rng, 30)
            assert text is not None and len(text) <= 30 and re.search(pattern, text)
    text_matching("(?<=a)b", rng, 30)  # what rstr cannot draw gives None or a match, never raises
    assert text_matching("[", rng, 30) is None


def test_numbers_fall_on_both_sides_of_a_threshold() -> None:
    q = require_questionnaire(FORM)
    seen: set[int] = set()

    def keep(interview: SimulatedInterview) -> None:
        value = Engine(q).values(interview.state).get("household")
        if isinstance(value, int):
            seen.add(value)

    simulate(q, 150, seed=5, on_interview=keep)
    assert {11, 12, 13} <= seen


HURDLES = """
meta: {id: hurdles, version: '1', title: Hurdles, languages: [en], modes: [web]}
items:
  - id: pin
    type: integer
    min: 1
    max: 9
    text: Pick the lucky number
    checks:
      - error_if: pin != 7 and pin != 3
        message: Not that one
  - id: never
    type: integer
    min: 1
    max: 9
    text: A question nobody gets past
    checks:
      - error_if: never < 5 or never >= 5 or empty(never) or is_dk(never) or is_refused(never)
        message: Never
"""


def test_a_check_that_can_pass_is_not_called_one_that_never_can() -> None:
    result = load_questionnaire_text(HURDLES)
    assert result.questionnaire is not None, result.diagnostics
    report = simulate(result.questionnaire, 120, seed=2, behaviour=Behaviour(max_attempts=2))
    lines = stuck_lines(report)
    pin = next(line for line in lines if line.startswith("pin:"))
    never = next(line for line in lines if line.startswith("never:"))
    assert "can never pass" not in pin  # was printed for every page anyone gave up on
    assert f"{report.passed['pin']:,} got past it" in pin and report.passed["pin"] > 0
    assert "hard check pin#0 fired" in pin
    assert "nobody got past it (a hard check that can never pass?)" in never
    pages = {entry["page"]: entry for entry in report.to_json()["stuck_pages"]}
    assert pages["pin"]["passed"] == report.passed["pin"] and pages["never"]["passed"] == 0
