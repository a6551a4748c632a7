"""A choice filter that leaves nothing to choose never leaves the respondent stuck (issue 11).

``tests/data/choices/empty_district.yaml`` has no district for the East. ``check``
warns at the choice_filter's line; in the interview the district is not asked of
someone in the East (there is nothing to choose): it is routed past as if its
condition were false, and exported as routed past, in every mode. Without this the
page showed a required question with no option, which no answer could get past.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from test_web_support import *  # make_app, close_app, Respondent, the app fixtures

from instrument.cli import cli
from instrument.dataset import Pseudonymiser, build_dataset
from instrument.engine import Engine
from instrument.loader import load_questionnaire_text, require_questionnaire

EMPTY = Path(__file__).parent / "data" / "choices" / "empty_district.yaml"
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)


def test_check_warns_where_a_filter_can_offer_nothing() -> None:
    result = CliRunner().invoke(cli, ["check", str(EMPTY)])
    assert result.exit_code == 0, result.output
    line = next(text for text in result.output.splitlines() if "offers no option" in text)
    assert line.startswith(f"{EMPTY}:21:7: warning: the choice_filter of question 'district'")
    assert "when region is 3" in line and "not asked" in line


def test_no_warning_when_every_answer_has_an_option_or_one_is_always_offered() -> None:
    text = EMPTY.read_text(encoding="utf-8")
    for fixed in (
        text.replace("{region: [1, 2]}", "{region: [1, 2, 3]}"),  # Crewe in the East too
        text.replace("attributes: {region: [1, 2]}}", "}"),  # Crewe offered whatever the answer
    ):
        result = load_questionnaire_text(fixed, "q.yaml")
        assert result.ok and not result.diagnostics, [str(d) for d in result.diagnostics]


def test_the_engine_routes_past_a_question_with_nothing_to_offer() -> None:
    engine = Engine(require_questionnaire(EMPTY))
    east = engine.start(now=NOW, seed=1)
    assert engine.submit(east, {"region": 3}, now=NOW).accepted
    step = engine.current_step(east)
    assert [v.key for v in step.questions] == ["years"]  # not the district, offering nothing
    assert engine.submit(east, {"years": 4}, now=NOW).accepted and east.outcome == "complete"
    assert "district" not in engine.values(east) and engine.asked_ids(east) == ["region", "years"]
    north = engine.start(now=NOW, seed=1)
    engine.submit(north, {"region": 1}, now=NOW)
    assert [o.code for o in engine.current_step(north).questions[0].options] == [101, 103]
    engine.submit(north, {"district": 101}, now=NOW)
    # back to the region: the East now routes the district answered for the North past
    engine.jump(north, "region", now=NOW)
    engine.submit(north, {"region": 3}, now=NOW)
    assert engine.current_step(north).questions[0].key == "years"
    engine.submit(north, {"years": 2}, now=NOW)
    items = [(s.to_json(), {"id": n}) for n, s in (("east", east), ("north", north))]
    frame = build_dataset(engine.q, items, pseudonymiser=Pseudonymiser(b"k" * 32)).frame
    routed_past = engine.q.missing.routed_past
    assert list(frame["district"]) == [routed_past, routed_past]


def test_the_web_never_shows_an_empty_required_choice(sqlite_url: str, clock: Any) -> None:
    app = make_app(sqlite_url, clock, EMPTY)
    try:
        r = Respondent(app, "empty_district")
        r.start()
        page = r.post({"region": "3"})
        assert page.status == 200 and "years" in page.names() and "district" not in page.names()
        page = r.post({"years": "4"})
        assert "years" not in page.names()  # finished: the thank-you page
    finally:
        close_app(app)
