"""Panel members who reply to their SMS invitation answer by text, matched by their number
(issue 14), on SQLite and PostgreSQL.

The wave is opened as ``instrument wave open`` opens one, for a short questionnaire listing
``sms``; the fieldwork worker texts the invitations through the real SMS channel to the SMS tests'
fake Twilio (nothing leaves the machine); each reply is posted to the real app's ``/sms/inbound``,
signed as Twilio signs it. The number is matched by the panel's lookup hash only: a member
sharing a phone with another is asked for a code, never guessed; Welsh members stop, get help
and start again in Welsh. :func:`choose_case`'s rule is also tested on its own.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from instrument.panel.crypto import PanelKeys
from instrument.panel.members import lookup_form
from instrument.panel.wave_file import load_wave
from instrument.panelwork.opening import open_wave
from instrument.panelwork.worker import worker_for
from instrument.plugin_types import ContactChannel
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.questionnaires import require
from instrument.server.app import get_host
from instrument.store import Store
from instrument.store.ivr_calls import access_code_key
from instrument.store.panel_texted import TextedCase
from instrument.store.schema import (
    answer_events,
    interviews,
    ivr_calls,
    ivr_turns,
    member_contacts,
)
from instrument_channels.sms import SmsChannel
from instrument_phone.sms.conversations import Conversation, conversation_ids, number_key
from instrument_phone.sms.panel_replies import SEVERAL, choose_case
from tests.store_fixtures import *
from tests.test_channels_sms import FakeTwilioMessaging
from tests.test_channels_sms import settings as sms_settings
from tests.test_panel_waves_store import MEMBERS, OPENED, Panel, import_panel, member_case
from tests.test_sms_interviews import SECRET, make_app, text
from tests.test_sms_webhooks import twilio_and_panel_keys
from tests.test_web_support import FakeClock

DATA = Path(__file__).resolve().parent / "data"
DAY0 = dt.datetime(2027, 3, 2, 10, 0, tzinfo=dt.UTC)  # 10:00 in London (GMT in March)
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
    channels: [sms]
    templates: {sms: invitation}
  - close: day 28
"""


@dataclass
class Study:
    """The app, its store and panel, the fake Twilio behind the SMS channel, the clock."""

    app: Flask
    store: Store
    panel: Panel
    twilio: FakeTwilioMessaging
    clock: FakeClock

    def invite(self) -> list[dict[str, str]]:
        """The fieldwork worker's rounds at day 0: the texts it handed to Twilio."""
        channel = SmsChannel(sms_settings(), http_client=self.twilio)
        worker = worker_for(
            self.store,
            {"sms": ContactChannel("sms", "SMS", "phone", channel.send)},
            self.panel.keys,
            clock=self.clock,
            base_url="http://survey.test",
        )
        while worker.run_round().claimed:
            pass
        return [dict(request.form) for request in self.twilio.requests]

    def conversation(self, number: str) -> Any:
        (sid,) = conversation_ids(number, [number_key(SECRET)])
        return self.store.ivr_call(sid)

    def answers(self, number: str) -> dict[str, Any]:
        snapshot = get_host(self.app).service.load(self.conversation(number).interview_id)
        return dict(snapshot.state.answers)

    def opted_out_at(self, number: str) -> dt.datetime | None:
        hashed = self.panel.sealer.lookup_hash("phone", lookup_form("phone", number))
        with self.store.engine.connect() as connection:
            return connection.scalar(  # type: ignore[no-any-return]
                sa.select(member_contacts.c.opted_out_at).where(
                    member_contacts.c.lookup_hash == hashed
                )
            )


