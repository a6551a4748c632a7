"""The automated calls' webhooks end to end: the real app on a real store (SQLite and PostgreSQL),
every request signed as Twilio signs it (twilio's RequestValidator over the public URL).

A tiny caller follows the TwiML (a ``<Gather>``'s action with keys, its ``<Redirect>`` on
silence, a ``<Redirect>`` alone to go on, ``<Hangup>``); the general call simulator is
``instrument_phone.ivr.simulator``'s business, not this file's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from flask import Flask
from store_fixtures import *
from test_phone_telephony import ENV, PUBLIC, TOKEN
from twilio.request_validator import RequestValidator

from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument.store.ivr_calls import access_code_key
from instrument.store.schema import answer_events, ivr_calls, ivr_turns
from instrument.values import DK, REFUSED
from instrument_phone.ivr.webhooks import CODE_TRIES, outbound_answer_url
from instrument_phone.telephony.config import TELEPHONY_VARIABLES, TwilioSettings
from tests.fieldwork_store_helpers import Win

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
T0 = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)
SECRET = "test-secret"
PROFILE = {"profile_n_children": 2, "profile_age_band": 2, "profile_lone_parent": 2}
CALLER = "+447700900123"


def sid(n: int) -> str:
    return f"CA{n:032x}"


def ivr_app(database_url: str, monkeypatch: pytest.MonkeyPatch, questionnaire: Path) -> Flask:
    """The app serving ``questionnaire`` with Twilio configured (the telephone tests' account)."""
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(questionnaire)],
            "CLOCK": lambda: T0,
        }
    )


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    built = ivr_app(database_url, monkeypatch, FLAGSHIP)
    yield built
    get_host(built).store.close()


def store_of(app: Flask) -> Store:
    return get_host(app).store


def signed_post(app: Flask, url: str, form: dict[str, str], signature: str | None = None) -> Any:
    """POST ``form`` to the public ``url`` as Twilio would, signed unless ``signature`` is given."""
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(url, form)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return app.test_client().post(path, data=form, headers=headers)


class Caller:
    """One call: follows the TwiML it is given, keys what the script says."""

    def __init__(self, app: Flask, call_sid: str, start_url: str) -> None:
        self.app, self.sid = app, call_sid
        self.heard: list[str] = []
        self.hung_up = False
        self.twiml = self.post(start_url, {})

    def post(self, url: str, extra: dict[str, str]) -> str:
        form = {"CallSid": self.sid, "AccountSid": ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"]}
        form |= {"From": CALLER, **extra}
        response = signed_post(self.app, url, form)
        assert response.status_code == 200, response.data
        text = response.get_data(as_text=True)
        root = ElementTree.fromstring(text.encode("utf-8"))
        self.heard += [say.text or "" for say in root.iter("Say")]
        self.hung_up = root.find("Hangup") is not None
        redirect = root.find("Redirect")
        asks = root.find("Gather") is not None or root.find("Record") is not None
        if not asks and redirect is not None and redirect.text:
            return self.post(redirect.text, {})  # information: on without keys
        return text

    def press(self, keys: str | None) -> str:
        """Key ``keys`` (None: stay silent until the gather times out); at a ``<Record>``,
        speak for a few seconds and end with ``#`` (None: say nothing)."""
        assert not self.hung_up, self.heard[-3:]
        root = ElementTree.fromstring(self.twiml.encode("utf-8"))
        gather, redirect, record = root.find("Gather"), root.find("Redirect"), root.find("Record")
        if record is not None and keys is not None:
            recording = f"RE{len(self.heard):032x}"
            self.twiml = self.post(
                record.attrib["action"],
                {
                    "RecordingSid": recording,
                    "RecordingUrl": f"https://api.twilio.com/2010-04-01/Recordings/{recording}",
                    "RecordingDuration": "4",
                    "Digits": "#",
                },
            )
        elif keys is None:
            assert redirect is not None and redirect.text
            self.twiml = self.post(redirect.text, {})
        else:
            assert gather is not None
            self.twiml = self.post(gather.attrib["action"], {"Digits": keys})
        return self.twiml


def inbound(app: Flask, n: int) -> Caller:
    """An inbound call; where the line offers a choice of language (the flagship is in English
    and Welsh), the caller keys English, the language of these tests' words."""
    caller = Caller(app, sid(n), f"{PUBLIC}/ivr/voice")
    if "For English, press 1." in caller.heard:
        caller.press("1")
    return caller


def new_case(app: Flask, case_id: str = "c-1") -> str:
    store = store_of(app)
    store.put_case(case_id, "social_licence", PROFILE, now=T0)
    return store.issue_access_code(
        "social_licence", case_id=case_id, key=access_code_key(SECRET), now=T0
    )


def counts(app: Flask) -> tuple[int, int, int]:
    with store_of(app).engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (ivr_calls, ivr_turns, answer_events)
        )


