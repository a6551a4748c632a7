"""``instrument try PATH --mode sms``: the terminal plays the text conversation itself (issue 14).

The real command through click's CliRunner, replies fed on standard input: each text with the
SMS parts it goes as, one question a text, HELP, STOP and START as on the line, the engine's
checks, the end. The texts the terminal shows are compared with the ones the real line sends for
the same replies: the first through the SMS channel to the SMS tests' fake Twilio, as
``instrument sms start`` sends it, then each answer of the real webhook to a signed reply, on
SQLite and PostgreSQL, in English and in Welsh.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask import Flask

from instrument.cli import cli
from instrument.engine import Engine
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.questionnaires import require
from instrument.server.app import get_host
from instrument_channels.sms import SmsChannel, SmsSettings
from instrument_console.texting import TextSession, text_header
from instrument_phone.sms.conversations import number_key
from instrument_phone.sms.starting import start_conversations
from tests.store_fixtures import *
from tests.test_channels_sms import ACCOUNT, TOKEN, FakeTwilioMessaging
from tests.test_sms_interviews import PHONE, SECRET, SHORT, T0, app, text

ENGLISH_REPLIES = [
    "hello",  # not an answer
    "2",
    "help",  # the question again
    "dk",
    "STOP",  # stops at once: nothing more is sent
    "1",  # not read while stopped
    "START",  # on where it stopped
    "1 3",
    "250",  # the engine's range check
    "7",
    "25/12/2001",
    "All good",
]
__all__ = ["app"]  # the SMS tests' app fixture, imported to be found

WELSH_REPLIES = [
    "cymorth",
    "Dim",
    "1",
    "Dechrau",
    "gwrthod",
    "2",
    "1",
    "8",
    "01/02/2003",
    "Dim byd",
]


def terminal(replies: list[str], language: str = "en") -> tuple[TextSession, list[str]]:
    """The conversation played by the terminal's session: the session and every line written."""
    q = require(SHORT, PluginFacade(get_plugin_manager()))
    engine = Engine(q)
    state = engine.start(now=T0, seed=1, mode="sms", language=language)
    lines: list[str] = []
    fed = iter(replies)

    def read(_prompt: str) -> str:
        try:
            return next(fed)
        except StopIteration:
            raise EOFError from None

    session = TextSession(engine, state, read=read, write=lines.append, now=lambda: T0)
    session.run()
    return session, lines


def real_line(app: Flask, replies: list[str], language: str) -> list[str]:
    """The texts the real line sends for ``replies``: the first as ``instrument sms start``
    sends it, then the webhook's answer to each reply (a reply answered with nothing sends none)."""
    store = get_host(app).store
    store.put_case("c-1", "sms_short", {}, now=T0)
    store.set_phone_numbers("c-1", [PHONE])
    store.enqueue_case("c-1", zone="Europe/London", language=language, window=None, now=T0)
    twilio = FakeTwilioMessaging()
    channel = SmsChannel(SmsSettings(ACCOUNT, TOKEN, sender="+447400123456"), http_client=twilio)
    started = start_conversations(
        get_host(app).service, "sms_short", send=channel.send, keys=[number_key(SECRET)],
        now=lambda: T0,
    )  # fmt: skip
    assert started.sent == 1
    sent = [dict(twilio.requests[0].form)["Body"]]
    for reply in replies:
        answered = text(app, reply)
        if answered is not None:
            sent.append(answered)
    return sent


@pytest.mark.parametrize(("language", "replies"), [("en", ENGLISH_REPLIES), ("cy", WELSH_REPLIES)])
def test_the_terminal_sends_what_the_real_line_sends(
    app: Flask, language: str, replies: list[str]
) -> None:
    session, _ = terminal(replies, language)
    assert session.state.outcome == "complete"
    assert session.texts == real_line(app, replies, language)


def test_try_mode_sms_plays_the_conversation_with_each_text_s_parts() -> None:
    lines = [*ENGLISH_REPLIES[:3], ":back", *ENGLISH_REPLIES[3:]]
    result = CliRunner().invoke(
        cli,
        ["try", str(SHORT), "--mode", "sms", "--seed", "1"],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "as a text-message conversation (sms)" in out
    # the first text is the invitation with the first question, as instrument sms start sends it
    assert "[text 1: 3 SMS parts, GSM-7, 329 characters]\nWe would like to ask you" in out
    assert "[text 3: 1 SMS part, GSM-7, 62 characters]\nDo you smoke?" in out
    assert "! :back is not something a texter can do" in out
    assert "(STOP: the conversation stops at once" in out
    assert "(not read: the conversation is stopped; START resumes it)" in out
    assert "Welcome back.\nWhich of these did you do last week?" in out
    assert "Enter a number between 0 and 100\nHow many hours" in out
    assert "That is all. Thank you!\n(the conversation is over)" in out
    assert "Outcome: complete" in out
    assert "active = 1 Walking, 3 Swimming" in out and "smoke = dk (don't know)" in out


def test_a_welsh_stop_word_is_confirmed_and_the_texts_say_why_they_cost_more() -> None:
    session, lines = terminal(["Dim", "1", "Dechrau"], "cy")
    assert session.texts[1] == (
        "Ni fyddwn yn anfon rhagor o negeseuon testun atoch. Atebwch START i'w cael eto."
    )
    assert session.texts[2].startswith("Croeso nôl.\nSut mae eich iechyd")
    assert text_header(3, session.texts[2]).startswith("[text 3: 4 SMS parts, UCS-2 because of ô")
    assert session.state.outcome == "partial"  # the input ran out: the interview is kept


def test_quit_keeps_a_partial_and_sends_no_end() -> None:
    session, lines = terminal(["1", ":quit"])
    assert session.state.outcome == "partial"
    assert "(you stopped texting: the interview stays a partial)" in lines
    assert "(the conversation is over)" not in lines
    assert session.texts[-1].startswith("Do you smoke?")
