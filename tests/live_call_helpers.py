"""Shared set-up for the live call status tests: an interviewer on a Twilio call, and Twilio.

Not a test module. The app serves the flagship with Twilio configured; its
REST API is the fake of tests/twilio_fake.py (the real SDK's requests are
recorded, nothing leaves the machine) and tests/call_simulator.py plays
Twilio's side: it posts the status callbacks of both legs of the bridge,
signed over the public URL as Twilio signs them, through the app's test
client or to a real server on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from call_simulator import CallSimulator, Posted
from phone_console_helpers import Interviewer
from test_web_support import FLAGSHIP
from twilio_fake import FakeTwilioHttp, RecordedRequest

from instrument.fieldwork.settings import fieldwork_path_for
from instrument.server.app import get_host

__all__ = [
    "MY_PHONE",
    "PUBLIC",
    "RESPONDENT",
    "TOKEN",
    "TWILIO_ENV",
    "Bridge",
    "answer_both_legs",
    "configured_twilio",
    "dial_through_twilio",
    "flagship_with_fieldwork",
    "twilio",
]

PUBLIC = "https://survey.example.org"
TOKEN = "0123456789abcdef" * 2
TWILIO_ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "1",
    "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": "+442071234567",
    "INSTRUMENT_PUBLIC_URL": PUBLIC,
}
MY_PHONE = "+441632960999"
RESPONDENT = "+442079460001"  # add_case's number
YOUR_EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclass
class Bridge:
    """One bridge call as Twilio would report it: each leg's callbacks, posted one by one.

    ``yours``/``theirs`` map an event (initiated, ringing, answered,
    completed) to the callback form Twilio sends for it; the respondent's leg
    has a sid of its own and ``ParentCallSid`` the call's.
    """

    simulator: CallSimulator
    call_id: int
    sid: str
    sent: RecordedRequest
    yours: dict[str, dict[str, str]] = field(default_factory=dict)
    theirs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def status_url(self) -> str:
        return dict(self.sent.form)["StatusCallback"]

    def plan(
        self,
        *,
        your_final: str = "completed",
        your_duration: int = 230,
        their_final: str = "completed",
        their_duration: int = 192,
        answered_by: str | None = None,
    ) -> None:
        """The callbacks each leg will send (the respondent's leg: ``their_final`` at its end)."""
        self.yours = dict(
            zip(
                YOUR_EVENTS,
                self.simulator.status_forms(
                    self.sid, YOUR_EVENTS, final=your_final, duration=your_duration
                ),
            )
        )
        child = self.simulator.new_sid()
        forms = self.simulator.status_forms(
            child, YOUR_EVENTS, final=their_final, duration=their_duration, parent_sid=self.sid
        )
        if answered_by is not None:
            for form in forms[2:]:
                form["AnsweredBy"] = answered_by
        self.theirs = dict(zip(YOUR_EVENTS, forms))

    def you(self, event: str) -> Posted:
        """Post the interviewer's leg's callback for ``event``."""
        posted = self.simulator.post(self.status_url, self.yours[event])
        assert posted.status == 204, posted
        return posted

    def them(self, event: str) -> Posted:
        """Post the respondent's leg's callback for ``event`` (to the call's respondent URL)."""
        posted = self.simulator.post(self.status_url + "/respondent", self.theirs[event])
        assert posted.status == 204, posted
        return posted


def dial_through_twilio(
    app: Any, http: FakeTwilioHttp, simulator: CallSimulator, ivy: Interviewer | None = None
) -> tuple[Interviewer, Bridge]:
    """An interviewer who gave their phone, took case c1 and dialled it through Twilio."""
    if ivy is None:
        ivy = Interviewer(app)
        ivy.sign_in()
    ivy.post("/cati/console/phone", {"my_phone": MY_PHONE})
    ivy.next_case()
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    call = get_host(app).store.calls_of("c1")[-1]
    assert call.provider == "twilio" and call.provider_sid is not None
    sent = [r for r in http.requests if r.path.endswith("/Calls.json")][-1]
    bridge = Bridge(simulator, call.id, call.provider_sid, sent)
    bridge.plan()
    return ivy, bridge


def answer_both_legs(bridge: Bridge) -> None:
    """Both legs initiated, ringing and answered, in Twilio's order for each leg."""
    for event in ("initiated", "ringing", "answered"):
        bridge.you(event)
        bridge.them(event)


def configured_twilio(
    monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str] = TWILIO_ENV
) -> FakeTwilioHttp:
    """Twilio configured in the environment (the server reads it at start-up); its fake REST API."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return FakeTwilioHttp()


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> FakeTwilioHttp:
    """:func:`configured_twilio` with this module's account (import the fixture to use it)."""
    return configured_twilio(monkeypatch)


def flagship_with_fieldwork(folder: Path, fieldwork: str) -> Path:
    """A copy of the flagship in ``folder`` (made here) beside a fieldwork file of ``fieldwork``."""
    folder.mkdir()
    questionnaire = folder / FLAGSHIP.name
    shutil.copyfile(FLAGSHIP, questionnaire)
    fieldwork_path_for(questionnaire).write_text(fieldwork, encoding="utf-8")
    return questionnaire
