"""A wave's ``sms_interview`` step: the fieldwork worker texts members the first question and they
answer by replying (issue 14), on SQLite and PostgreSQL.

The wave is opened as ``instrument wave open`` opens one, for the short questionnaire listing
``sms``; the worker (with the plugin host's modes, as ``instrument serve`` builds it) texts
through the real SMS channel to the SMS tests' fake Twilio, on a frozen clock; the members'
replies are posted to the real app's ``/sms/inbound``, signed as Twilio signs them. Also: the
quiet hours, STOP, withdrawals and finished interviews, a crash between the text and its record,
two workers at once, what ``instrument check`` says of the step, and the SMS invitation's words
saying a reply answers by text only when it does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from instrument.cli import cli
from instrument.panel.contact_plan import Address, Done, MemberState, due_actions, pending_actions
from instrument.panel.wave_file import load_wave_text
from instrument.panelwork.worker import FieldworkWorker, worker_for
from instrument.plugin_types import ContactChannel, OutgoingMessage, Receipt
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.server.app import get_host
from instrument.store import Store, open_store
from instrument.store.schema import answer_events, panel_messages, wave_members
from instrument_channels.rendering import TemplateRenderer
from instrument_channels.sms import SmsChannel, sms_body
from instrument_phone.sms.conversations import conversation_ids, number_key
from tests import test_sms_panel_replies as replies
from tests.store_fixtures import *
from tests.test_channels_sms import settings as sms_settings
from tests.test_fieldwork_worker import finish
from tests.test_panel_waves_store import MEMBERS, PANEL, member_case
from tests.test_sms_interviews import SECRET, text

DATA = Path(__file__).resolve().parent / "data"
DAY0 = dt.datetime(2027, 3, 2, 10, 0, tzinfo=dt.UTC)  # 10:00 in London (GMT in March)
NIGHT = dt.datetime(2027, 3, 3, 21, 45, tzinfo=dt.UTC)
"""Day 1 at 21:45 in London: the step (21:30) has come, inside the quiet hours (21:00-08:00)."""
MORNING = dt.datetime(2027, 3, 4, 8, 0, tzinfo=dt.UTC)
"""Day 2 at 08:00 in London: the quiet hours are over."""
PHONES = {"F001": "+447911123456", "F002": "+447911123999", "F005": "+447911123777"}
WAVE = """\
panel: families
wave: w1
label: "Health panel"
questionnaire: sms_short.yaml
fieldwork:
  zone: Europe/London
  open: 2027-03-02 10:00
contact_plan:
  - day: 0
    send: invitation
    channels: [email]
    templates: {email: invitation}
  - day: 1
    at: "21:30"
    sms_interview:
    to: not_started
  - close: day 28
"""
FIRST_EN = "We would like to ask you a few short questions by text message."
FIRST_CY = "Hoffem ofyn ychydig o gwestiynau byr i chi drwy neges destun."


class Emails:
    """An email channel that takes every message (the invitation is not under test)."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> Receipt:
        self.sent.append(message)
        return Receipt("email", "sent", f"<{len(self.sent)}@test>")


