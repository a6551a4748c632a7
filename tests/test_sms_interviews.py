"""The SMS interview mode end to end: the real app on a real store (SQLite and PostgreSQL),
every inbound text signed as Twilio signs it (twilio's RequestValidator over the public URL).

A respondent texts their access code, answers one question per message (DK, a refusal, a
reply that does not fit), texts STOP mid-interview and START again; retried webhooks are
answered alike and store once; an interview begun on the web goes on by text; the first text
of a conversation we start goes through the SMS channel to a fake Twilio (no network).
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from flask import Flask
from twilio.request_validator import RequestValidator

from instrument.interviews import Answers, Seen
from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument.store.ivr_calls import access_code_key
from instrument.store.schema import answer_events, ivr_calls, ivr_turns
from instrument.values import DK, REFUSED
from instrument_phone.sms.conversations import Conversation, conversation_ids, number_key
from instrument_phone.sms.starting import start_conversations
from instrument_phone.telephony.config import TELEPHONY_VARIABLES
from tests.store_fixtures import *

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
from test_channels_sms import ACCOUNT as CHANNEL_ACCOUNT
from test_channels_sms import TOKEN as CHANNEL_TOKEN
from test_channels_sms import FakeTwilioMessaging

SHORT = TESTS / "data" / "sms_short.yaml"
ONS = TESTS.parent / "questionnaires" / "examples" / "ons_household.yaml"
PUBLIC = "https://survey.example.org"
TOKEN = "0123456789abcdef" * 2
ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": "AC" + "ab" * 16,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": "+442071234567",
    "INSTRUMENT_PUBLIC_URL": PUBLIC,
}
SECRET = "test-secret"
T0 = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)
PHONE = "+447700900123"
_SIDS = itertools.count(1)


def make_app(
    database_url: str, questionnaire: Path, clock: Callable[[], dt.datetime] = lambda: T0
) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(questionnaire)],
            "CLOCK": clock,
        }
    )


def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio's settings as these tests sign with, none of the machine's own."""
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    twilio_env(monkeypatch)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEYS", raising=False)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    built = make_app(database_url, SHORT)
    yield built
    get_host(built).store.close()


def store_of(app: Flask) -> Store:
    return get_host(app).store


def post(app: Flask, form: dict[str, str], signature: str | None = None) -> Any:
    url = f"{PUBLIC}/sms/inbound"
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return app.test_client().post("/sms/inbound", data=form, headers=headers)


def text(app: Flask, body: str, *, sender: str = PHONE, sid: str | None = None) -> str | None:
    """Text ``body``; the reply's words (None: an empty response, nothing sent back)."""
    form = {
        "MessageSid": sid or f"SM{next(_SIDS):032x}", "AccountSid": ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"],
        "From": sender, "To": "+447400123456", "Body": body, "NumSegments": "1",
    }  # fmt: skip
    response = post(app, form)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.data)
    messages = [m.text or "" for m in root.iter("Message")]
    assert len(messages) <= 1
    return messages[0] if messages else None


def counts(app: Flask) -> tuple[int, int, int]:
    with store_of(app).engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (ivr_calls, ivr_turns, answer_events)
        )


def new_case(app: Flask, case_id: str = "c-1", questionnaire: str = "sms_short") -> str:
    store = store_of(app)
    store.put_case(case_id, questionnaire, {}, now=T0)
    return store.issue_access_code(
        questionnaire, case_id=case_id, key=access_code_key(SECRET), now=T0
    )


def conversation(app: Flask, number: str = PHONE) -> Any:
    (sid,) = conversation_ids(number, [number_key(SECRET)])
    return store_of(app).ivr_call(sid)


def values_of(app: Flask) -> tuple[Any, dict[str, Any]]:
    call = conversation(app)
    snapshot = get_host(app).service.load(call.interview_id)
    return snapshot, dict(snapshot.state.answers)


def test_unsigned_tampered_and_wrong_token_requests_get_403_and_store_nothing(app: Flask) -> None:
    form = {"MessageSid": "SM" + "a" * 32, "From": PHONE, "Body": "1234567890"}
    assert post(app, form, signature="").status_code == 403
    good = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/sms/inbound", form)
    assert post(app, {**form, "Body": "STOP"}, signature=good).status_code == 403  # tampered
    wrong = RequestValidator("f" * 32).compute_signature(f"{PUBLIC}/sms/inbound", form)
    assert post(app, form, signature=wrong).status_code == 403
    assert counts(app) == (0, 0, 0)


