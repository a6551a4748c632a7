"""A panel wave's automated_call step carried out by the fieldwork worker, on SQLite and PostgreSQL.

The flagship's wave (questionnaires/social_licence.wave1.yaml: the move to the phone on day 14, an
automated call on day 21 at 18:00 with ``{mode: ivr, max_attempts: 2, retry_after: 2d}``) is walked
on a frozen clock by the real worker (``worker_for``, the modes from the plugin host: the ``ivr``
mode's ``place_automated_calls``). Calls go through the real twilio SDK into the fake REST API
(tests/twilio_fake.py), and their status callbacks are posted, signed, to the phone plugin's own
callbacks blueprint, which codes each attempt. The email and SMS steps go to channels that accept
every message (what they send is tests/test_fieldwork_worker.py's business).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio_fake import FakeTwilioHttp

from instrument.callqueue import CallQueue
from instrument.fieldwork.schedule import Window
from instrument.fieldwork.settings import FieldworkSettings, settings_for
from instrument.interviews import InterviewService, ModeContext, Surveys
from instrument.panelwork.worker import FieldworkWorker, RoundReport, worker_for
from instrument.plugin_types import ContactChannel, OutgoingMessage, Receipt
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import Store, open_store
from instrument.store.schema import attempts, case_queue, panel_messages
from instrument_phone.ivr import outbound
from instrument_phone.ivr.outbound import CALLBACKS_PREFIX
from instrument_phone.ivr.outbound_callbacks import create_blueprint
from instrument_phone.telephony.config import TELEPHONY_VARIABLES, TwilioSettings
from tests.store_fixtures import *
from tests.test_fieldwork_worker import finish
from tests.test_panel_waves_store import (
    DAY0,
    PANEL,
    QUESTIONNAIRE,
    Panel,
    import_panel,
    member_case,
    open_flagship,
    panel_keys,
)
from tests.test_web_support import FakeClock

SID = "AC" + "cd" * 16
TOKEN = "fedcba9876543210" * 2
CALLER = "+442071234500"
PUBLIC = "https://survey.example.org"
SETTINGS = TwilioSettings(SID, TOKEN, CALLER, PUBLIC)
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Calls.json"

DAY14 = DAY0 + dt.timedelta(days=14)
LATE = dt.datetime(2027, 3, 23, 20, 40, tzinfo=dt.UTC)
"""Day 21 (a Tuesday; London is on GMT until the 28th) at 20:40: the step (18:00) is due, past
the flagship's calling hours (mon-fri 09:00-20:30), before the wave's quiet hours (21:00)."""
MORNING = dt.datetime(2027, 3, 24, 9, 0, tzinfo=dt.UTC)
"""Day 22, a Wednesday, as calling hours begin."""
NUMBERS = {"F001": "+447911123456", "F002": "+447911123999", "F005": "+447911123777"}


class AcceptingChannels:
    """Email and SMS channels that take every message (the plan's messages are not under test)."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> Receipt:
        self.sent.append(message)
        return Receipt(message.channel, "sent", f"<{len(self.sent)}@test>")

    def registry(self) -> dict[str, ContactChannel]:
        return {
            "email": ContactChannel("email", "Email", "email", self.send),
            "sms": ContactChannel("sms", "SMS", "phone", self.send),
        }


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> FakeTwilioHttp:
    """Twilio configured in the environment, its REST API the fake one."""
    fake = FakeTwilioHttp()
    monkeypatch.setattr(outbound, "HTTP_CLIENT", fake)
    for name, value in zip(TELEPHONY_VARIABLES, (SID, TOKEN, CALLER, PUBLIC), strict=True):
        monkeypatch.setenv(name, value)
    return fake


@pytest.fixture
def no_twilio(monkeypatch: pytest.MonkeyPatch) -> FakeTwilioHttp:
    fake = FakeTwilioHttp()
    monkeypatch.setattr(outbound, "HTTP_CLIENT", fake)
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return fake


@pytest.fixture
def panel(store: Store) -> Panel:
    return import_panel(store, panel_keys())


def a_worker(
    panel: Panel, clock: FakeClock, *, store: Store | None = None, name: str = "w1"
) -> FieldworkWorker:
    return worker_for(
        store or panel.store,
        AcceptingChannels().registry(),
        panel.keys,
        clock=clock,
        base_url="http://survey.test",
        name=name,
        plugins=PluginFacade(get_plugin_manager()),
    )


def rounds(worker: FieldworkWorker) -> RoundReport:
    """Rounds until one does and says nothing; everything they did, added up."""
    total = RoundReport()
    for _ in range(50):
        report = worker.run_round()
        if not report.busy:
            return total
        total.claimed += report.claimed
        total.actions += report.actions
        total.calls_placed += report.calls_placed
        total.calls_not_placed += report.calls_not_placed
        total.notes.extend(report.notes)
    raise AssertionError("the worker never ran out of due work")


@dataclass
class Walk:
    """The flagship's wave opened for a panel, a worker and the frozen clock it runs on."""

    panel: Panel
    clock: FakeClock
    worker: FieldworkWorker

    @property
    def store(self) -> Store:
        return self.panel.store

    def at(self, now: dt.datetime) -> RoundReport:
        """Rounds at ``now`` until the worker has nothing more to do."""
        self.clock.now = now
        return rounds(self.worker)

    def to_day_21(self) -> RoundReport:
        """The invitations on day 0 and the move to the phone on day 14, then day 21 after
        calling hours: the automated_call step hands the unfinished members' cases over."""
        self.at(DAY0)
        self.at(DAY14)
        return self.at(LATE)


def walk_for(panel: Panel) -> Walk:
    clock = FakeClock(DAY0)
    worker = a_worker(panel, clock)
    open_flagship(panel)
    return Walk(panel, clock, worker)


@pytest.fixture
def walk(panel: Panel) -> Walk:
    return walk_for(panel)


def queue_rows(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(case_queue)).all()
    return {row.case_id: row._asdict() for row in rows}


def step_detail(store: Store, external_id: str, step: str = "day21-automated_call") -> Any:
    case_id = member_case(store, external_id)
    with store.engine.connect() as connection:
        return connection.execute(
            sa.select(panel_messages.c.detail).where(
                panel_messages.c.case_id == case_id, panel_messages.c.step == step
            )
        ).scalar_one()


def called(fake: FakeTwilioHttp) -> list[dict[str, list[str]]]:
    """The form of every Calls.json request the fake received, in order."""
    forms = []
    for request in fake.requests:
        if request.method == "POST" and request.url == CALLS_URL:
            form: dict[str, list[str]] = {}
            for key, value in request.form:
                form.setdefault(key, []).append(value)
            forms.append(form)
    return forms


def interviewers_queue(store: Store) -> CallQueue:
    surveys = Surveys.stored(store, "social_licence")
    fieldwork, problems = settings_for(QUESTIONNAIRE)
    assert not problems.has_errors()
    return CallQueue(store, InterviewService(store, surveys), lambda _id: fieldwork)


@dataclass
class Callbacks:
    """The phone plugin's status callbacks for automated calls, served by a Flask app, posted to as
    Twilio posts them (signed with the account's token)."""

    store: Store
    app: Flask
    clock: FakeClock

    def status(self, form: dict[str, list[str]], status: str, seq: int) -> int:
        path = urlsplit(form["StatusCallback"][0]).path
        call_id = int(path.rsplit("/", 1)[1])
        call = self.store.get_call(call_id)
        assert call is not None and call.provider_sid is not None
        posted = {
            "AccountSid": SID,
            "CallSid": call.provider_sid,
            "CallStatus": status,
            "SequenceNumber": str(seq),
            "To": form["To"][0],
            "From": CALLER,
            "Direction": "outbound-api",
        }
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, posted)
        response = self.app.test_client().post(
            path, data=posted, headers={"X-Twilio-Signature": signature}
        )
        return response.status_code

    def end(self, form: dict[str, list[str]], status: str) -> None:
        for seq, step in enumerate(("initiated", "ringing", status)):
            assert self.status(form, step, seq) == 204


