"""Recording consent (issue 12): asked before the script, stored once, recording only after a yes.

The store keeps one decision per call (SQLite and PostgreSQL): a second one,
even keyed at the same moment from another tab, changes nothing. The console
(Flask's test client, plain forms) shows the consent screen before the first
script page of a call placed through Twilio where the study records (the
flagship's fieldwork file turns recording on), and Twilio's REST API is the
fake of tests/twilio_fake.py, which records every request the real SDK
sends: ``Recordings.json`` must be asked for exactly once after a yes, and
never after a no, never for a study that does not record, never for a call
dialled by hand, never for a form without a valid CSRF token.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from live_call_helpers import configured_twilio, flagship_with_fieldwork
from phone_console_helpers import Interviewer, add_case, console_app
from test_web_support import (
    FakeClock,
    clock,  # noqa: F401 (a fixture)
    close_app,
)
from twilio.http.response import Response
from twilio_fake import API_HOST, FakeTwilioHttp, fake_client

from instrument.callqueue import CallQueue
from instrument.fieldwork.settings import FieldworkSettings
from instrument.server.app import get_host
from instrument.store import Store, migrate, open_store, resolve_url
from instrument.store.engine import create_store_engine
from instrument.store.schema import call_events
from instrument_phone.telephony.dialer import (
    RecordingNotStarted,
    RetryPolicy,
    start_recording_retried,
)
from tests.fieldwork_store_helpers import T0
from tests.fieldwork_store_helpers import add_case as add_store_case
from tests.store_fixtures import *

ACCOUNT = "AC" + "0" * 31 + "1"
TWILIO_ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": "0123456789abcdef" * 2,
    "INSTRUMENT_TWILIO_CALLER_ID": "+442071234567",
    "INSTRUMENT_PUBLIC_URL": "https://survey.example.org",
}
MY_PHONE = "+441632960999"
SID = "CA" + "1" * 32
PUBLIC = TWILIO_ENV["INSTRUMENT_PUBLIC_URL"]


# -- the store: one decision per call, on both databases ---------------------------------


def _twilio_call(store: Store, case_id: str = "c-1", sid: str = SID) -> int:
    add_store_case(store, case_id)
    claim = store.claim_next_case("ivy", now=T0)
    assert claim is not None
    call_id = store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=T0)
    store.set_call_sid(call_id, sid)
    return call_id


def test_a_calls_decision_is_stored_once_and_a_second_changes_nothing(store: Store) -> None:
    call_id = _twilio_call(store)
    call = store.get_call(call_id)
    assert call is not None and call.recording is None and call.recording_at is None
    assert store.latest_call(call.attempt_id) == call
    first = store.set_call_recording(call_id, True, now=T0 + dt.timedelta(seconds=5))
    assert (first.stored, first.consent, first.at) == (True, True, T0 + dt.timedelta(seconds=5))
    again = store.set_call_recording(call_id, False, now=T0 + dt.timedelta(seconds=6))
    assert (again.stored, again.consent, again.at) == (False, True, first.at)  # the first stands
    assert store.set_recording_sid(call_id, "RE" + "2" * 32)
    assert not store.set_recording_sid(call_id, "RE" + "3" * 32)  # one recording per call
    call = store.get_call(call_id)
    assert call is not None
    assert (call.recording, call.recording_at, call.recording_sid) == (
        True,
        T0 + dt.timedelta(seconds=5),
        "RE" + "2" * 32,
    )
    with pytest.raises(LookupError):
        store.set_call_recording(call_id + 100, True, now=T0)
    with pytest.raises(TypeError):
        store.set_call_recording(call_id, "no", now=T0)  # type: ignore[arg-type]


def test_a_no_keeps_no_recording(store: Store) -> None:
    call_id = _twilio_call(store)
    assert store.set_call_recording(call_id, False, now=T0).stored
    assert not store.set_recording_sid(call_id, "RE" + "2" * 32)  # never after a no
    call = store.get_call(call_id)
    assert call is not None and call.recording is False and call.recording_sid is None


def test_decisions_keyed_at_once_store_one(store: Store) -> None:
    """Eight tabs key yes and no at the same moment: one decision is stored, the others see it."""
    call_id = _twilio_call(store)
    start = threading.Barrier(8)
    results: list[Any] = []

    def key(consent: bool) -> None:
        start.wait()
        results.append(store.set_call_recording(call_id, consent, now=T0))

    threads = [threading.Thread(target=key, args=(i % 2 == 0,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    [winner] = [r for r in results if r.stored]
    assert {r.consent for r in results} == {winner.consent}
    call = store.get_call(call_id)
    assert call is not None and call.recording is winner.consent


def _status(store: Store, call_id: int) -> tuple[Any, ...]:
    call = store.get_call(call_id)
    assert call is not None
    return (
        call.recording_sid, call.recording_status, call.recording_error,
        call.recording_duration_s, call.recording_url,
    )  # fmt: skip


RE = "RE" + "2" * 32
RECORDING_URL = f"https://{API_HOST}/2010-04-01/Accounts/AC{'0' * 31}1/Recordings/{RE}"


def _recording_event(store: Store, call_id: int, status: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "recording_sid": RE, "call_sid": SID, "at": None, "duration_s": None, "url": None,
        "error": None, "payload": {"RecordingStatus": status}, "now": T0,
    }  # fmt: skip
    return store.record_recording_event(call_id, status=status, **{**options, **kwargs})


def test_a_yes_starts_its_recording_and_a_failure_keeps_the_yes(store: Store) -> None:
    call_id = _twilio_call(store)
    store.set_call_recording(call_id, True, now=T0)
    assert _status(store, call_id) == (None, "starting", None, None, None)
    assert store.recording_failed(call_id, "Twilio (HTTP 503)", now=T0)
    assert not store.recording_failed(call_id, "again", now=T0)  # only a start in flight fails
    call = store.get_call(call_id)
    assert call is not None and call.recording is True and call.recording_missing
    assert _status(store, call_id) == (None, "failed", "Twilio (HTTP 503)", None, None)
    assert store.claim_recording_start(call_id, now=T0)
    assert store.set_recording_sid(call_id, RE, now=T0)
    assert store.set_recording_sid(call_id, RE, now=T0)  # the same recording: no harm
    assert _status(store, call_id) == (RE, "in-progress", None, None, None)
    call = store.get_call(call_id)
    assert call is not None and not call.recording_missing
    assert not store.claim_recording_start(call_id, now=T0)  # it has its recording


def test_one_request_at_a_time_may_start_a_recording_again(store: Store) -> None:
    call_id = _twilio_call(store)
    store.set_call_recording(call_id, True, now=T0)
    assert not store.claim_recording_start(call_id, now=T0 + dt.timedelta(seconds=10))
    # A "starting" left by a server that died mid-request is taken over after 30 seconds.
    assert store.claim_recording_start(call_id, now=T0 + dt.timedelta(seconds=31))
    store.recording_failed(call_id, "no answer from Twilio (ConnectionError)", now=T0)
    start = threading.Barrier(8)
    results: list[bool] = []

    def press() -> None:
        start.wait()
        results.append(store.claim_recording_start(call_id, now=T0 + dt.timedelta(minutes=1)))

    threads = [threading.Thread(target=press) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 7 + [True]
    no_call = _twilio_call(store, "c-2", "CA" + "3" * 32)
    store.set_call_recording(no_call, False, now=T0)
    assert not store.claim_recording_start(no_call, now=T0)  # never after a no
    store.recording_failed(call_id, "x", now=T0)
    store.record_call_event(
        SID, event_key=f"{SID}:completed:9", status="completed", at=T0, now=T0,
        payload={"CallSid": SID, "CallStatus": "completed"},
    )  # fmt: skip
    assert not store.claim_recording_start(call_id, now=T0 + dt.timedelta(minutes=2))  # ended


def test_a_recordings_callbacks_are_stored_once_and_only_move_it_forward(store: Store) -> None:
    call_id = _twilio_call(store)
    store.set_call_recording(call_id, True, now=T0)
    assert store.set_recording_sid(call_id, RE, now=T0)
    done = _recording_event(store, call_id, "completed", duration_s=42, url=RECORDING_URL)
    assert (done.stored, done.applied, done.status) == (True, True, "completed")
    assert _status(store, call_id) == (RE, "completed", None, 42, RECORDING_URL)
    again = _recording_event(store, call_id, "completed", duration_s=42, url=RECORDING_URL)
    assert (again.stored, again.applied) == (False, False)  # Twilio's retry: stored once
    late = _recording_event(store, call_id, "in-progress")
    assert (late.stored, late.applied) == (True, False)  # out of order: not backward
    assert not _recording_event(store, call_id, "absent").applied  # the first final stands
    assert _status(store, call_id) == (RE, "completed", None, 42, RECORDING_URL)
    other = _recording_event(store, call_id, "failed", recording_sid="RE" + "9" * 32)
    assert (other.stored, other.applied) == (True, False)  # not the call's recording
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(call_events.c.provider_sid, call_events.c.status, call_events.c.call_id)
            .where(call_events.c.provider_sid.like("RE%"))
            .order_by(call_events.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (RE, "completed", call_id),
        (RE, "in-progress", call_id),
        (RE, "absent", call_id),
        ("RE" + "9" * 32, "failed", call_id),
    ]
    with pytest.raises(ValueError):
        _recording_event(store, call_id, "paused")


def test_a_callback_names_a_recording_whose_start_seemed_to_fail(store: Store) -> None:
    """Twilio started it, but the answer never came back (a timeout): its callback tells."""
    call_id = _twilio_call(store)
    store.set_call_recording(call_id, True, now=T0)
    store.recording_failed(call_id, "no answer from Twilio (ReadTimeout)", now=T0)
    assert _recording_event(store, call_id, "in-progress", url=RECORDING_URL).applied
    assert _status(store, call_id) == (RE, "in-progress", None, None, RECORDING_URL)
    assert not store.set_recording_sid(call_id, "RE" + "9" * 32, now=T0)  # one per call
    assert _recording_event(store, call_id, "absent", error="Twilio error 13617").applied
    call = store.get_call(call_id)
    assert call is not None and call.recording_status == "absent" and call.recording_missing
    assert call.recording_error == "Twilio error 13617"


def test_a_recording_callback_for_a_no_or_another_call_changes_nothing(store: Store) -> None:
    call_id = _twilio_call(store)
    store.set_call_recording(call_id, False, now=T0)
    assert _recording_event(store, call_id, "in-progress").stored
    assert _status(store, call_id) == (None, None, None, None, None)
    yes = _twilio_call(store, "c-2", "CA" + "3" * 32)
    store.set_call_recording(yes, True, now=T0)
    assert not _recording_event(store, yes, "in-progress", call_sid=SID).applied  # SID: c-1's
    assert _status(store, yes) == (None, "starting", None, None, None)


def test_migration_0008_from_a_database_at_0007(database_url: str) -> None:
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0007_fieldwork")
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("calls")}
        assert "recording" in columns and "recording_at" not in columns
    finally:
        engine.dispose()
    with open_store(database_url) as store:  # migrates to head
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        call_id = _twilio_call(store)
        assert store.set_call_recording(call_id, True, now=T0).at == T0
        with store.engine.begin() as connection:
            from alembic import command

            command.downgrade(migrate.alembic_config(connection=connection), "0007_fieldwork")
        with store.engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("calls")}
            kept = connection.execute(sa.text("SELECT recording FROM calls")).scalar_one()
        assert "recording_at" not in columns and "recording_sid" not in columns
        assert kept in (True, 1)  # the decision itself (0007's column) survives


def test_migration_0011_keeps_callbacks_findable_and_adds_the_recordings_status(
    database_url: str,
) -> None:
    """Down to 0010 and up again: callbacks stored before 0011 get their call id from their
    payload, so a respondent's leg stored before the call's own callbacks is read; the
    recording's status columns come and go, the decision and its sid stay."""
    with open_store(database_url) as store:
        call_id = _twilio_call(store)
        leg = "CA" + "c" * 32
        store.record_call_event(
            leg, event_key=f"{leg}:ringing:1", status="ringing", at=T0, now=T0,
            payload={"CallSid": leg, "CallStatus": "ringing", "leg": "respondent",
                     "call_id": str(call_id)},
        )  # fmt: skip
        store.record_call_event(
            SID, event_key=f"{SID}:initiated:0", status="initiated", at=T0, now=T0,
            payload={"CallSid": SID, "CallStatus": "initiated", "call_id": str(call_id)},
        )  # fmt: skip
        store.set_call_recording(call_id, True, now=T0)
        assert store.set_recording_sid(call_id, "RE" + "2" * 32)
        attempt_id = store.get_call(call_id).attempt_id  # type: ignore[union-attr]
        with store.engine.begin() as connection:
            from alembic import command

            command.downgrade(migrate.alembic_config(connection=connection), "0010_staff_time_zone")
        with store.engine.connect() as connection:
            inspector = sa.inspect(connection)
            columns = {c["name"] for c in inspector.get_columns("calls")}
            event_columns = {c["name"] for c in inspector.get_columns("call_events")}
            indexes = {i["name"] for i in inspector.get_indexes("call_events")}
            kept = connection.execute(sa.text("SELECT recording_sid FROM calls")).scalar_one()
        assert "recording_status" not in columns and "recording_url" not in columns
        assert "call_id" not in event_columns and "ix_call_events_call_id" not in indexes
        assert kept == "RE" + "2" * 32
        migrate.upgrade(store.engine)
        with store.engine.connect() as connection:
            ids = (
                connection.execute(sa.text("SELECT call_id FROM call_events ORDER BY id"))
                .scalars()
                .all()
            )
        assert ids == [call_id, call_id]
        read = store.live_calls(attempt_id)
        assert read is not None and [(e.provider_sid, e.status) for e in read.legs] == [
            (leg, "ringing")
        ]
        call = store.get_call(call_id)
        assert call is not None and call.recording_sid == "RE" + "2" * 32
        assert (call.recording_status, call.recording_duration_s, call.recording_url) == (
            None, None, None,
        )  # fmt: skip


