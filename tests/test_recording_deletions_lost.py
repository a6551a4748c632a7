"""Recorded answers hold up (issue 14): none points at a recording that came to nothing, and a
question too short for the reference is never recorded, on SQLite and PostgreSQL.

- A recorded answer whose recording the provider reports ``absent`` or ``failed`` is taken back
  through the interview service (``instrument.interviews.recorded_answers``): not answered, the
  log and paradata say why, the interview's place does not move, and a second report changes
  nothing. The store says whether a recording came to nothing before a reference is stored.
- A free-text question whose ``max_length`` is shorter than ``recording:`` and a sid (44) is
  skipped by the call rather than recorded, and ``instrument check`` says so at its line.
- Through the automated calls' webhooks, a real call recorded by the call simulator: Twilio's
  ``absent`` callback after the turn takes the answer back; one before the turn leaves no
  reference and the caller is asked again.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_ivr_recording import TOKEN, call, code_for, make_app, study, values_of  # noqa: F401
from test_ivr_webhooks import signed_post
from test_phone_telephony import PUBLIC

from instrument.cli import cli
from instrument.dataset.builder import build_dataset
from instrument.engine import Engine
from instrument.interviews import Answers, InterviewService, Seen, Surveys
from instrument.interviews.recorded_answers import forget_lost_recording
from instrument.ivr.prompts import IvrSettings, ivr_words, plan_step
from instrument.ivr.recording import LOST, REFERENCE_LENGTH, answer_reference, holds_reference
from instrument.loader import load_questionnaire_text
from instrument.server.app import get_host
from instrument.store import Store
from instrument.store.schema import answer_events
from instrument_phone.ivr.simulator import (
    CallSimulator,
    Outcome,
    Recording,
    Reply,
    WireRequest,
    WsgiTransport,
)
from tests.store_fixtures import *
from tests.test_recording_deletions import QUESTIONNAIRE, QUESTIONNAIRE_ID

ROOT = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2027, 3, 3, 18, 0, tzinfo=dt.UTC)
LOST_SID = "RE" + "4" * 32


def recorded_then_typed(store: Store) -> tuple[InterviewService, str]:
    """An interview whose "story" was recorded on a call; "more" typed on the web after."""
    questionnaire = load_questionnaire_text(QUESTIONNAIRE).questionnaire
    assert questionnaire is not None
    service = InterviewService(store, Surveys.serve(store, [questionnaire]))
    started = service.start(QUESTIONNAIRE_ID, mode="ivr", actor="ivr:CA1", now=T0)
    interview = started.interview.id
    for n, (mode, key, value) in enumerate(
        [("ivr", "story", answer_reference(LOST_SID)), ("web", "more", "We moved house.")]
    ):
        shown = service.show(interview, mode=mode, actor="respondent", now=T0)
        seen = Seen(revision=shown.interview.revision, token=shown.step.token, key=f"k{n}")
        saved = service.answer(
            interview, seen, lambda _s, k=key, v=value: Answers({k: v}, confirmed=True),
            mode=mode, actor="respondent", now=T0,
        )  # fmt: skip
        assert saved.kind == "saved", saved
    return service, interview


def test_a_lost_recording_takes_its_answer_back_and_only_once(store: Store) -> None:
    service, interview = recorded_then_typed(store)
    before = service.load(interview)
    later = T0 + dt.timedelta(seconds=40)

    lost = forget_lost_recording(
        service, interview, LOST_SID, status="absent", mode="ivr", actor="ivr:CA1", now=later
    )

    assert (lost.keys, lost.outcome) == (("story",), "saved")
    after = service.load(interview)
    values = after.engine.values(after.state)
    assert values["story"] is None and values["more"] == "We moved house."
    assert after.record.revision == before.record.revision + 1
    assert (
        after.engine.current_step(after.state).token
        == before.engine.current_step(before.state).token
    )  # its place did not move
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(answer_events.c.kind, answer_events.c.variable, answer_events.c.value,
                      answer_events.c.mode, answer_events.c.at)
            .where(answer_events.c.interview_id == interview)
            .order_by(answer_events.c.seq)
        ).all()  # fmt: skip
    story = [r for r in rows if r.kind == "answer" and r.variable == "story"]
    assert [r.value for r in story] == [answer_reference(LOST_SID), None]
    assert (story[-1].mode, story[-1].at) == ("ivr", later)
    flagged = [
        r.value for r in rows if r.kind == "paradata" and r.value.get("event") == "recording_lost"
    ]
    assert flagged == [
        {
            "event": "recording_lost",
            "channel": "ivr",
            "ivr_flags": f"story:{LOST}",
            "status": "absent",
        }
    ]
    dataset = build_dataset(
        after.questionnaire, store.iter_export_records(QUESTIONNAIRE_ID), include_partial=True
    )
    assert LOST_SID not in dataset.frame.to_csv()
    assert dataset.frame["story"].tolist() == ["-9"]  # not answered, as a text column codes it

    again = forget_lost_recording(
        service, interview, LOST_SID, status="failed", mode="ivr", actor="ivr:CA1", now=later
    )
    assert again.keys == () and again.outcome in ("replayed", "stale")
    assert service.load(interview).record.revision == after.record.revision


def test_a_recording_no_answer_holds_changes_nothing(store: Store) -> None:
    service, interview = recorded_then_typed(store)
    revision = service.load(interview).record.revision
    lost = forget_lost_recording(
        service, interview, "RE" + "5" * 32, status="failed", mode="ivr", actor="ivr:CA1", now=T0
    )
    assert (lost.keys, lost.outcome) == ((), "stale")
    assert service.load(interview).record.revision == revision
    with pytest.raises(ValueError, match="lost when"):
        forget_lost_recording(
            service, interview, LOST_SID, status="completed", mode="ivr", actor="x", now=T0
        )


@pytest.mark.parametrize("status", ["absent", "failed"])
def test_the_store_says_when_a_recording_came_to_nothing(store: Store, status: str) -> None:
    assert store.lost_recording(LOST_SID) is None
    for got in ("completed", status):
        store.record_call_event(
            LOST_SID, event_key=f"{LOST_SID}:ivr_recording:{got}", status=got, at=T0,
            payload={"RecordingSid": LOST_SID, "RecordingStatus": got}, now=T0,
        )  # fmt: skip
    assert store.lost_recording(LOST_SID) == status
    assert store.lost_recording("RE" + "6" * 32) is None


# -- a question too short to hold the reference -------------------------------------------------

SHORT = """\
meta:
  id: short
  version: '1'
  title: Short answers
  languages: [en]
  modes: [web, ivr]
