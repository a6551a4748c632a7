"""``instrument sms start`` run again sends a first text that never reached the member, once.

A run records each case's first text ``to_send`` with the conversation's turn, before the
channel has it (``sms_interview_attempts``, migration 0026). A later run finds the case's
conversation already running it: before, it passed the case over whatever had happened to the
text, so a text Twilio could not take, or one a run stopped before handing over, was lost and the
case never texted. Now a later run sends that same text again (a failure at once; a text left
``to_send`` by a stopped run after ``RUN_LEASE``, so a run still handing it over is not doubled),
and still never a text the channel took. On SQLite and PostgreSQL (``database_url``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from instrument.plugin_types import OutgoingMessage, Receipt
from instrument.server.app import get_host
from instrument_channels.sms import SmsChannel, SmsSettings
from instrument_phone.sms.conversations import number_key
from instrument_phone.sms.starting import RUN_LEASE, Started, start_conversations
from tests.store_fixtures import *
from tests.test_sms_interviews import (
    CHANNEL_ACCOUNT,
    CHANNEL_TOKEN,
    PHONE,
    SECRET,
    T0,
    FakeTwilioMessaging,
    app,  # noqa: F401 (a fixture)
    store_of,
    text,
)


def run(app: Flask, send: Callable[[OutgoingMessage], Receipt], at: dt.datetime) -> Started:
    return start_conversations(
        get_host(app).service, "sms_short", send=send, keys=[number_key(SECRET)], now=lambda: at
    )


@pytest.fixture
def twilio(app: Flask) -> Any:
    store = store_of(app)
    store.put_case("c-1", "sms_short", {}, now=T0)
    store.set_phone_numbers("c-1", [PHONE])
    http = FakeTwilioMessaging()
    channel = SmsChannel(
        SmsSettings(CHANNEL_ACCOUNT, CHANNEL_TOKEN, sender="+447400123456"), http_client=http
    )
    return http, channel


def bodies(http: FakeTwilioMessaging) -> list[str]:
    return [dict(request.form)["Body"] for request in http.requests]


def test_a_first_text_twilio_could_not_take_is_sent_by_the_next_run(
    app: Flask,
    twilio: Any,
) -> None:
    http, channel = twilio
    http.down = True  # a lost connection: a receipt to try again
    assert (run(app, channel.send, T0).failed, len(http.requests)) == (1, 0)
    http.down = False
    again = run(app, channel.send, T0 + dt.timedelta(minutes=1))
    assert (again.sent, again.skipped) == (1, 0)
    (body,) = bodies(http)
    assert body.startswith("We would like to ask you a few short questions by text")
    assert (text(app, "1") or "").startswith("Do you smoke?")  # the reply finds the conversation
    third = run(app, channel.send, T0 + dt.timedelta(minutes=2))
    assert (third.sent, third.skipped, len(http.requests)) == (0, 1, 1)  # never twice


def test_a_text_left_by_a_run_that_stopped_is_sent_after_the_lease_once(
    app: Flask,
    twilio: Any,
) -> None:
    http, channel = twilio

    def stops(message: OutgoingMessage) -> Receipt:  # the run's process ends as it hands over
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        run(app, stops, T0)
    soon = run(app, channel.send, T0 + RUN_LEASE - dt.timedelta(seconds=1))
    assert (soon.sent, soon.skipped, http.requests) == (0, 1, [])  # perhaps still going
    later = run(app, channel.send, T0 + RUN_LEASE)
    assert later.sent == 1 and len(bodies(http)) == 1
    assert run(app, channel.send, T0 + 3 * RUN_LEASE).sent == 0 and len(http.requests) == 1


def test_a_text_the_channel_took_is_not_sent_again(
    app: Flask,
    twilio: Any,
) -> None:
    http, channel = twilio
    assert run(app, channel.send, T0).sent == 1
    assert run(app, channel.send, T0 + dt.timedelta(hours=1)).sent == 0
    assert len(http.requests) == 1
