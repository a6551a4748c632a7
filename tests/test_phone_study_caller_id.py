"""A study's own number is the caller id its respondents see on an interviewer's call too.

A study whose fieldwork file names its own numbers (``telephony: {numbers: [...]}``,
docs/ivr.md "A study's own number") already shows the first on its automated calls; the
interviewer's bridge must show it as well, so that a respondent who calls back reaches the
study's line, not the organisation's. A study without its own number keeps the
organisation's caller id (``INSTRUMENT_TWILIO_CALLER_ID``).

The console dials through the fake REST API, and the bridge's TwiML is fetched as Twilio
fetches it (signed, tests/call_simulator.py); the console runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from call_simulator import CallSimulator
from live_call_helpers import (
    PUBLIC,
    RESPONDENT,
    TOKEN,
    TWILIO_ENV,
    dial_through_twilio,
    flagship_with_fieldwork,
    twilio,  # noqa: F401 (a fixture)
)
from phone_console_helpers import add_case, console_app
from test_web_support import (
    FLAGSHIP,
    FakeClock,
    clock,  # noqa: F401 (a fixture)
    close_app,
)
from twilio_fake import FakeTwilioHttp

from instrument.fieldwork.settings import fieldwork_path_for
from tests.store_fixtures import *

STUDY_NUMBER = "+442920180001"


def _study(folder: Path, numbers: str | None) -> Path:
    """The flagship with its own fieldwork file, with ``numbers`` (YAML) as its own or none."""
    text = fieldwork_path_for(FLAGSHIP).read_text(encoding="utf-8")
    assert "\ntelephony:\n" in text
    if numbers is not None:
        text = text.replace("\ntelephony:\n", f"\ntelephony:\n  numbers: {numbers}\n")
    return flagship_with_fieldwork(folder, text)


def _dial(twiml: str) -> ET.Element:
    [dial] = ET.fromstring(twiml).iter("Dial")
    return dial


def _bridge_twiml(app: Any, twilio: FakeTwilioHttp) -> str:
    """The TwiML of the bridge once the interviewer has answered, fetched as Twilio does."""
    simulator = CallSimulator(app, public_url=PUBLIC, auth_token=TOKEN)
    _, bridge = dial_through_twilio(app, twilio, simulator)
    fetched = simulator.post(dict(bridge.sent.form)["Url"], {"CallSid": bridge.sid})
    assert fetched.status == 200
    return fetched.body


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp
) -> Iterator[Any]:
    study = _study(tmp_path / "own", f'["{STUDY_NUMBER}", "+442920180002"]')
    app = console_app(database_url, clock, TWILIO_HTTP_CLIENT=twilio, QUESTIONNAIRES=[str(study)])
    add_case(app, "c1", clock)
    yield app
    close_app(app)


def test_the_respondent_sees_the_study_s_first_number(app: Any, twilio: FakeTwilioHttp) -> None:
    dial = _dial(_bridge_twiml(app, twilio))
    assert dial.get("callerId") == STUDY_NUMBER
    [number] = dial.iter("Number")
    assert number.text == RESPONDENT


def test_a_study_without_its_own_number_shows_the_organisation_s(
    tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp
) -> None:
    app = console_app(
        f"sqlite:///{tmp_path / 'plain.db'}", clock, TWILIO_HTTP_CLIENT=twilio,
        QUESTIONNAIRES=[str(_study(tmp_path / "plain", None))],
    )  # fmt: skip
    add_case(app, "c1", clock)
    try:
        dial = _dial(_bridge_twiml(app, twilio))
        assert dial.get("callerId") == TWILIO_ENV["INSTRUMENT_TWILIO_CALLER_ID"]
    finally:
        close_app(app)
