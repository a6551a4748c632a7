"""The caller's language on an inbound automated call (issue 14): the line's choice of language.

The instance serves the flagship and school_travel (both in English and Welsh), so its line
offers both languages before the access code, each in itself and in its own voice; the ONS
household example (English only) is served where a questionnaire without Welsh is needed. The
real app on a real store (SQLite and PostgreSQL), every request made by the call simulator as
Twilio makes it; what is checked is what was said, in which voice, and what the store holds.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from ivr_respondent import KnowingCaller, questions_of
from store_fixtures import *
from test_ivr_end_to_end import (
    FLAGSHIP,
    FLAGSHIP_ANSWERS,
    ONS_HOUSEHOLD,
    PROFILE,
    SCHOOL_ANSWERS,
    SCHOOL_TRAVEL,
    answers_stored,
    build_app,
    export_rows,
    interview_of,
    new_case,
    simulator,
    store_of,
    with_ivr,
)
from test_phone_telephony import PUBLIC

from instrument import catalogue
from instrument.catalogue import Catalogue
from instrument.server.app import get_host
from instrument.store.schema import answer_events, ivr_turns
from instrument_phone.ivr.simulator import (
    ALL_REQUESTS,
    SILENCE,
    CallResult,
    Invalid,
    Outcome,
    Policy,
    Prompt,
    language_menu,
)
from instrument_phone.ivr.webhooks import CODE_TRIES, LANGUAGE_TRIES

WELSH = ("Polly.Gwyneth", "cy-GB")
ENGLISH = ("Polly.Amy", "en-GB")
MENU = [
    ("Hello. This is an automated survey call.", ENGLISH),
    ("For English, press 1.", ENGLISH),
    ("Helo. Galwad arolwg awtomatig yw hon.", WELSH),
    ("Am Gymraeg, pwyswch 2.", WELSH),
]
WELSH_CODE = "Rhowch y cod mynediad o'ch gwahoddiad, yna pwyswch hash."
ENGLISH_CODE = "Please key in the access code from your invitation, then press hash."


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Flask]:
    built = build_app(database_url, monkeypatch, FLAGSHIP, with_ivr(SCHOOL_TRAVEL, tmp_path))
    yield built
    get_host(built).store.close()


def call(app: Flask, policy: Policy | list[Any], seed: int = 1, **options: Any) -> CallResult:
    return simulator(app, seed).call("/ivr/voice", policy, status_callback="/ivr/status", **options)


def said(result: CallResult) -> list[tuple[str, tuple[str | None, str | None]]]:
    return [(h.text, (h.voice, h.language)) for h in result.heard]


def after_code(result: CallResult) -> list[Any]:
    """What was said after the last access-code prompt: the interview's words."""
    heard = result.heard
    asked = [i for i, h in enumerate(heard) if h.text in (WELSH_CODE, ENGLISH_CODE)]
    return heard[asked[-1] + 1 :]


def event_rows(app: Flask, interview_id: str) -> list[Any]:
    with store_of(app).engine.connect() as connection:
        return connection.execute(
            sa.select(answer_events)
            .where(answer_events.c.interview_id == interview_id)
            .order_by(answer_events.c.seq)
        ).all()


# ---------------------------------------------------------------------- choosing Welsh


def test_school_travel_completed_in_welsh_by_choosing_welsh_at_the_greeting(app: Flask) -> None:
    code = new_case(app, "school_travel", "s-cy", {})
    caller = KnowingCaller(
        questions_of(SCHOOL_TRAVEL, "cy"), SCHOOL_ANSWERS, code=code, language="cy"
    )
    result = call(app, caller, seed=3).expect(Outcome.HANGUP)
    assert not caller.unrecognised
    # the greeting offers each language in itself, in its own voice; the code is asked in Welsh
    assert said(result)[:5] == [*MENU, (WELSH_CODE, WELSH)]
    assert result.keys[:2] == ["2", code]
    done = interview_of(app, result)
    assert done.state.language == "cy" and done.record.language == "cy"
    assert done.state.outcome == "complete"
    spoken = after_code(result)
    assert {(h.voice, h.language) for h in spoken} == {WELSH}
    assert result.said[-1] == "Diolch am eich atebion."
    assert set(answers_stored(app, done.record.id).values()) == {1}
    kept = store_of(app).ivr_call(result.call_sid)
    assert kept is not None and kept.code_failures == 0


def test_an_interview_begun_in_english_carries_on_in_welsh_when_the_caller_chooses_it(
    app: Flask,
) -> None:
    """The language is switched by the interview service (an event in the log, the answers
    kept), not by the call."""
    code = new_case(app, "school_travel", "s-switch", {})
    english = KnowingCaller(
        questions_of(SCHOOL_TRAVEL, "en"),
        SCHOOL_ANSWERS,
        code=code,
        language="en",
        hang_up_at="n_pupils",
    )
    one = call(app, english, seed=4).expect(Outcome.CALLER_HUNG_UP)
    begun = interview_of(app, one)
    assert begun.state.language == "en" and begun.state.answers["travel_date"]
    welsh = KnowingCaller(
        questions_of(SCHOOL_TRAVEL, "cy"), SCHOOL_ANSWERS, code=code, language="cy"
    )
    two = call(app, welsh, seed=5).expect(Outcome.HANGUP)
    done = interview_of(app, two)
    assert done.record.id == begun.record.id and done.state.outcome == "complete"
    assert done.state.language == "cy" and "travel_date" not in welsh.keyed  # resumed
    assert {(h.voice, h.language) for h in after_code(two)} == {WELSH}
    switches = [r for r in event_rows(app, done.record.id) if r.kind == "language"]
    assert len(switches) == 1 and switches[0].value == {"from": "en", "to": "cy"}
    assert switches[0].actor == "respondent"


