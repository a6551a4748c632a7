"""Automated calls end to end: the call simulator against the real webhooks (issue 14, "Tests").

The app is the real one (``create_app`` with Twilio configured, on SQLite and PostgreSQL);
every request is made by ``instrument_phone.ivr.simulator`` as Twilio makes it (signed over
the public URL, through the WSGI transport, in this process), and the caller is a policy
that listens to what is said and keys its answers (tests/ivr_respondent.py) or a random
respondent. What is checked is what the store holds afterwards: the interview's values,
each answer stored once, the paradata flags, and the harmonised export.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import re
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from flask import Flask
from ivr_respondent import ACCESS_CODE_WORDS, KnowingCaller, questions_of
from store_fixtures import *
from test_phone_telephony import ENV, PUBLIC, TOKEN
from test_web_support import Page, Respondent

from instrument.exporting import ExportRequest, run_export
from instrument.interviews import service as service_module
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.server.app import create_app, get_host
from instrument.store import Store
from instrument.store.ivr_calls import access_code_key
from instrument.store.schema import answer_events, ivr_turns
from instrument.values import DK, REFUSED
from instrument_phone.ivr.simulator import (
    ALL_REQUESTS,
    SILENCE,
    CallResult,
    CallSimulator,
    Invalid,
    Keys,
    Outcome,
    Policy,
    Prompt,
    WsgiTransport,
    random_respondent,
)
from instrument_phone.ivr.webhooks import outbound_answer_url
from instrument_phone.telephony.config import TELEPHONY_VARIABLES, TwilioSettings
from tests.fieldwork_store_helpers import Win

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
SCHOOL_TRAVEL = ROOT / "questionnaires" / "school_travel.yaml"
ONS_HOUSEHOLD = ROOT / "questionnaires" / "examples" / "ons_household.yaml"
T0 = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)
SECRET = "end-to-end-secret"
PROFILE = {"profile_n_children": 3, "profile_age_band": 4, "profile_lone_parent": 1}

# The flagship's "three children by telephone" answers, with what a keypad cannot give changed:
# "It depends" and "Something else" are not read out, so a call never offers them.
FLAGSHIP_ANSWERS: dict[str, Any] = {
    "parent": 1,
    "n_children": 3,
    "child_age": [14, 7, 2],
    "aware_linkage": 2,
    "heard_where": [1, 3],
    "aware_models": 3,
    "explain_clear": DK,
    "link_health": 1,
    "link_school": 2,
    "link_social_care": DK,
    "link_police": REFUSED,
    "link_benefits": 4,
    "purpose_planning": 1,
    "purpose_early_help": 1,
    "purpose_abuse": 2,
    "purpose_offending": DK,
    "purpose_exclusion": 3,
    "flag_accept": DK,
    "predict_accuracy": 4,
    "who_decides": 2,
    "fair_groups": 1,
    "fair_mistakes": DK,
    "main_concern": 3,
    "permission_needed": 2,
    "consent_family": REFUSED,
    "told_important": 1,
    "seek_help": 4,
    "trust_nhs": 1,
    "trust_school": 1,
    "trust_council": 2,
    "trust_police": DK,
    "trust_govt": 4,
    "trust_private": DK,
    "trust_uni": 2,
    "security_confidence": DK,
    "private_companies": 3,
    "help_contact": REFUSED,
}

SCHOOL_ANSWERS: dict[str, Any] = {
    "travel_date": dt.date(2026, 11, 12),
    "n_pupils": 2,
    "pupil_year": [2, 10],
    "pupil_mode": [1, 3],
    "pupil_distance": [0.6, 4.5],
    "barriers": [2, 4],
    "view_route_safe": 2,
    "view_parking": DK,
    "view_buses": 3,
    "cycle_more": 1,
}


def with_ivr(source: Path, folder: Path) -> Path:
    """The questionnaire itself if its modes include ``ivr``; else a copy with ``ivr`` added
    to its modes (nothing else changed)."""
    text = source.read_text(encoding="utf-8")
    modes = re.search(r"(?m)^\s*modes:\s*\[([^\]]*)\]", text)
    assert modes is not None, f"{source} names no modes"
    if "ivr" in [m.strip() for m in modes.group(1).split(",")]:
        return source
    copy = folder / source.name
    copy.write_text(text[: modes.end() - 1] + ", ivr" + text[modes.end() - 1 :], encoding="utf-8")
    return copy


def build_app(database_url: str, monkeypatch: pytest.MonkeyPatch, *paths: Path) -> Flask:
    for name in TELEPHONY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(p) for p in paths],
            "CLOCK": lambda: T0,
            "SERVER_NAME": "survey.test",
        }
    )


@pytest.fixture
def flagship_app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    app = build_app(database_url, monkeypatch, FLAGSHIP)
    yield app
    get_host(app).store.close()


def store_of(app: Flask) -> Store:
    return get_host(app).store


def simulator(app: Flask, seed: int = 1) -> CallSimulator:
    return CallSimulator(WsgiTransport(app), PUBLIC, TOKEN, rng=random.Random(seed))


def new_case(app: Flask, questionnaire_id: str, case_id: str, preload: Mapping[str, Any]) -> str:
    """A stored case and the access code of its invitation."""
    store = store_of(app)
    store.put_case(case_id, questionnaire_id, dict(preload), now=T0)
    return store.issue_access_code(
        questionnaire_id, case_id=case_id, key=access_code_key(SECRET), now=T0
    )


def call(app: Flask, policy: Policy | list[Any], seed: int = 1, **options: Any) -> CallResult:
    return simulator(app, seed).call("/ivr/voice", policy, status_callback="/ivr/status", **options)


def interview_of(app: Flask, result: CallResult) -> Any:
    record = store_of(app).ivr_call(result.call_sid)
    assert record is not None and record.interview_id is not None, result.transcript()
    return get_host(app).service.load(record.interview_id)


def answers_stored(app: Flask, interview_id: str) -> collections.Counter[str]:
    """How many answer events each variable has in the store."""
    with store_of(app).engine.connect() as connection:
        variables = connection.scalars(
            sa.select(answer_events.c.variable).where(
                answer_events.c.interview_id == interview_id, answer_events.c.kind == "answer"
            )
        ).all()
    return collections.Counter(variables)


def paradata_flags(app: Flask, interview_id: str) -> set[str]:
    with store_of(app).engine.connect() as connection:
        rows = connection.scalars(
            sa.select(answer_events.c.value).where(
                answer_events.c.interview_id == interview_id,
                answer_events.c.kind == "paradata",
            )
        ).all()
    return {row["ivr_flags"] for row in rows if isinstance(row, dict) and "ivr_flags" in row}


def assert_values_are_what_was_keyed(interview: Any, keyed: Mapping[str, Any]) -> None:
    values = interview.engine.values(interview.state)
    for variable, meant in keyed.items():
        stored = values[variable]
        if isinstance(meant, tuple):  # a multiple choice: all "no" is "none of these"
            assert tuple(sorted(stored)) == (meant or (97,)), variable
        else:
            assert stored == meant or stored is meant, (variable, stored, meant)


def interview_says(result: CallResult) -> list[Any]:
    """What was said once the access code was accepted: the interview's own words."""
    heard = result.heard
    asked = [i for i, h in enumerate(heard) if h.text in ACCESS_CODE_WORDS]
    return heard[asked[-1] + 1 :] if asked else heard