# -- asking Twilio: tried again after a passing failure, never after a refusal -------------


class FlakyTwilio(FakeTwilioHttp):
    """The fake Twilio API, but Recordings.json answers as scripted, one step a request.

    A step is an HTTP status (Twilio's error JSON with that status) or an exception raised
    as ``requests`` raises a lost connection. Each request is recorded as the fake records
    it. With ``gate`` set, a request waits for it after setting ``entered``: a request still
    out while another is made.
    """

    def __init__(self) -> None:
        super().__init__()
        self.script: list[int | Exception] = []
        self.codes: dict[int, int] = {400: 21220, 404: 20404, 429: 20429}
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> Response:
        answer = super().request(method, uri, *args, **kwargs)
        if not uri.endswith("/Recordings.json"):
            return answer
        if self.gate is not None:
            self.entered.set()
            assert self.gate.wait(timeout=30)
        if not self.script:
            return answer
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return self._error(step, f"scripted {step}", code=self.codes.get(step, 20500))


def _lost() -> Exception:
    return requests.exceptions.ConnectionError("Connection reset by peer")


def _fake_recorder(script: list[int | Exception]) -> tuple[Any, FlakyTwilio, str]:
    http = FlakyTwilio()
    client = fake_client(ACCOUNT, TWILIO_ENV["INSTRUMENT_TWILIO_AUTH_TOKEN"])[0]
    client.http_client = http
    sid = client.calls.create(to=MY_PHONE, from_="+442071234567", url="https://x.org/t").sid
    http.requests.clear()
    http.script = list(script)
    return client, http, sid


