"""Withdrawn respondents' recordings are deleted at Twilio (issue 13), on SQLite and PostgreSQL.

A small study fielded on the web, by interviewers and by automated call, opened as a panel
wave: Ann's case has an interviewer's call recorded after her yes, a recorded answer, and a
recording made on an automated call but not yet submitted; Bryn's case has a recorded answer.
Every recording is held by tests/twilio_fake.py, the fake of Twilio's REST API the real twilio
SDK talks to. Ann withdraws with "delete contact details and answers": her recordings are listed
in the withdrawal's own transaction (a withdrawal rolled back lists nothing), never with a URL;
the fieldwork worker's round deletes them through the phone plugin (reached through the plugin
host's hook, as ``instrument fieldwork run`` reaches it), each once; Twilio's 404 counts as done;
a 500 is kept with its reason and tried again a minute later; an unconfigured provider leaves
them waiting, untried. Bryn's recording is never touched. ``instrument fieldwork run --once`` and
``instrument calls forget-recordings`` do the same from the shell.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from twilio_fake import FakeTwilioHttp

from instrument.callqueue import CallQueue
from instrument.cli import cli
from instrument.fieldwork.settings import FieldworkSettings, TelephonySettings
from instrument.interviews import Answers, InterviewService, Seen, Surveys
from instrument.ivr.recording import answer_reference
from instrument.loader import load_questionnaire
from instrument.panel.wave_file import load_wave
from instrument.panelwork.opening import open_wave
from instrument.panelwork.recording_deletions import (
    WORKER_INTERVAL,
    delete_listed_recordings,
    use_recording_providers,
)
from instrument.panelwork.worker import FieldworkWorker, worker_for
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import Store, open_store
from instrument.store.recording_deletions import RETRY_FIRST, retry_delay
from instrument.store.schema import (
    answer_events,
    call_events,
    calls,
    interviews,
    ivr_calls,
    recording_deletions,
)
from instrument.store.withdrawal import withdraw_in
from instrument_phone.telephony import recordings as twilio_recordings_module
from instrument_phone.telephony.config import TwilioSettings
from tests.fieldwork_store_helpers import Win
from tests.store_fixtures import *
from tests.test_panel_waves_store import OPENED, PANEL, Panel, import_panel, member_case, panel_keys

ACCOUNT = "AC" + "ab" * 16
TWILIO_ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": "0123456789abcdef" * 2,
    "INSTRUMENT_TWILIO_CALLER_ID": "+442071234567",
    "INSTRUMENT_PUBLIC_URL": "https://survey.example.org",
}
SETTINGS = TwilioSettings(ACCOUNT, TWILIO_ENV["INSTRUMENT_TWILIO_AUTH_TOKEN"], "+442071234567",
                          "https://survey.example.org")  # fmt: skip
BASE = "http://survey.test"
WITHDRAWN_AT = OPENED + dt.timedelta(days=2)
QUESTIONNAIRE_ID = "voices"
QUESTIONNAIRE = """\
meta:
  id: voices
  version: '1'
  title: Families in their own words
  languages: [en]
  modes: [web, cati, ivr]
items:
  - {id: story, type: long_text, max_length: 500, text: Tell us what happened.}
  - {id: more, type: long_text, max_length: 500, text: Is there anything else?}
"""
WAVE = """\
panel: families
wave: w1
label: "Voices, wave 1"
questionnaire: voices.yaml
fieldwork:
  zone: Europe/London
  open: 2027-03-02 10:00
eligibility: status == 'active'
contact_plan:
  - day: 0
    send: invitation
    channels: [email]
    templates: {email: invitation}
  - close: day 28