# ---------------------------------------------------------------------- the flagship by phone


def troubled_caller(code: str, language: str) -> KnowingCaller:
    """A first call of the flagship in ``language`` that goes wrong as calls do: silence, then a
    key that is no answer, at the first question; another wrong key later; a hang-up part way
    (at ``flag_accept``), leaving a partial for the next call to resume."""
    return KnowingCaller(
        questions_of(FLAGSHIP, language),
        FLAGSHIP_ANSWERS,
        code=code,
        language=language,
        before={"parent": [SILENCE, Invalid("5")], "aware_linkage": [Invalid("0")]},
        hang_up_at="flag_accept",
    )


def test_the_flagship_with_dk_refusal_silence_invalid_keys_a_hang_up_and_a_resume(
    flagship_app: Flask,
) -> None:
    app = flagship_app
    code = new_case(app, "social_licence", "c-1", PROFILE)
    questions = questions_of(FLAGSHIP, "en")
    first = troubled_caller(code, "en")
    one = call(app, first, seed=1).expect(Outcome.CALLER_HUNG_UP)
    assert "Sorry, I did not hear a key." in one.said
    assert "Sorry, that key is not one of the answers." in one.said
    partial = interview_of(app, one)
    assert not partial.state.finished and partial.record.mode == "ivr"
    assert partial.state.answers["parent"] == 1 and "flag_accept" not in partial.state.answers
    assert_values_are_what_was_keyed(partial, first.keyed)
    assert store_of(app).ivr_call(one.call_sid).ended_at is not None  # type: ignore[union-attr]

    second = KnowingCaller(questions, FLAGSHIP_ANSWERS, code=code, record_free_text=True)
    two = call(app, second, seed=2).expect(Outcome.HANGUP)
    assert not first.unrecognised and not second.unrecognised
    asked_again = {v for v in second.keyed if v in first.keyed}
    assert asked_again == set(), "the second call resumes where the first stopped"
    assert two.said[-1] == "Thank you very much for taking part. Goodbye."
    done = interview_of(app, two)
    assert done.record.id == partial.record.id
    assert done.state.outcome == "complete"
    assert_values_are_what_was_keyed(done, {**first.keyed, **second.keyed})
    values = done.engine.values(done.state)
    assert values["child_age_3"] == 2 and values["n_under5"] == 1
    assert values["explain_clear"] is DK and values["help_contact"] is REFUSED
    flags = paradata_flags(app, done.record.id)
    if second.consent_asked:  # the study records free text (its fieldwork file): a recording
        assert str(values["comment"]).startswith("recording:RE")
        assert "comment:ivr_recorded" in flags
    else:  # free text cannot be keyed: not answered, flagged
        assert values["comment"] is None and "comment:ivr_free_text_skipped" in flags
    counts = answers_stored(app, done.record.id)
    assert max(counts.values()) == 1, [v for v, n in counts.items() if n > 1]
    for result in (one, two):
        spoken = interview_says(result)
        assert spoken and {(h.voice, h.language) for h in spoken} == {("Polly.Amy", "en-GB")}