items:
  - page: both
    items:
      - {id: initials, type: text, max_length: 20, text: What are your initials?}
      - {id: story, type: long_text, max_length: 44, text: Tell us what happened.}
"""


def test_a_question_too_short_for_the_reference_is_skipped_not_recorded() -> None:
    assert REFERENCE_LENGTH == len(answer_reference("RE" + "0" * 32)) == 44
    assert holds_reference(44) and holds_reference(None) and not holds_reference(43)
    questionnaire = load_questionnaire_text(SHORT).questionnaire
    assert questionnaire is not None
    engine = Engine(questionnaire)
    state = engine.start(mode="ivr", now=T0, seed=1)
    step = engine.current_step(state)
    plan = plan_step(step, ivr_words(questionnaire, "en"), settings=IvrSettings(recording=True))
    kinds = {(p.key, p.kind) for p in plan.prompts}
    assert ("initials", "skipped") in kinds  # 20 characters cannot hold one
    assert {("story", "consent"), ("story", "record")} <= kinds  # 44 can


def test_instrument_check_says_where_a_question_cannot_be_recorded(tmp_path: Path) -> None:
    shutil.copy(ROOT / "tests" / "data" / "mini.yaml", tmp_path / "mini.yaml")
    (tmp_path / "mini.fieldwork.yaml").write_text(
        "telephony:\n  recording: true\n  consent_text: We record calls. Is that all right?\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "mini.yaml")])
    line = next(
        n for n, text in enumerate((tmp_path / "mini.yaml").read_text().splitlines(), 1)
        if "id: comment" in text
    )  # fmt: skip
    warning = next(
        (
            text
            for text in result.output.splitlines()
            if "question 'comment' has max_length 20" in text
        ),
        None,
    )
    assert warning is not None, result.output
    assert warning.startswith(f"{tmp_path / 'mini.yaml'}:{line}:") and ": warning: " in warning
    assert "too short for a recording's reference (44 characters" in warning
    without = tmp_path / "mini.fieldwork.yaml"
    without.unlink()  # a study that does not record skips free text anyway: said as before
    quiet = CliRunner().invoke(cli, ["check", str(tmp_path / "mini.yaml")])
    assert "has max_length 20" not in quiet.output


# -- through the automated calls' webhooks --------------------------------------------------------


def test_twilios_absent_callback_takes_the_recorded_answer_back(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(study(tmp_path))
    code = code_for(app)
    result = call(app, [code + "#", "2", "1", Recording(seconds=6, ending="#"), "1975#"])
    result.expect(Outcome.HANGUP)
    sid = values_of(app, result)["comment"].removeprefix("recording:")
    form = {"CallSid": result.call_sid, "RecordingSid": sid, "RecordingStatus": "absent"}
    url = f"{PUBLIC}/ivr/recording/{result.call_sid}/5"
    assert signed_post(app, url, form).status_code == 204
    assert get_host(app).store.lost_recording(sid) == "absent"
    assert values_of(app, result)["comment"] is None


class _CallbackFirst(WsgiTransport):
    """Twilio as it may behave: the first recording's status callback (``absent``) reaches us
    before the turn that ends its ``<Record>``."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.app = app
        self.lost: str | None = None

    def send(self, request: WireRequest) -> Reply:
        form = dict(urllib.parse.parse_qsl((request.body or b"").decode("utf-8")))
        if self.lost is None and "/ivr/turn/" in request.path and "RecordingSid" in form:
            self.lost = form["RecordingSid"]
            callback = {**form, "RecordingStatus": "absent"}
            url = f"{PUBLIC}/ivr/recording/{form['CallSid']}/1"
            assert signed_post(self.app, url, callback).status_code == 204
        return super().send(request)


def test_a_recording_reported_absent_before_its_turn_is_asked_for_again(
    make_app: Any, tmp_path: Path
) -> None:
    """The status callback may come before the turn that ends the ``<Record>``: the turn then
    keeps no reference to it (it would point at nothing) and the caller is asked again."""
    app = make_app(study(tmp_path))
    transport = _CallbackFirst(app)
    simulator = CallSimulator(transport, PUBLIC, TOKEN, rng=random.Random(7))
    spoken = Recording(seconds=6, ending="#")
    script = [code_for(app) + "#", "2", "1", spoken, spoken, "1975#"]
    result = simulator.call("/ivr/voice", script, status_callback="/ivr/status")
    result.expect(Outcome.HANGUP)
    assert transport.lost is not None
    kept = values_of(app, result)["comment"]
    assert kept.startswith("recording:") and kept != f"recording:{transport.lost}"
