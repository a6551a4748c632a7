"""The webhooks ask as the study says: recorded free text, spoken answers, re-prompts and giving up.

Real app on a real store (SQLite and PostgreSQL); every call played by the call simulator
(``instrument_phone.ivr.simulator``), which signs each request as Twilio does and follows the
TwiML, ``<Record>`` and its recording status callback included.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from store_fixtures import *
from test_ivr_webhooks import SECRET, T0, ivr_app, signed_post
from test_phone_telephony import PUBLIC, TOKEN

from instrument.server.app import get_host
from instrument.store.ivr_calls import access_code_key
from instrument.store.schema import answer_events, call_events
from instrument_phone.ivr.simulator import (
    SILENCE,
    SPEECH,
    CallResult,
    CallSimulator,
    Outcome,
    Recording,
    WsgiTransport,
)

QUESTIONNAIRE = """\
meta:
  id: ivr_study
  version: "1"
  title: A study asked by automated calls
  languages: [en]
  modes: [ivr, web]
{ivr}
items:
  - id: travel
    type: single
    text: How did you travel today?
    choices:
      - {{code: 1, label: Walking}}
      - {{code: 2, label: Bus}}
      - {{code: 3, label: Car}}
  - id: comment
    type: long_text
    dk: false
    refused: false
    text: Is there anything else you would like to tell us?
  - id: born
    type: integer
    min: 1900
    max: 2010
    text: In what year were you born?
  - id: thanks
    type: end
    outcome: complete
    text: Thank you. Goodbye.