# ---------------------------------------------------------------------- Welsh and English


@pytest.fixture
def school_app(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Flask]:
    # school_travel.yaml runs in ivr since bf7654f; a copy with ivr added if it did not
    app = build_app(database_url, monkeypatch, with_ivr(SCHOOL_TRAVEL, tmp_path))
    yield app
    get_host(app).store.close()


@pytest.mark.parametrize(
    ("language", "voice", "thanks"),
    [
        ("cy", ("Polly.Gwyneth", "cy-GB"), "Diolch am eich atebion."),
        ("en", ("Polly.Amy", "en-GB"), "Thank you for your answers."),
    ],
)
def test_school_travel_is_completed_in_welsh_and_in_english(
    school_app: Flask, language: str, voice: tuple[str, str], thanks: str
) -> None:
    app = school_app
    code = new_case(app, "school_travel", f"s-{language}", {})
    # The line offers English and Welsh (school_travel's languages); the caller keys theirs at
    # the greeting, and the interview starts in it.
    caller = KnowingCaller(
        questions_of(SCHOOL_TRAVEL, language), SCHOOL_ANSWERS, code=code, language=language
    )
    result = call(app, caller, seed=3).expect(Outcome.HANGUP)
    assert not caller.unrecognised
    done = interview_of(app, result)
    assert done.record.case_id == f"s-{language}" and done.state.language == language
    assert done.state.outcome == "complete"
    assert_values_are_what_was_keyed(done, caller.keyed)
    assert set(caller.keyed) >= {"pupil_year_2", "pupil_distance_2", "view_parking", "barriers"}
    spoken = interview_says(result)
    assert {(h.voice, h.language) for h in spoken} == {voice}, [
        (h.text, h.language) for h in spoken if (h.voice, h.language) != voice
    ]
    assert result.said[-1] == thanks
    assert max(answers_stored(app, done.record.id).values()) == 1


