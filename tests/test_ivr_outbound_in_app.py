"""Automated calls we place, through the whole served app (issue 14).

The pieces are tested on their own elsewhere (placing: tests/test_ivr_outbound.py; the callbacks:
tests/test_ivr_outbound_callbacks.py; the answer URL: tests/test_ivr_webhooks.py). Here they meet
in the app the server builds: a call placed through the fake Twilio API is answered by the call
simulator at the Url we gave Twilio, its status callbacks go to the StatusCallback we gave (mounted
by the ivr mode under /ivr/calls), and the attempt ends coded by what happened; an answering
machine hears the study's voicemail message (leave_message) and no interview is started for it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from store_fixtures import *
from twilio.rest import Client
from twilio_fake import FakeTwilioHttp

from instrument.callqueue import CallQueue
from instrument.callqueue.automated import AutomatedCalls
from instrument.interviews import RESPONDENT
from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument_phone.ivr.outbound import place_due_calls
from instrument_phone.ivr.simulator import HANGUP, CallResult, CallSimulator, WsgiTransport
from instrument_phone.telephony.config import TELEPHONY_VARIABLES, TwilioSettings
from tests.callqueue_helpers import MINI, T0
from tests.ivr_outbound_helpers import add_automated_case

SID = "AC" + "cd" * 16
TOKEN = "fedcba9876543210" * 2
CALLER = "+442071234500"
PUBLIC = "https://survey.example.org"
SETTINGS = TwilioSettings(SID, TOKEN, CALLER, PUBLIC)
MESSAGE = "This is the families survey; we will call again another day."
MESSAGE_CY = "Dyma arolwg y teuluoedd; byddwn ni'n ffonio eto ddiwrnod arall."


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Flask]:
    """The served app with mini.yaml (fielded by ivr) beside a fieldwork file that leaves a
    voicemail message on a machine."""
    path = tmp_path / "mini.yaml"
    shutil.copy(MINI, path)
    (tmp_path / "mini.fieldwork.yaml").write_text(
        "telephony:\n  automated:\n    on_machine: leave_message\n    voicemail_message:\n"
        f"      en: {MESSAGE}\n      cy: {MESSAGE_CY}\n",
        encoding="utf-8",
    )
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTRUMENT_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("INSTRUMENT_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("INSTRUMENT_TWILIO_CALLER_ID", CALLER)
    monkeypatch.setenv("INSTRUMENT_PUBLIC_URL", PUBLIC)
    now = [T0]  # the app's clock, moved by a test through app.config["NOW"]
    served = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "outbound-in-app",
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(path)],
            "CLOCK": lambda: now[0],
            "SERVER_NAME": "survey.test",
        }
    )
    served.config["NOW"] = now
    yield served
    get_host(served).store.close()


def place_one(app: Flask) -> dict[str, str]:
    """Place the one due call of mini as `instrument calls place` would: the request form Twilio
    got, with the sid Twilio gave the call (every webhook of the call carries it)."""
    host = get_host(app)
    queue = CallQueue(host.store, host.service, lambda _q: _settings_of(app))
    fake = FakeTwilioHttp()
    report = place_due_calls(
        AutomatedCalls(queue),
        Client(SID, TOKEN, http_client=fake),
        SETTINGS,
        "mini",
        limit=1,
        clock=lambda: T0,
    )
    assert len(report.placed) == 1, report
    (sent,) = fake.requests
    return {**dict(sent.form), "sid": report.placed[0].sid}


def _settings_of(app: Flask) -> object:
    from instrument.fieldwork.settings import settings_for

    questionnaire = get_host(app).service.surveys["mini"].questionnaire
    settings, problems = settings_for(questionnaire.source_path)
    assert not problems.has_errors()
    return settings


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def answered_by_a_machine(app: Flask, form: dict[str, str]) -> CallResult:
    """The placed call reaches a machine whose greeting has ended (Twilio's ``DetectMessageEnd``)."""
    simulator = CallSimulator(WsgiTransport(app), PUBLIC, TOKEN)
    return simulator.call(
        path_of(form["Url"]),
        [],
        direction="outbound-api",
        call_sid=form["sid"],
        respondent=form["To"],
        study_number=form["From"],
        status_callback=path_of(form["StatusCallback"]),
        extra_fields={"AnsweredBy": "machine_end_beep"},
    )


def test_a_placed_call_is_answered_at_our_url_and_coded_by_its_callbacks(app: Flask) -> None:
    store: Store = get_host(app).store
    add_automated_case(store, "C1")
    form = place_one(app)
    assert form["MachineDetection"] == "DetectMessageEnd"  # leave_message: detection first
    simulator = CallSimulator(WsgiTransport(app), PUBLIC, TOKEN)
    result = simulator.call(
        path_of(form["Url"]),
        ["1", HANGUP],  # a person: answers the first question, then hangs up
        direction="outbound-api",
        call_sid=form["sid"],
        respondent=form["To"],
        study_number=form["From"],
        status_callback=path_of(form["StatusCallback"]),
        extra_fields={"AnsweredBy": "human"},
    )
    assert all(e.status < 300 for e in result.exchanges), result.transcript()
    record = store.ivr_call(result.call_sid)
    assert record is not None and record.interview_id is not None and record.case_id == "C1"
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] is None, row  # the status callback handed it back
    assert (row["disposition"], row["final"]) == ("partial", False), row  # to call again


