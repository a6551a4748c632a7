"""``instrument check``'s warnings for questions a text message cannot ask well (instrument/sms/advice.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from instrument.cli import cli
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.questionnaires import require
from instrument.sms.advice import first_message, sms_advice

DATA = Path(__file__).parent / "data"


def test_long_lists_grids_and_long_texts_are_warned_of_at_their_line() -> None:
    q = require(DATA / "sms_check.yaml", PluginFacade(get_plugin_manager()))
    found = [(d.position.line, d.message) for d in sms_advice(q)]
    assert [line for line, _ in found] == [27, 31, 38, 44, 44, 44]
    assert "lists 10 options in one text (sms)" in found[0][1]
    assert "asked item by item, 2 messages" in found[1][1]
    assert "in en is sent by text (sms) as 3 SMS parts" in found[2][1]


def test_the_first_message_counted_is_the_one_sent() -> None:
    q = require(DATA / "sms_short.yaml", PluginFacade(get_plugin_manager()))
    message = first_message(q, q.questions["health"], "en")
    assert message.splitlines()[:3] == ["How is your health in general?", "1 Very good", "2 Good"]
    assert "Reply DK if you don't know." in message


def test_a_questionnaire_without_a_text_mode_gets_no_sms_warnings() -> None:
    q = require(DATA / "mini.yaml", PluginFacade(get_plugin_manager()))
    assert sms_advice(q) == []


def test_instrument_check_prints_them_with_file_and_line() -> None:
    result = CliRunner().invoke(cli, ["check", str(DATA / "sms_check.yaml")])
    assert "sms_check.yaml:27:5: warning: question 'long_list' lists 10 options" in result.output
    assert result.exit_code == 0


def test_an_option_whose_label_stops_texts_is_answered_by_its_number() -> None:
    q = require(DATA / "sms_check.yaml", PluginFacade(get_plugin_manager()))
    stops = [d.message for d in sms_advice(q) if "stops texts" in d.message]
    assert stops == [
        "question 'cigarettes': option 'Stop' (en) is a word that stops texts, so a reply of it "
        "alone stops the conversation; by text it is answered with its number, 3",
        "question 'cigarettes': option 'Dim' (cy) is a word that stops texts, so a reply of it "
        "alone stops the conversation; by text it is answered with its number, 1",
        "question 'cigarettes': option 'Stopio' (cy) is a word that stops texts, so a reply of "
        "it alone stops the conversation; by text it is answered with its number, 3",
    ]