# ---------------------------------------------------------------------- retries and duplicates


@pytest.mark.parametrize(
    "delivery",
    [
        {"retry": ALL_REQUESTS},
        {"duplicate": ALL_REQUESTS},
        {"retry": set(range(0, 200, 3)), "duplicate": set(range(1, 200, 4))},
    ],
    ids=["every-request-retried", "every-request-duplicated", "some-of-each"],
)
def test_retried_and_duplicated_webhooks_store_every_answer_once(
    flagship_app: Flask, delivery: dict[str, Any]
) -> None:
    app = flagship_app
    questions = questions_of(FLAGSHIP, "en")
    plain_code = new_case(app, "social_licence", "plain", PROFILE)
    plain_caller = KnowingCaller(questions, FLAGSHIP_ANSWERS, code=plain_code)
    plain = call(app, plain_caller, seed=4).expect(Outcome.HANGUP)
    code = new_case(app, "social_licence", "repeated", PROFILE)
    caller = KnowingCaller(questions, FLAGSHIP_ANSWERS, code=code)
    repeated = call(app, caller, seed=5, **delivery).expect(Outcome.HANGUP)
    sent_twice = [e for e in repeated.exchanges if e.delivery != "first"]
    assert len(sent_twice) >= 20  # the repeats really happened
    assert all(e.status == 200 for e in repeated.exchanges if e.purpose != "status-callback")
    done, reference = interview_of(app, repeated), interview_of(app, plain)
    assert done.state.outcome == "complete"
    assert_values_are_what_was_keyed(done, caller.keyed)
    counts = answers_stored(app, done.record.id)
    assert counts == answers_stored(app, reference.record.id)  # the same answers as one clean call
    assert set(counts.values()) == {1}
    with store_of(app).engine.connect() as connection:
        turns = dict(
            connection.execute(
                sa.select(ivr_turns.c.call_sid, sa.func.count())
                .where(ivr_turns.c.call_sid.in_([plain.call_sid, repeated.call_sid]))
                .group_by(ivr_turns.c.call_sid)
            ).all()
        )
    assert turns[repeated.call_sid] == turns[plain.call_sid]  # every turn stored once


# ---------------------------------------------------------------------- the export


MODE_COLUMNS = ("mode", "mode_first", "mode_switch")


def web_answers(respondent: Respondent, page: Page, answers: Mapping[str, Any]) -> Page:
    """Answer every page of the flagship on the web with ``answers`` (don't know and refused
    are offered after a skip, as ``web_missing: after_skip`` says), the comment typed."""
    for _ in range(60):
        names = page.names() - {"csrf_token", "form_state", "action"}
        if not page.tree.xpath("//form[contains(@class,'question-form')]"):
            return page
        given: dict[str, Any] = {}
        special: dict[str, Any] = {}
        for name in names:
            if name.endswith(("-missing", "_other")):
                continue
            value = _web_value(name, answers)
            if value is DK or value is REFUSED:
                special[name] = "dk" if value is DK else "refused"
            elif value is not None:
                given[name] = value
        if special:
            skipped = respondent.post(given)  # the skip that offers don't know and refused
            offered = skipped.names()
            for name, code in special.items():
                given[f"{name}-missing" if f"{name}-missing" in offered else name] = code
            page = respondent.answer(given, page=skipped)
        else:
            page = respondent.answer(given)
    raise AssertionError("the web interview did not end")