def test_an_answering_machine_hears_the_voicemail_message_and_no_interview_starts(
    app: Flask,
) -> None:
    store: Store = get_host(app).store
    add_automated_case(store, "C1")
    form = place_one(app)
    result = answered_by_a_machine(app, form)
    assert [h.text for h in result.heard] == [MESSAGE], result.transcript()
    record = store.ivr_call(result.call_sid)
    assert record is not None and record.interview_id is None and record.case_id == "C1"
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] is None, row
    assert row["disposition"] is not None and "machine" in row["disposition"], row


def test_a_machine_of_a_welsh_case_hears_the_welsh_message_in_the_welsh_voice(app: Flask) -> None:
    """The study wrote its voicemail message per language: a case fielded in Welsh gets the
    Welsh one, said in the Welsh voice."""
    add_automated_case(get_host(app).store, "C1", language="cy")
    form = place_one(app)
    result = answered_by_a_machine(app, form)
    assert [h.text for h in result.heard] == [MESSAGE_CY], result.transcript()
    assert [h.language for h in result.heard] == ["cy-GB"], result.transcript()


def test_a_machine_hears_the_message_in_the_language_the_interview_was_switched_to(
    app: Flask,
) -> None:
    """The case was queued in English, but its respondent switched their interview to Welsh
    (on the web here; on an inbound call alike): the machine hears the Welsh message."""
    host = get_host(app)
    add_automated_case(host.store, "C1", language="en")
    saved = host.service.start(
        "mini", mode="web", actor=RESPONDENT, now=T0, case_id="C1", language="en"
    )
    host.service.switch_language(saved.interview.id, "cy", mode="web", actor=RESPONDENT, now=T0)
    form = place_one(app)
    result = answered_by_a_machine(app, form)
    assert [h.text for h in result.heard] == [MESSAGE_CY], result.transcript()
    assert [h.language for h in result.heard] == ["cy-GB"], result.transcript()


def test_a_long_automated_interview_keeps_its_case_past_the_hold_timeout(app: Flask) -> None:
    """The hold timeout is for an interviewer who vanished; a keypad interview still answering
    its webhooks is counted from its last turn, and released once it falls silent."""
    host = get_host(app)
    store: Store = host.store
    add_automated_case(store, "C1")
    form = place_one(app)
    timeout = _settings_of(app).calling.hold_timeout  # type: ignore[attr-defined]
    later = T0 + timeout - dt.timedelta(minutes=1)
    app.config["NOW"][0] = later
    simulator = CallSimulator(WsgiTransport(app), PUBLIC, TOKEN)
    simulator.call(  # the call goes on (no status callback yet): a turn answered at `later`
        path_of(form["Url"]),
        ["1"],
        direction="outbound-api",
        call_sid=form["sid"],
        respondent=form["To"],
        study_number=form["From"],
        extra_fields={"AnsweredBy": "human"},
    )
    queue = CallQueue(store, host.service, lambda _q: _settings_of(app))
    assert store.live_ivr_call_activity(int(form["Url"].rsplit("=", 1)[1])) is not None
    queue.release_stale_holds(T0 + timeout + dt.timedelta(minutes=5))
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] == "ivr:outbound", row
    queue.release_stale_holds(later + timeout + dt.timedelta(minutes=1))
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] is None and row["disposition"] == "hold_expired"