class Clock:
    """A monotonic clock that moves only when slept on, or by ``per_request`` each request."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("script", "posts", "slept"),
    [
        ([503], 2, [0.2]),
        ([429, 500], 3, [0.2, 0.5]),
        ([_lost()], 2, [0.2]),
        ([_lost(), 502], 3, [0.2, 0.5]),
    ],
    ids=["503", "429-then-500", "connection-lost", "lost-then-502"],
)
def test_a_passing_failure_is_tried_again_after_a_short_pause(
    script: list[Any], posts: int, slept: list[float]
) -> None:
    client, http, sid = _fake_recorder(script)
    clock = Clock()
    found = start_recording_retried(
        client, sid, status_callback="https://x.org/r", sleep=clock.sleep, clock=clock
    )
    assert found.startswith("RE")
    assert len(_recordings(http)) == posts and clock.slept == slept


@pytest.mark.parametrize(
    ("script", "posts", "permanent", "reason"),
    [
        ([503, 503, 503, 503], 3, False, "Twilio error 20500 (HTTP 503): scripted 503"),
        ([400], 1, True, "Twilio error 21220 (HTTP 400): scripted 400"),
        ([404], 1, True, "Twilio error 20404 (HTTP 404): scripted 404"),
        ([503, 400], 2, True, "Twilio error 21220 (HTTP 400): scripted 400"),
        ([_lost(), _lost(), _lost()], 3, False, "no answer from Twilio (ConnectionError)"),
    ],
    ids=["503-always", "400", "404", "503-then-400", "lost-always"],
)
def test_a_refusal_is_final_and_passing_failures_are_tried_three_times_at_most(
    script: list[Any], posts: int, permanent: bool, reason: str
) -> None:
    client, http, sid = _fake_recorder(script)
    clock = Clock()
    with pytest.raises(RecordingNotStarted) as caught:
        start_recording_retried(client, sid, sleep=clock.sleep, clock=clock)
    assert (caught.value.reason, caught.value.permanent, caught.value.tries) == (
        reason, permanent, posts,
    )  # fmt: skip
    assert len(_recordings(http)) == posts
    assert sum(clock.slept) < 1.0


def test_no_try_is_started_that_could_end_after_the_time_allowed() -> None:
    """Each try took 1.2 s (Twilio slow to answer 503): a third could end after 3.5 s."""
    client, http, sid = _fake_recorder([503, 503, 503])
    clock = Clock()
    original = http.request

    def slow(*args: Any, **kwargs: Any) -> Response:
        clock.now += 1.2
        return original(*args, **kwargs)

    http.request = slow  # type: ignore[method-assign]
    policy = RetryPolicy((0.2, 0.5), per_try=1.5, budget=3.5)
    with pytest.raises(RecordingNotStarted) as caught:
        start_recording_retried(client, sid, policy=policy, sleep=clock.sleep, clock=clock)
    assert caught.value.tries == 2 and len(_recordings(http)) == 2
    assert clock.now <= policy.budget


def test_twilios_own_http_client_waits_a_bounded_time() -> None:
    """Without a client given (production), Twilio's own one with a timeout: the SDK's is none."""
    from instrument_phone.telephony.config import TwilioSettings
    from instrument_phone.telephony.dialer import REST_TIMEOUT_SECONDS, make_client

    settings = TwilioSettings.from_env(TWILIO_ENV)
    assert settings is not None
    assert make_client(settings).http_client.timeout == REST_TIMEOUT_SECONDS
    assert make_client(settings, timeout=1.5).http_client.timeout == 1.5


def test_an_error_that_is_not_twilios_is_not_tried_again() -> None:
    client, http, sid = _fake_recorder([ValueError("a bug of ours")])
    with pytest.raises(ValueError):
        start_recording_retried(client, sid, sleep=pytest.fail, clock=time.monotonic)
    assert len(_recordings(http)) == 1


# -- the console ---------------------------------------------------------------------------


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> FakeTwilioHttp:
    """Twilio configured with this module's account (the server reads it at start-up)."""
    return configured_twilio(monkeypatch, TWILIO_ENV)


