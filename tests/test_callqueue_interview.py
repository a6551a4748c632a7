"""A case has one interview whatever the mode, on SQLite and PostgreSQL.

A web partial is continued by phone: the same interview, each answer with the
mode it was given in, one export row coded as an all-web interview's would
be. Two tabs (two threads) asking for the case's interview at once share one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from instrument.callqueue import Claimed
from instrument.exporting import ExportRequest, run_export
from instrument.interviews import Saved
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import Store
from tests.callqueue_helpers import T0, add_case, answer_first_page, queue_on, run_all
from tests.store_fixtures import *


def _export(store: Store, out: Path) -> pd.DataFrame:
    url = store.engine.url.render_as_string(hide_password=False)
    run_export(
        ExportRequest("mini", out, formats=["csv"], database=url, include_partial=True),
        PluginFacade(get_plugin_manager()),
    )
    return pd.read_csv(out / "mini.csv", dtype=str, keep_default_na=False)


def test_a_web_partial_is_finished_by_phone_as_one_interview(store: Store, tmp_path: Path) -> None:
    queue = queue_on(store)
    service = queue.interviews
    for case_id in ("c1", "c2"):
        add_case(store, case_id)
    # c1: the respondent starts on the web and stops after the first page
    web = service.start("mini", mode="web", actor="respondent", now=T0, case_id="c1")
    saved = answer_first_page(
        service, web.interview.id, {"parent": "1"}, mode="web", actor="respondent", now=T0,
        key="w1",
    )  # fmt: skip
    assert isinstance(saved, Saved)
    claimed = queue.next_case("ivan", now=T0)
    assert isinstance(claimed, Claimed) and claimed.case_id == "c1"
    codes = [d.code for d in queue.outcomes_for(claimed.attempt_id)]
    assert "partial" in codes and "complete" not in codes  # started on the web
    interview_id = queue.interview_for("c1", mode="cati", actor="ivan", now=T0)
    assert interview_id == web.interview.id
    saved = answer_first_page(
        service, interview_id, {"n_kids": "2"}, mode="cati", actor="ivan", now=T0, key="p1"
    )
    assert isinstance(saved, Saved) and saved.interview.mode == "cati"
    # c2: the same answers, all on the web
    other = service.start("mini", mode="web", actor="respondent", now=T0, case_id="c2")
    for key, values in (("o1", {"parent": "1"}), ("o2", {"n_kids": "2"})):
        answer_first_page(
            service, other.interview.id, values, mode="web", actor="respondent", now=T0, key=key
        )
    answers = [(e.variable, e.mode) for e in store.events_for(interview_id) if e.kind == "answer"]
    assert answers == [("parent", "web"), ("n_kids", "cati")]
    assert [r.id for r in store.interviews_for_case("c1")] == [interview_id]
    view = queue.case_view("c1", viewer_zone="Europe/London", now=T0)
    assert view.interview_id == interview_id and view.interview_modes == ("web", "cati")

    rows = _export(store, tmp_path / "out")
    assert len(rows) == 2  # one row a case
    assert rows["case_id"].nunique() == 2  # pseudonymous ids, one each
    # the rows' order is not the cases' (both started at T0): tell them by the mode
    phone, web_only = sorted(
        (row for _, row in rows.iterrows()), key=lambda r: r["mode"], reverse=True
    )
    assert phone["parent"] == web_only["parent"] == "1"
    assert phone["n_kids"] == web_only["n_kids"] == "2"
    assert (phone["mode_first"], phone["mode"], phone["mode_switch"]) == ("1", "2", "1")
    assert (web_only["mode_first"], web_only["mode"], web_only["mode_switch"]) == ("1", "1", "0")
    # every other column is coded alike (the experiment's arm is drawn per interview)
    own = ["case_id", "mode", "mode_switch", "interviewer", "arm"]
    assert phone.drop(own).equals(web_only.drop(own))


def test_two_tabs_at_once_get_the_one_interview(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "c1")
    found: list[str] = []

    def take() -> None:
        found.append(queue.interview_for("c1", mode="cati", actor="ivan", now=T0))

    errors = run_all([take] * 4)
    assert not errors, errors
    assert len(set(found)) == 1 and len(found) == 4
    assert [r.id for r in store.interviews_for_case("c1")] == found[:1]


def test_the_web_start_after_the_phone_joins_the_case_interview(store: Store) -> None:
    queue = queue_on(store)
    add_case(store, "c1")
    interview_id = queue.interview_for("c1", mode="cati", actor="ivan", now=T0)
    again = queue.interviews.start(
        "mini", mode="web", actor="respondent", now=T0, case_id="c1", one_per_case=True
    )
    assert again.interview.id == interview_id
    assert len(store.interviews_for_case("c1")) == 1


def test_without_looking_first_the_case_interview_is_still_the_one(store: Store) -> None:
    """The console's path (``look_first=False``, the language from the claim): nothing is read
    before the start, and an interview the web started meanwhile is the one returned; two tabs
    at once on that path share one too."""
    queue = queue_on(store)
    for case_id in ("c1", "c2"):
        add_case(store, case_id)
    web = queue.interviews.start("mini", mode="web", actor="respondent", now=T0, case_id="c1")
    got = queue.interview_for(
        "c1", mode="cati", actor="ivan", now=T0, language="en", look_first=False
    )
    assert got == web.interview.id
    assert len(store.interviews_for_case("c1")) == 1
    found: list[str] = []

    def take() -> None:
        found.append(queue.interview_for("c2", mode="cati", actor="ivan", now=T0, look_first=False))

    errors = run_all([take] * 4)
    assert not errors, errors
    assert len(set(found)) == 1 and [r.id for r in store.interviews_for_case("c2")] == found[:1]
