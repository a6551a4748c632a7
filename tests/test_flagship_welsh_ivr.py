"""The flagship in Welsh by automated call (issue 14: "the simulator completes the flagship by IVR
in both languages").

The real app on a real store (SQLite and PostgreSQL), every request made by the call simulator
as Twilio makes it, the caller a policy that recognises each question from the Welsh the
questionnaire file gives it (tests/ivr_respondent.py) and keys its answer. What is checked is
what was said and in which voice, and what the store and the harmonised export hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from flask import Flask
from ivr_respondent import KnowingCaller, questions_of
from store_fixtures import *
from test_ivr_end_to_end import (
    FLAGSHIP,
    FLAGSHIP_ANSWERS,
    MODE_COLUMNS,
    PROFILE,
    answers_stored,
    assert_values_are_what_was_keyed,
    build_app,
    call,
    export_rows,
    flagship_on_the_web_with_one_seed,
    interview_of,
    interview_says,
    new_case,
    outbound_call_url,
    paradata_flags,
    simulator,
    troubled_caller,
)
from test_ivr_language_line import end_to_end_report

from instrument import catalogue
from instrument.server.app import get_host
from instrument.values import DK, REFUSED
from instrument_phone.ivr.simulator import Outcome

WELSH_VOICE = ("Polly.Gwyneth", "cy-GB")
WELSH_CODE = catalogue.text("cy", "ivr", "enter_code")
WELSH_THANKS = "Diolch yn fawr am gymryd rhan. Hwyl fawr."


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    built = build_app(database_url, monkeypatch, FLAGSHIP)
    yield built
    get_host(built).store.close()


def voices(heard: list) -> set[tuple[str | None, str | None]]:
    return {(h.voice, h.language) for h in heard}


# ---------------------------------------------------------------------- inbound, choosing Welsh


def test_the_flagship_in_welsh_with_dk_refusal_silence_invalid_keys_a_hang_up_and_a_resume(
    app: Flask,
) -> None:
    code = new_case(app, "social_licence", "cy-1", PROFILE)
    questions = questions_of(FLAGSHIP, "cy")
    first = troubled_caller(code, "cy")  # silence, wrong keys, a hang-up at flag_accept
    one = call(app, first, seed=1).expect(Outcome.CALLER_HUNG_UP)
    # the flagship has two languages, so the line offers both; the caller keys Welsh
    assert one.keys[:2] == ["2", code]
    assert (WELSH_CODE, *WELSH_VOICE) in [(h.text, h.voice, h.language) for h in one.heard]
    assert catalogue.text("cy", "ivr", "silent") in one.said
    assert catalogue.text("cy", "ivr", "not_a_key") in one.said
    partial = interview_of(app, one)
    assert not partial.state.finished and partial.record.mode == "ivr"
    assert partial.state.language == "cy" and partial.record.language == "cy"
    assert partial.state.answers["parent"] == 1 and "flag_accept" not in partial.state.answers
    assert_values_are_what_was_keyed(partial, first.keyed)

    second = KnowingCaller(
        questions, FLAGSHIP_ANSWERS, code=code, language="cy", record_free_text=True
    )
    two = call(app, second, seed=2).expect(Outcome.HANGUP)
    assert not first.unrecognised and not second.unrecognised
    assert not set(second.keyed) & set(first.keyed)  # the second call resumes, asks nothing again
    assert two.said[-1] == WELSH_THANKS
    done = interview_of(app, two)
    assert done.record.id == partial.record.id
    assert done.state.outcome == "complete" and done.state.language == "cy"
    keyed = {**first.keyed, **second.keyed}
    assert_values_are_what_was_keyed(done, keyed)
    values = done.engine.values(done.state)
    assert values["child_age_3"] == 2 and values["n_under5"] == 1
    assert values["explain_clear"] is DK and values["link_police"] is REFUSED
    assert values["help_contact"] is REFUSED and values["consent_family"] is REFUSED
    # every grid row and the multiple choice were recognised from their Welsh wording
    assert {"link_health", "purpose_exclusion", "trust_uni", "heard_where"} <= set(keyed)
    # the study records free text (its fieldwork file): consent asked in Welsh, then recorded
    assert second.consent_asked == ["comment"]
    assert catalogue.text("cy", "ivr", "record_consent") in two.said
    assert str(values["comment"]).startswith("recording:RE")
    assert "comment:ivr_recorded" in paradata_flags(app, done.record.id)
    counts = answers_stored(app, done.record.id)
    assert max(counts.values()) == 1, [v for v, n in counts.items() if n > 1]
    for result in (one, two):
        spoken = interview_says(result)
        assert spoken and voices(spoken) == {WELSH_VOICE}, [
            h.text for h in spoken if (h.voice, h.language) != WELSH_VOICE
        ]


def test_the_welsh_questions_are_the_questionnaires_welsh_not_its_english(app: Flask) -> None:
    """What the call says after the code is the file's Welsh: the first question's Welsh is said,
    its English is not."""
    code = new_case(app, "social_licence", "cy-words", PROFILE)
    caller = KnowingCaller(
        questions_of(FLAGSHIP, "cy"), FLAGSHIP_ANSWERS, code=code, language="cy",
        hang_up_at="n_children",
    )  # fmt: skip
    result = call(app, caller, seed=3).expect(Outcome.CALLER_HUNG_UP)
    said = " ".join(h.text for h in interview_says(result))
    assert "Galwad awtomatig gan y panel yw hon" in said
    assert "Ydych chi'n rhiant neu'n warcheidwad i blentyn dan 16" in said
    assert "Faint o blant dan 16 oed sy'n byw gyda chi?" in said
    assert "parent or guardian" not in said and "automated call" not in said


# ---------------------------------------------------------------------- outbound, the case's Welsh


def test_an_outbound_call_to_a_welsh_case_completes_the_flagship_in_welsh(app: Flask) -> None:
    """An outbound call offers no choice of language: the case's (the queue's) is spoken."""
    answer_url = outbound_call_url(app, "social_licence", "cy-out", PROFILE, "cy")
    caller = KnowingCaller(questions_of(FLAGSHIP, "cy"), FLAGSHIP_ANSWERS, language="cy")
    result = simulator(app, 30).call(
        answer_url, caller, direction="outbound-api", status_callback="/ivr/status"
    )
    result.expect(Outcome.HANGUP)
    assert not caller.unrecognised
    assert voices(result.heard) == {WELSH_VOICE}
    assert result.said[-1] == WELSH_THANKS
    done = interview_of(app, result)
    assert done.record.case_id == "cy-out" and done.state.language == "cy"
    assert done.state.outcome == "complete"
    assert_values_are_what_was_keyed(done, caller.keyed)
    assert max(answers_stored(app, done.record.id).values()) == 1


# ---------------------------------------------------------------------- the export


def test_the_welsh_calls_export_equals_the_english_but_for_the_language_and_mode(
    app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same answers by a Welsh call, an English call and on the English web: the harmonised
    export's rows are equal but for the language (and, against the web, the mode columns and
    the comment a keypad cannot type)."""
    flagship_on_the_web_with_one_seed(app, monkeypatch, "web-en")  # one seed for all three
    callers = {}
    for language, seed in (("en", 6), ("cy", 7)):
        code = new_case(app, "social_licence", f"ivr-{language}", PROFILE)
        caller = KnowingCaller(
            questions_of(FLAGSHIP, language), FLAGSHIP_ANSWERS, code=code, language=language
        )
        result = call(app, caller, seed=seed).expect(Outcome.HANGUP)
        assert not caller.unrecognised and interview_of(app, result).state.language == language
        callers[language] = caller

    rows = export_rows(app, tmp_path / "out")
    assert len(rows) == 3
    by_case = {row["case_id"]: row for _, row in rows.iterrows()}
    assert len(by_case) == 3  # each case its own pseudonym
    web = _only(rows, mode="1")
    english, welsh = (_only(rows, mode="3", language=code) for code in ("1", "2"))
    # the language column: English 1, Welsh 2, in the order the questionnaire lists them
    assert (web["language"], english["language"], welsh["language"]) == ("1", "1", "2")
    assert [welsh[c] for c in MODE_COLUMNS] == ["3", "3", "0"]
    # a Welsh call and an English call of the same answers: only the language differs
    assert _differing(welsh, english, own=["case_id", "language"]) == {}
    # against the English web: also the mode columns and the comment (-9 by keypad)
    assert _differing(welsh, web, own=["case_id", "language", *MODE_COLUMNS, "comment"]) == {}
    assert welsh["comment"] == "-9" and web["comment"] == "Parents should be told what is shared."
    missing = (welsh["explain_clear"], welsh["link_police"], welsh["help_contact"])
    assert missing == ("-1", "-2", "-2")  # don't know, refused, refused
    assert callers["cy"].keyed == callers["en"].keyed


def _only(rows: pd.DataFrame, **columns: str) -> pd.Series:
    chosen = rows
    for name, value in columns.items():
        chosen = chosen[chosen[name] == value]
    assert len(chosen) == 1, (columns, len(chosen))
    return chosen.iloc[0]


def _differing(one: pd.Series, other: pd.Series, own: list[str]) -> dict[str, tuple[str, str]]:
    return {c: (one[c], other[c]) for c in one.index if c not in own and one[c] != other[c]}


# ---------------------------------------------------------------------- random callers


def test_random_callers_complete_the_flagship_in_both_languages(tmp_path: Path) -> None:
    """``instrument simulate social_licence.yaml --mode ivr --end-to-end``: each respondent is
    given English or Welsh, keys it at the greeting on every call, and the runner counts an
    interview not in it an error."""
    report = end_to_end_report(FLAGSHIP, 6, f"sqlite:///{tmp_path / 'calls.db'}")
    assert report["errors"] == 0 and report["finished"] == 6
    assert report["chose_cy"] >= 1 and report["chose_en"] >= 1
    assert report["chose_cy"] + report["chose_en"] == 6