class Study(replies.Study):
    """The replies tests' study (app, store, panel, fake Twilio, clock), run by whole workers."""

    def worker(self, name: str = "w1", store: Store | None = None) -> FieldworkWorker:
        """A worker as ``instrument serve`` makes one: the plugin host's modes, the channels."""
        channel = SmsChannel(sms_settings(), http_client=self.twilio)
        return worker_for(
            store or self.store,
            {
                "email": ContactChannel("email", "Email", "email", Emails().send),
                "sms": ContactChannel("sms", "SMS", "phone", channel.send),
            },
            self.panel.keys,
            clock=self.clock,
            base_url="http://survey.test",
            name=name,
            plugins=PluginFacade(get_plugin_manager()),
        )

    def run(self, at: dt.datetime, worker: FieldworkWorker | None = None) -> list[dict[str, str]]:
        """The worker's rounds at ``at``: the texts it handed to Twilio then."""
        self.clock.now = at
        before = len(self.twilio.requests)
        worker = worker or self.worker()
        while worker.run_round().claimed:
            pass
        return [dict(request.form) for request in self.twilio.requests[before:]]

    def detail(self, external_id: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as connection:
            return connection.scalar(  # type: ignore[no-any-return]
                sa.select(panel_messages.c.detail).where(
                    panel_messages.c.case_id == member_case(self.store, external_id),
                    panel_messages.c.kind == "sms_interview",
                )
            )


def set_up(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    members: str = MEMBERS,
    wave_text: str = WAVE,
    source: Path = DATA / "sms_short.yaml",
) -> Study:
    """The replies tests' wave, with this plan; the server's secret set for the worker."""
    monkeypatch.setenv("INSTRUMENT_SECRET_KEY", SECRET)  # the server's, as the webhook's
    made = replies.set_up(
        database_url, monkeypatch, tmp_path, members, wave_text=wave_text, source=source
    )
    return Study(made.app, made.store, made.panel, made.twilio, made.clock)


@pytest.fixture
def study(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Study]:
    made = set_up(database_url, monkeypatch, tmp_path)
    yield made
    made.store.close()


def test_the_worker_texts_the_first_question_after_the_quiet_hours_and_members_answer_by_reply(
    study: Study,
) -> None:
    assert study.run(DAY0) == []  # day 0: the email invitation only
    assert study.run(NIGHT) == []  # the step has come, but it is 21:45 in London
    assert study.detail("F001") is None
    sent = study.run(MORNING)
    by_number = {form["To"]: form["Body"] for form in sent}
    assert sorted(by_number) == sorted(PHONES.values())  # F003 has no phone, F004 is paused
    ann, bryn = PHONES["F001"], PHONES["F002"]
    assert by_number[ann].startswith(FIRST_EN)
    assert (
        "Thank you for taking part.\nHow is your health in general?\n1 Very good"
        in (by_number[ann])
    )
    assert by_number[bryn].startswith(FIRST_CY)  # Bryn's language is Welsh
    assert "Sut mae eich iechyd yn gyffredinol?" in by_number[bryn]
    assert study.detail("F001") == {"mode": "sms", "texted": True, "contact": "phone:1", "tries": 1}
    # nothing twice: the same worker later, another worker
    assert study.run(MORNING + dt.timedelta(hours=1)) == []
    assert study.run(MORNING + dt.timedelta(hours=2), study.worker("w2")) == []
    # Ann replies to the text: her replies answer the question asked, signed as Twilio signs
    study.clock.now = MORNING + dt.timedelta(minutes=5)
    assert (text(study.app, "2", sender=ann) or "").startswith("Do you smoke?")
    for reply in ("no", "1 2", "7", "25/12/2001"):
        assert text(study.app, reply, sender=ann)
    assert text(study.app, "All fine", sender=ann) == "That is all. Thank you!"
    (sid,) = conversation_ids(ann, [number_key(SECRET)])
    conversation = study.store.ivr_call(sid)
    assert conversation is not None
    assert conversation.case_id == member_case(study.store, "F001")
    with study.store.engine.connect() as connection:
        events = connection.execute(
            sa.select(answer_events.c.variable, answer_events.c.mode).where(
                answer_events.c.interview_id == conversation.interview_id,
                answer_events.c.kind == "answer",
            )
        ).all()
    assert {mode for _, mode in events} == {"sms"}
    counted = Counter(variable for variable, _ in events)
    assert set(counted.values()) == {1}  # one answer event a question: none doubled
    assert set(counted) >= {"health", "smoke", "active", "hours", "moved", "comment"}
    snapshot = get_host(study.app).service.load(conversation.interview_id)
    answers = snapshot.state.answers
    assert (answers["health"], answers["smoke"], answers["active"]) == (2, 2, (1, 2))
    assert answers["hours"] == 7 and answers["comment"] == "All fine"  # none lost
    assert snapshot.record.finished_at is not None
    assert study.run(MORNING + dt.timedelta(hours=3)) == []  # finished: nothing more


def test_nobody_who_stopped_texts_withdrew_or_finished_is_texted(study: Study) -> None:
    study.run(DAY0)
    study.clock.now = DAY0 + dt.timedelta(hours=2)
    assert text(study.app, "STOP", sender=PHONES["F001"]) is None  # Ann texts STOP to the study
    finish(study.store, member_case(study.store, "F002"), DAY0 + dt.timedelta(hours=3))
    eve = study.store.get_member(PANEL, external_id="F005")
    assert eve is not None
    study.store.withdraw_member(
        eve.id, "stop_contact", actor="member:link", by_staff=False, via="link", now=DAY0
    )
    assert study.run(MORNING) == []
    assert [study.detail(m) for m in ("F001", "F002", "F005")] == [None, None, None]


def test_a_member_who_started_on_the_web_is_not_texted_by_a_not_started_step(
    study: Study,
) -> None:
    study.run(DAY0)
    service = get_host(study.app).service
    service.start(
        "sms_short",
        mode="web",
        actor="respondent",
        now=DAY0,
        case_id=member_case(study.store, "F005"),
    )
    sent = study.run(MORNING)
    assert sorted(form["To"] for form in sent) == sorted([PHONES["F001"], PHONES["F002"]])


def test_a_worker_stopped_after_the_text_was_handed_over_never_texts_twice(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # to: not_started: the step is followed through though its own text started the interview
    study = set_up(database_url, monkeypatch, tmp_path)
    try:
        study.run(DAY0)
        assert PHONES["F001"] in [f["To"] for f in study.run(MORNING, study.worker("stops"))]
        # what a worker that stopped after the channel took the text (its answer recorded:
        # 'sent') and before the step's record leaves: the try still going, the member held
        case = member_case(study.store, "F001")
        with study.store.engine.begin() as connection:
            connection.execute(
                panel_messages.update()
                .where(panel_messages.c.case_id == case, panel_messages.c.kind == "sms_interview")
                .values(state="sending", detail=None)
            )
            connection.execute(
                wave_members.update()
                .where(wave_members.c.case_id == case)
                .values(
                    next_due=MORNING,
                    claimed_by="stops",
                    claimed_until=MORNING + dt.timedelta(minutes=10),
                )
            )
        assert study.run(MORNING + dt.timedelta(minutes=5), study.worker("early")) == []
        assert study.run(MORNING + dt.timedelta(minutes=11), study.worker("takes_over")) == []
        assert study.detail("F001") == {
            "mode": "sms",
            "texted": True,
            "contact": "phone:1",
            "tries": 2,
        }
        assert [dict(r.form)["To"] for r in study.twilio.requests].count(PHONES["F001"]) == 1
    finally:
        study.store.close()


def test_a_phone_shared_with_a_member_texting_another_interview_is_not_taken_over(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = MEMBERS.replace("07911 123777", "07911 123456")  # F005 shares F001's phone
    study = set_up(database_url, monkeypatch, tmp_path, shared)
    try:
        study.run(DAY0)
        sent = study.run(MORNING)
        assert Counter(form["To"] for form in sent) == {PHONES["F001"]: 1, PHONES["F002"]: 1}
        why = [study.detail(m) for m in ("F001", "F005")]
        assert sorted(str(d.get("why")) for d in why if d is not None) == [
            "None",
            "the number's texts answer another case's interview now",
        ]
    finally:
        study.store.close()


def test_two_workers_never_text_the_same_member_twice(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = "external_id,status,language,email,phone,n_children\n" + "".join(
        f"M{i:03d},active,en,m{i}@example.org,07911 {200000 + i},1\n" for i in range(16)
    )
    study = set_up(database_url, monkeypatch, tmp_path, members)
    second = open_store(database_url)
    try:
        study.run(DAY0)
        study.clock.now = MORNING
        workers = [study.worker("one"), study.worker("two", second)]
        for worker in workers:
            worker.batch = 3  # several rounds each, interleaved
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(worker: FieldworkWorker) -> None:
            try:
                start.wait()
                while worker.run_round().claimed:
                    pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        numbers = Counter(dict(r.form)["To"] for r in study.twilio.requests)
        assert len(numbers) == 16 and set(numbers.values()) == {1}
    finally:
        second.close()
        study.store.close()


# ---------------------------------------------------------------------------- the wave file


def test_the_step_reads_and_the_plan_keeps_its_day_time_and_audience() -> None:
    wave, diagnostics = load_wave_text(WAVE, "w.yaml", ("email", "sms", "letter"))
    assert wave is not None, diagnostics.errors
    step = wave.steps[1]
    assert (step.kind, step.day, step.audience, step.key) == (
        "sms_interview",
        1,
        "not_started",
        "day1-sms_interview",
    )
    assert step.sms is not None and step.sms.mode is None
    named, _ = load_wave_text(
        WAVE.replace("sms_interview:\n", "sms_interview: sms\n"), "w", ("email", "sms")
    )
    assert named is not None and named.steps[1].sms is not None
    assert named.steps[1].sms.mode == "sms" and named.steps[1].audience == "not_started"


def test_the_plan_texts_only_a_number_the_sms_channel_may_use_and_waits_for_quiet_hours() -> None:
    wave, _ = load_wave_text(WAVE, "w.yaml", ("email", "sms", "letter"))
    assert wave is not None
    phone = Address("phone", "phone:1")
    invited = (Done("day0-invitation", DAY0, "email"),)
    member = MemberState("K1", (Address("email", "email:1"), phone), done=invited, language="en")
    step_time = wave.step_time(wave.steps[1])  # day 1, 21:30 in London
    (due,) = [a for a in pending_actions(wave, member, DAY0) if a.kind == "sms_interview"]
    assert due.due == MORNING and due.address == "phone:1"
    assert step_time < due.due  # 21:30 is in the quiet hours (21:00-08:00): 08:00 next day
    at_night = dt.datetime(2027, 3, 3, 23, 0, tzinfo=dt.UTC)
    assert [a.kind for a in due_actions(wave, member, at_night)] == []
    assert [a.kind for a in due_actions(wave, member, MORNING)] == ["sms_interview"]
    refused = Address("phone", "phone:1", failed_channels=frozenset({"sms"}))  # opted out
    for nobody in (
        dataclasses.replace(member, stopped_channels=frozenset({"sms"})),  # STOP to our texts
        dataclasses.replace(member, addresses=(member.addresses[0], refused)),
        dataclasses.replace(member, addresses=member.addresses[:1]),  # no phone
        dataclasses.replace(member, started=True),  # to: not_started
        dataclasses.replace(member, finished=True),
        dataclasses.replace(member, withdrawn=True),
        dataclasses.replace(member, opted_out=True),
    ):
        assert [a.kind for a in due_actions(wave, nobody, MORNING)] in ([], ["close"])
    done = dataclasses.replace(member, done=(*invited, Done("day1-sms_interview", MORNING)))
    assert due_actions(wave, done, MORNING + dt.timedelta(hours=1)) == []  # never twice


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            ("sms_interview:\n", "sms_interview: [sms]\n"),
            "15:20: error: sms_interview is left empty (the questionnaire's text-message mode), "
            "names the mode, such as sms_interview: sms, or is a mapping of mode, max_attempts "
            "and retry_after; not a list",
        ),
        (
            ("    to: not_started\n", "    to: not_started\n    channels: [sms]\n"),
            "unknown key 'channels' in a sms_interview step",
        ),
        (
            ("sms_interview:\n", "sms_interview:\n    move_to: phone\n"),
            "13:5: error: a step does one of send, move_to, automated_call, sms_interview or "
            "close (this one: move_to and sms_interview)",
        ),
    ],
)
def test_a_wrong_step_is_an_error_at_its_line(change: tuple[str, str], error: str) -> None:
    wave, diagnostics = load_wave_text(WAVE.replace(*change), "w.yaml", ("email", "sms"))
    assert wave is None
    assert any(error in str(d) for d in diagnostics.errors), [str(d) for d in diagnostics.errors]


def check(tmp_path: Path, wave_text: str, questionnaire: str = "sms_short.yaml") -> tuple[int, str]:
    shutil.copy(DATA / questionnaire, tmp_path / "sms_short.yaml")
    path = tmp_path / "sms_short.wave1.yaml"
    path.write_text(wave_text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(path)])
    return result.exit_code, result.output


