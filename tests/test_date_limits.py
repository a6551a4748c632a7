"""Dates relative to today or to other dates: the age, add_months and add_years functions, and
date questions whose min and max are worked out per interview (``min: today - 120 years``)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_expressions import SCOPE, error_of, ev

from instrument.engine import Engine
from instrument.expressions import compile_expression
from instrument.loader import load_questionnaire_text
from instrument.loader.date_limits import relative_source
from instrument.values import DK

NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)

# -- the functions (today is 2024-06-14 in test_expressions) --------------------------


def test_age_in_whole_years_today_or_at_a_date():
    assert ev("age(birth)") == 33  # born 1990-06-15: 34 tomorrow
    assert ev("age(birth)", birth=dt.date(1990, 6, 14)) == 34
    assert ev("age(birth, start)") == 33
    assert ev("age(birth, date('2000-06-15'))") == 10
    assert ev("age(date('2004-02-29'), date('2024-02-28'))") == 19  # leapling: 1 March
    assert ev("age(date('2004-02-29'), date('2024-02-29'))") == 20


def test_age_of_a_missing_date_is_missing():
    assert ev("age(birth)", birth=None) is None
    assert ev("age(birth)", birth=DK) is None
    assert ev("age(birth, start)", start=None) is None
    assert ev("age(birth) >= 18", birth=None) is False


def test_add_months_and_years_keep_the_day_or_take_the_months_last():
    assert ev("add_months(date('2024-01-31'), 1)") == dt.date(2024, 2, 29)
    assert ev("add_months(date('2023-01-31'), 1)") == dt.date(2023, 2, 28)
    assert ev("add_months(date('2024-03-15'), -14)") == dt.date(2023, 1, 15)
    assert ev("add_years(date('2024-02-29'), 1)") == dt.date(2025, 2, 28)
    assert ev("add_years(today(), -120)") == dt.date(1904, 6, 14)
    assert ev("add_years(date('9999-01-01'), 1)") is None  # out of range: missing, no crash
    assert ev("add_months(birth, 1)", birth=None) is None


def test_the_functions_are_checked_and_described():
    assert "age() takes 1 or 2 arguments" in error_of("age()").message
    assert "a date of birth" in error_of("age(name) > 1").message
    assert "a whole number" in error_of("add_years(birth, 1.5) > start").message
    source = "age(birth, start) >= 16"
    described = compile_expression(source, SCOPE).describe()
    assert "the age in whole years at start of someone born on birth" in described


# -- relative limits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "source"),
    [
        ("today", "today()"),
        ("today - 120 years", "add_years(today(), -120)"),
        ("today+1 year", "add_years(today(), 1)"),
        ("visit_date + 2 weeks", "add_days(visit_date, 14)"),
        ("start_date - 6 months", "add_months(start_date, -6)"),
        ("visit_date", "visit_date"),
        ("add_days(visit_date, 1)", None),
    ],
)
def test_relative_limits_are_written_as_expressions(written, source):
    assert relative_source(written) == source


SOURCE = """
meta: {id: limits, version: "1", title: Limits, languages: [en], modes: [web, cati]}
preload:
  - {id: visit_date, type: date, label: Date of the visit}
items:
  - {id: born, type: date, min: today - 120 years, max: today, text: When were you born?}
  - {id: seen, type: date, min: visit_date, max: visit_date + 2 weeks, text: When were you seen?}
  - {id: age_now, type: computed, expr: age(born)}
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    result = load_questionnaire_text(SOURCE, "l.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    return Engine(result.questionnaire)


def test_a_limit_relative_to_today(engine):
    state = engine.start(now=NOW, seed=1, case={"visit_date": dt.date(2025, 12, 1)})
    view = engine.current_step(state).questions[0]
    assert (view.min, view.max) == (dt.date(1906, 1, 15), "today")
    result = engine.submit(state, {"born": dt.date(1906, 1, 14)}, now=NOW)
    assert [p.message for p in result.errors] == ["Enter a date on or after 15 January 1906"]
    assert engine.submit(state, {"born": dt.date(1990, 1, 16)}, now=NOW).accepted
    assert "age_now" not in engine.values(state)  # after the page shown now: not reached yet
    assert engine.submit(state, {"seen": dt.date(2025, 12, 1)}, now=NOW).accepted
    assert engine.values(state)["age_now"] == 35


def test_a_limit_relative_to_a_preloaded_date(engine):
    state = engine.start(now=NOW, seed=1, case={"visit_date": dt.date(2025, 12, 1)})
    engine.submit(state, {"born": dt.date(1990, 1, 16)}, now=NOW)
    view = engine.current_step(state).questions[0]
    assert (view.min, view.max) == (dt.date(2025, 12, 1), dt.date(2025, 12, 15))
    result = engine.submit(state, {"seen": dt.date(2025, 12, 16)}, now=NOW)
    assert [p.message for p in result.errors] == ["Enter a date on or before 15 December 2025"]
    assert not engine.submit(state, {"seen": dt.date(2025, 11, 30)}, now=NOW).accepted
    assert engine.submit(state, {"seen": dt.date(2025, 12, 15)}, now=NOW).accepted


def test_a_limit_whose_date_is_missing_limits_nothing(engine):
    state = engine.start(now=NOW, seed=1)  # no visit date in the case
    engine.submit(state, {"born": dt.date(1990, 1, 16)}, now=NOW)
    view = engine.current_step(state).questions[0]
    assert (view.min, view.max) == (None, None)
    assert engine.submit(state, {"seen": dt.date(2001, 1, 1)}, now=NOW).accepted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("today - 120 years", "today - 3 fortnights"),
            "l.yaml:6:33: error: the min of question 'born' must be a date like 2024-01-31",
        ),
        (
            ("today - 120 years", "today - 1 yaer"),
            "the min of question 'born' must be a date like",
        ),
        (("today - 120 years", "visit_dat - 1 year"), "unknown variable 'visit_dat'"),
        (("visit_date + 2 weeks", "born"), None),
        (
            ("min: visit_date,", "min: seen,"),
            "the min of question 'seen' uses 'seen', which is asked on the same page",
        ),
        (("today - 120 years", "len('x')"), "this must give a date"),
    ],
)
def test_check_reports_a_wrong_limit_at_its_line(change, message):
    result = load_questionnaire_text(SOURCE.replace(*change), "l.yaml")
    found = [str(d) for d in result.errors]
    if message is None:
        assert found == []
    else:
        assert any(message in m for m in found), found


def test_fixed_limits_still_work_and_are_still_checked():
    source = SOURCE.replace("today - 120 years", "2024-05-01").replace(
        "max: today", "max: 2024-01-01"
    )
    found = [str(d) for d in load_questionnaire_text(source, "l.yaml").errors]
    assert any("has min 2024-05-01 after max 2024-01-01" in m for m in found), found
