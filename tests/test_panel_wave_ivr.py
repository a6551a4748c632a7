"""A panel wave's members answer the automated dialler's calls, end to end (issues 13 and 14).

Issue 13's whole wave asks that the unfinished be completed "by IVR if available". Here the
flagship's wave (questionnaires/social_licence.wave1.yaml: invitations on day 0, the telephone
queue from day 14, the dialler from day 21 with at most two calls two days apart) is walked on a
frozen clock by the real fieldwork worker, which places its calls through the twilio SDK into the
fake REST API (tests/twilio_fake.py). Each placed call is then played as Twilio would play it: the
call simulator (``instrument_phone.ivr.simulator``) fetches the answer URL the worker gave Twilio
from the app the server builds (``create_app``, the same database), signs every request, follows
the TwiML and posts the call's status callbacks, while a caller who knows their answers keys them
(tests/ivr_respondent.py). Nobody's interview is written behind the app's back.

- Ann (English) answers the first call and completes the flagship;
- Bryn (Welsh) answers in Welsh, hangs up part way, and completes on the dialler's second call
  two days later, the interview resumed where it stopped;
- Eve's phone is never answered: two calls, then the step's limit.

Then the worker calls nobody again, and the wave's export (``instrument wave export``, read back
by pyreadstat) has Ann and Bryn complete with ``mode`` 3 (automated telephone call) and their
keyed values, Eve as not interviewed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyreadstat
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from ivr_respondent import KnowingCaller, questions_of
from twilio.request_validator import RequestValidator
from twilio_fake import FakeTwilioHttp

from instrument.cli import cli
from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument.store.schema import answer_events, calls, interviews, members
from instrument_phone.ivr.simulator import CallResult, CallSimulator, Outcome, WsgiTransport
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)
from tests.test_ivr_end_to_end import FLAGSHIP, FLAGSHIP_ANSWERS, assert_values_are_what_was_keyed
from tests.test_panel_automated_calls import (
    MORNING,
    NUMBERS,
    PUBLIC,
    SID,
    TOKEN,
    Walk,
    called,
    dispositions,
    queue_rows,
    twilio,  # noqa: F401 (the fixture)
    walk_for,
)
from tests.test_panel_waves_store import WAVE_FILE, import_panel, member_case, panel_keys

FRIDAY = MORNING + dt.timedelta(days=2)
"""Day 24, 09:00: the dialler's second call is due (``retry_after: 2d``)."""


def answers_for(n_children: int) -> dict[str, Any]:
    """The flagship's keypad answers for a member whose panel profile has ``n_children``: the
    caller says the same number (the questionnaire checks it against the profile's) and gives
    one age per child."""
    answers = dict(FLAGSHIP_ANSWERS)
    answers["n_children"] = n_children
    answers["child_age"] = FLAGSHIP_ANSWERS["child_age"][:n_children]
    return answers


@pytest.fixture
def served(database_url: str, twilio: FakeTwilioHttp) -> Iterator[tuple[Flask, list[dt.datetime]]]:
    """The app the server builds over the wave's database, Twilio configured (the ``twilio``
    fixture set the environment), on a clock the test moves with the worker's."""
    now = [MORNING]
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "panel-wave-ivr",
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(FLAGSHIP)],
            "CLOCK": lambda: now[0],
            "SERVER_NAME": "survey.test",
        }
    )
    yield app, now
    get_host(app).store.close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def placed_to(fake: FakeTwilioHttp, number: str) -> list[dict[str, str]]:
    """Every call the worker asked Twilio to place to ``number``, oldest first, each with the sid
    Twilio gave it (read from our calls table, where the worker kept Twilio's answer)."""
    forms = [
        {key: values[0] for key, values in form.items()}
        for form in called(fake)
        if form["To"][0] == number
    ]
    return forms


def sid_of(store: Store, form: dict[str, str]) -> str:
    attempt = int(parse_qs(urlsplit(form["Url"]).query)["attempt"][0])
    with store.engine.connect() as connection:
        sid = connection.scalar(
            sa.select(calls.c.provider_sid).where(calls.c.attempt_id == attempt)
        )
    assert sid, f"no Twilio sid kept for attempt {attempt}"
    return str(sid)


def play(
    app: Flask, store: Store, form: dict[str, str], policy: Any, answered_by: str = "human"
) -> CallResult:
    """The call Twilio places for ``form``, answered and played to its end."""
    simulator = CallSimulator(WsgiTransport(app), PUBLIC, TOKEN, rng=random.Random(7))
    return simulator.call(
        path_of(form["Url"]),
        policy,
        direction="outbound-api",
        call_sid=sid_of(store, form),
        respondent=form["To"],
        study_number=form["From"],
        status_callback=path_of(form["StatusCallback"]),
        extra_fields={"AnsweredBy": answered_by},
    )


def not_answered(app: Flask, store: Store, form: dict[str, str]) -> None:
    """Twilio's status callbacks of a call nobody picks up, signed as Twilio signs them."""
    path = urlsplit(form["StatusCallback"]).path
    for seq, status in enumerate(("initiated", "ringing", "no-answer")):
        posted = {
            "AccountSid": SID,
            "CallSid": sid_of(store, form),
            "CallStatus": status,
            "SequenceNumber": str(seq),
            "To": form["To"],
            "From": form["From"],
            "Direction": "outbound-api",
        }
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, posted)
        response = app.test_client().post(
            path, data=posted, headers={"X-Twilio-Signature": signature}
        )
        assert response.status_code == 204, (status, response.status_code)


