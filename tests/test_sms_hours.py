"""Texting hours (issue 14), on a frozen clock, SQLite and PostgreSQL: a text interview we start
goes only inside the study's calling hours in the respondent's own zone, a case due outside
them is left for a later run and counted with when the first opens, and a reply that comes at
night is still answered at once. Texts go through the real SMS channel to the SMS tests' fake
Twilio; replies are posted to the real webhook, signed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from instrument.cli import cli
from instrument.fieldwork.calling import CallingRules
from instrument.fieldwork.settings import load_fieldwork_text
from instrument.server.app import get_host
from instrument.store.schema import answer_events
from instrument_channels.sms import SmsChannel, SmsSettings
from instrument_phone.sms.conversations import number_key
from instrument_phone.sms.starting import Started, start_conversations
from tests.store_fixtures import *
from tests.test_channels_sms import ACCOUNT, TOKEN, FakeTwilioMessaging
from tests.test_sms_interviews import SECRET, SHORT, make_app, text, twilio_env
from tests.test_web_support import FakeClock

SUNDAY_NOON = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
MONDAY_9 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # 09:00 in London (GMT in December)
NUMBERS = {"london": "+447700900201", "new_york": "+447700900202"}


class Starter:
    """``instrument sms start``'s work on a frozen clock, through the real SMS channel; the
    app's webhook on the same clock."""

    def __init__(self, app: Flask, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self.twilio = FakeTwilioMessaging()
        self.channel = SmsChannel(
            SmsSettings(ACCOUNT, TOKEN, sender="+447400123456"), http_client=self.twilio
        )

    def run(self, at: dt.datetime, rules: CallingRules | None = None) -> Started:
        return start_conversations(
            get_host(self.app).service,
            "sms_short",
            send=self.channel.send,
            keys=[number_key(SECRET)],
            now=lambda: at,
            rules=rules,
        )

    def texted(self) -> list[str]:
        return [dict(request.form)["To"] for request in self.twilio.requests]


@pytest.fixture
def starter(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Starter]:
    twilio_env(monkeypatch)
    clock = FakeClock(SUNDAY_NOON)
    app = make_app(database_url, SHORT, clock)
    store = get_host(app).store
    for case_id, zone in (("london", "Europe/London"), ("new_york", "America/New_York")):
        store.put_case(case_id, "sms_short", {}, now=SUNDAY_NOON)
        store.set_phone_numbers(case_id, [NUMBERS[case_id]])
        store.enqueue_case(case_id, zone=zone, language="en", window=None, now=SUNDAY_NOON)
    yield Starter(app, clock)
    store.close()


def test_texts_we_start_wait_for_each_respondents_calling_hours(starter: Starter) -> None:
    sunday = starter.run(SUNDAY_NOON)  # the default hours: no calls on Sunday
    assert (sunday.sent, sunday.later, sunday.opens) == (0, 2, MONDAY_9)
    assert starter.texted() == []
    early = starter.run(MONDAY_9 + dt.timedelta(hours=1))  # 10:00 in London, 05:00 in New York
    assert (early.sent, early.later) == (1, 1)
    assert early.opens == dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)  # 09:00 in New York
    assert starter.texted() == [NUMBERS["london"]]
    later = starter.run(dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC))
    assert (later.sent, later.later, later.opens) == (1, 0, None)
    assert starter.texted() == [NUMBERS["london"], NUMBERS["new_york"]]


def test_the_study_s_own_hours_are_kept(starter: Starter) -> None:
    settings, diagnostics = load_fieldwork_text("calling:\n  hours:\n    sun: 11:00-13:00\n")
    assert not diagnostics.errors
    done = starter.run(SUNDAY_NOON, settings.calling)  # 12:00 London, 07:00 New York
    assert (done.sent, done.later) == (1, 1)
    assert starter.texted() == [NUMBERS["london"]]


def test_a_reply_at_night_is_answered_at_once(starter: Starter) -> None:
    starter.run(MONDAY_9)
    night = dt.datetime(2026, 12, 7, 23, 45, tzinfo=dt.UTC)  # 23:45 in London
    starter.clock.now = night
    reply = text(starter.app, "1", sender=NUMBERS["london"])
    assert reply is not None and reply.startswith("Do you smoke?")
    with get_host(starter.app).store.engine.connect() as connection:
        at = connection.scalar(
            sa.select(answer_events.c.at).where(answer_events.c.variable == "health")
        )
    assert at == night


def test_instrument_sms_start_reports_the_cases_left_for_their_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command reads the fieldwork file beside the questionnaire; hours open on no day
    make the report the same whatever the real time, and nothing is sent."""
    questionnaire = tmp_path / "sms_short.yaml"
    questionnaire.write_text(SHORT.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "sms_short.fieldwork.yaml").write_text(
        "calling:\n  hours:\n    mon-sun: none\n", encoding="utf-8"
    )
    database = f"sqlite:///{tmp_path / 'study.db'}"
    app = make_app(database, questionnaire)
    store = get_host(app).store
    store.put_case("c-1", "sms_short", {}, now=SUNDAY_NOON)
    store.set_phone_numbers("c-1", [NUMBERS["london"]])
    store.close()
    env = {
        "INSTRUMENT_SECRET_KEY": SECRET,
        "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
        "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
        "INSTRUMENT_SMS_FROM": "+447400123456",
    }
    args = ["sms", "start", "--questionnaire", str(questionnaire), "--database", database]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "texted: 0  failed: 0  passed over: 0" in result.output
    assert "outside texting hours: 1" in result.output
    assert "open on no day" in result.output
    (tmp_path / "sms_short.fieldwork.yaml").write_text(
        "calling:\n  hours:\n    someday: 09:00-17:00\n", encoding="utf-8"
    )
    broken = CliRunner().invoke(cli, args, env=env)
    assert broken.exit_code == 1
    assert "the fieldwork file has errors" in broken.output
    assert "sms_short.fieldwork.yaml:3:" in broken.output