def test_instrument_check_wants_a_questionnaire_asked_by_text(tmp_path: Path) -> None:
    code, output = check(tmp_path, WAVE)
    assert code == 0, output
    path = tmp_path / "sms_short.wave1.yaml"
    web_only = (DATA / "sms_short.yaml").read_text(encoding="utf-8")
    (tmp_path / "web.yaml").write_text(web_only.replace("modes: [web, sms]", "modes: [web]"))
    code, output = check(tmp_path, WAVE.replace("sms_short.yaml", "web.yaml"))
    assert code == 1
    assert (
        f"{path}:13:5: error: sms_interview, but the questionnaire is not asked by text "
        "message: list sms in its modes (it has: web)"
    ) in output
    code, output = check(tmp_path, WAVE.replace("sms_interview:\n", "sms_interview: web\n"))
    assert code == 1
    assert (
        f"{path}:13:5: error: sms_interview: 'web' is not a mode of the questionnaire asked by "
        "text message (it has: sms)"
    ) in output


# ---------------------------------------------------------------------------- the invitation's words


LINK = "https://survey.example.org/web/t/abc"


@pytest.mark.parametrize(
    ("language", "template", "says"),
    [
        ("en", "invitation", "or reply to this text to answer by text."),
        ("en", "reminder", "or reply to this text to answer by text."),
        ("cy", "invitation", "neu atebwch y neges hon i ateb drwy neges destun."),
        ("cy", "reminder", "neu atebwch y neges hon i ateb drwy neges destun."),
    ],
)
def test_the_sms_templates_say_a_reply_answers_only_when_it_does(
    language: str, template: str, says: str
) -> None:
    def body(reply_by_text: bool | None) -> str:
        context: dict[str, Any] = {"study": "Health panel"}
        if reply_by_text is not None:
            context["reply_by_text"] = reply_by_text
        message = OutgoingMessage(
            channel="sms",
            to="+447911123456",
            template=template,
            language=language,
            idempotency_key="k",
            personal_link=LINK,
            context=context,
        )
        return sms_body(TemplateRenderer(), message)

    assert says in body(True)
    assert says not in body(False) and says not in body(None)  # a study's old context too
    assert body(True).replace(f" {says}", "") == body(False)
    assert LINK in body(True) and "STOP" in body(True)


