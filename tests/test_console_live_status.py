"""The case screen's live call status: the calls.json endpoint, its words and who may read it.

An interviewer dials the flagship's case through Twilio (the fake REST API:
nothing leaves the machine) and tests/call_simulator.py posts the status
callbacks of both legs of the bridge one by one, signed as Twilio signs them,
to the real webhooks; after each, the attempt's ``calls.json`` and the case
screen must say where the call stands: ringing you, ringing the respondent,
connected, ended after 3 min 12 s. Replayed and late callbacks change
nothing. Only the interviewer holding the case may read it (another one, a
supervisor, a signed-out browser and the interviewer after coding the call
get nothing), and it never holds the respondent's number. The case screen has
a ``role="status"`` region and, while a call is going, a link that reloads it.

Runs on SQLite and PostgreSQL (tests/store_fixtures.py): the respondent's
leg is read from the stored callbacks' payload, which the two databases query
differently.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from call_simulator import CallSimulator
from live_call_helpers import (
    PUBLIC,
    RESPONDENT,
    TOKEN,
    Bridge,
    answer_both_legs,
    dial_through_twilio,
    twilio,  # noqa: F401 (a fixture)
)
from phone_console_helpers import PASSWORD, Interviewer, add_case, console_app
from test_web_support import (
    FakeClock,
    clock,  # noqa: F401 (a fixture)
    close_app,
)
from twilio_fake import FakeTwilioHttp

from instrument.callqueue import CallQueue
from instrument.fieldwork.settings import FieldworkSettings
from instrument.server.app import get_host
from tests.store_fixtures import *


@pytest.fixture
def app(database_url: str, clock: FakeClock, twilio: FakeTwilioHttp) -> Iterator[Any]:
    app = console_app(database_url, clock, TWILIO_HTTP_CLIENT=twilio)
    add_case(app, "c1", clock)
    yield app
    close_app(app)


@pytest.fixture
def simulator(app: Any) -> CallSimulator:
    return CallSimulator(app, public_url=PUBLIC, auth_token=TOKEN)


def calls_json(ivy: Interviewer, **headers: str) -> dict[str, Any]:
    response = ivy.client.get(ivy.attempt_path + "calls.json", headers=headers)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.get_json())


def region(ivy: Interviewer) -> Any:
    """The case screen's call status region, read afresh (as a reload would)."""
    page = ivy.get(ivy.attempt_path)
    found = page.tree.xpath("//*[@id='call-status']")
    return found[0] if found else None


def _time(form: dict[str, str]) -> str:
    return email.utils.parsedate_to_datetime(form["Timestamp"]).astimezone(dt.UTC).isoformat()


# -- calls.json follows the callbacks of both legs --------------------------------------------


