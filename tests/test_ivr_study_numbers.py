"""A study's own telephone number (issue 14): ``telephony: numbers:`` in its fieldwork file.

An inbound call to a study's number (Twilio's ``To``) offers that study's languages only and
takes that study's access codes only; a call to any other number (the instance's) is as it was:
every served study's languages and codes. The study's automated calls show its number as their
caller id. The file's numbers are checked by libphonenumber, with file:line, and a number two
studies list is reported by ``instrument check`` and stops the server.

The served app on a real store (SQLite and PostgreSQL), every webhook signed and made by the call
simulator as Twilio makes it; placing goes to the fake Twilio API.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from store_fixtures import *
from test_ivr_end_to_end import (
    FLAGSHIP,
    ONS_HOUSEHOLD,
    PROFILE,
    SCHOOL_TRAVEL,
    build_app,
    new_case,
    simulator,
    store_of,
    with_ivr,
)
from test_ivr_language_line import ENGLISH, ENGLISH_CODE, MENU, WELSH, WELSH_CODE

from instrument import catalogue
from instrument.cli import cli
from instrument.fieldwork.settings import FieldworkSettings, TelephonySettings
from instrument.fieldwork.settings import load_fieldwork_text as read
from instrument.plugin_types import ModeSetupError
from instrument.server.app import get_host
from instrument.store import Store
from instrument_phone.ivr.simulator import HANGUP, CallResult
from tests.ivr_outbound_helpers import add_automated_case, place

SCHOOL_NUMBER = "+442920180001"  # Ofcom's numbers for drama: never a real line
ONS_NUMBER = "+442079460123"
INSTANCE_NUMBER = "+441632960000"  # the simulator's study number: one no study lists
WRONG = catalogue.text("en", "ivr", "wrong_code")


def with_numbers(source: Path, folder: Path, *numbers: str) -> Path:
    """A copy of a questionnaire served by ivr in ``folder``, with a fieldwork file beside it
    that lists ``numbers`` (and the original's fieldwork rules, where it has a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = with_ivr(source, folder)
    if copy == source:
        copy = folder / source.name
        shutil.copy(source, copy)
    listed = ", ".join(f'"{number}"' for number in numbers)
    (folder / f"{source.stem}.fieldwork.yaml").write_text(
        f"telephony:\n  numbers: [{listed}]\n", encoding="utf-8"
    )
    return copy


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Flask]:
    """The flagship (no number of its own), school_travel on SCHOOL_NUMBER and the ONS household
    example (English only) on ONS_NUMBER."""
    school = with_numbers(SCHOOL_TRAVEL, tmp_path / "school", SCHOOL_NUMBER)
    ons = with_numbers(ONS_HOUSEHOLD, tmp_path / "ons", ONS_NUMBER)
    built = build_app(database_url, monkeypatch, FLAGSHIP, school, ons)
    yield built
    get_host(built).store.close()


def call_to(app: Flask, number: str, script: list[Any], seed: int) -> CallResult:
    return simulator(app, seed).call(
        "/ivr/voice", script, study_number=number, status_callback="/ivr/status"
    )


def said(result: CallResult) -> list[tuple[str, tuple[str | None, str | None]]]:
    return [(h.text, (h.voice, h.language)) for h in result.heard]


# ---------------------------------------------------------------------- the study's own line


def test_a_call_to_an_english_only_studys_number_offers_no_choice_of_language(app: Flask) -> None:
    """The ONS example is in English only: on its number the call greets and asks for the code in
    English, where the instance's number (serving Welsh studies too) offers both languages."""
    own = call_to(app, ONS_NUMBER, [], seed=1)
    assert said(own) == [
        ("Hello. This is an automated survey call.", ENGLISH),
        (ENGLISH_CODE, ENGLISH),
    ]
    shared = call_to(app, INSTANCE_NUMBER, [], seed=2)
    assert said(shared)[:4] == MENU


def test_a_studys_number_takes_its_own_codes_and_no_other_studys(app: Flask) -> None:
    flagship = new_case(app, "social_licence", "f-1", PROFILE)
    ons = new_case(app, "ons_household", "o-1", {})
    result = call_to(app, ONS_NUMBER, [f"{flagship}#", f"{ons}#", HANGUP], seed=3)
    heard = [h.text for h in result.heard]
    assert heard[2] == WRONG  # the flagship's code is not the ONS study's
    assert "Do you live here?" in heard[3:]  # its own code begins its interview
    record = store_of(app).ivr_call(result.call_sid)
    assert record is not None and record.case_id == "o-1" and record.code_failures == 1
    assert record.interview_id is not None


def test_a_studys_number_offers_its_languages_and_the_caller_chooses(app: Flask) -> None:
    """school_travel is in English and Welsh: its number offers both, and a caller who keys 2
    is asked for the code in Welsh; an ONS code is wrong there, the study's own is taken."""
    school = new_case(app, "school_travel", "s-1", {})
    ons = new_case(app, "ons_household", "o-2", {})
    result = call_to(app, SCHOOL_NUMBER, ["2", f"{ons}#", f"{school}#", HANGUP], seed=4)
    assert said(result)[:5] == [*MENU, (WELSH_CODE, WELSH)]
    assert catalogue.text("cy", "ivr", "wrong_code") == result.heard[5].text
    record = store_of(app).ivr_call(result.call_sid)
    assert record is not None and record.case_id == "s-1" and record.code_failures == 1
    interview = get_host(app).service.load(record.interview_id)
    assert interview.state.language == "cy"