"""


@dataclass
class Study:
    """The wave as set up: the store, the panel, the fake Twilio and which recording is whose."""

    store: Store
    panel: Panel
    twilio: FakeTwilioHttp
    folder: Path
    ann_call: str  # Ann's interviewer call, recorded after her yes
    ann_second_take: str  # a second recording of that call, known only by its callback
    ann_answer: str  # Ann's recorded answer to "story"
    ann_unsubmitted: str  # recorded on Ann's automated call, not submitted yet
    bryn_answer: str  # Bryn's recorded answer: Bryn does not withdraw

    @property
    def anns(self) -> set[str]:
        return {self.ann_call, self.ann_second_take, self.ann_answer, self.ann_unsubmitted}


def write_study(folder: Path) -> Path:
    """The questionnaire and its wave file in ``folder``; the wave file's path."""
    (folder / "voices.yaml").write_text(QUESTIONNAIRE, encoding="utf-8")
    wave_path = folder / "voices.wave1.yaml"
    wave_path.write_text(WAVE, encoding="utf-8")
    return wave_path


def answer_by_recording(service: InterviewService, case_id: str, recording_sid: str) -> str:
    """An automated call starts the case's interview and stores a recording as "story"."""
    at = OPENED + dt.timedelta(days=1)
    actor = f"ivr:CA{case_id}"
    started = service.start(QUESTIONNAIRE_ID, mode="ivr", actor=actor, now=at, case_id=case_id)
    shown = service.show(started.interview.id, mode="ivr", actor=actor, now=at)
    seen = Seen(revision=shown.interview.revision, token=shown.step.token, key=f"{case_id}-story")
    saved = service.answer(
        started.interview.id, seen,
        lambda _step: Answers({"story": answer_reference(recording_sid)}, confirmed=True),
        mode="ivr", actor=actor, now=at,
    )  # fmt: skip
    assert saved.kind == "saved", saved
    return started.interview.id


def recorded_interviewer_call(store: Store, case_id: str, recording_sid: str) -> int:
    """An interviewer's call to the case through Twilio, recorded after the respondent's yes."""
    at = OPENED + dt.timedelta(days=1)
    store.set_phone_numbers(case_id, ("+447911123456",), at)
    store.enqueue_case(
        case_id,
        zone="Europe/London",
        language="en",
        window=Win(at - dt.timedelta(hours=1), at + dt.timedelta(hours=8)),
        now=at,
    )
    claim = store.claim_next_case("ivy", now=at)
    assert claim is not None and claim.case_id == case_id
    call_id = store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=at)
    store.set_call_sid(call_id, "CA" + "c" * 32)
    store.set_call_recording(call_id, True, now=at)
    assert store.set_recording_sid(call_id, recording_sid, now=at)
    store.record_recording_event(
        call_id, recording_sid=recording_sid, status="completed", at=at, duration_s=310,
        url=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}",
        error=None, payload={"RecordingSid": recording_sid}, now=at,
    )  # fmt: skip
    return call_id


