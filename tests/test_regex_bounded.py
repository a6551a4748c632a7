"""``regex()`` cannot hang a page turn (issue 11).

Python's ``re`` has no time limit, and a pattern that can split a text between
nested repeats in exponentially many ways takes hours to refuse a long answer
(the published biomass form's phone number check needs minutes for 70 digits).
Such patterns are refused when the file loads, at the pattern's line, saying what
to write instead; and no text longer than ``MAX_SUBJECT`` is searched, which bounds
what the patterns left can cost. No catastrophic match is ever run here.
"""

from __future__ import annotations

import pytest
from test_expressions import error_of, ev, pointed

from instrument.expressions.patterns import MAX_SUBJECT, UnsafePattern, compile_pattern
from instrument.loader import load_questionnaire_text

REFUSED_PATTERNS = [
    r"^(a+)+$",
    r"^(\w+\s?)*$",  # words and optional spaces: the classic
    r"^(\d+)*$",
    r"(x+x+)+y",
    r"(.*a){12}",
    r"^(a|a)*$",  # alternatives matching the same text
    r"(a|ab|a)*c",
    r"^(([0-9]{1})*[- .(]*([0-9]{3})[- .)]*[0-9]{3}[- .]*[0-9]{4})+$",  # the biomass form's
]

ACCEPTED_PATTERNS = [
    r"^0[0-9]{10}$",
    r"^[A-Z]{1,2}[0-9]",
    r"\w+@\w+",
    r"[^@]*[^@ ]@[^@ ]+[.][a-zA-Z]+[^@]*",
    r"^([a-z]+\.)*[a-z]+@example\.org$",  # the dot ends each repeat
    r"(\d{1,3}\.){3}\d{1,3}",
    r"^[0-9]*[- .(]*[0-9]{3}[- .)]*[0-9]{3}[- .]*[0-9]{4}$",  # the biomass check, rewritten
    r"(\w|\d)+",  # Python reads one class
    r"^(ab|a)*$",
    r"(cat|car)+",
    r"^(?>\w+\s?)*$",  # atomic: gives nothing back
    r"^(\w++\s?)*$",  # possessive
    r"^[A-Z]{2}\d{2}( ?\d{4}){4}$",
]


@pytest.mark.parametrize("pattern", REFUSED_PATTERNS)
def test_a_pattern_that_can_backtrack_exponentially_is_refused(pattern: str) -> None:
    with pytest.raises(UnsafePattern):
        compile_pattern(pattern)
    source = f"regex(name, '{pattern}')"
    error = error_of(source)
    assert error.message.startswith("this regular expression could take hours on a long answer")
    assert pointed(source, error) == f"'{pattern}'"


@pytest.mark.parametrize("pattern", ACCEPTED_PATTERNS)
def test_patterns_researchers_write_are_accepted(pattern: str) -> None:
    compile_pattern(pattern)
    assert ev(f"regex(name, '{pattern}')", name="abc") in (True, False)


def test_check_names_the_line_and_says_what_to_write() -> None:
    text = """\
meta: {id: t, version: "1", title: T, languages: [en]}
items:
  - id: phone
    type: text
    text: Your phone number?
    checks:
      - error_if: "not regex(phone, '^([0-9]+ ?)+$')"
        message: Type the number
"""
    result = load_questionnaire_text(text, "q.yaml")
    (error,) = [str(d) for d in result.errors]
    assert error.startswith("q.yaml:7:")
    assert "a repeat inside a repeat" in error and "possessive" in error
    fixed = load_questionnaire_text(text.replace("([0-9]+ ?)+", "[0-9 ]+"), "q.yaml")
    assert fixed.ok, [str(d) for d in fixed.diagnostics]


def test_a_text_longer_than_the_limit_is_not_searched() -> None:
    assert ev(r"regex(name, '^a+$')", name="a" * MAX_SUBJECT) is True
    assert ev(r"regex(name, '^a+$')", name="a" * (MAX_SUBJECT + 1)) is False
    assert ev(r"regex(name, 'b')", name="a" * 10 * MAX_SUBJECT + "b") is False