def _app(url: str, clock: FakeClock, http: FakeTwilioHttp | None, *questionnaire: Path) -> Any:
    config: dict[str, Any] = {} if http is None else {"TWILIO_HTTP_CLIENT": http}
    if questionnaire:
        config["QUESTIONNAIRES"] = [str(p) for p in questionnaire]
    app = console_app(url, clock, **config)
    add_case(app, "c1", clock)
    return app


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp) -> Iterator[Any]:
    """The flagship (its fieldwork file records, with a consent text) with Twilio configured."""
    app = _app(f"sqlite:///{tmp_path / 'recording.db'}", clock, twilio)
    yield app
    close_app(app)


def _dialled_through_twilio(app: Any, http: FakeTwilioHttp) -> tuple[Interviewer, int, str]:
    """An interviewer on a Twilio call to case c1: (them, the call's id, Twilio's sid)."""
    ivy = Interviewer(app)
    ivy.sign_in()
    ivy.post("/cati/console/phone", {"my_phone": MY_PHONE})
    ivy.next_case()
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    [call] = get_host(app).store.calls_of("c1")
    assert call.provider == "twilio" and call.provider_sid is not None
    assert [r.path.rsplit("/", 1)[-1] for r in http.requests] == ["Calls.json"]
    return ivy, call.id, call.provider_sid