def test_the_status_follows_both_legs_callback_by_callback(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    path = ivy.attempt_path + "calls.json"
    assert re.fullmatch(r"/cati/console/attempt/\d+/calls\.json", path)
    seen = calls_json(ivy)
    assert (seen["going"], seen["phase"], seen["text"]) == (True, "ringing_you", "Ringing you")

    bridge.you("initiated")
    bridge.you("ringing")
    assert calls_json(ivy)["text"] == "Ringing you"
    bridge.you("answered")  # the interviewer picked up; Twilio fetches the bridge TwiML
    assert calls_json(ivy)["text"] == "Ringing the respondent"
    bridge.them("initiated")
    bridge.them("ringing")
    seen = calls_json(ivy)
    assert seen["text"] == "Ringing the respondent"
    assert seen["calls"][0]["respondent_status"] == "ringing"
    bridge.them("answered")
    seen = calls_json(ivy)
    assert (seen["phase"], seen["text"]) == ("connected", "Connected")
    assert seen["calls"][0]["respondent_status"] == "in-progress"
    assert seen["calls"][0]["respondent_answered_at"] == _time(bridge.theirs["answered"])

    bridge.them("completed")  # the respondent hung up; the interviewer's leg ends a moment later
    seen = calls_json(ivy)
    assert (seen["going"], seen["text"]) == (True, "Ended after 3 min 12 s")
    bridge.you("completed")
    seen = calls_json(ivy)
    assert (seen["going"], seen["phase"], seen["text"]) == (
        False,
        "ended",
        "Ended after 3 min 12 s",
    )
    assert seen["attempt_id"] == int(ivy.attempt_path.split("/")[-2])
    [call] = seen["calls"]
    assert call == {
        "call_id": bridge.call_id,
        "number_rank": 1,
        "provider": "twilio",
        "status": "completed",
        "answered_at": _time(bridge.yours["answered"]),
        "ended_at": _time(bridge.yours["completed"]),
        "duration_s": 230,
        "respondent_status": "completed",
        "respondent_answered_at": _time(bridge.theirs["answered"]),
        "respondent_ended_at": _time(bridge.theirs["completed"]),
        "respondent_duration_s": 192,
        "answered_by": None,
        "going": False,
        "phase": "ended",
        "text": "Ended after 3 min 12 s",
    }


def test_a_respondent_leg_whose_callbacks_come_before_the_interviewers_is_shown(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    """Each leg's callbacks are separate requests: the interviewer's may come late (a slow or
    retried delivery), after the respondent's leg has started ringing and even answered."""
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    bridge.them("initiated")
    bridge.them("ringing")
    seen = calls_json(ivy)
    assert seen["calls"][0]["respondent_status"] == "ringing"
    assert (seen["phase"], seen["text"]) == ("ringing_respondent", "Ringing the respondent")
    bridge.you("initiated")  # the interviewer's leg's first callback, late
    bridge.them("answered")
    seen = calls_json(ivy)
    assert (seen["phase"], seen["text"]) == ("connected", "Connected")
    assert seen["calls"][0]["respondent_answered_at"] == _time(bridge.theirs["answered"])
    bridge.you("ringing")
    bridge.you("answered")
    bridge.them("completed")
    bridge.you("completed")
    seen = calls_json(ivy)
    assert (seen["going"], seen["text"]) == (False, "Ended after 3 min 12 s")
    assert seen["calls"][0]["respondent_status"] == "completed"


def test_nothing_in_it_is_a_number_or_a_sid(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    answer_both_legs(bridge)
    raw = ivy.client.get(ivy.attempt_path + "calls.json").get_data(as_text=True)
    digits = RESPONDENT.lstrip("+")
    assert digits not in raw and digits[-9:] not in raw and "+44" not in raw
    assert bridge.sid not in raw and bridge.theirs["answered"]["CallSid"] not in raw
    assert "LONDON" not in raw  # Twilio's ToCity is never stored, let alone shown
    assert set(json.loads(raw)) == {"attempt_id", "going", "phase", "text", "calls"}


def test_replayed_and_late_callbacks_change_nothing(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    for event in ("initiated", "ringing", "answered"):
        bridge.you(event)
    bridge.them("initiated")
    bridge.them("answered")
    before = calls_json(ivy)
    assert before["text"] == "Connected"
    bridge.them("ringing")  # late
    bridge.them("initiated")  # a retry
    bridge.you("ringing")  # late
    assert calls_json(ivy) == before


def test_a_busy_respondent_and_a_missed_interviewer(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator, clock: FakeClock
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    bridge.plan(their_final="busy")
    for event in ("initiated", "ringing", "answered"):
        bridge.you(event)
    bridge.them("initiated")
    bridge.them("ringing")
    bridge.them("completed")  # Twilio's final callback of the leg, carrying "busy"
    seen = calls_json(ivy)
    assert (seen["going"], seen["text"]) == (True, "Respondent's line busy")
    bridge.you("completed")
    seen = calls_json(ivy)
    assert (seen["going"], seen["phase"], seen["text"]) == (False, "busy", "Respondent's line busy")
    assert seen["calls"][0]["respondent_status"] == "busy"

    # Dialled again: this time the interviewer does not answer their own phone.
    ivy.get(ivy.attempt_path)
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    call = get_host(app).store.calls_of("c1")[-1]
    assert call.id != bridge.call_id and call.provider_sid is not None
    sent = [r for r in twilio.requests if r.path.endswith("/Calls.json")][-1]
    again = Bridge(simulator, call.id, call.provider_sid, sent)
    again.plan(your_final="no-answer")
    assert calls_json(ivy)["text"] == "Ringing you"
    again.you("initiated")
    again.you("ringing")
    again.you("completed")
    seen = calls_json(ivy)
    assert seen["going"] is False and seen["phase"] == "you_no_answer"
    assert seen["text"] == "You did not answer: the respondent was not called"
    assert [c["phase"] for c in seen["calls"]] == ["busy", "you_no_answer"]


def test_the_words_are_in_the_interviewers_language(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    answer_both_legs(bridge)
    assert calls_json(ivy, **{"Accept-Language": "cy"})["text"] == "Wedi cysylltu"
    bridge.them("completed")
    bridge.you("completed")
    assert (
        calls_json(ivy, **{"Accept-Language": "cy"})["text"] == "Daeth i ben ar ôl 3 mun 12 eiliad"
    )


# -- who may read it ------------------------------------------------------------------------


def test_only_the_interviewer_holding_the_case_reads_it(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    store = get_host(app).store
    store.create_staff_user("iris", PASSWORD, role="interviewer")
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    bridge.you("initiated")
    path = ivy.attempt_path + "calls.json"
    assert ivy.client.get(path).status_code == 200

    for other in ("iris", "sam"):  # another interviewer; a supervisor
        someone = Interviewer(app, other)
        someone.sign_in()
        response = someone.client.get(path)
        assert response.status_code == 404
        assert b"Ringing" not in response.get_data()

    signed_out = app.test_client().get(path)
    assert signed_out.status_code == 303
    assert "/staff/login" in signed_out.headers["Location"]

    ivy.get(ivy.attempt_path + "end")
    ivy.post(ivy.attempt_path + "end", {"outcome": "no_answer"})
    assert ivy.client.get(path).status_code == 404  # coded: the case is no longer theirs


def test_a_case_released_and_taken_by_another_is_not_shown_to_the_first(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator, clock: FakeClock
) -> None:
    store = get_host(app).store
    store.create_staff_user("iris", PASSWORD, role="interviewer")
    ivy, bridge = dial_through_twilio(app, twilio, simulator)
    path = ivy.attempt_path + "calls.json"
    queue = CallQueue(store, get_host(app).service, lambda _q: FieldworkSettings())
    queue.release("c1", actor="sam", reason="shift ended", now=clock())
    assert ivy.client.get(path).status_code == 404


# -- the case screen ------------------------------------------------------------------------


def test_the_case_screen_has_a_status_region_and_a_reload_link_while_a_call_is_going(
    app: Any, twilio: FakeTwilioHttp, simulator: CallSimulator
) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.post("/cati/console/phone", {"my_phone": "+441632960999"})
    ivy.next_case()
    assert region(ivy) is None  # no call yet: nothing to follow, nothing asked
    ivy, bridge = dial_through_twilio(app, twilio, simulator, ivy)
    found = region(ivy)
    assert found.get("role") == "status" and found.get("aria-live") == "polite"
    assert found.get("data-call-status") == ivy.attempt_path + "calls.json"
    assert found.get("data-going") is not None and found.get("data-poll-seconds") == "2"
    assert found.text_content().split() == ["Call", "status:", "Ringing", "you"]
    [link] = ivy.page.tree.xpath("//*[@data-call-status-refresh]//a")  # type: ignore[union-attr]
    assert link.text_content() == "Refresh call status"
    assert link.get("href") == ivy.attempt_path  # no fragment: a fragment would only scroll

    answer_both_legs(bridge)
    page = ivy.get(link.get("href"))  # the link: a reload says what the JSON says
    assert page.status == 200
    assert region(ivy).xpath("string(.//*[@data-call-status-text])") == "Connected"

    bridge.them("completed")
    bridge.you("completed")
    found = region(ivy)
    assert found.xpath("string(.//*[@data-call-status-text])") == "Ended after 3 min 12 s"
    assert found.get("data-going") is None  # ended: console.js asks nothing
    assert ivy.page.tree.xpath("//*[@data-call-status-refresh]") == []  # type: ignore[union-attr]


def test_a_call_dialled_by_hand_has_no_status_region(app: Any, twilio: FakeTwilioHttp) -> None:
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.next_case()  # no phone of their own: dialled by hand
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    assert region(ivy) is None
    seen = calls_json(ivy)
    assert seen["going"] is False and seen["text"] is None
    assert [c["phase"] for c in seen["calls"]] == ["by_hand"]
