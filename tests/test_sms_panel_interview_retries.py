"""A wave's ``sms_interview`` step as dependable as the wave's other contacts (issue 14), on
SQLite and PostgreSQL, on a frozen clock.

- A first text the provider failed for a passing reason (Twilio unreachable, rate limited:
  the SMS channel's receipt not ``permanent``, the rule every message follows) is tried
  again after the step's ``retry_after``, doubled at each try, ``max_attempts`` tries in all,
  never in the quiet hours; a permanent refusal (an invalid number, a STOP at the provider)
  is recorded with why, the number marked bounced, and never tried again; a STOP ends the
  tries at once.
- A worker killed (SIGKILL, a real process) after the turn was stored and before the channel
  had the text: its successor sends that text, once. Killed after the provider took it and
  before its answer was recorded: the one duplicate the design allows (docs/sms.md).
- The step's keys in the wave file, with their errors at file:line (``instrument check``).

The worker is the one ``instrument serve`` builds (the plugin host's modes, the real SMS
channel to the SMS tests' fake Twilio); replies are posted to the real ``/sms/inbound``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from instrument.panel.contact_plan import (
    TRY_LEASE,
    Address,
    Done,
    MemberState,
    Tried,
    pending_actions,
)
from instrument.panel.wave_file import load_wave_text
from instrument.panel.waves import SmsInterview
from instrument.store.schema import (
    member_contacts,
    panel_messages,
    sms_interview_attempts,
    waves,
)
from tests.store_fixtures import *
from tests.test_panel_waves_store import PANEL, member_case
from tests.test_sms_interviews import text
from tests.test_sms_panel_interviews import (
    DAY0,
    FIRST_CY,
    FIRST_EN,
    MORNING,
    PHONES,
    WAVE,
    Study,
    check,
    set_up,
)

ROOT = Path(__file__).resolve().parent.parent
RETRIES = WAVE.replace(
    "    sms_interview:\n", "    sms_interview:\n      max_attempts: 3\n      retry_after: 10m\n"
)
"""The tests' wave with the step's own tries: 3, the second 10 minutes after the first, the
third 20 minutes after the second."""
RATE_LIMITED = (429, 20429, "Too Many Requests")
MINUTE = dt.timedelta(minutes=1)


def step_row(study: Study, external_id: str) -> dict[str, Any]:
    """The member's ``sms_interview`` step as recorded: state, tries, detail, error (all None
    when it was never recorded)."""
    with study.store.engine.connect() as connection:
        row = connection.execute(
            sa.select(
                panel_messages.c.state,
                panel_messages.c.attempts,
                panel_messages.c.detail,
                panel_messages.c.error,
            ).where(
                panel_messages.c.case_id == member_case(study.store, external_id),
                panel_messages.c.kind == "sms_interview",
            )
        ).one_or_none()
    return (
        dict.fromkeys(("state", "attempts", "detail", "error"))
        if row is None
        else dict(row._mapping)
    )


def first_texts(study: Study) -> list[dict[str, Any]]:
    """Every first text's outbox row, by case."""
    with study.store.engine.connect() as connection:
        rows = connection.execute(sa.select(sms_interview_attempts)).all()
    return [dict(row._mapping) for row in rows]


def to(study: Study, number: str) -> list[str]:
    """The bodies of the texts the fake Twilio took for ``number``, in order."""
    return [
        dict(r.form)["Body"]
        for r in study.twilio.requests
        if dict(r.form)["To"] == number and r.path.endswith("Messages.json")
    ]


