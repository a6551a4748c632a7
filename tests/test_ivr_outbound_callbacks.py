"""The signed callbacks of automated calls: each stored once, out-of-order safe, the attempt coded
once with the AAPOR outcome its final status and AnsweredBy give, machines hung up on.

The blueprint is mounted in a Flask app of the test's own, inside an ``ivr`` blueprint as the
mode mounts it; every request is signed as Twilio signs it (twilio's RequestValidator over the
public URL). Calls are placed first through the fake Twilio (tests/twilio_fake.py), so the hang-up
a machine gets is the REST request Twilio would receive. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio_fake import FakeTwilioHttp

from instrument.fieldwork.settings import FieldworkSettings
from instrument.interviews import ModeContext
from instrument.store import Store
from instrument.store.schema import call_events
from instrument_phone.ivr.outbound import (
    CALLBACKS_PREFIX,
    Placed,
    amd_callback_path,
    status_callback_path,
)
from instrument_phone.ivr.outbound_callbacks import create_blueprint
from instrument_phone.telephony.config import TelephonyConfigError
from tests.callqueue_helpers import T0, answer_first_page
from tests.ivr_outbound_helpers import (
    PUBLIC,
    SETTINGS,
    SID,
    TOKEN,
    Run,
    add_automated_case,
    fake_twilio,
    fieldwork,
    place,
)
from tests.store_fixtures import *

MINUTE = dt.timedelta(minutes=1)


@dataclass
class Line:
    """One automated call placed, and the app its callbacks go to."""

    store: Store
    run: Run
    placed: Placed
    app: Flask
    http: FakeTwilioHttp
    clock: list[dt.datetime]

    @property
    def sid(self) -> str:
        assert self.placed.sid is not None
        return self.placed.sid

    def post(self, path: str, form: dict[str, str], *, signature: str | None = None) -> Any:
        url = PUBLIC + path
        if signature is None:
            signature = RequestValidator(TOKEN).compute_signature(url, form)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return self.app.test_client().post(path, data=form, headers=headers)

    def status(self, status: str, seq: int, **extra: str) -> Any:
        form = {
            "AccountSid": SID,
            "CallSid": self.sid,
            "CallStatus": status,
            "SequenceNumber": str(seq),
            "To": "+442071234567",
            "From": "+442071234567",
            "Direction": "outbound-api",
            **extra,
        }
        return self.post(status_callback_path(self.placed.call_id), form)

    def amd(self, answered_by: str) -> Any:
        form = {"AccountSid": SID, "CallSid": self.sid, "AnsweredBy": answered_by}
        return self.post(amd_callback_path(self.placed.call_id), form)

    def disposition(self) -> str | None:
        attempt = self.store.attempt(self.placed.attempt_id)
        assert attempt is not None
        return attempt.disposition

    def events(self) -> list[Any]:
        with self.store.engine.connect() as connection:
            return connection.execute(
                sa.select(call_events).where(call_events.c.provider_sid == self.sid)
            ).all()

    def hang_ups(self) -> list[Any]:
        return [r for r in self.http.requests if r.path.endswith(f"/Calls/{self.sid}.json")]


def open_line(store: Store, settings: FieldworkSettings | None = None) -> Line:
    chosen = settings or fieldwork()
    add_automated_case(store, "C1")
    http = fake_twilio()
    run = place(store, T0, chosen, http=http)
    (placed,) = run.report.placed
    clock = [T0 + MINUTE]
    context = ModeContext(run.queue.interviews, clock=lambda: clock[0])
    client = Client(SID, TOKEN, http_client=http)
    callbacks = create_blueprint(
        context, settings=SETTINGS, client=client, settings_for=lambda _q: chosen
    )
    ivr = Blueprint("ivr", __name__)
    ivr.register_blueprint(callbacks, url_prefix=CALLBACKS_PREFIX)
    app = Flask(__name__)
    app.register_blueprint(ivr, url_prefix="/ivr")
    return Line(store, run, placed, app, http, clock)


@pytest.fixture
def line(store: Store) -> Iterator[Line]:
    yield open_line(store)


# -- final statuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome", "rest"),
    [
        ("busy", "busy", dt.timedelta(minutes=15)),
        ("no-answer", "no_answer", dt.timedelta(hours=3)),
        ("failed", "technical_problem", dt.timedelta(hours=1)),
        ("canceled", "technical_problem", dt.timedelta(hours=1)),
    ],
)
def test_a_final_status_codes_the_attempt_once_with_its_retry_delay(
    line: Line, status: str, outcome: str, rest: dt.timedelta
) -> None:
    assert line.status("initiated", 0).status_code == 204
    assert line.status("ringing", 1).status_code == 204
    assert line.disposition() is None
    assert line.status(status, 2, CallDuration="0").status_code == 204
    assert line.disposition() == outcome
    row = line.store.queue_row("C1")
    assert row is not None and row["held_by"] is None and not row["final"]
    assert row["window_start"] == T0 + rest  # from the attempt's start, as the rules count
    line.clock[0] += MINUTE  # Twilio's retry, and a copy of it, a minute later
    assert line.status(status, 2, CallDuration="0").status_code == 204
    assert line.status(status, 2, CallDuration="0").status_code == 204
    assert line.disposition() == outcome
    assert len(line.events()) == 3
    assert line.store.queue_row("C1") == row  # nothing moved


@pytest.mark.parametrize(
    ("answered_by", "outcome", "hung_up"),
    [
        ("human", "refusal_household", False),
        ("unknown", "no_answer", False),
        ("machine_start", "answering_machine", True),
        ("machine_end_beep", "answering_machine", True),
        ("machine_end_silence", "answering_machine", True),
        ("machine_end_other", "answering_machine", True),
        ("fax", "fax", True),
    ],
)
def test_what_detection_heard_codes_the_completed_call(
    line: Line, answered_by: str, outcome: str, hung_up: bool
) -> None:
    line.status("initiated", 0)
    line.status("in-progress", 1)
    assert line.amd(answered_by).status_code == 204
    assert len(line.hang_ups()) == (1 if hung_up else 0)
    if hung_up:
        assert dict(line.hang_ups()[0].form) == {"Status": "completed"}
    assert line.amd(answered_by).status_code == 204  # a retry: stored once
    assert line.disposition() is None  # the call goes on until its final status
    assert line.status("completed", 2, CallDuration="12").status_code == 204
    assert line.disposition() == outcome
    assert line.amd(answered_by).status_code == 204  # late: the call has ended, no hang-up
    assert len(line.hang_ups()) == (2 if hung_up else 0)
    assert len(line.events()) == 4
    call = line.store.get_call(line.placed.call_id)
    assert call is not None and (call.status, call.answered_by) == ("completed", answered_by)
    number = line.store.phone_numbers_of("C1")[0]
    assert number.working is (outcome != "fax")


@pytest.mark.parametrize("answered_by", ["machine_end_beep", "human"])
def test_detection_before_answering_comes_with_the_final_status(
    store: Store, answered_by: str
) -> None:
    """leave_message: detection runs before the answer URL is asked, so its result comes in the
    status callbacks, and nothing is hung up on (the answer handler leaves the message)."""
    message = fieldwork(on_machine="leave_message", message="We will call again.")
    line = open_line(store, message)
    line.status("completed", 3, AnsweredBy=answered_by)
    expected = "answering_machine" if answered_by.startswith("machine") else "refusal_household"
    assert line.disposition() == expected
    assert line.hang_ups() == []


def test_out_of_order_callbacks_change_nothing_after_the_end(line: Line) -> None:
    line.status("completed", 3, CallDuration="40", AnsweredBy="human")
    coded = line.store.queue_row("C1")
    for status, seq in (("in-progress", 2), ("ringing", 1), ("initiated", 0)):
        assert line.status(status, seq).status_code == 204
    call = line.store.get_call(line.placed.call_id)
    assert call is not None and (call.status, call.duration_s) == ("completed", 40)
    assert line.disposition() == "refusal_household"
    assert line.store.queue_row("C1") == coded
    assert len(line.events()) == 4
    line.status("no-answer", 4)  # a second final status: the first stands
    assert line.disposition() == "refusal_household"


def test_the_answers_decide_a_call_that_reached_someone(line: Line) -> None:
    queue = line.run.queue
    interview = queue.interview_for("C1", mode="ivr", actor="ivr:x", now=T0)
    saved = answer_first_page(
        queue.interviews, interview, {"parent": 2}, mode="ivr", actor="ivr:x", now=T0, key="k"
    )
    assert saved.interview.finished  # not a parent: screened out, the interview is over
    line.amd("machine_start")  # detection was wrong: the answers say a person was there
    line.status("completed", 5)
    assert line.disposition() == "complete"
    row = line.store.queue_row("C1")
    assert row is not None and row["final"]


def test_the_ivr_calls_record_ends_with_the_final_status(line: Line) -> None:
    line.store.open_ivr_call(
        line.sid, direction="outbound", now=T0, attempt_id=line.placed.attempt_id
    )
    line.status("in-progress", 1)
    assert line.store.ivr_turn(line.sid, 0).call.ended_at is None
    line.status("completed", 2)
    assert line.store.ivr_turn(line.sid, 0).call.ended_at == line.clock[0]


def test_a_call_released_by_the_hold_timeout_keeps_that_outcome(line: Line) -> None:
    late = T0 + dt.timedelta(minutes=20)
    line.run.queue.release_stale_holds(late)
    assert line.disposition() == "hold_expired"
    line.clock[0] = late + MINUTE
    assert line.status("completed", 2, AnsweredBy="human").status_code == 204
    assert line.disposition() == "hold_expired"


# -- refusals ------------------------------------------------------------------------------


def test_unsigned_tampered_or_misaddressed_callbacks_get_403_and_store_nothing(line: Line) -> None:
    path = status_callback_path(line.placed.call_id)
    form = {"CallSid": line.sid, "CallStatus": "busy", "SequenceNumber": "2"}
    signed = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    assert line.post(path, form, signature="").status_code == 403
    assert line.post(path, {**form, "CallStatus": "no-answer"}, signature=signed).status_code == 403
    other = status_callback_path(line.placed.call_id + 1)
    assert line.post(other, form, signature=signed).status_code == 403
    wrong_token = RequestValidator("f" * 32).compute_signature(PUBLIC + path, form)
    assert line.post(path, form, signature=wrong_token).status_code == 403
    amd = amd_callback_path(line.placed.call_id)
    assert (
        line.post(amd, {"CallSid": line.sid, "AnsweredBy": "fax"}, signature="").status_code == 403
    )
    assert line.events() == [] and line.disposition() is None and line.hang_ups() == []
    assert line.post(path, form, signature=signed).status_code == 204
    assert line.disposition() == "busy"


def test_what_is_not_a_callback_of_this_call_is_refused(line: Line) -> None:
    assert line.status("ringing-ish", 1).status_code == 400
    assert line.status("completed", 1, AnsweredBy="robot").status_code == 400
    assert line.amd("robot").status_code == 400
    other = {"CallSid": "CA" + "f" * 32, "CallStatus": "busy", "SequenceNumber": "1"}
    assert line.post(status_callback_path(line.placed.call_id), other).status_code == 400
    assert line.post(status_callback_path(99999), other).status_code == 404
    assert line.events() == [] and line.disposition() is None


def test_no_numbers_are_kept_from_a_callback(line: Line) -> None:
    line.status("completed", 2, Called="+442071234567", CallerCity="LONDON")
    for event in line.events():
        assert not any(key.startswith(("To", "From", "Called", "Caller")) for key in event.payload)


def test_the_blueprint_needs_twilio(store: Store) -> None:
    line = open_line(store)
    context = ModeContext(line.run.queue.interviews)
    with pytest.raises(TelephonyConfigError, match="INSTRUMENT_TWILIO_ACCOUNT_SID"):
        create_blueprint(context, environ={})