def _recordings(http: FakeTwilioHttp) -> list[Any]:
    return [r for r in http.requests if r.path.endswith("/Recordings.json")]


def _decision(app: Any) -> tuple[bool | None, dt.datetime | None, str | None]:
    [call] = get_host(app).store.calls_of("c1")
    return call.recording, call.recording_at, call.recording_sid


def test_the_consent_screen_comes_first_and_a_yes_starts_the_recording(
    app: Any, twilio: FakeTwilioHttp, clock: FakeClock
) -> None:
    ivy, call_id, sid = _dialled_through_twilio(app, twilio)
    first = ivy.get(ivy.attempt_path + "script", follow=False)
    assert first.status == 303 and first.location is not None
    assert first.location.endswith(ivy.attempt_path + "recording")
    page = ivy.get(ivy.attempt_path + "script")
    assert page.status == 200 and page.title.startswith("Recording consent")
    legend = page.tree.xpath("//form[@id='consent']//legend[contains(@class, 'readout')]")[0]
    assert "Read out" in legend.text_content()
    assert "this call is recorded so that we can check the quality" in legend.text_content()
    keys = [
        (i.get("value"), i.get("data-key")) for i in page.tree.xpath("//input[@name='consent']")
    ]
    assert keys == [("yes", "1"), ("no", "2")]
    assert page.tree.xpath("//input[@name='call']/@value") == [str(call_id)]
    assert _recordings(twilio) == []  # nothing recorded while the question is read out
    assert _decision(app) == (None, None, None)

    clock.advance(20)
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert "They agreed: the call is being recorded." in page.text()
    assert page.tree.xpath("//form[@id='script']")  # on to the script's first page
    [request] = _recordings(twilio)
    assert request.method == "POST"
    assert (
        request.url
        == f"https://{API_HOST}/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}/Recordings.json"
    )
    assert sorted(request.form) == [
        ("RecordingChannels", "dual"),
        ("RecordingStatusCallback", f"{PUBLIC}/cati/phone/recording/{call_id}"),
        ("RecordingStatusCallbackEvent", "in-progress completed absent"),
    ]
    assert request.auth == (ACCOUNT, TWILIO_ENV["INSTRUMENT_TWILIO_AUTH_TOKEN"])
    recording, at, recording_sid = _decision(app)
    assert recording is True and at == clock() and recording_sid is not None
    assert recording_sid.startswith("RE")
    [call] = get_host(app).store.calls_of("c1")
    assert (call.recording_status, call.recording_error) == ("in-progress", None)

    # A double click or a second tab keying "no" a moment later changes nothing.
    ivy.get(ivy.attempt_path + "recording")  # a page with the form's CSRF token
    again = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "no"})
    assert "had been keyed already" in again.text()
    assert len(_recordings(twilio)) == 1 and _decision(app) == (True, at, recording_sid)
    assert ivy.get(ivy.attempt_path + "script", follow=False).status == 200  # asked once


def test_a_no_is_stored_and_nothing_is_recorded(app: Any, twilio: FakeTwilioHttp) -> None:
    ivy, call_id, _sid = _dialled_through_twilio(app, twilio)
    ivy.get(ivy.attempt_path + "script")
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "no"})
    assert "They did not agree: the call is not recorded." in page.text()
    assert page.tree.xpath("//form[@id='script']")
    assert _recordings(twilio) == []
    recording, at, recording_sid = _decision(app)
    assert recording is False and at is not None and recording_sid is None
    ivy.get(ivy.attempt_path + "recording")
    ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert _recordings(twilio) == [] and _decision(app)[0] is False  # a later yes: still no