def interview_of(app: Flask, call_sid: str) -> Any:
    call = store_of(app).ivr_call(call_sid)
    assert call is not None and call.interview_id is not None
    return get_host(app).service.load(call.interview_id)


# ---------------------------------------------------------------------- signatures


@pytest.mark.parametrize("how", ["missing", "tampered", "wrong_url", "wrong_token"])
def test_unsigned_requests_get_403_and_store_nothing(app: Flask, how: str) -> None:
    url = f"{PUBLIC}/ivr/voice"
    form = {"CallSid": sid(1), "From": CALLER}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    if how == "missing":
        response = signed_post(app, url, form, signature="")
    elif how == "tampered":
        response = signed_post(app, url, {**form, "Digits": "1"}, signature=signature)
    elif how == "wrong_url":
        other = RequestValidator(TOKEN).compute_signature("https://evil.example/ivr/voice", form)
        response = signed_post(app, url, form, signature=other)
    else:
        other = RequestValidator("f" * 32).compute_signature(url, form)
        response = signed_post(app, url, form, signature=other)
    assert response.status_code == 403
    turn = signed_post(app, f"{PUBLIC}/ivr/turn/{sid(1)}/1", {"Digits": "1"}, signature="bad")
    assert turn.status_code == 403
    assert counts(app) == (0, 0, 0)


def test_outbound_answer_url_is_under_the_public_url() -> None:
    settings = TwilioSettings(
        ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"], TOKEN, ENV["INSTRUMENT_TWILIO_CALLER_ID"], PUBLIC
    )
    assert outbound_answer_url(settings, "42") == f"{PUBLIC}/ivr/voice/outbound?attempt=42"


# ---------------------------------------------------------------------- the flagship by phone


def test_the_flagship_by_two_inbound_calls_with_a_hang_up_between(app: Flask) -> None:
    code = new_case(app)
    first = inbound(app, 1)
    # the flagship is in English and Welsh: the line offers both, and this caller keyed English
    assert first.heard == [
        "Hello. This is an automated survey call.",
        "For English, press 1.",
        "Helo. Galwad arolwg awtomatig yw hon.",
        "Am Gymraeg, pwyswch 2.",
        "Please key in the access code from your invitation, then press hash.",
    ]
    first.press(code + "#")
    assert any("parent or guardian" in words for words in first.heard)
    first.press(None)  # silence
    assert first.heard[-5] == "Sorry, I did not hear a key."
    first.press("5")  # not a key
    assert "Sorry, that key is not one of the answers." in first.heard
    first.press("1")  # a parent
    first.press("2#")  # two children
    first.press("7#")
    first.press("4#")
    first.press("8")  # heard of joining up records: don't know
    # the caller hangs up here: the interview is a partial to resume
    partial = interview_of(app, sid(1))
    assert not partial.state.finished and partial.state.mode == "ivr"
    second = inbound(app, 2)
    second.press("0000000000#")  # a wrong code first
    assert "Sorry, that code was not recognised." in second.heard[-1]
    second.press(code + "#")
    assert interview_of(app, sid(2)).record.id == partial.record.id  # resumed, not begun again
    second.press("9")  # refused, on the question the first call stopped before
    for _ in range(80):
        if second.hung_up:
            break
        second.press("1")
    assert second.hung_up and second.heard[-1] == "Thank you very much for taking part. Goodbye."
    done = interview_of(app, sid(2))
    values = done.engine.values(done.state)
    assert done.state.outcome == "complete"
    assert values["n_children"] == 2 and [values["child_age_1"], values["child_age_2"]] == [7, 4]
    assert any(v is DK for v in values.values()) and any(v is REFUSED for v in values.values())
    with store_of(app).engine.connect() as connection:
        modes = set(connection.scalars(sa.select(answer_events.c.mode)))
        actors = set(connection.scalars(sa.select(answer_events.c.actor)))
        events = connection.execute(sa.select(answer_events.c.variable, answer_events.c.kind)).all()
        paradata = connection.execute(
            sa.select(answer_events.c.value).where(answer_events.c.kind == "paradata")
        ).all()
    assert modes == {"ivr"}
    # who answered is the respondent, as on the web; which call it was is in the paradata
    assert actors == {"respondent"}
    calls = {row.value.get("call") for row in paradata}
    assert calls == {sid(1), sid(2)}
    answers = [key for key, kind in events if kind == "answer"]
    assert answers.count("n_children") == 1  # stored once
    # the study records (its fieldwork file): the comment was recorded after the caller's yes
    assert values["comment"].startswith("recording:RE") and "https" not in values["comment"]
    assert any("comment:ivr_recorded" in str(row) for row in paradata)
    notes = store_of(app).ivr_call(sid(2)).state["ivr_call"]  # type: ignore[union-attr]
    assert notes["recording"]["comment"]["consent"] is True
    assert notes["recording"]["comment"]["reference"] == values["comment"]