def set_up_study(store: Store, folder: Path) -> Study:
    panel = import_panel(store, panel_keys())
    wave_path = write_study(folder)
    wave, diagnostics = load_wave(wave_path)
    assert wave is not None, diagnostics.errors()
    questionnaire = load_questionnaire(folder / "voices.yaml").questionnaire
    assert questionnaire is not None
    open_wave(store, wave, questionnaire, panel.links, source=wave_path, now=OPENED, actor="cli:t")
    service = InterviewService(store, Surveys.serve(store, [questionnaire]))
    twilio = FakeTwilioHttp()
    ann_case, bryn_case = member_case(store, "F001"), member_case(store, "F002")
    study = Study(
        store, panel, twilio, folder,
        ann_call=twilio.add_recording("CA" + "c" * 32),
        ann_second_take=twilio.add_recording("CA" + "c" * 32),
        ann_answer=twilio.add_recording("CA" + "a" * 32),
        ann_unsubmitted=twilio.add_recording("CA" + "a" * 32),
        bryn_answer=twilio.add_recording("CA" + "b" * 32),
    )  # fmt: skip
    call_id = recorded_interviewer_call(store, ann_case, study.ann_call)
    # a start tried again made a second recording: the call keeps the first, the other's
    # callback is stored under the call's id (docs/telephone.md)
    second = store.record_recording_event(
        call_id, recording_sid=study.ann_second_take, status="completed", at=OPENED,
        duration_s=12, url=None, error=None, payload={}, now=OPENED + dt.timedelta(days=1),
    )  # fmt: skip
    assert second.stored and not second.applied
    ann_interview = answer_by_recording(service, ann_case, study.ann_answer)
    answer_by_recording(service, bryn_case, study.bryn_answer)
    # Ann's automated call: "more" recorded, the caller gone before the answer was submitted
    at = OPENED + dt.timedelta(days=1, minutes=3)
    store.open_ivr_call("CA" + "a" * 32, direction="outbound", now=at, interview_id=ann_interview,
                        case_id=ann_case)  # fmt: skip
    notes = {
        "more": {"consent": True, "turn": 4, "reference": answer_reference(study.ann_unsubmitted)}
    }
    store.record_ivr_turn("CA" + "a" * 32, 4, "<Response/>", state={"ivr_call": {"recording": notes}},
                          now=at)  # fmt: skip
    for sid in (study.ann_answer, study.bryn_answer):  # each recorded answer's status callback
        store.record_call_event(
            sid, event_key=f"{sid}:ivr_recording:completed", status="completed", at=at,
            payload={"RecordingSid": sid, "RecordingUrl": f"https://api.twilio.com/{sid}"}, now=at,
        )  # fmt: skip
    return study


@pytest.fixture
def study(store: Store, tmp_path: Path) -> Study:
    return set_up_study(store, tmp_path)


def withdraw_ann(study: Study, at: dt.datetime = WITHDRAWN_AT) -> Any:
    member = study.store.get_member(PANEL, external_id="F001")
    assert member is not None
    return study.store.withdraw_member(
        member.id, "delete_all", actor="member:link", by_staff=False, via="link", now=at
    )


def listed(store: Store) -> dict[str, Any]:
    """The list of deletions by recording sid."""
    return {row.recording_sid: row for row in store.recording_deletions()}


def phone_plugin_providers(monkeypatch: pytest.MonkeyPatch, twilio: FakeTwilioHttp) -> Any:
    """The providers the plugin host has (the phone plugin's ``twilio``), Twilio configured in the
    environment and its REST client talking to the fake, as ``instrument fieldwork run`` gets them."""
    for name, value in TWILIO_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(twilio_recordings_module, "HTTP_CLIENT", twilio)
    return PluginFacade(
        get_plugin_manager(load_entrypoints=False, strict=True)
    ).recording_providers()


def a_worker(study: Study, providers: Any, clock: list[dt.datetime]) -> FieldworkWorker:
    worker = worker_for(study.store, {}, study.panel.keys, clock=lambda: clock[0], base_url=BASE)
    use_recording_providers(worker, providers)
    return worker


def deleted_at_twilio(twilio: FakeTwilioHttp) -> list[str]:
    """The recordings the fake was asked to DELETE, in order (whatever it answered)."""
    return [r.path.rsplit("/", 1)[1].removesuffix(".json") for r in twilio.requests
            if r.method == "DELETE"]  # fmt: skip


# -- listing, in the withdrawal's transaction ---------------------------------------------------