def callbacks_app(store: Store, clock: FakeClock, fake: FakeTwilioHttp) -> Callbacks:
    surveys = Surveys.stored(store, "social_licence")
    fieldwork, _ = settings_for(QUESTIONNAIRE)
    context = ModeContext(InterviewService(store, surveys), clock=clock)
    blueprint = create_blueprint(
        context,
        settings=SETTINGS,
        client=Client(SID, TOKEN, http_client=fake),
        settings_for=lambda _id: fieldwork,
    )
    ivr = Blueprint("ivr", __name__)
    ivr.register_blueprint(blueprint, url_prefix=CALLBACKS_PREFIX)
    app = Flask(__name__)
    app.register_blueprint(ivr, url_prefix="/ivr")
    return Callbacks(store, app, clock)


def dispositions(store: Store, case_id: str) -> list[tuple[str, str | None]]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(attempts.c.interviewer, attempts.c.disposition)
            .where(attempts.c.case_id == case_id)
            .order_by(attempts.c.id)
        ).all()
    return [(row.interviewer, row.disposition) for row in rows]


# ---------------------------------------------------------------------------- the whole step


def test_the_step_hands_cases_to_the_dialler_and_the_worker_calls_them_within_hours(
    walk: Walk, twilio: FakeTwilioHttp
) -> None:
    store, clock = walk.store, walk.clock
    walk.at(DAY0)
    finish(store, member_case(store, "F002"), DAY0 + dt.timedelta(hours=3))  # Bryn answers online
    walk.at(DAY14)
    ann, eve = member_case(store, "F001"), member_case(store, "F005")
    assert {c: r["taken_by"] for c, r in queue_rows(store).items()} == {
        ann: "interviewer",
        eve: "interviewer",
    }

    report = walk.at(LATE)  # the step's time has come; calling hours have ended
    assert report.calls_placed == 0 and called(twilio) == []
    rows = queue_rows(store)
    for case_id in (ann, eve):
        assert rows[case_id]["taken_by"] == "automated"
        assert rows[case_id]["automated_calls_left"] == 2
        assert rows[case_id]["automated_spacing_s"] == 2 * 86400
    assert step_detail(store, "F001") == {
        "handed": True,
        "mode": "ivr",
        "max_attempts": 2,
        "retry_after_s": 172800,
    }
    # the interviewers' next case never gets them now
    interviewers = interviewers_queue(store)
    assert interviewers.next_case("ann", now=MORNING).kind == "no_case"

    report = walk.at(MORNING)  # Wednesday 09:00 in London: both are called
    assert report.calls_placed == 2
    first = called(twilio)
    assert sorted(form["To"][0] for form in first) == sorted([NUMBERS["F001"], NUMBERS["F005"]])
    for form in first:
        attempt = form["Url"][0].rsplit("=", 1)[1]
        assert form["Url"] == [f"{PUBLIC}/ivr/voice/outbound?attempt={attempt}"]
        assert form["From"] == [CALLER]
        assert form["StatusCallback"][0].startswith(f"{PUBLIC}/ivr/calls/status/")
        assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
        assert form["MachineDetection"] == ["Enable"]  # the flagship hangs up on machines
        assert form["Timeout"] == ["30"]
    assert NUMBERS["F002"] not in {form["To"][0] for form in first}  # she finished online

    # the callbacks code each call: nobody answers
    callbacks = callbacks_app(store, clock, twilio)
    clock.now = MORNING + dt.timedelta(minutes=1)
    for form in first:
        callbacks.end(form, "no-answer")
    for case_id in (ann, eve):
        assert dispositions(store, case_id) == [("ivr:outbound", "no_answer")]
        row = queue_rows(store)[case_id]
        assert row["held_by"] is None and not row["final"] and row["automated_calls_left"] == 1

    # the rules would call again in 2 hours; the step says 2 days
    for hours in (2, 24, 47):
        assert walk.at(MORNING + dt.timedelta(hours=hours)).calls_placed == 0
    # Friday 09:00: the second and last call
    assert walk.at(MORNING + dt.timedelta(days=2)).calls_placed == 2
    second = called(twilio)[2:]
    assert len(second) == 2
    clock.now += dt.timedelta(minutes=1)
    for form in second:
        callbacks.end(form, "busy")
    # Monday 29th: max_attempts reached
    assert walk.at(MORNING + dt.timedelta(days=5)).calls_placed == 0
    assert len(called(twilio)) == 4
    for case_id in (ann, eve):
        assert [d for _, d in dispositions(store, case_id)] == ["no_answer", "busy"]