def test_no_answer_keyed_asks_again_and_stores_nothing(app: Any, twilio: FakeTwilioHttp) -> None:
    ivy, call_id, _sid = _dialled_through_twilio(app, twilio)
    ivy.get(ivy.attempt_path + "recording")
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id)})
    assert page.status == 422 and page.title.startswith("Error: Recording consent")
    assert page.summary == [
        ("#f-consent", "Key 1 if they agree to the recording or 2 if they do not")
    ]
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "maybe"})
    assert page.status == 422
    assert _recordings(twilio) == [] and _decision(app) == (None, None, None)


def test_a_form_without_a_valid_csrf_token_changes_nothing(
    app: Any, twilio: FakeTwilioHttp
) -> None:
    ivy, call_id, _sid = _dialled_through_twilio(app, twilio)
    ivy.get(ivy.attempt_path + "recording")
    path = ivy.attempt_path + "recording"
    missing = ivy.client.post(path, data={"call": str(call_id), "consent": "yes"})
    tampered = ivy.client.post(
        path, data={"call": str(call_id), "consent": "yes", "csrf_token": "IjAwMCI.forged.token"}
    )
    assert missing.status_code == 400 and tampered.status_code == 400
    other = Interviewer(app, "sam")  # another staff member's own valid token, not this session's
    other.sign_in()
    foreign = ivy.client.post(
        path,
        data={"call": str(call_id), "consent": "yes", "csrf_token": other.page.csrf},  # type: ignore[union-attr]
    )
    assert foreign.status_code == 400
    assert _recordings(twilio) == [] and _decision(app) == (None, None, None)


def test_the_decision_stays_stored_when_twilio_will_not_record(
    app: Any, twilio: FakeTwilioHttp
) -> None:
    ivy, call_id, sid = _dialled_through_twilio(app, twilio)
    ivy.get(ivy.attempt_path + "recording")
    del twilio.calls[sid]  # Twilio no longer knows the call: Recordings.json answers 404
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert "the recording could not start" in page.text()
    assert page.tree.xpath("//form[@id='recording-retry']")  # try again, or go on without
    assert len(_recordings(twilio)) == 1  # a 404 is Twilio's refusal: not tried again
    recording, at, recording_sid = _decision(app)
    assert recording is True and at is not None and recording_sid is None
    [call] = get_host(app).store.calls_of("c1")
    assert call.recording_status == "failed" and "(HTTP 404)" in (call.recording_error or "")
    go_on = page.tree.xpath("//a[@id='recording-go-on']/@href")
    assert go_on == [ivy.attempt_path + "script"]
    assert ivy.get(go_on[0]).tree.xpath("//form[@id='script']")  # the script is not held up


def test_a_new_call_of_the_attempt_is_asked_again(
    app: Any, twilio: FakeTwilioHttp, clock: FakeClock
) -> None:
    ivy, first_id, first_sid = _dialled_through_twilio(app, twilio)
    ivy.get(ivy.attempt_path + "recording")
    ivy.post(ivy.attempt_path + "recording", {"call": str(first_id), "consent": "no"})
    store = get_host(app).store
    store.record_call_event(  # the line dropped: Twilio's final callback
        first_sid, event_key=f"{first_sid}:completed:3", status="completed", at=clock(),
        payload={"CallSid": first_sid, "CallStatus": "completed", "CallDuration": "30"},
        now=clock(),
    )  # fmt: skip
    ivy.get(ivy.attempt_path)
    ivy.post(ivy.attempt_path + "dial", {"rank": "1"})
    second = store.calls_of("c1")[-1]
    assert second.id != first_id and second.provider_sid is not None
    page = ivy.get(ivy.attempt_path + "script")
    assert page.tree.xpath("//input[@name='call']/@value") == [str(second.id)]
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(second.id), "consent": "yes"})
    [request] = _recordings(twilio)
    assert request.path.endswith(f"/Calls/{second.provider_sid}/Recordings.json")
    assert [c.recording for c in store.calls_of("c1")] == [False, True]


def test_an_ended_call_or_a_stale_form_for_another_call_is_not_asked(
    app: Any, twilio: FakeTwilioHttp, clock: FakeClock
) -> None:
    ivy, call_id, sid = _dialled_through_twilio(app, twilio)
    ivy.get(ivy.attempt_path + "recording")
    get_host(app).store.record_call_event(
        sid, event_key=f"{sid}:completed:3", status="completed", at=clock(),
        payload={"CallSid": sid, "CallStatus": "completed"}, now=clock(),
    )  # fmt: skip
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert "nothing to ask about recording" in page.text()
    assert page.tree.xpath("//form[@id='script']")  # the script, no consent screen
    assert _recordings(twilio) == [] and _decision(app) == (None, None, None)
    bogus = ivy.post(ivy.attempt_path + "recording", {"call": "999", "consent": "yes"})
    assert bogus.status == 200 and _recordings(twilio) == []