def test_a_questionnaire_without_the_language_chosen_runs_in_its_own(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The ONS household example is in English only (the flagship beside it offers Welsh): a
    caller who chooses Welsh hears the code asked in Welsh, then the interview in English, its
    one language."""
    ons = with_ivr(ONS_HOUSEHOLD, tmp_path)
    served = build_app(database_url, monkeypatch, ons, FLAGSHIP)
    try:
        code = new_case(served, "ons_household", "o-cy", {})
        caller = KnowingCaller(
            questions_of(ons, "en"),
            {"you_live_here": 2},
            code=code,
            language="cy",
            hang_up_at="anyone_else",
        )
        result = call(served, caller, seed=6).expect(Outcome.CALLER_HUNG_UP)
        assert not caller.unrecognised
        assert said(result)[:5] == [*MENU, (WELSH_CODE, WELSH)]
        begun = interview_of(served, result)
        assert begun.state.language == "en" and begun.state.answers["you_live_here"] == 2
        spoken = after_code(result)
        assert spoken[0].text == "Do you live here?"
        assert {(h.voice, h.language) for h in spoken} == {ENGLISH}
    finally:
        get_host(served).store.close()


# ---------------------------------------------------------------------- the menu's own rules


def test_silence_or_a_wrong_key_offers_the_choice_again_then_english_goes_on(app: Flask) -> None:
    result = call(app, [SILENCE, Invalid("7"), SILENCE], seed=7)
    menus = [t for t, _ in said(result) if t in ("For English, press 1.", "Am Gymraeg, pwyswch 2.")]
    assert len(menus) == 2 * LANGUAGE_TRIES
    # offered again without the greeting; then the first language's code prompt
    assert [t for t, _ in said(result)].count("Hello. This is an automated survey call.") == 1
    assert said(result)[-1] == (ENGLISH_CODE, ENGLISH)
    kept = store_of(app).ivr_call(result.call_sid)
    assert kept is not None and kept.code_failures == 0  # keys at the menu are not codes
    assert kept.state == {"ivr_line": {"language": "en", "misses": 0}}


def test_wrong_codes_are_answered_in_the_language_chosen_and_still_limited(app: Flask) -> None:
    result = call(app, ["2", *["1234567890#"] * CODE_TRIES], seed=8)
    assert result.outcome is Outcome.HANGUP
    assert (
        "Mae'n ddrwg gen i, nid oedd y cod hwnnw'n cael ei adnabod. Rhowch ef eto, yna pwyswch "
        "hash.",
        WELSH,
    ) in said(result)
    assert said(result)[-1] == (catalogue.text("cy", "ivr", "too_many_codes"), WELSH)
    kept = store_of(app).ivr_call(result.call_sid)
    assert kept is not None and kept.code_failures == CODE_TRIES and kept.interview_id is None


def test_a_retried_or_duplicated_choice_is_answered_the_same_and_stores_nothing_twice(
    app: Flask,
) -> None:
    code = new_case(app, "school_travel", "s-retried", {})
    plain_code = new_case(app, "school_travel", "s-plain", {})
    questions = questions_of(SCHOOL_TRAVEL, "cy")
    plain = call(
        app, KnowingCaller(questions, SCHOOL_ANSWERS, code=plain_code, language="cy"), seed=9
    ).expect(Outcome.HANGUP)
    caller = KnowingCaller(questions, SCHOOL_ANSWERS, code=code, language="cy")
    repeated = call(app, caller, seed=10, retry=ALL_REQUESTS, duplicate={1, 2}).expect(
        Outcome.HANGUP
    )
    choice = [e for e in repeated.exchanges if e.number == 1]
    assert [e.delivery for e in choice] == ["first", "duplicate", "retry"]
    assert choice[0].params["Digits"] == "2" and len({e.body for e in choice}) == 1
    done, reference = interview_of(app, repeated), interview_of(app, plain)
    assert done.state.language == "cy" and done.state.outcome == "complete"
    counts = answers_stored(app, done.record.id)
    assert counts == answers_stored(app, reference.record.id) and set(counts.values()) == {1}
    with store_of(app).engine.connect() as connection:
        turns = collections.Counter(
            connection.scalars(
                sa.select(ivr_turns.c.call_sid).where(
                    ivr_turns.c.call_sid.in_([plain.call_sid, repeated.call_sid])
                )
            )
        )
    assert turns[repeated.call_sid] == turns[plain.call_sid]


def test_one_language_served_means_no_choice(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    only = build_app(database_url, monkeypatch, with_ivr(ONS_HOUSEHOLD, tmp_path))
    try:
        result = call(only, [], seed=12)
        assert said(result) == [
            ("Hello. This is an automated survey call.", ENGLISH),
            (ENGLISH_CODE, ENGLISH),
        ]
    finally:
        get_host(only).store.close()


# ---------------------------------------------------------------------- who answered


def test_answers_by_call_are_the_respondents_and_the_exports_name_no_call(
    app: Flask, tmp_path: Path
) -> None:
    """Every event of a call's interview is the respondent's (as on the web); the mode says it
    was by IVR; the call sid is kept with the paradata events and the call's record (audit),
    and no export file names it."""
    code = new_case(app, "social_licence", "c-who", PROFILE)
    caller = KnowingCaller(questions_of(FLAGSHIP, "en"), FLAGSHIP_ANSWERS, code=code)
    result = call(app, caller, seed=13).expect(Outcome.HANGUP)
    done = interview_of(app, result)
    rows = event_rows(app, done.record.id)
    assert {r.actor for r in rows} == {"respondent"}
    assert {r.mode for r in rows if r.kind == "answer"} == {"ivr"}
    submitted = [r.value for r in rows if r.kind == "paradata"]
    assert submitted and {v["call"] for v in submitted} == {result.call_sid}
    assert {v["channel"] for v in submitted} == {"ivr"}
    out = tmp_path / "out"
    data = export_rows(app, out)
    assert list(data["mode"]) == ["3"]
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".txt", ".xml", ".md"):
            assert result.call_sid not in path.read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------------- the call's own words


def ivr_untranslated(found: Catalogue, language: str) -> list[str]:
    """The ``ivr`` texts ``language`` would say in English, for want of a translation."""
    return [key for key in found.missing(language) if key.startswith("ivr.")]


def shipped_translations() -> list[str]:
    return [language for language in catalogue.languages() if language != "en"]


@pytest.mark.parametrize("language", shipped_translations())
def test_every_word_of_the_call_is_translated_where_a_language_is_shipped(language: str) -> None:
    missing = ivr_untranslated(catalogue.CATALOGUE, language)
    assert not missing, (
        f"instrument/catalogue/locales/{language}.po has no translation of "
        f"{', '.join(missing)}: an automated call in '{language}' would say them in English"
    )


def test_a_missing_welsh_text_of_the_call_is_named() -> None:
    """The check above names the key a translation lacks (here one taken out of Welsh)."""
    strings = catalogue.CATALOGUE.strings
    welsh = {d: dict(m) for d, m in strings["cy"].items()}
    del welsh["ivr"]["say_answer"]
    lacking = Catalogue({"en": strings["en"], "cy": welsh})
    assert ivr_untranslated(lacking, "cy") == ["ivr.say_answer"]
    assert "cy" in shipped_translations()


def test_the_menu_reads_as_a_menu_to_the_simulator() -> None:
    """``language_menu`` finds each language's key from the voices the offers are said in."""
    from instrument_phone.ivr.simulator import Heard

    heard = tuple(Heard(text, voice, tag) for text, (voice, tag) in MENU)
    menu = Prompt("gather", heard, {"numDigits": "1"}, PUBLIC + "/ivr/voice", 0)
    assert language_menu(menu) == {"en-GB": "1", "cy-GB": "2"}
    code = Prompt("gather", heard[:2], {"finishOnKey": "#"}, PUBLIC + "/ivr/voice", 1)
    assert language_menu(code) == {}


# ---------------------------------------------------------------------- random callers


def end_to_end_report(questionnaire: Path, respondents: int, url: str) -> dict[str, Any]:
    """``instrument simulate PATH --mode ivr --end-to-end -n N --seed 1``'s JSON report, the
    calls stored at ``url``."""
    import json

    from click.testing import CliRunner

    from instrument.cli import cli

    result = CliRunner().invoke(
        cli,
        ["simulate", str(questionnaire), "--mode", "ivr", "--end-to-end", "-n", str(respondents),
         "--seed", "1", "--database", url, "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_random_callers_choose_their_language_and_are_interviewed_in_it(tmp_path: Path) -> None:
    """``instrument simulate school_travel.yaml --mode ivr --end-to-end``: each respondent is
    given a language, keys it at the greeting on every call (one hangs up and calls back), and
    the runner counts it an error should the interview not be in it."""
    from instrument.store import open_store
    from instrument.store.schema import interviews

    url = f"sqlite:///{tmp_path / 'calls.db'}"
    report = end_to_end_report(SCHOOL_TRAVEL, 8, url)
    assert report["errors"] == 0 and report["finished"] == 8 and report["resumed"] >= 1
    assert report["chose_cy"] >= 1 and report["chose_en"] >= 1
    assert report["chose_cy"] + report["chose_en"] == 8
    store = open_store(url)
    try:
        with store.engine.connect() as connection:
            languages = collections.Counter(connection.scalars(sa.select(interviews.c.language)))
    finally:
        store.close()
    assert languages == {"cy": report["chose_cy"], "en": report["chose_en"]}
