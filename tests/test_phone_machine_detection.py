"""Answering-machine detection, a study's choice: ``telephony: {machine_detection: true}``.

``instrument check`` validates the key like the other telephony keys. A study
that turns it on gets Twilio's ``machineDetection`` on the respondent's
``<Number>`` in the bridge TwiML, with the URL Twilio posts its verdict to
(``AnsweredBy``); a study that does not, gets the TwiML as before. The verdict
is a signed webhook like the others (403 unsigned, 400 when it is no
AnsweredBy value), stored once beside the respondent leg's callbacks, without
numbers; the case screen then says an answering machine answered, and the
end-of-call picker pre-selects the answering-machine outcome (or fax) with
the reason, while a person suggests nothing.

The bridge is played by tests/call_simulator.py through our TwiML, signed
as Twilio signs, over the fake REST API (nothing leaves the machine); the
console tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from call_simulator import ACCOUNT_SID, CallSimulator
from click.testing import CliRunner
from live_call_helpers import (
    PUBLIC,
    RESPONDENT,
    TOKEN,
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

from instrument.cli import cli
from instrument.fieldwork.settings import fieldwork_path_for, load_fieldwork_text
from instrument.server.app import get_host
from instrument.store.schema import call_events
from tests.store_fixtures import *

# -- the setting ------------------------------------------------------------------------------


def test_the_setting_is_off_unless_turned_on() -> None:
    settings, diagnostics = load_fieldwork_text("telephony:\n  machine_detection: true\n", "f.yaml")
    assert not diagnostics.has_errors() and settings.telephony.machine_detection
    settings, _ = load_fieldwork_text("telephony:\n  recording: false\n", "f.yaml")
    assert settings.telephony.machine_detection is False


def test_instrument_check_validates_it(tmp_path: Path) -> None:
    beside = tmp_path / "study.fieldwork.yaml"
    beside.write_text("telephony:\n  machine_detection: sometimes\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(beside)])
    assert result.exit_code == 1
    assert f"{beside}:2:22: error: telephony.machine_detection must be true or false" in (
        result.output
    )
    beside.write_text("telephony:\n  machine_detect: true\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(beside)])
    assert result.exit_code == 1 and "did you mean 'machine_detection'?" in result.output
    beside.write_text("telephony:\n  machine_detection: true\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["check", str(beside)]).exit_code == 0


# -- the console, the TwiML and the verdict ------------------------------------------------------


def _study(tmp_path: Path, detect: bool) -> Path:
    """The flagship with its own fieldwork file, answering-machine detection on or off."""
    text = fieldwork_path_for(FLAGSHIP).read_text(encoding="utf-8")
    assert "\ntelephony:\n" in text
    if detect:
        text = text.replace("\ntelephony:\n", "\ntelephony:\n  machine_detection: true\n")
    return flagship_with_fieldwork(tmp_path / ("detects" if detect else "plain"), text)


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp
) -> Iterator[Any]:
    app = console_app(
        database_url, clock, TWILIO_HTTP_CLIENT=twilio,
        QUESTIONNAIRES=[str(_study(tmp_path, detect=True))],
    )  # fmt: skip
    add_case(app, "c1", clock)
    yield app
    close_app(app)


@pytest.fixture
def simulator(app: Any) -> CallSimulator:
    return CallSimulator(app, public_url=PUBLIC, auth_token=TOKEN)


def _number(twiml: str) -> ET.Element:
    [number] = ET.fromstring(twiml).iter("Number")
    return number


def _amd_form(sid: str, answered_by: str) -> dict[str, str]:
    """What Twilio posts to amdStatusCallback (numbers included, as Twilio sends them)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": "2400",
        "To": RESPONDENT,
        "Called": RESPONDENT,
    }