def test_the_instance_number_still_takes_every_studys_code(app: Flask) -> None:
    """A number no study lists keeps today's line: every served study's codes are taken there."""
    ons = new_case(app, "ons_household", "o-3", {})
    result = call_to(app, INSTANCE_NUMBER, ["1", f"{ons}#", HANGUP], seed=5)
    assert said(result)[:5] == [*MENU, (ENGLISH_CODE, ENGLISH)]
    record = store_of(app).ivr_call(result.call_sid)
    assert record is not None and record.case_id == "o-3" and record.code_failures == 0


def test_two_served_studies_with_one_number_stop_the_server(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    school = with_numbers(SCHOOL_TRAVEL, tmp_path / "school", SCHOOL_NUMBER)
    ons = with_numbers(ONS_HOUSEHOLD, tmp_path / "ons", ONS_NUMBER, SCHOOL_NUMBER)
    with pytest.raises(ModeSetupError, match=r"\+442920180001 is the number of both"):
        build_app(database_url, monkeypatch, school, ons)


# ---------------------------------------------------------------------- calls we place


def test_a_studys_automated_calls_show_its_number(store: Store) -> None:
    add_automated_case(store, "C1")
    settings = FieldworkSettings(telephony=TelephonySettings(numbers=(ONS_NUMBER, SCHOOL_NUMBER)))
    run = place(store, settings=settings)
    (sent,) = run.http.requests
    assert dict(sent.form)["From"] == ONS_NUMBER  # the first listed, not the instance's


# ---------------------------------------------------------------------- the fieldwork file


def test_numbers_are_read_in_e164_one_or_a_list() -> None:
    one, problems = read('telephony:\n  numbers: "+44 29 2018 0001"\n', "a.fieldwork.yaml")
    assert not problems.items and one.telephony.numbers == (SCHOOL_NUMBER,)
    two, problems = read(
        f'telephony:\n  numbers: ["{SCHOOL_NUMBER}", "{ONS_NUMBER}"]\n', "a.fieldwork.yaml"
    )
    assert not problems.items and two.telephony.numbers == (SCHOOL_NUMBER, ONS_NUMBER)
    assert [p.line for p in two.telephony.number_positions] == [2, 2]


def test_a_number_that_cannot_be_is_reported_where_it_is_written() -> None:
    text = (
        "telephony:\n"
        "  numbers:\n"
        '    - "029 2018 0001"\n'  # no country code
        '    - "+44 12"\n'  # too short for the UK
        "    - 442920180001\n"  # a number, not text
        f'    - "{ONS_NUMBER}"\n'
        f'    - "{ONS_NUMBER}"\n'
    )
    settings, problems = read(text, "study.fieldwork.yaml")
    found = [str(d) for d in problems.sorted()]
    assert found == [
        "study.fieldwork.yaml:3:7: error: telephony.numbers: '029 2018 0001' is not in E.164 "
        "form: write the number with + and its country code, such as +442920180001",
        "study.fieldwork.yaml:4:7: error: telephony.numbers: '+44 12' is not a valid phone "
        "number (country code +44: wrong length or prefix)",
        "study.fieldwork.yaml:5:7: error: telephony.numbers must be a phone number in E.164 "
        "such as +442920180001, not 442920180001",
        f"study.fieldwork.yaml:7:7: error: telephony.numbers: {ONS_NUMBER} is given twice "
        "(first at line 6)",
    ]
    assert settings.telephony.numbers == (ONS_NUMBER,)


def check(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["check", "--format", "json", *map(str, paths)])
    return result.exit_code, json.loads(result.stdout)["problems"]


def test_check_reports_a_number_two_studies_list(tmp_path: Path) -> None:
    school = with_numbers(SCHOOL_TRAVEL, tmp_path / "school", SCHOOL_NUMBER)
    ons = with_numbers(ONS_HOUSEHOLD, tmp_path / "ons", ONS_NUMBER, SCHOOL_NUMBER)
    code, problems = check(school, ons)
    assert code == 1
    errors = [p for p in problems if p["severity"] == "error"]
    assert len(errors) == 1
    (error,) = errors
    assert error["file"] == str(tmp_path / "ons" / "ons_household.fieldwork.yaml")
    assert error["line"] == 2
    first = tmp_path / "school" / "school_travel.fieldwork.yaml"
    assert error["message"] == (
        f"telephony.numbers: {SCHOOL_NUMBER} is also another study's number "
        f"({first}:2); a call to it could not tell the studies apart: give each "
        "study its own"
    )
    # the same study's file read twice (beside its questionnaire, and named) is one study
    code, problems = check(school, tmp_path / "school" / "school_travel.fieldwork.yaml")
    assert code == 0 and not [p for p in problems if p["severity"] == "error"]
