"""The paradata file carries answer changes, soft-check confirmations and the device class.

They were stored (answer events, ``warning_confirmed`` events, the web's
``submitted`` events with the device) but the paradata file left them out. An
interview driven through the interview service as the web drives it: a soft
check confirmed, back, an answer changed, from a phone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from test_interviews import T0, given, seen, service_on, show

from instrument.exporting import ExportRequest, run_export
from instrument.interviews import Saved
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import Store
from tests.store_fixtures import *

QUESTIONNAIRE = """\
meta: {id: para, version: "1", title: Paradata, languages: [en]}
items:
  - id: n_rooms
    type: integer
    min: 1
    max: 30
    text: How many rooms does your home have?
    checks:
      - warn_if: n_rooms > 12
        message: That is a lot of rooms. Is it right?
  - id: rating
    type: single
    randomize: true
    choices:
      - {code: 1, label: "Yes"}
      - {code: 2, label: "No"}
      - {code: 3, label: Not sure}
    text: Do you like it?
  - id: comment
    type: text
    text: Anything else?
"""
PHONE = {"device": "mobile"}


def _answer(service, interview_id, values, *, confirmed=()):  # type: ignore[no-untyped-def]
    shown = show(service, interview_id)
    key = f"k{shown.interview.revision}"
    return service.answer(
        interview_id, seen(shown, key), given(values, confirmed=confirmed),
        mode="web", actor="respondent", now=T0, client=PHONE,
    )  # fmt: skip


def test_paradata_has_changes_confirmations_and_the_device(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "para.yaml"
    path.write_text(QUESTIONNAIRE, encoding="utf-8")
    service = service_on(store, path)
    interview_id = service.start("para", mode="web", actor="respondent", now=T0).interview.id
    assert isinstance(_answer(service, interview_id, {"n_rooms": "14"}, confirmed=True), Saved)
    shown_rating = " ".join(
        str(o.code) for o in show(service, interview_id).step.questions[0].options
    )
    assert isinstance(_answer(service, interview_id, {"rating": "1"}), Saved)
    shown = show(service, interview_id)
    back = service.back(
        interview_id, seen(shown, "back"), mode="web", actor="respondent", now=T0, client=PHONE
    )
    assert isinstance(back, Saved)
    assert isinstance(_answer(service, interview_id, {"rating": "2"}), Saved)  # changed
    assert isinstance(_answer(service, interview_id, {"comment": "no"}), Saved)

    out = tmp_path / "out"
    url = store.engine.url.render_as_string(hide_password=False)
    run_export(
        ExportRequest("para", out, formats=["csv"], database=url),
        PluginFacade(get_plugin_manager()),
    )
    paradata = pd.read_csv(out / "para_paradata.csv", dtype=str, keep_default_na=False)
    events = list(zip(paradata["event"], paradata["questions"], paradata["check"]))
    assert events[0] == ("warning_confirmed", "n_rooms", "n_rooms#0"), events
    changes = paradata[paradata["event"] == "answer_change"]
    assert changes["questions"].tolist() == ["rating"]  # first answers are no change
    moves = paradata[paradata["event"].isin(["submit", "back"])]
    assert len(moves) == 5 and set(moves["device"]) == {"mobile"}
    assert set(paradata.loc[~paradata.index.isin(moves.index), "device"]) == {""}
    # the options of a randomised question, in the order the page showed them
    orders = paradata.loc[paradata["page"] == "rating", ["event", "order"]]
    assert set(orders["order"]) == {"rating: " + shown_rating}, orders
    # answers themselves are never in the paradata
    assert "14" not in set(paradata.drop(columns=["event_no", "seconds", "at"]).stack())