# ---------------------------------------------------------------------- idempotency


def test_a_retried_turn_gets_the_same_twiml_and_stores_once(app: Flask) -> None:
    code = new_case(app)
    call = inbound(app, 3)
    call.press(code + "#")
    url = ElementTree.fromstring(call.twiml.encode()).find("Gather").attrib["action"]  # type: ignore[union-attr]
    seq = int(url.rsplit("/", 1)[1])
    form = {"CallSid": sid(3), "Digits": "1", "From": CALLER}
    before = counts(app)
    once = signed_post(app, url, form)
    after_once = counts(app)
    twice = signed_post(app, url, form)
    assert once.status_code == twice.status_code == 200
    assert once.data == twice.data  # byte for byte
    assert counts(app) == after_once and after_once[1] == before[1] + 1
    # an out-of-order older turn, keyed differently: the stored answer, nothing changes
    late = signed_post(app, url, {**form, "Digits": "2"})
    assert late.data == once.data and counts(app) == after_once
    silence = signed_post(app, url + "/silence", {"CallSid": sid(3), "From": CALLER})
    assert silence.data == once.data and counts(app) == after_once
    state = store_of(app).ivr_call(sid(3))
    assert state is not None and state.seq == seq


def test_a_turn_retried_after_the_answer_was_saved_asks_the_next_step(app: Flask) -> None:
    """A crash between the answer's save and the turn's: the retry submits nothing again."""
    code = new_case(app)
    call = inbound(app, 4)
    call.press(code + "#")
    store = store_of(app)
    kept = store.ivr_call(sid(4))
    assert kept is not None
    call.press("1")  # parent: yes, saved with its turn
    with store.engine.begin() as connection:  # as if the turn had never been stored
        connection.execute(ivr_turns.delete().where(ivr_turns.c.seq == kept.seq + 1))
        connection.execute(ivr_calls.update().values(state=kept.state, seq=kept.seq))
    before = counts(app)
    retried = signed_post(
        app,
        f"{PUBLIC}/ivr/turn/{sid(4)}/{kept.seq + 1}",
        {"CallSid": sid(4), "Digits": "1", "From": CALLER},
    )
    assert retried.status_code == 200 and b"How many children" in retried.data
    assert counts(app)[2] == before[2]  # no answer stored again


# ---------------------------------------------------------------------- access codes


def test_wrong_codes_end_the_call_and_a_caller_is_throttled(app: Flask) -> None:
    code = new_case(app)
    call = inbound(app, 5)
    for _ in range(CODE_TRIES):
        call.press("1234567890#")
    assert call.hung_up and "could not recognise your code" in call.heard[-1]
    assert store_of(app).ivr_call(sid(5)).code_failures == CODE_TRIES  # type: ignore[union-attr]
    for n in range(6, 9):  # 3 more calls of wrong codes from the same caller id: 12 in all
        other = inbound(app, n)
        while not other.hung_up:
            other.press("1234567890#")
    late = inbound(app, 9)
    late.press(code + "#")  # the right code, but this caller id has used up its tries
    assert late.hung_up and "could not recognise your code" in late.heard[-1]
    assert store_of(app).ivr_call(sid(9)).interview_id is None  # type: ignore[union-attr]


def test_an_outbound_call_runs_its_attempts_case(app: Flask) -> None:
    store = store_of(app)
    store.put_case("c-9", "social_licence", PROFILE, now=T0)
    store.set_phone_numbers("c-9", ("+442079460009",), T0)
    window = Win(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=2))
    store.enqueue_case(
        "c-9", zone="Europe/London", language="en", priority=0, window=window, now=T0
    )
    claim = store.claim_next_case("ivr", now=T0)
    assert claim is not None
    settings = TwilioSettings(
        ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"], TOKEN, ENV["INSTRUMENT_TWILIO_CALLER_ID"], PUBLIC
    )
    call = Caller(app, sid(10), outbound_answer_url(settings, str(claim.attempt_id)))
    assert any("parent or guardian" in words for words in call.heard)
    call.press("1")
    record = store.ivr_call(sid(10))
    assert record is not None and record.direction == "outbound" and record.case_id == "c-9"
    interview = interview_of(app, sid(10))
    assert interview.record.case_id == "c-9" and interview.state.answers["parent"] == 1
    ended = signed_post(
        app, f"{PUBLIC}/ivr/status", {"CallSid": sid(10), "CallStatus": "completed"}
    )
    assert ended.status_code == 204 and store.ivr_call(sid(10)).ended_at is not None  # type: ignore[union-attr]