def test_a_study_that_does_not_record_is_never_asked(
    tmp_path: Path, clock: FakeClock, twilio: FakeTwilioHttp
) -> None:
    questionnaire = flagship_with_fieldwork(tmp_path / "study", "telephony:\n  recording: false\n")
    app = _app(f"sqlite:///{tmp_path / 'norecord.db'}", clock, twilio, questionnaire)
    try:
        ivy, call_id, _sid = _dialled_through_twilio(app, twilio)
        assert ivy.get(ivy.attempt_path + "script", follow=False).status == 200  # the script
        shown = ivy.get(ivy.attempt_path + "recording", follow=False)
        assert shown.status == 303 and (shown.location or "").endswith("script")
        ivy.get(ivy.attempt_path + "script")
        page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
        assert "nothing to ask about recording" in page.text()
        assert _recordings(twilio) == [] and _decision(app) == (None, None, None)
    finally:
        close_app(app)


@pytest.mark.parametrize("configured", [True, False], ids=["twilio-but-by-hand", "no-telephony"])
def test_a_call_dialled_by_hand_is_never_asked(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    http = FakeTwilioHttp()
    if configured:
        for name, value in TWILIO_ENV.items():
            monkeypatch.setenv(name, value)
    else:
        for name in TWILIO_ENV:
            monkeypatch.delenv(name, raising=False)
    app = _app(f"sqlite:///{tmp_path / 'hand.db'}", clock, http)
    try:
        ivy = Interviewer(app)
        ivy.sign_in()
        ivy.next_case()  # no phone of their own given: dialled by hand
        assert "by hand" in ivy.post(ivy.attempt_path + "dial", {"rank": "1"}).text()
        [call] = get_host(app).store.calls_of("c1")
        assert call.provider == "manual"
        assert ivy.get(ivy.attempt_path + "script", follow=False).status == 200
        ivy.get(ivy.attempt_path + "script")
        page = ivy.post(ivy.attempt_path + "recording", {"call": str(call.id), "consent": "yes"})
        assert page.tree.xpath("//form[@id='script']")
        assert http.requests == [] and _decision(app) == (None, None, None)
    finally:
        close_app(app)


# -- the console: tried again, "consented, not recorded", try recording again ---------------


@pytest.fixture
def flaky(twilio: FakeTwilioHttp) -> FlakyTwilio:
    """Twilio configured (``twilio``'s environment), its Recordings.json answering as scripted."""
    return FlakyTwilio()


@pytest.fixture
def flaky_app(tmp_path: Path, clock: FakeClock, flaky: FlakyTwilio) -> Iterator[Any]:
    app = _app(f"sqlite:///{tmp_path / 'flaky.db'}", clock, flaky)
    yield app
    close_app(app)


def _call_row(app: Any) -> dict[str, str]:
    """The call's row of the supervisor's call-records CSV."""
    queue = CallQueue(get_host(app).store, get_host(app).service, lambda _q: FieldworkSettings())
    out = io.StringIO()
    queue.write_call_records(out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    return row


def _history(ivy: Interviewer) -> Any:
    """The case screen's history cell of the calls, read afresh."""
    page = ivy.get(ivy.attempt_path)
    [cell] = page.tree.xpath("//table//tbody/tr[1]/td[3]")
    return cell


def _retry(ivy: Interviewer, call_id: int) -> Any:
    return ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "action": "retry"})


def test_a_passing_failure_is_tried_again_within_the_request(
    flaky_app: Any, flaky: FlakyTwilio
) -> None:
    ivy, call_id, _sid = _dialled_through_twilio(flaky_app, flaky)
    ivy.get(ivy.attempt_path + "recording")
    flaky.script = [503, _lost()]
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert "They agreed: the call is being recorded." in page.text()
    assert page.tree.xpath("//form[@id='script']")
    assert len(_recordings(flaky)) == 3
    row = _call_row(flaky_app)
    assert (row["recording"], row["recording_status"], row["recording_error"]) == (
        "1", "in-progress", "",
    )  # fmt: skip
    assert row["recording_sid"].startswith("RE")