def test_a_withdrawal_lists_its_recordings_in_its_own_transaction(study: Study) -> None:
    store = study.store
    ann_case = member_case(store, "F001")
    with store.engine.connect() as connection:  # a withdrawal that fails lists nothing
        transaction = connection.begin()
        report = withdraw_in(
            connection, interviews.c.case_id == ann_case, case_id=ann_case, now=WITHDRAWN_AT
        )
        assert report.recordings_listed == 4
        transaction.rollback()
    assert listed(store) == {}
    with store.engine.connect() as connection:  # the answers are all there still
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(answer_events)).scalar() > 0
        )

    result = withdraw_ann(study)

    assert result.done and result.recordings_listed == 4
    rows = listed(store)
    assert set(rows) == study.anns
    assert {sid: rows[sid].source for sid in rows} == {
        study.ann_call: "call",
        study.ann_second_take: "call",
        study.ann_answer: "answer",
        study.ann_unsubmitted: "answer",
    }
    for row in rows.values():
        assert (row.provider, row.reason, row.case_id) == ("twilio", "case_withdrawn", ann_case)
        assert (row.state, row.tries, row.requested_at, row.next_try_at) == (
            "pending",
            0,
            WITHDRAWN_AT,
            WITHDRAWN_AT,
        )
    history = store.member_history(result.member_id)[-1]
    assert history.after["recordings_listed"] == 4
    with store.engine.connect() as connection:
        # never a URL in the list; the call keeps its recording's id, not the URL
        texts = [repr(tuple(r)) for r in connection.execute(sa.select(recording_deletions))]
        assert not any("https://" in text for text in texts)
        url, sid = connection.execute(
            sa.select(calls.c.recording_url, calls.c.recording_sid).where(
                calls.c.case_id == ann_case
            )
        ).one()
        assert (url, sid) == (None, study.ann_call)
        # the recorded answers' callbacks go with the answers; Bryn's stay
        kept = set(connection.execute(sa.select(call_events.c.provider_sid)).scalars())
        assert study.ann_answer not in kept and study.bryn_answer in kept
        assert connection.execute(sa.select(sa.func.count()).select_from(ivr_calls)).scalar() == 0


def test_asking_again_lists_nothing_twice(study: Study) -> None:
    withdraw_ann(study)
    again = withdraw_ann(study, WITHDRAWN_AT + dt.timedelta(hours=1))
    assert not again.done
    ann_case = member_case(study.store, "F001")
    assert (
        study.store.withdraw(ann_case, now=WITHDRAWN_AT + dt.timedelta(hours=2)).recordings_listed
        == 0
    )
    assert len(listed(study.store)) == 4


def test_stopping_contact_or_deleting_contact_details_keeps_the_recordings(study: Study) -> None:
    member = study.store.get_member(PANEL, external_id="F001")
    assert member is not None
    for choice in ("stop_contact", "delete_contacts"):
        result = study.store.withdraw_member(
            member.id, choice, actor="cli:t", by_staff=True, via="cli", now=WITHDRAWN_AT
        )
        assert result.done and result.recordings_listed == 0
    assert listed(study.store) == {}


# -- deleting, in the worker's round, through the phone plugin ----------------------------------