def _web_value(name: str, answers: Mapping[str, Any]) -> Any:
    if name == "comment":
        return "Parents should be told what is shared."
    if name in answers:
        value = answers[name]
        if isinstance(value, list):
            return [str(v) for v in value]
        return value if value is DK or value is REFUSED else str(value)
    looped = re.fullmatch(r"(.+)_(\d+)", name)
    if looped and isinstance(answers.get(looped.group(1)), list):
        value = answers[looped.group(1)][int(looped.group(2)) - 1]
        return value if value is DK or value is REFUSED else str(value)
    raise KeyError(f"the web asks {name}, which the answers do not give")


def export_rows(app: Flask, out: Path) -> pd.DataFrame:
    url = store_of(app).engine.url.render_as_string(hide_password=False)
    run_export(
        ExportRequest("social_licence", out, formats=["csv"], database=url, secret=b"k" * 32),
        PluginFacade(get_plugin_manager()),
    )
    return pd.read_csv(out / "social_licence.csv", dtype=str, keep_default_na=False)


def flagship_on_the_web_with_one_seed(
    app: Flask, monkeypatch: pytest.MonkeyPatch, case_id: str
) -> None:
    """Every interview begun from now on draws the same seed, so the experiment's arm and every
    shuffled order are the same and an export comparison can include them (the seed is the only
    thing set); then ``case_id`` answers the flagship on the web with FLAGSHIP_ANSWERS."""
    monkeypatch.setattr(service_module, "secrets", types.SimpleNamespace(randbits=lambda _: 4242))
    store = store_of(app)
    store.put_case(case_id, "social_licence", PROFILE, now=T0)
    token = store.issue_token("social_licence", case_id=case_id)
    respondent = Respondent(app, "social_licence")
    finished = web_answers(respondent, respondent.get(f"/web/t/{token}"), FLAGSHIP_ANSWERS)
    assert "Thank you" in finished.text()


