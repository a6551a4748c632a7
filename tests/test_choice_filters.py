"""Choice filters: cascading selects (a district within the region answered earlier).

The engine offers only the matching options, a submit refuses the others,
exports keep the full list, and ``check`` reports a filter's wrong names at
their line. ``tests/data/choices/xlsform_cascading.yaml`` is the XLSForm
documentation's state/county/city example rewritten in our format.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from instrument.dataset import build_dataset
from instrument.engine import Engine
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.scenarios import run_scenarios
from instrument.values import DK

CASCADING = Path(__file__).parent / "data" / "choices" / "xlsform_cascading.yaml"
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(require_questionnaire(CASCADING))


def codes(engine: Engine, state) -> list[int]:
    return [o.code for o in engine.current_step(state).questions[0].options]


def test_only_the_options_matching_earlier_answers_are_offered(engine):
    state = engine.start(now=NOW, seed=1)
    assert codes(engine, state) == [1, 2]
    assert engine.submit(state, {"state": "2"}, now=NOW).accepted
    assert codes(engine, state) == [11, 12]
    assert engine.submit(state, {"county": "12"}, now=NOW).accepted
    assert codes(engine, state) == [107, 108]  # two attributes: state and county


def test_a_code_the_filter_does_not_offer_is_refused(engine):
    state = engine.start(now=NOW, seed=1)
    engine.submit(state, {"state": 1}, now=NOW)
    result = engine.submit(state, {"county": 11}, now=NOW)
    assert not result.accepted
    assert [p.key for p in result.errors] == ["county"]
    assert "county" not in state.answers


def test_changing_the_earlier_answer_changes_the_offer_and_refuses_the_old_answer(engine):
    state = engine.start(now=NOW, seed=1)
    engine.submit(state, {"state": 2}, now=NOW)
    engine.submit(state, {"county": 11}, now=NOW)
    engine.jump(state, "state", now=NOW)
    engine.submit(state, {"state": 1}, now=NOW)
    assert codes(engine, state) == [13]
    assert not engine.submit(state, {"county": 11}, now=NOW).accepted


def test_a_missing_filter_value_offers_every_option(engine):
    state = engine.start(now=NOW, seed=1, mode="cati")
    engine.submit(state, {"state": DK}, now=NOW)
    assert codes(engine, state) == [11, 12, 13]
    assert engine.submit(state, {"county": 13}, now=NOW).accepted


def test_an_option_without_the_attribute_is_always_offered():
    q = require_text(
        """
choices:
  regions: [{code: 1, label: North}, {code: 2, label: South}]
  towns:
    - {code: 1, label: Aston, attributes: {region: 1}}
    - {code: 2, label: Bude, attributes: {region: [1, 2]}}
    - {code: 3, label: Crewe, attributes: {region: 2}}
    - {code: 96, label: Somewhere else}
items:
  - {id: region, type: single, choices: regions, text: Region?}
  - {id: towns, type: multi, choices: towns, choice_filter: {region: region}, text: Towns?}
"""
    )
    engine = Engine(q)
    state = engine.start(now=NOW, seed=1)
    engine.submit(state, {"region": 2}, now=NOW)
    assert codes(engine, state) == [2, 3, 96]  # an attribute may list several values
    assert not engine.submit(state, {"towns": [1, 3]}, now=NOW).accepted
    assert engine.submit(state, {"towns": [2, 96]}, now=NOW).accepted


def test_exports_keep_every_code_and_label(engine):
    state = engine.start(now=NOW, seed=1)
    for answers in ({"state": 2}, {"county": 12}, {"city": 107}):
        assert engine.submit(state, answers, now=NOW).accepted
    dataset = build_dataset(engine.q, [(state.to_json(), {"id": "c1"})])
    assert dataset.codebook["city"].value_labels[101] == "Dumont"
    assert len(dataset.codebook["city"].value_labels) == 8
    assert dataset.frame["city"].iloc[0] == 107


def test_the_scenarios_of_the_rewritten_xlsform_pass():
    results = run_scenarios(require_questionnaire(CASCADING))
    assert [r.passed for r in results] == [True, True, True]


HEAD = """
meta: {id: f, version: "1", title: F, languages: [en]}
"""


def require_text(body: str):
    result = load_questionnaire_text(HEAD + body, "f.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.questionnaire


def errors(body: str) -> list[str]:
    result = load_questionnaire_text(HEAD + body, "f.yaml")
    return [str(d) for d in result.errors]


LISTS = """
choices:
  regions: [{code: 1, label: North}, {code: 2, label: South}]
  towns:
    - {code: 1, label: Aston, attributes: {region: 1}}
    - {code: 2, label: Bude, attributes: {region: 7}}
"""


def errors_with_lists(items: str) -> list[str]:
    """The errors of ``items`` under the lists above (regions, and towns with a bad region)."""
    return errors(LISTS + items)


def test_check_reports_an_unknown_attribute_at_its_line():
    found = errors_with_lists(
        """
items:
  - {id: region, type: single, choices: regions, text: Region?}
  - id: town
    type: single
    choices: towns
    choice_filter: {regoin: region}
    text: Town?
"""
    )
    assert any(
        e.startswith("f.yaml:15:")
        and "no option of 'towns' has the attribute 'regoin'" in e
        and "did you mean 'region'" in e
        for e in found
    ), found


def test_check_reports_an_unknown_variable_and_a_later_question():
    found = errors_with_lists(
        """
items:
  - {id: town, type: single, choices: towns, choice_filter: {region: regin}, text: Town?}
  - {id: region, type: single, choices: regions, text: Region?}
"""
    )
    assert any("unknown variable 'regin'" in e and e.startswith("f.yaml:11:") for e in found)
    later = errors(
        """
choices:
  regions: [{code: 1, label: North}, {code: 2, label: South}]
  towns: [{code: 1, label: Aston, attributes: {region: 1}}]
items:
  - {id: town, type: single, choices: towns, choice_filter: {region: region}, text: Town?}
  - {id: region, type: single, choices: regions, text: Region?}
"""
    )
    assert any("uses 'region', which is asked later" in e for e in later), later


def test_check_reports_an_attribute_value_that_is_not_a_code_at_its_option():
    found = errors_with_lists(
        """
items:
  - {id: region, type: single, choices: regions, text: Region?}
  - {id: town, type: single, choices: towns, choice_filter: {region: region}, text: Town?}
"""
    )
    assert any(
        e.startswith("f.yaml:8:") and "has region 7, which is not a code of 'region'" in e
        for e in found
    ), found


def test_check_reports_a_filter_on_a_question_without_choices_lists():
    found = errors(
        """
items:
  - {id: n, type: integer, choice_filter: {region: 1}, text: N?}
"""
    )
    assert any("choice_filter" in e for e in found), found
