"""The Twilio webhooks end to end: a bridge call dialled through a fake Twilio, played by the simulator.

Each test builds the real app on a real store (SQLite and PostgreSQL), places
the call with the real twilio SDK over tests/twilio_fake.py, and lets
tests/call_simulator.py play Twilio: it fetches the bridge TwiML and posts the
status callbacks, signed over the public URL as Twilio signs them. Nothing
leaves this machine.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from call_simulator import CallSimulator
from flask import Flask
from port_helpers import free_port, release_port
from store_fixtures import *
from test_phone_telephony import CALLER, ENV, MINI, PUBLIC, SID, TOKEN, no_network  # noqa: F401
from twilio_fake import FakeTwilioHttp, RecordedRequest, fake_client

from instrument.fieldwork.schedule import Window
from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument.store.schema import call_events
from instrument_phone.telephony.config import TELEPHONY_VARIABLES, TwilioSettings
from instrument_phone.telephony.dialer import place_bridge_call

T0 = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)  # a Thursday, inside calling hours
RESPONDENT = "+442079460001"
INTERVIEWER = "+441632960999"


@dataclass
class Phone:
    """An app with telephony configured, its store, and one case claimed by an interviewer."""

    app: Flask
    store: Store
    settings: TwilioSettings
    client: Any
    http: FakeTwilioHttp
    attempt_id: int

    def dial(self) -> tuple[int, str, RecordedRequest]:
        """Start a call record and place it: (call id, Twilio sid, the Calls.json request)."""
        call_id = self.store.start_call(self.attempt_id, number_rank=1, provider="twilio", now=T0)
        sid = place_bridge_call(
            self.client, self.settings, interviewer_number=INTERVIEWER, call_id=call_id
        )
        self.store.set_call_sid(call_id, sid)
        return call_id, sid, self.http.requests[-1]

    def simulator(self, public_url: str = PUBLIC) -> CallSimulator:
        return CallSimulator(self.app, public_url=public_url, auth_token=TOKEN)

    def events(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as connection:
            rows = connection.execute(sa.select(call_events).order_by(call_events.c.id)).all()
        return [row._asdict() for row in rows]


def make_phone(database_url: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> Phone:
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**ENV, **env}.items():
        monkeypatch.setenv(name, value)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(MINI)],
            "CLOCK": lambda: T0,
        }
    )
    store = get_host(app).store
    store.put_case("case-1", "mini", {}, now=T0)
    store.set_phone_numbers("case-1", [RESPONDENT], T0)
    window = Window(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=3), "normal")
    store.enqueue_case("case-1", zone="Europe/London", language="en", window=window, now=T0)
    claim = store.claim_next_case("iv1", now=T0)
    assert claim is not None
    settings = TwilioSettings.from_env({**ENV, **env})
    assert settings is not None
    client, http = fake_client(SID, TOKEN)
    return Phone(app, store, settings, client, http, claim.attempt_id)


@pytest.fixture
def phone(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Phone]:
    made = make_phone(database_url, monkeypatch)
    try:
        yield made
    finally:
        made.store.close()


def follow(phone: Phone, sent: RecordedRequest, sid: str, **kwargs: Any) -> Any:
    form = dict(sent.form)
    return phone.simulator().call(
        url=form["Url"],
        sid=sid,
        status_callback=form["StatusCallback"],
        status_events=sent.values("StatusCallbackEvent"),
        **kwargs,
    )


def test_a_bridge_call_dials_the_respondent_and_its_callbacks_update_the_call_once(
    phone: Phone,
) -> None:
    call_id, sid, sent = phone.dial()
    transcript = follow(phone, sent, sid, dialled=["answered"])

    # The interviewer answered; the TwiML dialled the respondent's number with our caller id.
    assert transcript.of("caller_id") == [CALLER]
    assert transcript.of("dial") == [RESPONDENT]
    assert transcript.of("say") == ["The call has ended."]
    call = phone.store.get_call(call_id)
    assert call is not None
    assert (call.provider_sid, call.status, call.duration_s) == (sid, "completed", 42)
    assert call.answered_at == T0 + dt.timedelta(seconds=10)  # the "answered" callback's time
    assert call.ended_at == T0 + dt.timedelta(seconds=15)

    events = phone.events()
    mine = [e for e in events if e["provider_sid"] == sid]
    assert [e["status"] for e in mine] == ["initiated", "ringing", "in-progress", "completed"]
    legs = [e for e in events if e["provider_sid"] != sid]
    assert [e["status"] for e in legs] == ["initiated", "ringing", "in-progress", "completed"]
    for event in legs:
        assert event["payload"]["ParentCallSid"] == sid
        assert event["payload"]["leg"] == "respondent"
    for event in events:
        assert event["payload"]["call_id"] == str(call_id)
        stored = repr(event["payload"])
        assert RESPONDENT not in stored and "+4416" not in stored and "LONDON" not in stored


def test_callbacks_replayed_twice_and_out_of_order_are_stored_once(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    follow(phone, sent, sid, dialled=["answered"])
    before = phone.store.get_call(call_id)
    count = len(phone.events())

    simulator = phone.simulator()
    forms = simulator.status_forms(sid, sent.values("StatusCallbackEvent"))
    url = dict(sent.form)["StatusCallback"]
    for form in [*forms, *reversed(forms)]:  # Twilio's retries, late and out of order
        assert simulator.post(url, form).status == 204
    assert len(phone.events()) == count
    assert phone.store.get_call(call_id) == before


def test_a_late_ringing_after_completed_changes_nothing(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    simulator = phone.simulator()
    url = dict(sent.form)["StatusCallback"]
    initiated, ringing, answered, completed = simulator.status_forms(
        sid, ["initiated", "ringing", "answered", "completed"]
    )
    for form in (initiated, answered, completed, ringing):
        assert simulator.post(url, form).status == 204
    call = phone.store.get_call(call_id)
    assert call is not None and call.status == "completed"
    assert len(phone.events()) == 4


def test_a_busy_respondent_is_recorded_on_the_respondent_leg(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    transcript = follow(phone, sent, sid, dialled=["busy"])
    assert transcript.of("dial") == [RESPONDENT]
    legs = [e for e in phone.events() if e["provider_sid"] != sid]
    assert [e["status"] for e in legs] == ["initiated", "ringing", "busy"]


def test_callbacks_before_the_sid_is_stored_are_applied_when_it_is(phone: Phone) -> None:
    call_id = phone.store.start_call(phone.attempt_id, number_rank=1, provider="twilio", now=T0)
    sid = place_bridge_call(
        phone.client, phone.settings, interviewer_number=INTERVIEWER, call_id=call_id
    )
    sent = phone.http.requests[-1]
    # Twilio called back and fetched the TwiML before calls.create's answer was stored.
    transcript = follow(phone, sent, sid, dialled=["answered"])
    assert transcript.of("dial") == [RESPONDENT]
    phone.store.set_call_sid(call_id, sid)  # the dialler's own write: the same sid, no error
    call = phone.store.get_call(call_id)
    assert call is not None and (call.provider_sid, call.status) == (sid, "completed")


# -- the signature: 403 and nothing stored ---------------------------------------------


def assert_nothing_changed(phone: Phone, call_id: int) -> None:
    assert phone.events() == []
    call = phone.store.get_call(call_id)
    assert call is not None and (call.status, call.answered_at) == ("queued", None)


@pytest.mark.parametrize(
    "how", ["missing", "tampered", "http scheme", "request.url", "other token"]
)
def test_a_status_callback_without_a_valid_signature_is_refused(phone: Phone, how: str) -> None:
    call_id, sid, sent = phone.dial()
    simulator = phone.simulator()
    url = dict(sent.form)["StatusCallback"]
    (form,) = simulator.status_forms(sid, ["answered"])
    if how == "missing":
        posted = simulator.post(url, form, signature=None)
    elif how == "tampered":
        signature = simulator.sign(url, form)
        posted = simulator.post(url, {**form, "CallStatus": "completed"}, signature=signature)
    elif how == "http scheme":
        signature = simulator.sign(url.replace("https://", "http://"), form)
        posted = simulator.post(url, form, signature=signature)
    elif how == "request.url":  # what the app sees behind the proxy is not what Twilio signed
        signature = simulator.sign(f"http://localhost/cati/phone/status/{call_id}", form)
        posted = simulator.post(url, form, signature=signature)
    else:
        other = CallSimulator(phone.app, public_url=PUBLIC, auth_token="f" * 32)
        posted = other.post(url, form)
    assert posted.status == 403
    assert_nothing_changed(phone, call_id)


def test_the_bridge_twiml_needs_a_signature_and_gives_nothing_away(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    simulator = phone.simulator()
    url = dict(sent.form)["Url"]
    posted = simulator.post(url, {"CallSid": sid, "CallStatus": "in-progress"}, signature=None)
    assert posted.status == 403
    assert RESPONDENT not in posted.body
    signed = simulator.post(url, {"CallSid": sid, "CallStatus": "in-progress"})
    assert signed.status == 200 and RESPONDENT in signed.body


def test_the_query_string_is_part_of_what_is_signed(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    simulator = phone.simulator()
    url = dict(sent.form)["StatusCallback"] + "?attempt=1"
    (form,) = simulator.status_forms(sid, ["initiated"])
    wrong = simulator.sign(url.split("?")[0], form)
    assert simulator.post(url, form, signature=wrong).status == 403
    assert simulator.post(url, form).status == 204
    assert len(phone.events()) == 1


def test_a_signed_callback_that_is_not_a_call_status_is_a_400(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    simulator = phone.simulator()
    url = dict(sent.form)["StatusCallback"]
    (form,) = simulator.status_forms(sid, ["initiated"])
    assert simulator.post(url, {**form, "CallStatus": "exploded"}).status == 400
    assert simulator.post(url, {**form, "CallSid": "XX1"}).status == 400
    assert simulator.post(url + "/interviewer", form).status == 404
    assert_nothing_changed(phone, call_id)


# -- what the bridge dials ------------------------------------------------------------


def test_a_number_put_on_the_do_not_call_list_while_ringing_is_not_dialled(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    phone.store.add_do_not_call(RESPONDENT, reason="asked", actor="iv1", now=T0)
    transcript = follow(phone, sent, sid)
    assert transcript.of("dial") == []
    assert transcript.of("say") == ["This case has no number to dial. Please hang up."]


def test_the_bridge_of_another_twilio_call_dials_nobody(phone: Phone) -> None:
    call_id, sid, sent = phone.dial()
    other = "CA" + "9" * 32
    transcript = phone.simulator().call(url=dict(sent.form)["Url"], sid=other)
    assert transcript.of("dial") == []


def test_a_real_local_server_behind_its_public_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over real HTTP: the app on 127.0.0.1, Twilio's public URL the loopback one."""
    from werkzeug.serving import make_server

    port = free_port()  # reserved until the server has it: the URL is needed first
    local = f"http://127.0.0.1:{port}"
    phone = make_phone(database_url, monkeypatch, INSTRUMENT_PUBLIC_URL=local)
    try:
        server = make_server("127.0.0.1", port, phone.app, threaded=True)
    finally:
        release_port(port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        call_id, sid, sent = phone.dial()
        assert dict(sent.form)["Url"].startswith(local + "/cati/phone/")
        form = dict(sent.form)
        transcript = CallSimulator(local, public_url=local, auth_token=TOKEN).call(
            url=form["Url"],
            sid=sid,
            status_callback=form["StatusCallback"],
            status_events=sent.values("StatusCallbackEvent"),
        )
        assert transcript.of("dial") == [RESPONDENT]
        call = phone.store.get_call(call_id)
        assert call is not None and call.status == "completed"
    finally:
        server.shutdown()
        thread.join(10)
        phone.store.close()


# -- the recording's status callbacks -------------------------------------------------


def _recording(phone: Phone) -> tuple[int, str, str, str]:
    """A call with a yes whose recording was started by REST: (call id, sid, RE sid, its URL)."""
    from instrument_phone.telephony.dialer import recording_path, start_recording

    call_id, sid, _sent = phone.dial()
    phone.store.set_call_recording(call_id, True, now=T0)
    recording_sid = start_recording(
        phone.client, sid, status_callback=phone.settings.public_url + recording_path(call_id)
    )
    assert phone.store.set_recording_sid(call_id, recording_sid, now=T0)
    sent = dict(phone.http.requests[-1].form)
    assert sent["RecordingStatusCallbackEvent"] == "in-progress completed absent"
    return call_id, sid, recording_sid, sent["RecordingStatusCallback"]


def _recording_form(sid: str, recording_sid: str, status: str, **more: str) -> dict[str, str]:
    """A recording status callback as Twilio posts it."""
    form = {
        "AccountSid": SID, "CallSid": sid, "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Recordings/{recording_sid}",
        "RecordingStatus": status, "RecordingChannels": "2",
        "RecordingSource": "StartCallRecordingAPI",
        "RecordingStartTime": "Thu, 03 Dec 2026 17:00:20 +0000",
    }  # fmt: skip
    if status != "in-progress":
        form["RecordingDuration"] = "42"
    return {**form, **more}


def _recording_status(phone: Phone, call_id: int) -> tuple[Any, ...]:
    call = phone.store.get_call(call_id)
    assert call is not None
    return (
        call.recording_sid, call.recording_status, call.recording_duration_s, call.recording_url,
        call.recording_error,
    )  # fmt: skip


def test_a_recordings_callbacks_are_stored_once_and_never_move_it_back(phone: Phone) -> None:
    call_id, sid, recording_sid, url = _recording(phone)
    assert url == f"{PUBLIC}/cati/phone/recording/{call_id}"
    simulator = phone.simulator()
    progress = _recording_form(sid, recording_sid, "in-progress")
    done = _recording_form(sid, recording_sid, "completed")
    assert simulator.post(url, progress).status == 204
    assert simulator.post(url, done).status == 204
    reference = done["RecordingUrl"]
    assert _recording_status(phone, call_id) == (recording_sid, "completed", 42, reference, None)
    count = len(phone.events())
    for form in (done, progress, done):  # Twilio's retries, late and out of order
        assert simulator.post(url, form).status == 204
    assert len(phone.events()) == count == 2
    assert simulator.post(url, _recording_form(sid, recording_sid, "absent")).status == 204
    assert _recording_status(phone, call_id) == (recording_sid, "completed", 42, reference, None)
    stored = [e for e in phone.events() if e["provider_sid"] == recording_sid]
    assert [e["status"] for e in stored] == ["in-progress", "completed", "absent"]
    assert {e["call_id"] for e in stored} == {call_id}
    assert stored[1]["payload"]["RecordingUrl"] == reference  # a reference; nothing fetched
    assert all(e["payload"]["leg"] == "recording" for e in stored)
    call = phone.store.get_call(call_id)
    assert call is not None and call.status == "queued"  # the call's own status: untouched
    read = phone.store.live_calls(phone.attempt_id)
    assert read is not None and read.legs == ()  # a recording is no respondent leg


def test_a_recording_that_ends_before_its_progress_is_heard_stays_ended(phone: Phone) -> None:
    call_id, sid, recording_sid, url = _recording(phone)
    simulator = phone.simulator()
    absent = _recording_form(sid, recording_sid, "absent", ErrorCode="13617")
    assert simulator.post(url, absent).status == 204
    assert simulator.post(url, _recording_form(sid, recording_sid, "in-progress")).status == 204
    assert _recording_status(phone, call_id)[1:3] == ("absent", 42)
    assert _recording_status(phone, call_id)[4] == "Twilio error 13617"


@pytest.mark.parametrize("how", ["missing", "tampered", "other token"])
def test_a_recording_callback_without_a_valid_signature_is_refused(phone: Phone, how: str) -> None:
    call_id, sid, recording_sid, url = _recording(phone)
    before = _recording_status(phone, call_id)
    simulator = phone.simulator()
    form = _recording_form(sid, recording_sid, "completed")
    if how == "missing":
        posted = simulator.post(url, form, signature=None)
    elif how == "tampered":
        signature = simulator.sign(url, form)
        posted = simulator.post(url, {**form, "RecordingDuration": "1"}, signature=signature)
    else:
        posted = CallSimulator(phone.app, public_url=PUBLIC, auth_token="f" * 32).post(url, form)
    assert posted.status == 403
    assert phone.events() == [] and _recording_status(phone, call_id) == before


def test_a_signed_callback_that_is_no_recordings_is_a_400(phone: Phone) -> None:
    call_id, sid, recording_sid, url = _recording(phone)
    before = _recording_status(phone, call_id)
    simulator = phone.simulator()
    form = _recording_form(sid, recording_sid, "completed")
    assert simulator.post(url, {**form, "RecordingStatus": "paused"}).status == 400
    assert simulator.post(url, {**form, "RecordingSid": "XX1"}).status == 400
    assert simulator.post(url, {**form, "CallSid": ""}).status == 400
    assert phone.events() == [] and _recording_status(phone, call_id) == before