def test_the_harmonised_export_of_an_ivr_interview_equals_the_webs_but_for_the_mode(
    flagship_app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = flagship_app
    flagship_on_the_web_with_one_seed(app, monkeypatch, "web-1")
    code = new_case(app, "social_licence", "ivr-1", PROFILE)
    caller = KnowingCaller(questions_of(FLAGSHIP, "en"), FLAGSHIP_ANSWERS, code=code)
    result = call(app, caller, seed=6).expect(Outcome.HANGUP)
    ivr_id = interview_of(app, result).record.id

    rows = export_rows(app, tmp_path / "out")
    assert len(rows) == 2
    web, ivr = (rows[rows["mode"] == code].iloc[0] for code in ("1", "3"))
    # The mode columns: the web's code and the call's, neither switched.
    assert [web[c] for c in MODE_COLUMNS] == ["1", "1", "0"]
    assert [ivr[c] for c in MODE_COLUMNS] == ["3", "3", "0"]
    # The case id is each case's own pseudonym.
    assert web["case_id"] != ivr["case_id"]
    # Free text cannot be keyed: the call's comment is "not answered" (the file's -9), flagged
    # in paradata (skipped; or, where the study records calls, the caller declined to be
    # recorded), where the web has the typed text.
    assert web["comment"] == "Parents should be told what is shared."
    assert ivr["comment"] == "-9"
    skipped = "ivr_recording_declined" if caller.consent_asked else "ivr_free_text_skipped"
    assert f"comment:{skipped}" in paradata_flags(app, ivr_id)
    # Every other column, answers, missing codes, the arm, the orders and the times, is equal.
    own = [*MODE_COLUMNS, "case_id", "comment"]
    differing = {c: (web[c], ivr[c]) for c in rows.columns if c not in own and web[c] != ivr[c]}
    assert differing == {}
    assert (web["explain_clear"], web["link_police"], web["help_contact"]) == ("-1", "-2", "-2")


# ---------------------------------------------------------------------- another team's questionnaire


@pytest.fixture
def ons_app(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Flask]:
    # ons_household.yaml lists web and cati only: a copy with ivr added to its modes
    app = build_app(database_url, monkeypatch, with_ivr(ONS_HOUSEHOLD, tmp_path))
    yield app
    get_host(app).store.close()


def code_then(code: str, policy: Policy) -> Policy:
    def decide(prompt: Prompt) -> Any:
        return Keys(code + "#") if "access code" in prompt.text else policy(prompt)

    return decide


ROSTER_PAGES = {"person_name", "visitor_name"}


def test_the_ons_household_example_by_random_callers_ends_every_call_without_error(
    ons_app: Flask,
) -> None:
    """Random callers: every request answered 2xx, every call ended by the app, every answer
    stored once; an interview either finishes or, where the caller gave up on a question the
    questionnaire requires (random keys are never a valid date of birth), the call says goodbye
    politely and the interview stays a partial. The roster's names (required free text) are
    skipped by the call and do not stop it."""
    app = ons_app
    ended: collections.Counter[str] = collections.Counter()
    for n in range(8):
        code = new_case(app, "ons_household", f"ons-{n}", {})
        respondent = random_respondent(random.Random(n), silence=0.1, invalid=0.1)
        result = call(app, code_then(code, respondent), seed=10 + n).expect(Outcome.HANGUP)
        assert all(200 <= e.status < 300 for e in result.exchanges), result.transcript()
        done = interview_of(app, result)
        assert max(answers_stored(app, done.record.id).values()) == 1
        if done.state.finished:
            ended[str(done.state.outcome)] += 1
        else:
            step = done.engine.current_step(done.state, html=False)
            assert step.page_id not in ROSTER_PAGES, result.transcript()[-1500:]
            assert "We have not been able to hear your answers" in " ".join(result.said)
            ended["gave up on a required question"] += 1
    assert ended["complete"] >= 1 and ended["gave up on a required question"] >= 1, ended


def test_the_ons_household_names_are_skipped_not_asked_for_ever(ons_app: Flask) -> None:
    """The roster's names are required free text, which a keypad cannot type: the call skips
    them (not answered, flagged) and goes on to the next question, rather than submitting the
    skip, being refused and ending with "we have not been able to hear your answers"."""
    app = ons_app
    code = new_case(app, "ons_household", "ons-lives-here", {})
    result = call(app, [code + "#", "1"], seed=20)
    assert "We have not been able to hear your answers" not in " ".join(result.said)
    done = interview_of(app, result)
    step = done.engine.current_step(done.state, html=False)
    assert step.page_id not in ROSTER_PAGES and not done.state.finished
    assert done.personal == {"first_name_1": None, "last_name_1": None}


# ---------------------------------------------------------------------- outbound, in the case's language


def outbound_call_url(
    app: Flask, questionnaire_id: str, case_id: str, preload: Mapping[str, Any], language: str
) -> str:
    """A case queued in ``language`` and claimed for an automated call: the answer URL Twilio is
    given when the call is placed."""
    store = store_of(app)
    store.put_case(case_id, questionnaire_id, dict(preload), now=T0)
    store.set_phone_numbers(case_id, ("+442920180001",), T0)
    window = Win(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=2))
    store.enqueue_case(
        case_id, zone="Europe/London", language=language, priority=0, window=window, now=T0
    )
    claim = store.claim_next_case("ivr", now=T0)
    assert claim is not None and claim.case_id == case_id
    settings = TwilioSettings(
        ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"], TOKEN, ENV["INSTRUMENT_TWILIO_CALLER_ID"], PUBLIC
    )
    return outbound_answer_url(settings, str(claim.attempt_id))


def test_an_outbound_call_to_a_welsh_case_speaks_welsh(school_app: Flask) -> None:
    app = school_app
    answer_url = outbound_call_url(app, "school_travel", "s-out", {}, "cy")
    caller = KnowingCaller(questions_of(SCHOOL_TRAVEL, "cy"), SCHOOL_ANSWERS)
    result = simulator(app, 30).call(
        answer_url, caller, direction="outbound-api", status_callback="/ivr/status"
    )
    assert result.heard and result.heard[0].language == "cy-GB", result.heard[:2]