def test_the_bridge_asks_for_detection_and_the_verdict_is_stored_once(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    bridge.you("initiated")
    bridge.you("ringing")
    bridge.you("answered")
    fetched = simulator.post(dict(bridge.sent.form)["Url"], {"CallSid": bridge.sid})
    assert fetched.status == 200
    number = _number(fetched.body)
    amd_url = f"{PUBLIC}/cati/phone/amd/{bridge.call_id}"
    assert number.text == RESPONDENT
    assert (
        number.get("machineDetection"),
        number.get("amdStatusCallback"),
        number.get("amdStatusCallbackMethod"),
    ) == ("Enable", amd_url, "POST")

    bridge.them("initiated")
    bridge.them("ringing")
    bridge.them("answered")
    child = bridge.theirs["answered"]["CallSid"]
    form = _amd_form(child, "machine_start")
    assert simulator.post(amd_url, form, signature=None).status == 403
    assert simulator.post(amd_url, {**form, "AnsweredBy": "robot"}).status == 400
    assert simulator.post(amd_url, form).status == 204
    assert simulator.post(amd_url, form).status == 204  # Twilio's retry: stored once

    with get_host(app).store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(call_events.c.status, call_events.c.payload).where(
                call_events.c.provider_sid == child
            )
        ).all()
    [verdict] = [r for r in rows if r.status == "amd"]
    assert verdict.payload["AnsweredBy"] == "machine_start"
    assert verdict.payload["leg"] == "respondent"
    assert verdict.payload["call_id"] == str(bridge.call_id)
    assert RESPONDENT not in json.dumps(verdict.payload)

    seen = ivy.client.get(ivy.attempt_path + "calls.json").get_json()
    assert (seen["phase"], seen["text"]) == ("machine", "An answering machine answered")
    assert seen["calls"][0]["answered_by"] == "machine_start"
    assert seen["calls"][0]["respondent_status"] == "in-progress"  # the verdict moves nothing

    bridge.them("completed")
    bridge.you("completed")
    page = ivy.get(ivy.attempt_path + "end")
    assert page.tree.xpath("//input[@name='outcome'][@checked]/@value") == ["answering_machine"]
    assert page.tree.xpath("string(//*[@id='outcome-suggested'])") == (
        "Suggested from the call: answering machine"
    )


@pytest.mark.parametrize(
    ("answered_by", "checked", "said"),
    [
        ("fax", ["fax"], "Suggested from the call: fax or data line"),
        ("human", [], ""),
        ("unknown", [], ""),
    ],
)
def test_what_detection_heard_suggests_the_outcome(
    app: Any,
    twilio: FakeTwilioHttp,
    simulator: CallSimulator,
    answered_by: str,
    checked: list[str],
    said: str,
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    form = dict(bridge.sent.form)
    transcript = simulator.call(
        url=form["Url"], sid=bridge.sid, status_callback=form["StatusCallback"],
        status_events=bridge.sent.values("StatusCallbackEvent"), dialled=["answered"],
    )  # fmt: skip
    assert transcript.of("dial") == [RESPONDENT]
    [child] = {p.form["CallSid"] for p in transcript.requests if p.url.endswith("/respondent")}
    amd_url = f"{PUBLIC}/cati/phone/amd/{bridge.call_id}"
    assert simulator.post(amd_url, _amd_form(child, answered_by)).status == 204
    page = ivy.get(ivy.attempt_path + "end")
    assert page.tree.xpath("//input[@name='outcome'][@checked]/@value") == checked
    assert page.tree.xpath("string(//*[@id='outcome-suggested'])") == said


def test_a_study_that_does_not_ask_gets_no_detection(
    tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp
) -> None:
    app = console_app(
        f"sqlite:///{tmp_path / 'plain.db'}", clock, TWILIO_HTTP_CLIENT=twilio,
        QUESTIONNAIRES=[str(_study(tmp_path, detect=False))],
    )  # fmt: skip
    add_case(app, "c1", clock)
    try:
        simulator = CallSimulator(app, public_url=PUBLIC, auth_token=TOKEN)
        ivy, bridge = dial_through_twilio(app, twilio, simulator)
        fetched = simulator.post(dict(bridge.sent.form)["Url"], {"CallSid": bridge.sid})
        number = _number(fetched.body)
        assert number.text == RESPONDENT
        assert number.get("machineDetection") is None and number.get("amdStatusCallback") is None
    finally:
        close_app(app)


def test_a_bridge_with_nothing_to_dial_asks_for_nothing(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    """Another Twilio call's sid: no number, so no detection either (and no store read for it)."""
    _ivy, bridge = dial_through_twilio(app, twilio, simulator)
    fetched = simulator.post(dict(bridge.sent.form)["Url"], {"CallSid": "CA" + "9" * 32})
    assert fetched.status == 200 and "Number" not in fetched.body