def test_a_short_questionnaire_by_text_with_dk_a_refusal_and_a_reply_that_does_not_fit(
    app: Flask,
) -> None:
    code = new_case(app)
    assert "access code" in (text(app, "Hello?") or "")  # no interview yet: the code is asked for
    assert "do not recognise" in (text(app, "1111111111") or "")
    first = text(app, code)
    assert first is not None and first.startswith("Thank you for taking part.\nHow is your health")
    assert "Reply DK if you don't know." in first
    assert text(app, "excellent").startswith("Sorry, that is not one of the answers.")  # type: ignore[union-attr]
    assert text(app, "Very good").startswith("Do you smoke?")  # type: ignore[union-attr]
    assert "Which of these" in (text(app, "dk") or "")
    assert "How many hours" in (text(app, "1 3") or "")
    assert "When did you move" in (text(app, "REF") or "")
    assert "Anything else" in (text(app, "25/12/2001") or "")
    assert text(app, "No thanks") == "That is all. Thank you!"
    snapshot, values = values_of(app)
    assert snapshot.state.outcome == "complete"
    assert values["health"] == 1 and values["smoke"] is DK and values["active"] == (1, 3)
    assert values["hours"] is REFUSED and values["moved"] == dt.date(2001, 12, 25)
    with store_of(app).engine.connect() as connection:
        modes = set(connection.scalars(sa.select(answer_events.c.mode)))
        assert modes == {"sms"}
        # who answered is the respondent, as on the web and by automated call; the mode says how
        assert set(connection.scalars(sa.select(answer_events.c.actor))) == {"respondent"}
    # the number is nowhere in the store: only its keyed hash names the conversation
    with store_of(app).engine.connect() as connection:
        for table in (ivr_calls, ivr_turns, answer_events):
            assert PHONE not in str(connection.execute(sa.select(table)).all())
    assert "already completed" in (text(app, "hello") or "")


def test_a_retried_message_is_answered_alike_and_stored_once(app: Flask) -> None:
    code = new_case(app)
    text(app, code)
    sid = "SM" + "e" * 32
    reply = text(app, "2", sid=sid)
    before = counts(app)
    assert text(app, "2", sid=sid) == reply  # Twilio's retry
    assert text(app, "1", sid=sid) == reply  # even if the body differed: the sid decides
    assert counts(app) == before
    assert values_of(app)[1]["health"] == 2


def test_stop_mid_interview_is_honoured_at_once_and_start_resumes(app: Flask) -> None:
    code = new_case(app)
    text(app, code)
    text(app, "2")
    events = counts(app)[2]
    assert text(app, "Stop.") is None  # nothing more is sent
    assert Conversation.from_json(conversation(app).state).stopped
    assert text(app, "1") is None  # still stopped: not read, not answered
    assert counts(app)[2] == events
    resumed = text(app, "START")
    assert resumed is not None and resumed.startswith("Welcome back.\nDo you smoke?")
    assert "Which of these" in (text(app, "yes") or "")  # YES is an answer, not an opt-in, now
    assert values_of(app)[1]["smoke"] == 1


def test_an_interview_begun_on_the_web_goes_on_by_text_and_back(app: Flask) -> None:
    code = new_case(app)
    service = get_host(app).service
    saved = service.start(
        "sms_short", mode="web", actor="respondent", now=T0, case_id="c-1", one_per_case=True
    )
    interview = saved.interview.id
    shown = service.show(interview, mode="web", actor="respondent", now=T0)
    for answers in ({}, {"health": 3}):
        step = shown.step
        outcome = service.answer(
            interview,
            Seen(shown.interview.revision, step.token),
            lambda _s, a=answers: Answers(a),
            mode="web", actor="respondent", now=T0, show_next=True,
        )  # fmt: skip
        shown = service.show(interview, mode="web", actor="respondent", now=T0)
        assert outcome.kind == "saved"
    assert (text(app, code) or "").startswith("Do you smoke?")  # where the web left it
    text(app, "2")
    # ... and back on the web: the text's answer is there, the web asks the next question
    shown = service.show(interview, mode="web", actor="respondent", now=T0)
    assert shown.step.questions[0].id == "active"
    outcome = service.answer(
        interview, Seen(shown.interview.revision, shown.step.token),
        lambda _s: Answers({"active": [2]}), mode="web", actor="respondent", now=T0,
    )  # fmt: skip
    assert outcome.kind == "saved"
    reply = text(app, "4")  # the conversation notices and asks where the interview is now
    assert reply is not None and reply.startswith("Welcome back.\nHow many hours")
    _, values = values_of(app)
    assert values["health"] == 3 and values["smoke"] == 2 and values["active"] == (2,)