"""
RECORDS = "telephony:\n  recording: true\n  consent_text: We record calls. Is that all right?\n"


def study(folder: Path, ivr: str = "", records: bool = True) -> Path:
    path = folder / "ivr_study.yaml"
    path.write_text(QUESTIONNAIRE.format(ivr=ivr), encoding="utf-8")
    if records:
        (folder / "ivr_study.fieldwork.yaml").write_text(RECORDS, encoding="utf-8")
    return path


@pytest.fixture
def make_app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    made: list[Flask] = []

    def make(path: Path) -> Flask:
        made.append(ivr_app(database_url, monkeypatch, path))
        return made[-1]

    yield make
    for app in made:
        get_host(app).store.close()


def code_for(app: Flask, case_id: str = "c-1") -> str:
    store = get_host(app).store
    store.put_case(case_id, "ivr_study", {}, now=T0)
    return store.issue_access_code(
        "ivr_study", case_id=case_id, key=access_code_key(SECRET), now=T0
    )


def call(app: Flask, script: list[Any], seed: int = 1) -> CallResult:
    simulator = CallSimulator(WsgiTransport(app), PUBLIC, TOKEN, rng=random.Random(seed))
    return simulator.call("/ivr/voice", script, status_callback="/ivr/status")


def values_of(app: Flask, result: CallResult) -> dict[str, Any]:
    record = get_host(app).store.ivr_call(result.call_sid)
    assert record is not None and record.interview_id is not None, result.transcript()
    interview = get_host(app).service.load(record.interview_id)
    return interview.engine.values(interview.state)


def paradata(app: Flask) -> str:
    with get_host(app).store.engine.connect() as connection:
        rows = connection.scalars(
            sa.select(answer_events.c.value).where(answer_events.c.kind == "paradata")
        ).all()
    return " ".join(str(row) for row in rows)


def notes_of(app: Flask, result: CallResult) -> dict[str, Any]:
    record = get_host(app).store.ivr_call(result.call_sid)
    assert record is not None and record.state is not None
    return dict(record.state["ivr_call"])


# ---------------------------------------------------------------------- recording


def test_consent_then_a_capped_recording_answered_by_its_reference(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(study(tmp_path, "  ivr: {record_seconds: 20}"))
    code = code_for(app)
    result = call(app, [code + "#", "2", "1", Recording(seconds=45, ending="#"), "1975#"])
    result.expect(Outcome.HANGUP)
    assert "To record your answer, press 1. To skip this question, press 2." in result.transcript()
    record = next(r for r in result.responses if r.prompt.kind == "record")
    assert record.prompt.attributes["maxLength"] == "20"
    assert record.prompt.attributes["finishOnKey"] == "#"
    assert record.prompt.attributes["recordingStatusCallback"].startswith(
        f"{PUBLIC}/ivr/recording/{result.call_sid}/"
    )
    values = values_of(app, result)
    assert values["travel"] == 2 and values["born"] == 1975
    sid = values["comment"].removeprefix("recording:")
    assert sid.startswith("RE") and len(sid) == 34  # a reference, never the audio's URL
    assert "comment:ivr_recorded" in paradata(app)
    assert notes_of(app, result)["recording"]["comment"] == {
        "consent": True,
        "turn": notes_of(app, result)["recording"]["comment"]["turn"],
        "reference": values["comment"],
    }
    # the recording's status callback was stored once, beside issue 12's, with its URL there only
    with get_host(app).store.engine.connect() as connection:
        stored = connection.execute(
            sa.select(call_events.c.provider_sid, call_events.c.status, call_events.c.payload)
        ).all()
        answers = connection.scalars(sa.select(answer_events.c.value)).all()
    assert [(s, st) for s, st, _ in stored] == [(sid, "completed")]
    assert stored[0][2]["leg"] == "ivr_recording" and stored[0][2]["RecordingDuration"] == "20"
    assert not any("api.twilio.com" in str(value) for value in answers)


def test_a_recording_callback_retried_is_stored_once_and_a_forged_one_refused(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(study(tmp_path))
    call_sid, recording = "CA" + "1" * 32, "RE" + "2" * 32
    url = f"{PUBLIC}/ivr/recording/{call_sid}/3"
    form = {
        "CallSid": call_sid,
        "RecordingSid": recording,
        "RecordingStatus": "completed",
        "RecordingDuration": "7",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Recordings/{recording}",
    }
    assert signed_post(app, url, form).status_code == 204
    assert signed_post(app, url, form).status_code == 204  # a retry
    assert signed_post(app, url, {**form, "CallSid": "CA" + "3" * 32}).status_code == 400
    assert signed_post(app, url, form, signature="forged").status_code == 403
    with get_host(app).store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(call_events)) == 1


def test_without_consent_the_question_is_not_answered_and_flagged(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(study(tmp_path))
    code = code_for(app)
    result = call(app, [code + "#", "3", "2", "1980#"])
    result.expect(Outcome.HANGUP)
    assert not any(r.prompt.kind == "record" for r in result.responses)
    values = values_of(app, result)
    assert values["travel"] == 3 and values["born"] == 1980
    assert values["comment"] is None  # not answered (-9 in exports), as where nobody records
    assert "comment:ivr_recording_declined" in paradata(app)
    assert notes_of(app, result)["recording"]["comment"]["consent"] is False


def test_a_study_that_does_not_record_skips_free_text(make_app: Any, tmp_path: Path) -> None:
    app = make_app(study(tmp_path, records=False))
    code = code_for(app)
    result = call(app, [code + "#", "1", "1990#"])
    result.expect(Outcome.HANGUP)
    assert "record" not in result.transcript().lower().replace("recorded", "")
    assert values_of(app, result)["comment"] is None
    assert "comment:ivr_free_text_skipped" in paradata(app)


# ---------------------------------------------------------------------- speech


SPEECH_ON = "  ivr: {speech: {confidence: 0.6}, reprompts: 1}"


def test_spoken_answers_with_a_confirmation_when_unsure(make_app: Any, tmp_path: Path) -> None:
    app = make_app(study(tmp_path, SPEECH_ON, records=False))
    code = code_for(app)
    result = call(
        app,
        [
            code + "#",
            SPEECH("I went by bus I think", 0.4),  # unsure: "Did you say Bus?"
            SPEECH("no", 0.9),  # asked again
            SPEECH("the car", 0.95),
            SPEECH("nineteen seventy five", 0.9),
        ],
    )
    result.expect(Outcome.HANGUP)
    gather = next(r for r in result.responses if r.prompt.kind == "gather" and r.prompt.number == 1)
    assert gather.prompt.attributes["input"] == "dtmf speech"
    assert gather.prompt.attributes["language"] == "en-GB"
    assert gather.prompt.attributes["hints"].startswith("Walking, Bus, Car")
    assert any(words.startswith("Did you say Bus? If so, press 1") for words in result.said)
    values = values_of(app, result)
    assert values["travel"] == 3 and values["born"] == 1975


def test_words_understood_as_nothing_are_re_prompted_then_given_up(
    make_app: Any, tmp_path: Path
) -> None:
    """reprompts: 1 from the questionnaire: one more try, then not answered and on."""
    app = make_app(study(tmp_path, SPEECH_ON, records=False))
    code = code_for(app)
    result = call(app, [code + "#", SPEECH("by train", 0.9), SPEECH("the tram", 0.9), "1990#"])
    result.expect(Outcome.HANGUP)
    assert result.said.count("Sorry, I did not understand that.") == 1
    values = values_of(app, result)
    assert values["travel"] is None and values["born"] == 1990
    assert "travel:ivr_no_answer" in paradata(app)


def test_a_confirmation_answered_yes_by_voice_and_the_keypad_still_works(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(study(tmp_path, SPEECH_ON, records=False))
    code = code_for(app)
    result = call(app, [code + "#", SPEECH("walking", 0.3), SPEECH("yes", 0.8), "2001#"])
    result.expect(Outcome.HANGUP)
    values = values_of(app, result)
    assert values["travel"] == 1 and values["born"] == 2001


def test_the_questionnaire_can_end_the_call_after_silence(make_app: Any, tmp_path: Path) -> None:
    app = make_app(study(tmp_path, "  ivr: {reprompts: 0, on_no_answer: end}", records=False))
    code = code_for(app)
    result = call(app, [code + "#", SILENCE])
    result.expect(Outcome.HANGUP)
    assert result.said[-1].startswith("We have not been able to hear your answers")
    record = get_host(app).store.ivr_call(result.call_sid)
    assert record is not None and record.ended_at is not None
    interview = get_host(app).service.load(record.interview_id)  # type: ignore[arg-type]
    assert not interview.state.finished  # a partial, to resume


def test_the_reference_is_only_ever_a_recording_id() -> None:
    from instrument.ivr.recording import answer_reference, recording_sid_of

    sid = "RE" + "a1" * 16
    assert (
        answer_reference(sid) == f"recording:{sid}" and recording_sid_of(f"recording:{sid}") == sid
    )
    for forged in ("https://api.twilio.com/x", "RE123", "", "CA" + "a1" * 16):
        assert answer_reference(forged) == ""
    assert recording_sid_of("recording:https://evil.example") is None
    assert recording_sid_of("a typed answer") is None