@pytest.fixture
def study(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    made = set_up(database_url, monkeypatch, tmp_path, wave_text=RETRIES)
    made.run(DAY0)  # the email invitations
    yield made
    made.store.close()


# ---------------------------------------------------------------------------- passing failures


def test_a_first_text_twilio_could_not_take_is_tried_again_after_the_wait_and_goes_once(
    study: Study,
) -> None:
    study.twilio.down = True  # every request: a lost connection (a receipt to try again)
    assert study.run(MORNING) == []
    row = step_row(study, "F001")
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert "could not reach Twilio: ConnectionError" in row["detail"]["why"]
    assert row["detail"]["texted"] is False
    study.twilio.down = False
    assert study.run(MORNING + 9 * MINUTE) == []  # the step's 10 minutes have not passed
    sent = {form["To"]: form["Body"] for form in study.run(MORNING + 10 * MINUTE)}
    assert sorted(sent) == sorted(PHONES.values())
    assert sent[PHONES["F001"]].startswith(FIRST_EN)
    assert sent[PHONES["F002"]].startswith(FIRST_CY)
    assert step_row(study, "F001")["detail"] == {
        "mode": "sms",
        "contact": "phone:1",
        "texted": True,
        "tries": 2,
    }
    assert {(t["state"], t["attempts"]) for t in first_texts(study)} == {("sent", 2)}
    assert all(t["provider_id"].startswith("SM") for t in first_texts(study))
    assert study.run(MORNING + dt.timedelta(hours=3)) == []  # nothing twice
    assert all(len(to(study, n)) == 1 for n in PHONES.values())


def test_the_tries_back_off_and_stop_at_max_attempts_with_why(study: Study) -> None:
    ann = PHONES["F001"]
    study.twilio.refuse[ann] = RATE_LIMITED  # not permanent: Twilio says slow down
    study.run(MORNING)
    assert len(to(study, ann)) == 1
    study.run(MORNING + 10 * MINUTE)  # the second try, 10 minutes later
    assert len(to(study, ann)) == 2
    study.run(MORNING + 29 * MINUTE)  # the third waits twice as long: 20 minutes
    assert len(to(study, ann)) == 2
    study.run(MORNING + 30 * MINUTE)
    assert len(to(study, ann)) == 3
    row = step_row(study, "F001")
    assert (row["state"], row["attempts"]) == ("done", 3)
    assert row["detail"]["texted"] is False
    assert "error 20429 (HTTP 429)" in row["detail"]["why"]
    assert row["detail"]["why"].endswith("Too Many Requests; tried 3 times")
    study.run(MORNING + dt.timedelta(days=2))
    assert len(to(study, ann)) == 3  # never a fourth
    assert len(set(to(study, ann))) == 1  # the same text each time
    assert step_row(study, "F002")["detail"]["texted"] is True  # the others went at once


def test_a_try_that_would_fall_in_the_quiet_hours_waits_for_the_morning(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    late = RETRIES.replace('at: "21:30"', 'at: "20:55"')  # the quiet hours begin at 21:00
    study = set_up(database_url, monkeypatch, tmp_path, wave_text=late)
    try:
        study.run(DAY0)
        evening = dt.datetime(2027, 3, 3, 20, 55, tzinfo=dt.UTC)  # 20:55 in London (GMT)
        study.twilio.down = True
        study.run(evening)
        assert step_row(study, "F001")["state"] == "failed"
        study.twilio.down = False
        assert study.run(evening + 10 * MINUTE) == []  # 21:05: quiet
        assert study.run(MORNING - MINUTE) == []
        assert sorted(f["To"] for f in study.run(MORNING)) == sorted(PHONES.values())
    finally:
        study.store.close()


# ---------------------------------------------------------------------------- refusals and STOP


@pytest.mark.parametrize(
    ("refusal", "says"),
    [
        ((400, 21211, "The 'To' number is not a valid phone number."), "error 21211"),
        ((400, 21610, "Attempt to send to unsubscribed recipient"), "error 21610"),
    ],
)
def test_a_permanent_refusal_is_recorded_with_why_the_number_marked_and_never_tried_again(
    study: Study, refusal: tuple[int, int, str], says: str
) -> None:
    ann = PHONES["F001"]
    study.twilio.refuse[ann] = refusal
    study.run(MORNING)
    row = step_row(study, "F001")
    assert (row["state"], row["attempts"], row["detail"]["texted"]) == ("done", 1, False)
    assert row["detail"]["why"].startswith("the provider refused the text: Twilio refused")
    assert says in row["detail"]["why"]
    assert [
        t["state"] for t in first_texts(study) if t["case_id"] == member_case(study.store, "F001")
    ] == ["refused"]
    with study.store.engine.connect() as connection:
        bounced = connection.scalar(
            sa.select(sa.func.count()).where(
                member_contacts.c.kind == "phone", member_contacts.c.bounced_at.is_not(None)
            )
        )
    assert bounced == 1  # as a message's permanent refusal marks it: no channel uses it again
    del study.twilio.refuse[ann]
    study.run(MORNING + dt.timedelta(days=1))
    assert len(to(study, ann)) == 1


def test_a_stop_between_two_tries_ends_them_at_once(study: Study) -> None:
    ann = PHONES["F001"]
    study.twilio.refuse[ann] = RATE_LIMITED
    study.run(MORNING)
    assert step_row(study, "F001")["state"] == "failed"
    del study.twilio.refuse[ann]
    study.clock.now = MORNING + 2 * MINUTE
    assert text(study.app, "STOP", sender=ann) is None  # Ann texts STOP to the study
    study.run(MORNING + 10 * MINUTE)
    study.run(MORNING + dt.timedelta(days=1))
    assert len(to(study, ann)) == 1  # the one refused: nothing after the STOP
    row = step_row(study, "F001")
    assert (row["state"], row["attempts"]) == ("done", 1)
    assert row["detail"]["why"] == "no number the SMS channel may text"


def test_a_withdrawal_that_deletes_the_answers_deletes_the_first_texts_with_the_conversation(
    study: Study,
) -> None:
    study.run(MORNING)
    ann = study.store.get_member(PANEL, external_id="F001")
    assert ann is not None
    case = member_case(study.store, "F001")
    assert [t["case_id"] for t in first_texts(study)].count(case) == 1
    study.store.withdraw_member(
        ann.id, "delete_all", actor="member:link", by_staff=False, via="link", now=MORNING
    )
    assert case not in [t["case_id"] for t in first_texts(study)]
    assert len(first_texts(study)) == 2  # the others' stay


# ---------------------------------------------------------------------------- a worker killed

DYING_WORKER = """
import datetime as dt, json, os, signal, sys
from pathlib import Path
from instrument.panel.crypto import PanelKeys
from instrument.panelwork.worker import worker_for
from instrument.plugin_types import ContactChannel, Receipt
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import open_store

url, at, when, log = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4]

def send(message):
    # A test-only SMS channel: the worker's process dies as the text is handed over, before
    # the provider has it ('before'), or after the provider took it ('after': what it took is
    # written where the test reads it) and before its answer is recorded.
    if when == "after":
        with Path(log).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"To": message.to, "Body": message.text}) + "\\n")
    os.kill(os.getpid(), signal.SIGKILL)

emails = ContactChannel("email", "Email", "email", lambda m: Receipt("email", "sent", "<x@t>"))
worker = worker_for(
    open_store(url),
    {"email": emails, "sms": ContactChannel("sms", "SMS", "phone", send)},
    PanelKeys.from_environment(),
    clock=lambda: at,
    base_url="http://survey.test",
    name="dies",
    plugins=PluginFacade(get_plugin_manager()),
)
worker.run_round()
raise SystemExit("the channel was never called")
"""


def wave_status(study: Study) -> Any:
    with study.store.engine.connect() as connection:
        (wave_id,) = connection.scalars(sa.select(waves.c.id)).all()
    return study.store.wave_status(wave_id, now=study.clock.now)


def kill_a_worker_while_texting(study: Study, database_url: str, when: str, log: Path) -> str:
    """Run a worker in its own process at MORNING until it dies handing over its first text;
    the number of the member it was texting."""
    done = subprocess.run(
        [sys.executable, "-c", DYING_WORKER, database_url, MORNING.isoformat(), when, str(log)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    (going,) = [
        external_id for external_id in PHONES if step_row(study, external_id)["state"] == "sending"
    ]
    (left,) = first_texts(study)
    assert (left["state"], left["attempts"], left["case_id"]) == (
        "to_send",
        1,
        member_case(study.store, going),
    )
    return PHONES[going]


def test_a_worker_killed_before_the_channel_had_the_text_leaves_it_to_be_sent_once(
    study: Study, database_url: str, tmp_path: Path
) -> None:
    number = kill_a_worker_while_texting(study, database_url, "before", tmp_path / "took.jsonl")
    # instrument wave status counts the try as under way, not as a message never sent again
    left = wave_status(study)
    assert (left.texts_under_way, left.sending) == (1, 0)
    # the dead worker's claim holds the members until its lease ends, then a successor acts
    assert study.run(MORNING + 5 * MINUTE, study.worker("too_soon")) == []
    sent = study.run(MORNING + TRY_LEASE + MINUTE, study.worker("successor"))
    assert wave_status(study).texts_under_way == 0
    assert Counter(f["To"] for f in sent) == Counter(PHONES.values())  # each once
    (body,) = to(study, number)
    assert body.startswith(FIRST_EN) or body.startswith(FIRST_CY)
    going = next(m for m, n in PHONES.items() if n == number)
    assert step_row(study, going)["detail"]["texted"] is True
    assert step_row(study, going)["attempts"] == 2  # the lost try counts
    assert {t["state"] for t in first_texts(study)} == {"sent"}
    assert study.run(MORNING + dt.timedelta(hours=2)) == []


def test_a_worker_killed_after_the_provider_took_the_text_sends_it_at_most_once_more(
    study: Study, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "took.jsonl"
    number = kill_a_worker_while_texting(study, database_url, "after", log)
    (took,) = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert took["To"] == number
    study.run(MORNING + TRY_LEASE + MINUTE, study.worker("successor"))
    # the documented window: the member has the first question twice, the same words
    assert to(study, number) == [took["Body"]]
    study.run(MORNING + dt.timedelta(hours=2))
    study.run(MORNING + dt.timedelta(days=1))
    assert to(study, number) == [took["Body"]]  # and never a third time
    assert all(len(to(study, n)) == 1 for n in PHONES.values())


# ---------------------------------------------------------------------------- the plan and the file


def test_the_plan_tries_again_after_the_wait_doubled_until_the_tries_are_used_up() -> None:
    wave, diagnostics = load_wave_text(RETRIES, "w.yaml", ("email", "sms"))
    assert wave is not None, diagnostics.errors
    invited = (Done("day0-invitation", DAY0, "email"),)
    member = MemberState(
        "K1",
        (Address("phone", "phone:1"),),
        done=invited,
        started=True,  # its own first text started the interview: to: not_started no longer
    )
    assert [a.kind for a in pending_actions(wave, member, MORNING)] == ["close"]

    def due(tried: Tried, phone: bool = True) -> list[tuple[dt.datetime, str | None]]:
        state = dataclasses.replace(member, tried=(tried,))
        if not phone:
            state = dataclasses.replace(
                state, addresses=(Address("phone", "phone:1", failed_channels=frozenset({"sms"})),)
            )
        return [
            (a.due, a.address) for a in pending_actions(wave, state, MORNING) if a.kind != "close"
        ]

    step = "day1-sms_interview"
    assert due(Tried(step, 1, MORNING)) == [(MORNING + 10 * MINUTE, "phone:1")]
    assert due(Tried(step, 2, MORNING)) == [(MORNING + 20 * MINUTE, "phone:1")]
    assert due(Tried(step, 3, MORNING)) == []  # max_attempts: 3
    assert due(Tried(step, 1, MORNING, going=True)) == [(MORNING + TRY_LEASE, "phone:1")]
    assert due(Tried(step, 1, MORNING), phone=False) == [(MORNING + 10 * MINUTE, None)]


def test_the_step_reads_its_tries_with_defaults() -> None:
    wave, _ = load_wave_text(WAVE, "w.yaml", ("email", "sms"))
    assert wave is not None and wave.steps[1].sms == SmsInterview()
    assert (SmsInterview().max_attempts, SmsInterview().retry_after) == (3, 15 * MINUTE)
    assert SmsInterview().wait_after(2) == 30 * MINUTE
    wave, _ = load_wave_text(
        WAVE.replace(
            "    sms_interview:\n",
            "    sms_interview:\n      mode: sms\n      max_attempts: 5\n      retry_after: 2h\n",
        ),
        "w.yaml",
        ("email", "sms"),
    )
    assert wave is not None
    assert wave.steps[1].sms == SmsInterview("sms", 5, dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ("max_attempts: 0", "16:21: error: sms_interview.max_attempts must be from 1 to 10"),
        ("max_attempts: 11", "16:21: error: sms_interview.max_attempts must be from 1 to 10"),
        (
            "max_attempts: two",
            "16:21: error: sms_interview.max_attempts must be a whole number, not 'two'",
        ),
        ("retry_after: 30s", "16:20: error: sms_interview.retry_after must be at least 1m"),
        (
            "retry_after: soon",
            "16:20: error: sms_interview.retry_after must be a duration such as 90m, 3h or 7d, "
            "not 'soon'",
        ),
        (
            "tries: 3",
            "16:7: error: unknown key 'tries' in sms_interview",
        ),
    ],
)
def test_a_wrong_try_key_is_an_error_at_its_line(keys: str, error: str, tmp_path: Path) -> None:
    wrong = WAVE.replace("    sms_interview:\n", f"    sms_interview:\n      {keys}\n")
    wave, diagnostics = load_wave_text(wrong, "w.yaml", ("email", "sms"))
    assert wave is None
    assert any(error in str(d) for d in diagnostics.errors), [str(d) for d in diagnostics.errors]
    code, output = check(tmp_path, wrong)
    assert code == 1
    assert f"{tmp_path / 'sms_short.wave1.yaml'}:{error}" in output, output