def test_an_answered_call_is_coded_by_its_callback_and_never_repeated_after_a_complete(
    walk: Walk, twilio: FakeTwilioHttp
) -> None:
    store, clock = walk.store, walk.clock
    walk.to_day_21()
    assert walk.at(MORNING).calls_placed == 3
    forms = {form["To"][0]: form for form in called(twilio)}
    ann = member_case(store, "F001")
    # Ann completes the interview on the call; the others are not answered
    finish(store, ann, MORNING + dt.timedelta(minutes=8))
    callbacks = callbacks_app(store, clock, twilio)
    clock.now = MORNING + dt.timedelta(minutes=9)
    callbacks.end(forms[NUMBERS["F001"]], "completed")
    callbacks.end(forms[NUMBERS["F002"]], "no-answer")
    callbacks.end(forms[NUMBERS["F005"]], "no-answer")
    assert dispositions(store, ann) == [("ivr:outbound", "complete")]
    assert queue_rows(store)[ann]["final"]
    assert walk.at(MORNING + dt.timedelta(days=2)).calls_placed == 2
    assert NUMBERS["F001"] not in {form["To"][0] for form in called(twilio)[3:]}


# ---------------------------------------------------------------------------- who is left alone


def test_a_case_an_interviewer_holds_or_has_an_appointment_stays_with_the_interviewers(
    walk: Walk, twilio: FakeTwilioHttp
) -> None:
    store = walk.store
    walk.at(DAY0)
    walk.at(DAY14)
    ann, bryn, eve = (member_case(store, m) for m in ("F001", "F002", "F005"))
    interviewers = interviewers_queue(store)
    at_six = dt.datetime(2027, 3, 23, 18, 0, tzinfo=dt.UTC)
    # an interviewer is on the phone to Bryn when the step comes; Eve has an appointment
    bryn_held = interviewers.next_case("ann", now=at_six - dt.timedelta(minutes=5))
    assert bryn_held.kind == "claimed"
    assert bryn_held.case_id in (ann, bryn, eve)
    held = bryn_held.case_id
    booked = next(c for c in (ann, bryn, eve) if c != held)
    promised = dt.datetime(2027, 3, 25, 17, 0, tzinfo=dt.UTC)
    store.set_window(
        booked,
        window=Window(promised, promised + dt.timedelta(minutes=30), "hard", "bob"),
        now=at_six,
    )
    walk.at(at_six)
    rows = queue_rows(store)
    assert rows[held]["taken_by"] == "interviewer" and rows[held]["held_by"] == "ann"
    assert rows[booked]["taken_by"] == "interviewer"
    by_case = {member_case(store, m): m for m in ("F001", "F002", "F005")}
    assert step_detail(store, by_case[held])["handed"] is False
    assert step_detail(store, by_case[held])["why"] == "held by interviewer ann: left with them"
    assert step_detail(store, by_case[booked])["why"] == (
        "a hard appointment (2027-03-25 17:00 UTC) is kept by the interviewers"
    )
    the_third = next(c for c in (ann, bryn, eve) if c not in (held, booked))
    assert rows[the_third]["taken_by"] == "automated"
    walk.at(MORNING)
    assert [form["To"][0] for form in called(twilio)] == [NUMBERS[by_case[the_third]]]
    # ann's hold ran out overnight: the case is the interviewers' again, and the only one they
    # get (the second is kept for bob on Thursday, the third is the dialler's)
    again = interviewers.next_case("cy", now=MORNING)
    assert again.kind == "claimed" and again.case_id == held
    assert interviewers.next_case("dee", now=MORNING).kind == "no_case"