def test_consented_not_recorded_then_tried_again_by_the_interviewer(
    flaky_app: Any, flaky: FlakyTwilio, clock: FakeClock
) -> None:
    ivy, call_id, sid = _dialled_through_twilio(flaky_app, flaky)
    ivy.get(ivy.attempt_path + "recording")
    flaky.script = [503, 503, 503]
    began = time.monotonic()
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert time.monotonic() - began < 2.5  # three tries, two short pauses: well bounded
    assert len(_recordings(flaky)) == 3
    assert page.status == 200 and page.location is None
    assert page.title.startswith("The call is not being recorded")
    assert "the recording could not start (Twilio error 20500 (HTTP 503)" in page.text()
    [button] = page.tree.xpath("//form[@id='recording-retry']//button")
    assert button.get("autofocus") is not None and button.get("data-primary") is not None
    assert "Try recording again" in button.text_content()
    form = page.tree.xpath("//form[@id='recording-retry']")[0]
    fields = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
    assert (fields["call"], fields["action"]) == (str(call_id), "retry")

    row = _call_row(flaky_app)  # the supervisor's CSV: consented, not recorded, and why
    assert (row["recording"], row["recording_sid"], row["recording_status"]) == ("1", "", "failed")
    assert row["recording_error"] == "Twilio error 20500 (HTTP 503): scripted 503"
    cell = _history(ivy)  # the case history says so, and offers to try again
    assert cell.xpath("string(.//*[@data-recording='missing'])") == "consented, not recorded"
    assert cell.xpath(".//a[@data-recording-retry]/@href") == [ivy.attempt_path + "recording"]

    clock.advance(30)  # Twilio has recovered
    page = _retry(ivy, call_id)
    assert "They agreed: the call is being recorded." in page.text()
    assert page.tree.xpath("//form[@id='script']")
    assert len(_recordings(flaky)) == 4
    row = _call_row(flaky_app)
    assert row["recording_status"] == "in-progress" and row["recording_error"] == ""
    assert row["recording_sid"].startswith("RE")
    cell = _history(ivy)
    assert "(recording)" in cell.text_content() and not cell.xpath(".//a[@data-recording-retry]")

    # A second press, or a stale page: nothing more is asked of Twilio.
    page = _retry(ivy, call_id)
    assert "already starting or has started" in page.text()
    assert len(_recordings(flaky)) == 4
    shown = ivy.get(ivy.attempt_path + "recording", follow=False)
    assert shown.status == 303 and (shown.location or "").endswith("/script")


def test_a_double_press_while_the_first_is_still_out_asks_twilio_once(
    flaky_app: Any, flaky: FlakyTwilio
) -> None:
    ivy, call_id, _sid = _dialled_through_twilio(flaky_app, flaky)
    ivy.get(ivy.attempt_path + "recording")
    flaky.script = [400]  # the first start refused
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert len(_recordings(flaky)) == 1
    token = page.csrf
    flaky.gate = threading.Event()
    pressed: list[Any] = []
    path = ivy.attempt_path + "recording"
    data = {"csrf_token": token, "call": str(call_id), "action": "retry"}
    first = threading.Thread(target=lambda: pressed.append(ivy.client.post(path, data=data)))
    first.start()
    try:
        assert flaky.entered.wait(timeout=30)  # the first press is waiting on Twilio
        second = ivy.client.post(path, data=data, follow_redirects=True)
        assert "already starting or has started" in second.get_data(as_text=True)
    finally:
        flaky.gate.set()
        first.join(timeout=30)
    assert [r.status_code for r in pressed] == [303]
    assert len(_recordings(flaky)) == 2  # the refused one, and one for the two presses
    [call] = get_host(flaky_app).store.calls_of("c1")
    assert call.recording_status == "in-progress" and call.recording_sid is not None


def test_no_try_again_once_the_call_has_ended(
    flaky_app: Any, flaky: FlakyTwilio, clock: FakeClock
) -> None:
    ivy, call_id, sid = _dialled_through_twilio(flaky_app, flaky)
    ivy.get(ivy.attempt_path + "recording")
    flaky.script = [_lost(), _lost(), _lost()]
    page = ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "yes"})
    assert "no answer from Twilio (ConnectionError)" in page.text()
    get_host(flaky_app).store.record_call_event(
        sid, event_key=f"{sid}:completed:3", status="completed", at=clock(),
        payload={"CallSid": sid, "CallStatus": "completed", "call_id": str(call_id)}, now=clock(),
    )  # fmt: skip
    shown = ivy.get(ivy.attempt_path + "recording", follow=False)
    assert shown.status == 303 and (shown.location or "").endswith("/script")
    ivy.get(ivy.attempt_path + "script")
    page = _retry(ivy, call_id)
    assert "was not tried again: the call has ended" in page.text()
    assert len(_recordings(flaky)) == 3
    cell = _history(ivy)
    assert cell.xpath("string(.//*[@data-recording='missing'])") == "consented, not recorded"
    assert not cell.xpath(".//a[@data-recording-retry]")  # nothing left to record
    assert _call_row(flaky_app)["recording_status"] == "failed"


def test_a_no_is_never_tried_again(flaky_app: Any, flaky: FlakyTwilio) -> None:
    ivy, call_id, _sid = _dialled_through_twilio(flaky_app, flaky)
    ivy.get(ivy.attempt_path + "recording")
    ivy.post(ivy.attempt_path + "recording", {"call": str(call_id), "consent": "no"})
    page = _retry(ivy, call_id)
    assert "was not tried again: the respondent did not agree" in page.text()
    assert _recordings(flaky) == []
    assert "(declined recording)" in _history(ivy).text_content()
    assert _call_row(flaky_app)["recording"] == "0"