def test_the_worker_deletes_them_at_twilio_through_the_phone_plugin(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = phone_plugin_providers(monkeypatch, study.twilio)
    assert set(providers) >= {"twilio"} and providers.owner("twilio") == "phone"
    withdraw_ann(study)
    clock = [WITHDRAWN_AT + dt.timedelta(minutes=1)]
    worker = a_worker(study, providers, clock)

    worker.run_round()

    assert sorted(deleted_at_twilio(study.twilio)) == sorted(study.anns)
    for request in study.twilio.requests:
        assert request.url == (
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/"
            f"{request.path.rsplit('/', 1)[1]}"
        )
        assert request.auth == (ACCOUNT, TWILIO_ENV["INSTRUMENT_TWILIO_AUTH_TOKEN"])
    assert set(study.twilio.recordings) == {study.bryn_answer}  # Bryn's is never touched
    rows = listed(study.store)
    assert {(r.state, r.outcome, r.tries, r.done_at, r.next_try_at) for r in rows.values()} == {
        ("done", "deleted", 1, clock[0], None)
    }
    clock[0] += dt.timedelta(hours=1)
    worker.run_round()  # nothing is asked twice
    assert len(deleted_at_twilio(study.twilio)) == 4


def test_a_recording_twilio_no_longer_holds_is_done(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    del study.twilio.recordings[study.ann_unsubmitted]  # deleted by hand in Twilio's console
    withdraw_ann(study)
    clock = [WITHDRAWN_AT]
    a_worker(study, phone_plugin_providers(monkeypatch, study.twilio), clock).run_round()
    rows = listed(study.store)
    assert rows[study.ann_unsubmitted].state == "done"
    assert rows[study.ann_unsubmitted].outcome == "gone"
    assert {rows[sid].outcome for sid in (study.ann_call, study.ann_answer)} == {"deleted"}


def test_a_failure_is_kept_and_tried_again_a_minute_later(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    study.twilio.refuse(study.ann_call, 500)
    study.twilio.refuse(study.ann_answer, 503, times=2)
    withdraw_ann(study)
    clock = [WITHDRAWN_AT]
    worker = a_worker(study, phone_plugin_providers(monkeypatch, study.twilio), clock)

    worker.run_round()

    rows = listed(study.store)
    failed = rows[study.ann_call]
    assert (failed.state, failed.tries, failed.next_try_at) == (
        "pending",
        1,
        WITHDRAWN_AT + RETRY_FIRST,
    )
    assert failed.last_error is not None and failed.last_error.startswith(
        "Twilio error 20001 (HTTP 500)"
    )
    assert TWILIO_ENV["INSTRUMENT_TWILIO_AUTH_TOKEN"] not in failed.last_error
    assert rows[study.ann_unsubmitted].state == "done"
    counts = study.store.recording_deletion_counts(now=WITHDRAWN_AT)
    assert (counts.pending, counts.due, counts.failing, counts.done) == (2, 0, 2, 2)

    clock[0] = WITHDRAWN_AT + WORKER_INTERVAL  # the worker looks again: not due yet
    worker.run_round()
    assert len(deleted_at_twilio(study.twilio)) == 4
    clock[0] = WITHDRAWN_AT + RETRY_FIRST
    worker.run_round()
    rows = listed(study.store)
    assert (rows[study.ann_call].state, rows[study.ann_call].tries) == ("done", 2)
    again = rows[study.ann_answer]  # its second 503: two minutes before the third try
    assert (again.state, again.tries, again.next_try_at) == (
        "pending",
        2,
        clock[0] + retry_delay(2),
    )
    clock[0] = again.next_try_at
    worker.run_round()
    assert listed(study.store)[study.ann_answer].outcome == "deleted"
    assert set(study.twilio.recordings) == {study.bryn_answer}


def test_the_wait_doubles_up_to_six_hours() -> None:
    assert [retry_delay(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert retry_delay(9) == dt.timedelta(minutes=256)
    assert retry_delay(10) == retry_delay(40) == dt.timedelta(hours=6)


def test_without_twilios_settings_the_recordings_wait_untried(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in TWILIO_ENV:
        monkeypatch.delenv(name, raising=False)
    providers = PluginFacade(
        get_plugin_manager(load_entrypoints=False, strict=True)
    ).recording_providers()
    withdraw_ann(study)
    done = delete_listed_recordings(study.store, providers, worker="w", clock=lambda: WITHDRAWN_AT)
    assert done.tried == 0 and "INSTRUMENT_TWILIO_ACCOUNT_SID" in done.waiting["twilio"]
    assert {(r.state, r.tries) for r in listed(study.store).values()} == {("pending", 0)}
    assert study.twilio.requests == []


def test_two_workers_at_once_ask_for_each_recording_once(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = phone_plugin_providers(monkeypatch, study.twilio)
    withdraw_ann(study)
    start = threading.Barrier(2)
    reports: list[Any] = []

    def work(name: str) -> None:
        start.wait()
        reports.append(
            delete_listed_recordings(
                study.store, providers, worker=name, clock=lambda: WITHDRAWN_AT
            )
        )

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(deleted_at_twilio(study.twilio)) == sorted(study.anns)
    assert sum(r.deleted for r in reports) == 4


# -- from the shell -----------------------------------------------------------------------------


def withdrawn_for_a_command(
    database_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> Study:
    """The study with Ann withdrawn now (a command runs on the real clock), the store closed,
    and Twilio configured for the command, its REST API the study's fake."""
    store = open_store(database_url)
    try:
        study = set_up_study(store, folder)
        withdraw_ann(study, at=dt.datetime.now(dt.UTC))
    finally:
        store.close()
    phone_plugin_providers(monkeypatch, study.twilio)
    return study


def test_fieldwork_run_once_deletes_them(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = withdrawn_for_a_command(database_url, tmp_path, monkeypatch)
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", ",".join(study.panel.keys.keys))
    ran = CliRunner().invoke(
        cli, ["fieldwork", "run", "--once", "--database", database_url, "--base-url", BASE]
    )
    assert ran.exit_code == 0, ran.output
    assert sorted(deleted_at_twilio(study.twilio)) == sorted(study.anns)
    with open_store(database_url) as again:
        assert {r.state for r in again.recording_deletions()} == {"done"}


def test_calls_forget_recordings_says_what_it_did_and_what_is_left(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = withdrawn_for_a_command(database_url, tmp_path, monkeypatch)
    del study.twilio.recordings[study.ann_answer]
    study.twilio.refuse(study.ann_call, 500)
    runner = CliRunner()

    first = runner.invoke(cli, ["calls", "forget-recordings", "--database", database_url])

    assert first.exit_code == 1, first.output
    assert "recordings at Twilio: 2 deleted, 1 already gone, 1 failed" in first.output
    assert f"{study.ann_call}: Twilio error 20001 (HTTP 500)" in first.output
    assert "still to delete: 1 (the next try at " in first.output
    assert "deleted or gone so far: 3" in first.output
    second = runner.invoke(cli, ["calls", "forget-recordings", "--database", database_url])
    assert second.exit_code == 0, second.output  # not due yet: nothing asked
    assert "0 deleted, 0 already gone, 0 failed" in second.output
    assert deleted_at_twilio(study.twilio).count(study.ann_call) == 1

    for name in TWILIO_ENV:
        monkeypatch.delenv(name)
    unset = runner.invoke(cli, ["calls", "forget-recordings", "--database", database_url])
    assert unset.exit_code == 1 and "INSTRUMENT_TWILIO_ACCOUNT_SID" in unset.output


# -- after the withdrawal, nothing more is recorded -------------------------------------------


class NeverRecorder:
    """The console's recorder: asking it would start a recording at Twilio."""

    def start_recording(self, sid: str, *, call_id: int) -> str:
        raise AssertionError(f"a withdrawn case's call {call_id} was recorded")


def test_a_call_still_going_when_the_case_is_withdrawn_is_never_recorded(study: Study) -> None:
    store = study.store
    ann_case = member_case(store, "F001")
    (first,) = store.calls_of(ann_case)
    at = OPENED + dt.timedelta(days=1, minutes=20)
    call_id = store.start_call(first.attempt_id, number_rank=1, provider="twilio", now=at)
    store.set_call_sid(call_id, "CA" + "d" * 32)
    settings = FieldworkSettings(
        telephony=TelephonySettings(recording=True, consent_text="We record calls. All right?")
    )
    queue = CallQueue(
        store, InterviewService(store, Surveys.stored(store, QUESTIONNAIRE_ID)), lambda _q: settings
    )
    question = queue.consent_question(first.attempt_id)
    assert question is not None and question.call_id == call_id  # asked, before the withdrawal

    withdraw_ann(study)

    assert queue.consent_question(first.attempt_id) is None
    refused = queue.record_consent(
        first.attempt_id, call_id, True, recorder=NeverRecorder(), now=WITHDRAWN_AT
    )
    assert refused.kind == "refused" and "withdrawn" in refused.messages[0]
    call = store.get_call(call_id)
    assert call is not None and call.recording is None  # nothing stored, nothing recorded