SMS_WAVE = WAVE.replace("channels: [email]", "channels: [sms]").replace(
    "{email: invitation}", "{sms: invitation}"
)


def test_the_worker_says_so_in_the_sms_invitation_when_the_questionnaire_is_asked_by_text(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    study = set_up(database_url, monkeypatch, tmp_path, wave_text=SMS_WAVE)
    try:
        sent = {form["To"]: form["Body"] for form in study.run(DAY0)}
        assert "or reply to this text to answer by text." in sent[PHONES["F001"]]
        assert "neu atebwch y neges hon i ateb drwy neges destun." in sent[PHONES["F002"]]
    finally:
        study.store.close()


def test_a_wave_not_asked_by_text_does_not_offer_a_reply(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    web_only = (DATA / "sms_short.yaml").read_text(encoding="utf-8")
    (tmp_path / "web_only.yaml").write_text(
        web_only.replace("modes: [web, sms]", "modes: [web]"), encoding="utf-8"
    )
    plan = SMS_WAVE.replace(
        '  - day: 1\n    at: "21:30"\n    sms_interview:\n    to: not_started\n', ""
    )
    study = set_up(
        database_url, monkeypatch, tmp_path, wave_text=plan, source=tmp_path / "web_only.yaml"
    )
    try:
        sent = [form["Body"] for form in study.run(DAY0)]
        assert len(sent) == 3
        assert not any("reply to this text" in b or "atebwch y neges hon" in b for b in sent)
        assert all("STOP" in b for b in sent)
    finally:
        study.store.close()