def test_nobody_who_finished_stopped_contact_or_withdrew_is_called(
    walk: Walk, twilio: FakeTwilioHttp
) -> None:
    store = walk.store
    opened = walk.to_day_21()
    assert opened.calls_placed == 0
    ann, bryn, eve = (member_case(store, m) for m in ("F001", "F002", "F005"))
    assert {queue_rows(store)[c]["taken_by"] for c in (ann, bryn, eve)} == {"automated"}
    night = LATE + dt.timedelta(hours=1)
    finish(store, ann, night)  # Ann answers online that evening
    assert store.stop_wave_member(bryn, now=night)  # Bryn uses the stop link
    eve_member = store.get_member(PANEL, external_id="F005")
    assert eve_member is not None
    store.withdraw_member(
        eve_member.id, "stop_contact", actor="member:link", by_staff=False, via="link", now=night
    )
    report = walk.at(MORNING)
    assert report.calls_placed == 0 and called(twilio) == []
    for case_id in (ann, bryn):
        assert dispositions(store, case_id) == []  # not even taken
    assert eve not in queue_rows(store)


# ---------------------------------------------------------------------------- Twilio missing


def test_without_twilio_the_worker_says_so_once_and_takes_no_case(
    walk: Walk, no_twilio: FakeTwilioHttp
) -> None:
    store = walk.store
    report = walk.to_day_21()
    detail = step_detail(store, "F001")
    assert detail["handed"] is True
    assert detail["calls_not_placed"].startswith("automated calls need Twilio, and none of")
    first = walk.at(MORNING)
    notes = report.notes + first.notes
    assert notes == [
        "automated calls to social_licence are not placed: automated calls need Twilio, and "
        "none of INSTRUMENT_TWILIO_ACCOUNT_SID, INSTRUMENT_TWILIO_AUTH_TOKEN, "
        "INSTRUMENT_TWILIO_CALLER_ID, INSTRUMENT_PUBLIC_URL is set"
    ]
    assert "automated calls to social_licence are not placed" in str(
        first if first.notes else report
    )
    walk.clock.now = MORNING + dt.timedelta(hours=1)
    assert walk.worker.run_round().notes == []  # said once
    assert no_twilio.requests == []
    for external_id in ("F001", "F002", "F005"):
        assert dispositions(store, member_case(store, external_id)) == []