def test_a_conversation_we_start_sends_the_first_question_through_the_sms_channel(
    app: Flask,
) -> None:
    from instrument_channels.sms import SmsChannel, SmsSettings

    store = store_of(app)
    store.put_case("c-1", "sms_short", {}, now=T0)
    store.set_phone_numbers("c-1", [PHONE])
    store.put_case("c-2", "sms_short", {}, now=T0)  # no number: passed over
    http = FakeTwilioMessaging()
    channel = SmsChannel(
        SmsSettings(CHANNEL_ACCOUNT, CHANNEL_TOKEN, sender="+447400123456"),
        http_client=http,
    )
    service = get_host(app).service
    done = start_conversations(
        service, "sms_short", send=channel.send, keys=[number_key(SECRET)], now=lambda: T0
    )
    assert (done.sent, done.failed, done.skipped) == (1, 0, 1)
    (sent,) = http.requests
    assert sent.url == f"https://api.twilio.com/2010-04-01/Accounts/{CHANNEL_ACCOUNT}/Messages.json"
    form = dict(sent.form)
    assert form["To"] == PHONE and form["From"] == "+447400123456"
    assert form["Body"].startswith("We would like to ask you a few short questions by text")
    assert "How is your health in general?\n1 Very good" in form["Body"]
    assert "Reply STOP" in form["Body"]
    # the reply comes to the webhook and answers it; a second run texts nobody again
    assert (text(app, "1") or "").startswith("Do you smoke?")
    again = start_conversations(
        service, "sms_short", send=channel.send, keys=[number_key(SECRET)], now=lambda: T0
    )
    assert again.sent == 0 and len(http.requests) == 1


def test_the_first_questions_of_a_questionnaire_by_others(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ONS's household roster, with sms added to its modes: the yes/no and the names."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    source = ONS.read_text(encoding="utf-8").replace(
        "modes: [web, cati]", "modes: [web, cati, sms]"
    )
    copy = tmp_path / "ons_household.yaml"
    copy.write_text(source, encoding="utf-8")
    app = make_app(database_url, copy)
    try:
        code = new_case(app, questionnaire="ons_household")
        first = text(app, code) or ""
        assert first.startswith("Do you live here?\n1 Yes\n2 No")
        second = text(app, "yes") or ""
        assert second and "Do you live here?" not in second
        snapshot, values = values_of(app)
        assert values["you_live_here"] == 1
    finally:
        get_host(app).store.close()


def test_stop_marks_the_number_do_not_contact_where_the_sms_channel_does(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrument.panel.crypto import PanelKeys, new_key
    from instrument.panel.members import lookup_form
    from instrument.store.schema import member_contacts
    from tests.panel_withdrawal_helpers import PHONES, set_up_panel

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    key = new_key()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", key)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    app = make_app(database_url, SHORT)
    store = store_of(app)
    try:
        panel = set_up_panel(store, PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS"))
        number = PHONES["R001"]
        hashed = panel.sealer.lookup_hash("phone", lookup_form("phone", number))

        def opted_out_at() -> Any:
            with store.engine.connect() as connection:
                return connection.scalar(
                    sa.select(member_contacts.c.opted_out_at).where(
                        member_contacts.c.lookup_hash == hashed
                    )
                )

        code = new_case(app)
        assert text(app, code, sender=number) is not None
        assert text(app, "STOP", sender=number) is None
        assert opted_out_at() == T0
        history = store.member_history(panel.member_ids["R001"])
        assert (history[-1].action, history[-1].actor) == ("opted_out", "member:sms")
        assert (text(app, "start", sender=number) or "").startswith("Welcome back.")
        assert opted_out_at() is None
    finally:
        store.close()