def set_up(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    members: str = MEMBERS,
    *,
    wave_text: str = WAVE,
    source: Path = DATA / "sms_short.yaml",
) -> Study:
    """The wave opened (``wave_text`` over the questionnaire ``source``), the clock at day 0."""
    key = twilio_and_panel_keys(monkeypatch)
    questionnaire = tmp_path / "sms_short.yaml"
    shutil.copy(source, questionnaire)
    wave_file = tmp_path / "sms_short.wave1.yaml"
    wave_file.write_text(wave_text, encoding="utf-8")
    clock = FakeClock(OPENED)
    app = make_app(database_url, questionnaire, clock)
    store = get_host(app).store
    panel = import_panel(store, PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS"), members)
    wave, diagnostics = load_wave(wave_file)
    assert wave is not None, diagnostics.errors
    parsed = require(questionnaire, PluginFacade(get_plugin_manager()))
    open_wave(store, wave, parsed, panel.links, source=wave_file, now=OPENED, actor="cli:tester")
    clock.now = DAY0
    return Study(app, store, panel, FakeTwilioMessaging(), clock)


@pytest.fixture
def study(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Study]:
    made = set_up(database_url, monkeypatch, tmp_path)
    yield made
    made.store.close()


def test_a_member_replies_to_the_sms_invitation_and_answers_by_text_without_a_code(
    study: Study,
) -> None:
    sent = study.invite()
    assert sorted(form["To"] for form in sent) == sorted(PHONES.values())  # F003 has no phone
    assert all("Reply STOP" in f["Body"] or "Atebwch STOP" in f["Body"] for f in sent)
    ann = PHONES["F001"]
    study.clock.now = DAY0 + dt.timedelta(minutes=20)
    first = text(study.app, "Hello, happy to help", sender=ann) or ""
    assert first.startswith("We would like to ask you a few short questions by text message.")
    assert "Thank you for taking part.\nHow is your health in general?" in first
    call = study.conversation(ann)
    assert call.case_id == member_case(study.store, "F001")
    # a reply at night is still answered: the member chose to text then (23:30 in London)
    study.clock.now = dt.datetime(2027, 3, 2, 23, 30, tzinfo=dt.UTC)
    assert (text(study.app, "2", sender=ann) or "").startswith("Do you smoke?")
    for reply in ("no", "1 2", "7", "25/12/2001"):
        assert text(study.app, reply, sender=ann)
    assert text(study.app, "All fine", sender=ann) == "That is all. Thank you!"
    values = study.answers(ann)
    assert values["health"] == 2 and values["smoke"] == 2 and values["active"] == (1, 2)
    with study.store.engine.connect() as connection:
        finished = connection.execute(
            sa.select(interviews.c.case_id, interviews.c.finished_at).where(
                interviews.c.id == call.interview_id
            )
        ).one()
        assert finished.case_id == member_case(study.store, "F001") and finished.finished_at
        assert set(connection.scalars(sa.select(answer_events.c.mode))) == {"sms"}
        for table in (ivr_calls, ivr_turns, answer_events, interviews):
            assert ann not in str(connection.execute(sa.select(table)).all())
    # a thank-you after the end is not taken for the start of anything else
    assert "already completed" in (text(study.app, "Thanks!", sender=ann) or "")


def test_a_number_several_members_were_invited_at_is_asked_for_a_code_never_guessed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = MEMBERS.replace("07911 123777", "07911 123456")  # F005 shares F001's phone
    study = set_up(database_url, monkeypatch, tmp_path, shared)
    try:
        study.invite()
        number = PHONES["F001"]
        reply = text(study.app, "yes ok", sender=number) or ""
        assert reply.startswith("More than one person was invited by text at this number")
        assert study.conversation(number).interview_id is None
        with study.store.engine.connect() as connection:
            assert connection.scalar(sa.select(sa.func.count()).select_from(interviews)) == 0
        # the access code of one of them settles it
        eve = member_case(study.store, "F005")
        code = study.store.issue_access_code(
            "sms_short", case_id=eve, key=access_code_key(SECRET), now=DAY0
        )
        assert "How is your health" in (text(study.app, code, sender=number) or "")
        assert study.conversation(number).case_id == eve
    finally:
        study.store.close()


def test_without_the_panel_keys_a_reply_is_asked_for_its_code(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    study.invite()
    monkeypatch.delenv("INSTRUMENT_PANEL_KEYS")
    reply = text(study.app, "hello", sender=PHONES["F001"]) or ""
    assert "reply with the access code" in reply
    assert study.conversation(PHONES["F001"]).interview_id is None


def test_a_welsh_member_answers_stops_and_starts_again_in_welsh(study: Study) -> None:
    study.invite()
    bryn = PHONES["F002"]
    first = text(study.app, "Helo", sender=bryn) or ""
    assert first.startswith("Hoffem ofyn ychydig o gwestiynau byr i chi drwy neges destun.")
    assert "Sut mae eich iechyd yn gyffredinol?\n1 Da iawn" in first
    assert "Atebwch CYMORTH i weld cwestiwn eto." in first
    assert (text(study.app, "cymorth", sender=bryn) or "").startswith("Sut mae eich iechyd")
    assert (text(study.app, "HELP", sender=bryn) or "").startswith("Sut mae eich iechyd")
    # DIM, a Welsh stop word the carriers do not know: honoured at once, confirmed by us
    confirmed = text(study.app, "Dim.", sender=bryn)
    assert (
        confirmed
        == "Ni fyddwn yn anfon rhagor o negeseuon testun atoch. Atebwch START i'w cael eto."
    )
    assert Conversation.from_json(study.conversation(bryn).state).stopped
    assert study.opted_out_at(bryn) == DAY0
    assert text(study.app, "1", sender=bryn) is None  # stopped: not read, not answered
    resumed = text(study.app, "Dechrau", sender=bryn) or ""
    assert resumed.startswith("Croeso nôl.\nSut mae eich iechyd")
    assert study.opted_out_at(bryn) is None
    # STOP, the carriers' word, works in Welsh too: Twilio confirms it, so we send nothing
    assert text(study.app, "STOP", sender=bryn) is None
    assert study.opted_out_at(bryn) == DAY0


# ---------------------------------------------------------------------------- the rule alone

T = dt.datetime(2027, 3, 2, 10, 0, tzinfo=dt.UTC)


def texted(case: str, member: int, minutes: int, questionnaire: str = "q") -> TextedCase:
    return TextedCase(case, 1, member, questionnaire, "en", T + dt.timedelta(minutes=minutes))


def test_the_case_is_the_one_whose_wave_texted_the_number_last() -> None:
    older, newer = texted("K1", 7, 0), texted("K2", 7, 30)
    assert choose_case([newer, older], lists_sms=lambda _q: True) == newer
    assert choose_case([], lists_sms=lambda _q: True) is None


def test_a_wave_not_asked_by_text_is_no_match_even_if_an_older_one_is() -> None:
    older, newer = texted("K1", 7, 0, "sms_q"), texted("K2", 7, 30, "web_q")
    assert choose_case([newer, older], lists_sms=lambda q: q == "sms_q") is None


def test_two_people_or_two_texts_at_once_are_several_not_a_guess() -> None:
    assert choose_case([texted("K1", 7, 30), texted("K2", 8, 0)], lists_sms=bool) == SEVERAL
    assert choose_case([texted("K1", 7, 30), texted("K2", 7, 30)], lists_sms=bool) == SEVERAL


def test_after_an_interview_by_text_only_a_newer_text_is_matched() -> None:
    invited = texted("K2", 7, 30)
    last_turn = T + dt.timedelta(minutes=45)
    assert choose_case([invited], lists_sms=bool, since=last_turn) is None
    assert choose_case([invited], lists_sms=bool, since=T) == invited


def test_the_store_lists_only_open_cases_texted_at_that_very_number(study: Study) -> None:
    study.invite()
    ann = study.panel.sealer.lookup_hash("phone", lookup_form("phone", PHONES["F001"]))
    (found,) = study.store.texted_open_cases(ann)
    assert found.case_id == member_case(study.store, "F001") and found.language == "en"
    assert found.questionnaire_id == "sms_short" and found.texted_at == DAY0
    cat = study.panel.sealer.lookup_hash("email", lookup_form("email", "cat@example.org"))
    assert study.store.texted_open_cases(cat) == ()
    study.store.mark_contact(ann, "opted_out", now=DAY0, actor="member:sms")
    assert study.store.texted_open_cases(ann) == ()  # a number that said STOP is not matched