def answer_modes(store: Store, case_id: str) -> set[str]:
    interview = store_interview_id(store, case_id)
    with store.engine.connect() as connection:
        return set(
            connection.scalars(
                sa.select(answer_events.c.mode).where(
                    answer_events.c.interview_id == interview, answer_events.c.kind == "answer"
                )
            )
        )


def store_interview_id(store: Store, case_id: str) -> str:
    """The case's one interview, whatever mode it was done in."""
    with store.engine.connect() as connection:
        (interview,) = connection.scalars(
            sa.select(interviews.c.id).where(interviews.c.case_id == case_id)
        ).all()
    return str(interview)


def pseudonym(store: Store, external_id: str) -> str:
    with store.engine.connect() as connection:
        return str(
            connection.scalar(
                sa.select(members.c.pseudonym).where(members.c.external_id == external_id)
            )
        )


def test_the_dialler_s_calls_complete_interviews_that_the_wave_s_export_shows_as_ivr(
    store: Store,
    database_url: str,
    served: tuple[Flask, list[dt.datetime]],
    twilio: FakeTwilioHttp,
    tmp_path: Path,
) -> None:
    app, app_clock = served
    panel = import_panel(store, panel_keys())
    walk: Walk = walk_for(panel)
    walk.to_day_21()
    ann, bryn, eve = (member_case(store, m) for m in ("F001", "F002", "F005"))
    assert {queue_rows(store)[c]["taken_by"] for c in (ann, bryn, eve)} == {"automated"}

    # Wednesday 09:00: the worker calls all three
    assert walk.at(MORNING).calls_placed == 3
    app_clock[0] = MORNING + dt.timedelta(minutes=1)
    (to_ann,) = placed_to(twilio, NUMBERS["F001"])
    ann_caller = KnowingCaller(questions_of(FLAGSHIP, "en"), answers_for(2))
    result = play(app, store, to_ann, ann_caller)
    assert result.outcome is Outcome.HANGUP, result.transcript()
    assert not ann_caller.unrecognised, ann_caller.unrecognised

    (to_bryn,) = placed_to(twilio, NUMBERS["F002"])
    bryn_first = KnowingCaller(
        questions_of(FLAGSHIP, "cy"), answers_for(1), language="cy", hang_up_at="flag_accept"
    )
    result = play(app, store, to_bryn, bryn_first)
    assert result.outcome is Outcome.CALLER_HUNG_UP, result.transcript()
    assert result.heard[0].language == "cy-GB", result.heard[:1]

    (to_eve,) = placed_to(twilio, NUMBERS["F005"])
    not_answered(app, store, to_eve)

    assert dispositions(store, ann) == [("ivr:outbound", "complete")]
    assert [d for _, d in dispositions(store, bryn)] == ["partial"]
    assert [d for _, d in dispositions(store, eve)] == ["no_answer"]
    assert queue_rows(store)[ann]["final"]

    # Nothing is due before Friday; on Friday Bryn and Eve get their second and last call
    for hours in (2, 24):
        assert walk.at(MORNING + dt.timedelta(hours=hours)).calls_placed == 0
    assert walk.at(FRIDAY).calls_placed == 2
    app_clock[0] = FRIDAY + dt.timedelta(minutes=1)
    assert len(placed_to(twilio, NUMBERS["F001"])) == 1  # Ann finished: never called again
    bryn_second = KnowingCaller(questions_of(FLAGSHIP, "cy"), answers_for(1), language="cy")
    result = play(app, store, placed_to(twilio, NUMBERS["F002"])[1], bryn_second)
    assert result.outcome is Outcome.HANGUP, result.transcript()
    asked_again = set(bryn_first.keyed) & set(bryn_second.keyed)
    assert not asked_again, f"asked again after the resume: {sorted(asked_again)}"
    not_answered(app, store, placed_to(twilio, NUMBERS["F005"])[1])

    assert [d for _, d in dispositions(store, bryn)] == ["partial", "complete"]
    assert [d for _, d in dispositions(store, eve)] == ["no_answer", "no_answer"]
    assert walk.at(FRIDAY + dt.timedelta(days=3)).calls_placed == 0  # the step's two calls
    assert len(called(twilio)) == 5

    # the interviews hold what was keyed, every answer in the ivr mode
    service = get_host(app).service
    for case_id, keyed in (
        (ann, ann_caller.keyed),
        (bryn, {**bryn_first.keyed, **bryn_second.keyed}),
    ):
        interview = service.load(store_interview_id(store, case_id))
        assert interview.record.status == "complete"
        assert_values_are_what_was_keyed(interview, keyed)
        assert answer_modes(store, case_id) == {"ivr"}

    # the wave's export: Ann and Bryn complete by automated call, Eve not interviewed
    out = tmp_path / "out"
    exported = CliRunner().invoke(
        cli,
        ["wave", "export", str(WAVE_FILE), "--out", str(out), "--database", database_url,
         "--format", "sav"],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    (sav,) = out.glob("*.sav")
    frame, meta = pyreadstat.read_sav(str(sav))
    rows = {row["member_id"]: row for row in frame.to_dict("records")}
    mode_labels = meta.variable_value_labels["mode"]
    for member in ("F001", "F002"):
        row = rows[pseudonym(store, member)]
        assert mode_labels[row["mode"]].lower().startswith("automated"), mode_labels
        assert row["mode"] == 3 and row["mode_switch"] == 0
    assert rows[pseudonym(store, "F002")]["language"] == 2  # cy, the questionnaire's second
    eve_row = rows[pseudonym(store, "F005")]
    assert meta.variable_value_labels["outcome"][eve_row["outcome"]] == "No interview in this wave"
