"""Placing automated (IVR) calls to due cases: the Calls.json payload, calling hours, the
do-not-call list, attempt limits, retry delays, interviewers' cases, the study's voicemail policy,
and ``instrument calls place``.

The REST calls go through the real twilio SDK into tests/twilio_fake.py, so the form asserted is
what Twilio's API would receive. Store tests run on SQLite and PostgreSQL; the clock is frozen.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from twilio.http.response import Response
from twilio.rest import Client
from twilio_fake import API_HOST, FakeTwilioHttp

from instrument.callqueue.automated import AutomatedCalls
from instrument.cli import cli
from instrument.fieldwork import CallingRules
from instrument.fieldwork.automated import (
    AMD_RESULTS,
    AutomatedCallSettings,
    automated_outcome,
)
from instrument.fieldwork.settings import FieldworkSettings, load_fieldwork_text
from instrument.store import Store, open_store
from instrument_phone.ivr import outbound
from instrument_phone.ivr.outbound import AutomatedDialer
from instrument_phone.telephony.config import TELEPHONY_VARIABLES
from tests.callqueue_helpers import MINI, T0, add_case, answer_first_page, queue_on
from tests.fieldwork_store_helpers import add_case as add_other_case
from tests.fieldwork_store_helpers import open_window
from tests.ivr_outbound_helpers import (
    CALLER,
    PUBLIC,
    SETTINGS,
    SID,
    TOKEN,
    add_automated_case,
    fieldwork,
    place,
)
from tests.store_fixtures import *

MINUTE = dt.timedelta(minutes=1)
ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": SID,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": CALLER,
    "INSTRUMENT_PUBLIC_URL": PUBLIC,
}


# -- the outcome rule (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answered_by", "expected"),
    [
        ("busy", None, "busy"),
        ("no-answer", None, "no_answer"),
        ("failed", None, "technical_problem"),
        ("canceled", None, "technical_problem"),
        ("completed", "human", "refusal_household"),
        ("completed", "machine_start", "answering_machine"),
        ("completed", "machine_end_beep", "answering_machine"),
        ("completed", "machine_end_silence", "answering_machine"),
        ("completed", "machine_end_other", "answering_machine"),
        ("completed", "fax", "fax"),
        ("completed", "unknown", "no_answer"),
        ("completed", None, "no_answer"),
        ("queued", None, None),
        ("ringing", "human", None),
        ("in-progress", "human", None),
    ],
)
def test_each_final_status_and_answered_by_has_one_outcome(
    status: str, answered_by: str | None, expected: str | None
) -> None:
    assert (
        automated_outcome(status, answered_by, interview_started=False, interview_finished=False)
        == expected
    )


@pytest.mark.parametrize("answered_by", sorted(AMD_RESULTS) + [None])
def test_answers_outweigh_what_detection_heard(answered_by: str | None) -> None:
    finished = automated_outcome(
        "completed", answered_by, interview_started=True, interview_finished=True
    )
    started = automated_outcome(
        "completed", answered_by, interview_started=True, interview_finished=False
    )
    assert finished == "complete"
    machine = answered_by is not None and answered_by.startswith("machine_")
    assert started == (
        "fax" if answered_by == "fax" else "answering_machine" if machine else "partial"
    )


def test_the_policy_sets_twilios_detection() -> None:
    assert AutomatedCallSettings().machine_detection == "Enable"
    assert AutomatedCallSettings().background_detection
    leave = AutomatedCallSettings("leave_message", "We will call again.", 25)
    assert (leave.machine_detection, leave.background_detection) == ("DetectMessageEnd", False)
    with pytest.raises(ValueError, match="voicemail_message"):
        AutomatedCallSettings("leave_message")
    with pytest.raises(ValueError, match="ring_seconds"):
        AutomatedCallSettings(ring_seconds=10)


# -- the fieldwork file ------------------------------------------------------------------------


def test_the_fieldwork_file_sets_the_voicemail_policy() -> None:
    text = (
        "telephony:\n"
        "  automated:\n"
        "    on_machine: leave_message\n"
        "    voicemail_message: '  This is the survey. We will call again.  '\n"
        "    ring_seconds: 25\n"
    )
    settings, problems = load_fieldwork_text(text, "s.fieldwork.yaml")
    assert not problems.items
    assert settings.telephony.automated == AutomatedCallSettings(
        "leave_message", "This is the survey. We will call again.", 25
    )
    assert load_fieldwork_text("calling: {}\n")[0].telephony.automated == AutomatedCallSettings()


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["    on_machine: leave_mesage"],
            "s.fieldwork.yaml:3:17: error: telephony.automated.on_machine must be hang_up or "
            "leave_message, not 'leave_mesage'; did you mean 'leave_message'?",
        ),
        (
            ["    on_machine: leave_message"],
            "s.fieldwork.yaml:3:5: error: telephony.automated.on_machine: leave_message needs "
            "voicemail_message, the words left on the machine",
        ),
        (
            ["    ring_seconds: 5"],
            "s.fieldwork.yaml:3:19: error: telephony.automated.ring_seconds must be from 15",
        ),
        (["    ring_seconds: thirty"], "s.fieldwork.yaml:3:19: error: telephony.automated.ring_"),
        (["    voicemail_message: ''"], "s.fieldwork.yaml:3:24: error: telephony.automated.voice"),
        (
            ["    voicemail_message: " + "x" * 501],
            "s.fieldwork.yaml:3:24: error: telephony.automated.voicemail_message has 501 characters",
        ),
        (
            ["    colour: red"],
            "s.fieldwork.yaml:3:5: error: unknown key 'colour' in telephony.auto",
        ),
        (
            ["    voicemail_message: Hello"],
            "s.fieldwork.yaml:3:5: warning: telephony.automated.voicemail_message is never played",
        ),
    ],
)
def test_the_fieldwork_files_automated_keys_are_checked_with_file_and_line(
    lines: list[str], expected: str
) -> None:
    text = "telephony:\n  automated:\n" + "\n".join(lines) + "\n"
    _settings, problems = load_fieldwork_text(text, "s.fieldwork.yaml")
    found = [str(d) for d in problems.sorted()]
    assert any(line.startswith(expected) for line in found), found


def test_every_problem_of_the_section_is_reported_at_once() -> None:
    text = "telephony:\n  automated:\n    on_machine: leave_message\n    ring_seconds: 10\n"
    found = [str(d) for d in load_fieldwork_text(text, "s.fieldwork.yaml")[1].sorted()]
    assert [line.split(": error: ")[0] for line in found] == [
        "s.fieldwork.yaml:3:5",
        "s.fieldwork.yaml:4:19",
    ]


def test_instrument_check_reports_them(tmp_path: Path) -> None:
    study = tmp_path / "mini.yaml"
    shutil.copy(MINI, study)
    (tmp_path / "mini.fieldwork.yaml").write_text(
        "telephony:\n  automated:\n    on_machine: voicemail\n", encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["check", str(study)])
    assert result.exit_code == 1, result.output
    assert "mini.fieldwork.yaml:3:17: error: telephony.automated.on_machine" in result.output


# -- placing calls -------------------------------------------------------------------------


def only_request(run: object) -> dict[str, list[str]]:
    (sent,) = run.http.requests  # type: ignore[attr-defined]
    assert sent.method == "POST"
    assert sent.url == f"https://{API_HOST}/2010-04-01/Accounts/{SID}/Calls.json"
    assert sent.auth == (SID, TOKEN)
    form: dict[str, list[str]] = {}
    for key, value in sent.form:
        form.setdefault(key, []).append(value)
    return form


def test_a_due_case_is_called_with_exactly_this_payload(store: Store) -> None:
    add_automated_case(store, "C1")
    run = place(store)
    (placed,) = run.report.placed
    assert placed.case_id == "C1" and placed.number_rank == 1 and placed.attempts == 1
    assert only_request(run) == {
        "To": ["+442071234567"],
        "From": [CALLER],
        "Url": [f"{PUBLIC}/ivr/voice/outbound?attempt={placed.attempt_id}"],
        "StatusCallback": [f"{PUBLIC}/ivr/calls/status/{placed.call_id}"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "Timeout": ["30"],
        "MachineDetection": ["Enable"],
        "AsyncAmd": ["true"],
        "AsyncAmdStatusCallback": [f"{PUBLIC}/ivr/calls/amd/{placed.call_id}"],
        "AsyncAmdStatusCallbackMethod": ["POST"],
    }
    call = store.get_call(placed.call_id)
    assert call is not None
    assert (call.provider, call.provider_sid, call.attempt_id) == (
        "twilio",
        placed.sid,
        placed.attempt_id,
    )
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] == "ivr:outbound"


def test_leaving_a_message_waits_for_the_beep_before_answering(store: Store) -> None:
    add_automated_case(store, "C1")
    policy = fieldwork(on_machine="leave_message", message="We will call again.", ring=45)
    form = only_request(place(store, settings=policy))
    assert form["MachineDetection"] == ["DetectMessageEnd"]
    assert form["Timeout"] == ["45"]
    assert "AsyncAmd" not in form and "AsyncAmdStatusCallback" not in form


def test_only_cases_inside_calling_hours_in_their_own_time_are_called(store: Store) -> None:
    add_automated_case(store, "LON")  # 10:00 in London on a Monday
    add_automated_case(store, "NYC", zone="America/New_York")  # 05:00 in New York
    run = place(store, T0)
    assert run.cases == ["LON"]
    assert run.waiting("NYC").startswith("outside calling hours in the respondent's time; due Mon")
    assert "09:00 America/New_York" in run.waiting("NYC")


def test_nobody_is_called_after_hours_or_on_a_sunday(store: Store) -> None:
    evening = dt.datetime(2026, 3, 2, 21, 30, tzinfo=dt.UTC)  # Monday 21:30 in London
    add_automated_case(store, "C1", now=evening)
    run = place(store, evening)
    assert run.report.placed == [] and run.http.requests == []
    assert "outside calling hours" in run.waiting("C1")
    tuesday = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
    assert place(store, tuesday - MINUTE).report.placed == []
    assert place(store, tuesday).cases == ["C1"]
    sunday = dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC)
    add_automated_case(store, "C2", numbers=("+442071230002",), now=sunday)
    run = place(store, sunday)
    assert run.report.placed == []
    assert run.waiting("C2").endswith("due Mon 09 Mar 09:00 Europe/London")


def test_summer_time_moves_the_hours_in_utc(store: Store) -> None:
    summer = dt.datetime(2026, 6, 1, 8, 30, tzinfo=dt.UTC)  # 09:30 BST on a Monday
    add_automated_case(store, "C1", now=summer)
    assert place(store, summer).cases == ["C1"]


def test_do_not_call_numbers_are_never_dialled(store: Store) -> None:
    add_automated_case(store, "ONLY", numbers=("+442071230001",))
    add_automated_case(store, "SECOND", numbers=("+442071230002", "+442071230003"))
    for number in ("+442071230001", "+442071230002"):
        store.add_do_not_call(number, reason="asked", actor="test", now=T0)
    run = place(store)
    (placed,) = run.report.placed
    assert (placed.case_id, placed.number_rank) == ("SECOND", 2)
    assert [dict(r.form)["To"] for r in run.http.requests] == ["+442071230003"]
    assert run.waiting("ONLY").startswith("finished")


def test_a_number_put_on_the_list_after_the_claim_is_not_dialled(store: Store) -> None:
    add_automated_case(store, "C1")
    queue = queue_on(store, fieldwork())
    calls = AutomatedCalls(queue)
    due = calls.take("mini", now=T0)
    assert due.kind == "due"
    store.add_do_not_call("+442071234567", reason="asked", actor="test", now=T0)
    http = FakeTwilioHttp()
    client = Client(SID, TOKEN, http_client=http)
    policy = fieldwork().telephony.automated
    dialer = AutomatedDialer(client, SETTINGS, policy, due.attempt_id)
    skipped = calls.place(due, dialer, now=T0)
    assert skipped.kind == "skipped" and "do-not-call" in skipped.reason
    assert http.requests == []
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] is None and row["final"]


def code(run: object, status: str, now: dt.datetime, answered_by: str | None = None) -> str:
    """Code each call the run placed as its final callback would."""
    calls = AutomatedCalls(run.queue)  # type: ignore[attr-defined]
    codes = []
    for placed in run.report.placed:  # type: ignore[attr-defined]
        coded = calls.code_call(placed.call_id, now=now, status=status, answered_by=answered_by)
        assert coded is not None and coded.kind == "coded", coded
        codes.append(coded.disposition)
    return ",".join(codes)


def test_a_retry_delay_is_waited_out_and_the_attempt_limit_ends_the_case(store: Store) -> None:
    limits = fieldwork(max_attempts_per_case=2)
    add_automated_case(store, "C1")
    first = place(store, T0, limits)
    assert code(first, "busy", T0 + MINUTE) == "busy"  # busy rests 15 minutes
    early = place(store, T0 + 10 * MINUTE, limits)
    assert early.report.placed == []
    assert early.waiting("C1").startswith("resting after its last outcome (retry delay); due")
    second = place(store, T0 + 17 * MINUTE, limits)
    assert second.cases == ["C1"] and second.report.placed[0].attempts == 2
    assert code(second, "no-answer", T0 + 18 * MINUTE) == "no_answer"
    later = place(store, T0 + dt.timedelta(hours=5), limits)
    assert later.report.placed == []
    assert later.waiting("C1") == "finished (max_attempts): never called again"


def test_each_number_has_its_own_attempt_limit(store: Store) -> None:
    limits = fieldwork(max_attempts_per_number=1)
    add_automated_case(store, "C1", numbers=("+442071230001", "+442071230002"))
    ranks = []
    at = T0
    for _ in range(3):
        run = place(store, at, limits)
        ranks += [p.number_rank for p in run.report.placed]
        if run.report.placed:
            code(run, "no-answer", at + MINUTE)
        at += dt.timedelta(hours=4)
    assert ranks == [1, 2]


def test_an_interviewers_case_is_never_called(store: Store) -> None:
    add_case(store, "C1")  # queued for interviewers, due now
    run = place(store)
    assert run.report.placed == [] and run.http.requests == []
    assert run.report.waiting == []  # not the dialler's: not even listed
    claimed = queue_on(store).next_case("ann", now=T0)
    assert claimed.kind == "claimed" and claimed.case_id == "C1"


def test_an_interviewers_next_case_never_gets_a_case_for_the_dialler(store: Store) -> None:
    add_automated_case(store, "A1", priority=9)
    add_case(store, "I1")
    queue = queue_on(store)
    claimed = queue.next_case("ann", now=T0)
    assert claimed.kind == "claimed" and claimed.case_id == "I1"
    assert queue.next_case("bob", now=T0).kind == "no_case"
    assert place(store).cases == ["A1"]


def test_a_case_being_called_is_not_called_again_or_given_to_an_interviewer(store: Store) -> None:
    add_automated_case(store, "C1")
    assert place(store).cases == ["C1"]
    again = place(store, T0 + MINUTE)
    assert again.report.placed == []
    assert again.waiting("C1") == "an automated call to it is going on"
    assert queue_on(store).next_case("ann", now=T0 + MINUTE).kind == "no_case"


def test_only_the_questionnaires_own_cases_are_called(store: Store) -> None:
    add_other_case(store, "X1", window=open_window(), questionnaire="phone_study")
    add_automated_case(store, "C1")
    run = place(store)
    assert run.cases == ["C1"]
    row = store.queue_row("X1")
    assert row is not None and row["held_by"] is None


def test_the_limit_stops_a_run(store: Store) -> None:
    for n in range(3):
        add_automated_case(store, f"C{n}", numbers=(f"+44207123000{n}",))
    run = place(store, limit=2)
    assert len(run.report.placed) == 2 and run.report.stopped_by_limit
    assert len(run.http.requests) == 2


class RefusingTwilio(FakeTwilioHttp):
    """Twilio refusing every new call (an unverified caller id, say)."""

    def _create_call(self, account: str, form: dict[str, str]) -> Response:
        return Response(
            400, json.dumps({"code": 21210, "message": "Caller id not verified", "status": 400})
        )


def test_a_call_twilio_will_not_place_is_tried_again_later(store: Store) -> None:
    add_automated_case(store, "C1")
    run = place(store, http=RefusingTwilio())
    assert run.report.placed == []
    (skipped,) = run.report.skipped
    assert skipped.outcome == "technical_problem" and "could not be placed" in skipped.reason
    row = store.queue_row("C1")
    assert row is not None and row["held_by"] is None and not row["final"]
    assert row["window_start"] == T0 + dt.timedelta(hours=1)


def test_a_started_interview_is_resumed_as_a_partial(store: Store) -> None:
    add_automated_case(store, "C1")
    run = place(store)
    queue = run.queue
    interview = queue.interview_for("C1", mode="ivr", actor="ivr:CA1", now=T0)
    saved = answer_first_page(
        queue.interviews, interview, {"parent": 1}, mode="ivr", actor="ivr:CA1", now=T0, key="k1"
    )
    assert saved.kind == "saved"
    assert code(run, "completed", T0 + 5 * MINUTE, "human") == "partial"


# -- the command ---------------------------------------------------------------------------


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """mini.yaml beside a fieldwork file that calls at any hour, so the command's real clock
    always finds the cases due."""
    path = tmp_path / "mini.yaml"
    shutil.copy(MINI, path)
    (tmp_path / "mini.fieldwork.yaml").write_text(
        "calling:\n  hours:\n    mon-sun: 00:00-24:00\n"
        "telephony:\n  automated:\n    on_machine: leave_message\n"
        "    voicemail_message: This is the survey; we will call again.\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_command_places_calls_and_says_why_others_wait(
    database_url: str, study: Path, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(database_url)
    try:
        add_automated_case(store, "C1")
        add_automated_case(store, "C2")
        store.add_do_not_call("+442071234567", reason="asked", actor="test", now=T0)
        add_case(store, "C3", numbers=("+442071239999",))  # an interviewer's
        any_hour = {day: ((dt.time(0), dt.time.max),) for day in range(7)}
        interviewers = queue_on(store, FieldworkSettings(calling=CallingRules(hours=any_hour)))
        assert interviewers.next_case("ann", now=dt.datetime.now(dt.UTC)).kind == "claimed"  # C3
    finally:
        store.close()
    fake = FakeTwilioHttp()
    monkeypatch.setattr(outbound, "HTTP_CLIENT", fake)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    args = ["calls", "place", "--questionnaire", str(study), "--database", database_url]
    result = CliRunner().invoke(cli, [*args, "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("placed 0 automated call(s) to cases of mini\n")
    assert "  case C1: finished (" in result.output
    assert "C3" not in result.output  # an interviewer's case: not the dialler's business
    assert fake.requests == []
    store = open_store(database_url)
    try:
        add_automated_case(store, "C4", numbers=("+442071238888",))
    finally:
        store.close()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (
        "placed 1 automated call(s) to cases of mini\n  case C4: number 1, attempt" in result.output
    )
    (sent,) = fake.requests
    assert dict(sent.form)["MachineDetection"] == "DetectMessageEnd"


def test_the_command_names_the_missing_variable(
    database_url: str, study: Path, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["calls", "place", "--questionnaire", str(study), "--database", database_url]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "automated calls need Twilio" in result.output
    assert "INSTRUMENT_TWILIO_ACCOUNT_SID" in result.output
    for name, value in ENV.items():
        if name != "INSTRUMENT_TWILIO_CALLER_ID":
            monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "but INSTRUMENT_TWILIO_CALLER_ID is not" in result.output


def test_the_command_refuses_a_questionnaire_not_fielded_by_ivr(
    tmp_path: Path, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "mini.yaml"
    path.write_text(
        MINI.read_text(encoding="utf-8").replace("modes: [web, cati, ivr]", "modes: [web, cati]"),
        encoding="utf-8",
    )
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(
        cli, ["calls", "place", "--questionnaire", str(path), "--database", database]
    )
    assert result.exit_code == 1
    assert "mini is not fielded by automated call: add ivr to meta.modes" in result.output