# ---------------------------------------------------------------------------- two workers


def test_two_workers_never_place_the_same_call_twice(
    database_url: str, twilio: FakeTwilioHttp
) -> None:
    members = "external_id,status,language,email,phone,n_children\n" + "".join(
        f"M{i:03d},active,en,m{i}@example.org,07911 {200000 + i},1\n" for i in range(24)
    )
    first, second = open_store(database_url), open_store(database_url)
    try:
        walk = walk_for(import_panel(first, panel_keys(), members))
        one = walk.worker
        two = a_worker(walk.panel, walk.clock, store=second, name="two")
        walk.to_day_21()
        walk.clock.now = MORNING
        for worker in (one, two):
            assert worker.automated is not None
            worker.automated.limit = 5  # several rounds each, interleaved
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(worker: FieldworkWorker) -> None:
            try:
                start.wait()
                rounds(worker)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        numbers = Counter(form["To"][0] for form in called(twilio))
        assert len(numbers) == 24 and set(numbers.values()) == {1}
        with first.engine.connect() as connection:
            taken = connection.execute(
                sa.select(sa.func.count()).where(attempts.c.interviewer == "ivr:outbound")
            ).scalar_one()
        assert taken == 24
    finally:
        first.close()
        second.close()


def test_the_default_settings_are_the_flagships() -> None:
    """The flagship's fieldwork file is what the worker reads for its calling hours: a check that
    the times above mean what they say."""
    fieldwork, _ = settings_for(QUESTIONNAIRE)
    assert isinstance(fieldwork, FieldworkSettings)
    zone = fieldwork.calling.zone("Europe/London")
    from instrument.fieldwork.calling import within_hours

    assert not within_hours(LATE, zone, fieldwork.calling)
    assert within_hours(MORNING, zone, fieldwork.calling)


# ---------------------------------------------------------------------------- the mode's field


def test_the_ivr_mode_places_automated_calls_through_its_modespec() -> None:
    from instrument.plugin_types import AutomatedCallReport, AutomatedCallRun, ModeSpec

    spec = PluginFacade(get_plugin_manager()).modes()["ivr"]
    assert spec.place_automated_calls is not None
    with pytest.raises(TypeError, match="ModeSpec.place_automated_calls must be callable"):
        ModeSpec("kiosk", "Kiosk", place_automated_calls="dial")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be 0 or more"):
        AutomatedCallRun("q", None, -1, lambda: MORNING)
    with pytest.raises(ValueError, match="placed none"):
        AutomatedCallReport(placed=("C1",), unavailable="no Twilio")


def test_limit_zero_only_asks_whether_calls_can_be_placed(
    no_twilio: FakeTwilioHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrument.plugin_types import AutomatedCallReport, AutomatedCallRun

    probe = AutomatedCallRun("q", None, 0, lambda: MORNING)
    unavailable = outbound.place_automated_calls(probe).unavailable
    assert unavailable is not None and "INSTRUMENT_TWILIO_ACCOUNT_SID" in unavailable
    for name, value in zip(TELEPHONY_VARIABLES, (SID, TOKEN, CALLER, PUBLIC), strict=True):
        monkeypatch.setenv(name, value)
    assert outbound.place_automated_calls(probe) == AutomatedCallReport()  # nothing taken
    assert no_twilio.requests == []
