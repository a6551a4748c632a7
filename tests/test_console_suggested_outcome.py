"""The end-of-call picker pre-selects the outcome the telephony implies, and says why.

The interviewer dials the flagship's case through Twilio (the fake REST API)
and tests/call_simulator.py plays the whole bridge as Twilio would: it rings
the interviewer, fetches our bridge TwiML, dials the respondent's number as
the TwiML says, and posts both legs' signed status callbacks. Where the
respondent's line was busy, did not answer, or the call to it failed, the
picker pre-selects busy, no answer or a technical problem, with "Suggested
from the call: ..."; where a person answered, or the interviewer's own phone
did not, nothing is pre-selected. The interviewer may code another outcome.
A suggestion the study does not offer for the attempt is not made.

SQLite and PostgreSQL (the respondent's leg is read from stored callbacks).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from call_simulator import CallSimulator
from live_call_helpers import (
    PUBLIC,
    RESPONDENT,
    TOKEN,
    dial_through_twilio,
    flagship_with_fieldwork,
    twilio,  # noqa: F401 (a fixture)
)
from phone_console_helpers import Interviewer, add_case, console_app
from test_web_support import (
    FakeClock,
    clock,  # noqa: F401 (a fixture)
    close_app,
)
from twilio_fake import FakeTwilioHttp

from instrument.server.app import get_host
from tests.store_fixtures import *


def _app(url: str, clock: FakeClock, twilio: FakeTwilioHttp, *questionnaire: Path) -> Any:
    config: dict[str, Any] = {"TWILIO_HTTP_CLIENT": twilio}
    if questionnaire:
        config["QUESTIONNAIRES"] = [str(p) for p in questionnaire]
    app = console_app(url, clock, **config)
    add_case(app, "c1", clock)
    return app


@pytest.fixture
def app(database_url: str, clock: FakeClock, twilio: FakeTwilioHttp) -> Iterator[Any]:
    app = _app(database_url, clock, twilio)
    yield app
    close_app(app)


def play(app: Any, twilio: FakeTwilioHttp, **how: Any) -> tuple[Interviewer, Any]:
    """Dial c1 through Twilio and let the simulator play the whole call as scripted."""
    simulator = CallSimulator(app, public_url=PUBLIC, auth_token=TOKEN)
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    form = dict(bridge.sent.form)
    transcript = simulator.call(
        url=form["Url"], sid=bridge.sid, status_callback=form["StatusCallback"],
        status_events=bridge.sent.values("StatusCallbackEvent"), **how,
    )  # fmt: skip
    return ivy, transcript


def picked(ivy: Interviewer) -> tuple[list[str], list[str]]:
    """The end-of-call page's checked outcome(s) and its suggestion line(s)."""
    page = ivy.get(ivy.attempt_path + "end")
    assert page.status == 200
    checked = page.tree.xpath("//input[@name='outcome'][@checked]/@value")
    said = [p.text_content().strip() for p in page.tree.xpath("//*[@id='outcome-suggested']")]
    return checked, said


@pytest.mark.parametrize(
    ("dialled", "code", "words"),
    [
        ("busy", "busy", "line busy"),
        ("no-answer", "no_answer", "no answer"),
        ("failed", "technical_problem", "the call failed"),
    ],
)
def test_the_respondents_leg_suggests_the_outcome(
    app: Any, twilio: FakeTwilioHttp, dialled: str, code: str, words: str
) -> None:
    ivy, transcript = play(app, twilio, dialled=[dialled])
    assert transcript.of("dial") == [RESPONDENT]  # our TwiML dialled the respondent
    [call] = get_host(app).store.calls_of("c1")
    assert call.status == "completed"  # the interviewer's own leg: it was answered
    assert picked(ivy) == ([code], [f"Suggested from the call: {words}"])


def test_nothing_is_pre_selected_after_a_person_answered(app: Any, twilio: FakeTwilioHttp) -> None:
    ivy, transcript = play(app, twilio, dialled=["answered"])
    assert transcript.of("dial") == [RESPONDENT]
    assert picked(ivy) == ([], [])


def test_nothing_is_pre_selected_when_the_interviewer_did_not_answer(
    app: Any, twilio: FakeTwilioHttp
) -> None:
    ivy, transcript = play(app, twilio, answer="no-answer")
    assert transcript.of("dial") == []  # the respondent was never dialled
    [call] = get_host(app).store.calls_of("c1")
    assert call.status == "no-answer"
    assert picked(ivy) == ([], [])


def test_the_interviewer_may_code_another_outcome(
    app: Any, twilio: FakeTwilioHttp, clock: FakeClock
) -> None:
    ivy, _ = play(app, twilio, dialled=["busy"])
    assert picked(ivy)[0] == ["busy"]
    page = ivy.post(ivy.attempt_path + "end", {"outcome": "no_answer"})
    assert "coded" in page.text().lower()
    [attempt] = get_host(app).store.attempts_of("c1")
    assert attempt.disposition == "no_answer"


def test_the_suggestion_in_welsh(app: Any, twilio: FakeTwilioHttp) -> None:
    ivy, _ = play(app, twilio, dialled=["busy"])
    response = ivy.client.get(ivy.attempt_path + "end", headers={"Accept-Language": "cy"})
    assert "Awgrym o&#39;r alwad: llinell yn brysur" in response.get_data(as_text=True)


def test_a_suggestion_the_study_does_not_offer_is_not_made(
    tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp
) -> None:
    questionnaire = flagship_with_fieldwork(
        tmp_path / "study", "dispositions:\n  busy:\n    needs_started_interview: true\n"
    )
    app = _app(f"sqlite:///{tmp_path / 'study.db'}", clock, twilio, questionnaire)
    try:
        ivy, _ = play(app, twilio, dialled=["busy"])
        page = ivy.get(ivy.attempt_path + "end")
        offered = page.tree.xpath("//input[@name='outcome']/@value")
        assert "busy" not in offered and "no_answer" in offered  # busy needs a started interview
        assert picked(ivy) == ([], [])
    finally:
        close_app(app)


def test_a_call_dialled_by_hand_suggests_nothing(app: Any, twilio: FakeTwilioHttp) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    assert picked(ivy) == ([], [])
