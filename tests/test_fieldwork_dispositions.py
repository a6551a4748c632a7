"""The default call outcomes against AAPOR's table of dispositions for telephone surveys.

AAPOR_TELEPHONE is written out here from *Standard Definitions* (the RDD
telephone table: 1 interviews, 2 eligible non-interviews, 3 unknown
eligibility, 4 not eligible) with the rate class each code counts in, so the
defaults are checked against the book, not against the code's own mapping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from instrument.fieldwork.dispositions import (
    DEFAULT_DISPOSITIONS,
    Disposition,
    DispositionTable,
    RateClass,
    aapor_class,
    suggested_outcome,
)

I, P, R, NC, O, UH, UO, NE = (  # noqa: E741 - AAPOR's letters
    RateClass.I, RateClass.P, RateClass.R, RateClass.NC,
    RateClass.O, RateClass.UH, RateClass.UO, RateClass.NE,
)  # fmt: skip

AAPOR_TELEPHONE = {
    "1.1": I,  # complete
    "1.2": P,  # partial
    "2.10": R, "2.11": R,  # refusal and break-off; refusal
    "2.111": R, "2.112": R,  # household-level refusal; known-respondent refusal
    "2.12": R,  # break-off
    "2.20": NC, "2.21": NC,  # non-contact; respondent never available
    "2.22": NC, "2.221": NC, "2.222": NC,  # answering machine (household): message left / not
    "2.30": O, "2.31": O, "2.32": O,  # other; dead; physically or mentally unable
    "2.33": O, "2.331": O, "2.332": O, "2.333": O,  # language: household, respondent, no interviewer
    "2.34": O, "2.35": O,  # inadequate audio; location/activity not allowing interview
    "3.10": UH, "3.11": UH, "3.12": UH, "3.13": UH,  # unknown if household; not attempted; busy; no answer
    "3.14": UH, "3.15": UH, "3.16": UH, "3.17": UH,  # answering machine; call blocking; technical; operator
    "3.20": UO, "3.21": UO, "3.90": UO,  # household, unknown if eligible; no screener; other
    "4.10": NE, "4.20": NE,  # out of sample; fax/data line
    "4.30": NE, "4.31": NE, "4.32": NE, "4.33": NE,  # non-working, disconnected, temporarily out
    "4.40": NE, "4.41": NE, "4.42": NE, "4.43": NE,  # special technological circumstances
    "4.50": NE, "4.51": NE, "4.52": NE, "4.53": NE,  # non-residence: business, institution, group
    "4.70": NE, "4.80": NE, "4.90": NE,  # no eligible respondent; quota filled; other
}  # fmt: skip


@pytest.mark.parametrize("code", list(DEFAULT_DISPOSITIONS))
def test_each_default_counts_where_aapor_puts_its_code(code: str) -> None:
    outcome = DEFAULT_DISPOSITIONS[code]
    assert outcome.aapor in AAPOR_TELEPHONE, f"{code}: {outcome.aapor} is not an AAPOR code"
    assert outcome.rate_class is AAPOR_TELEPHONE[outcome.aapor], code


@pytest.mark.parametrize("aapor", list(AAPOR_TELEPHONE))
def test_aapor_class_reads_the_table(aapor: str) -> None:
    assert aapor_class(aapor) is AAPOR_TELEPHONE[aapor]


def test_aapor_class_of_what_is_not_a_code() -> None:
    assert aapor_class("5.1") is None
    assert aapor_class("complete") is None
    assert aapor_class("1.3") is None


def test_the_outcomes_the_issue_names_are_there() -> None:
    named = {
        "complete", "partial", "refusal_soft", "refusal_hard", "break_off", "no_answer",
        "busy", "answering_machine", "not_eligible", "number_not_working", "appointment",
        "language_barrier", "max_attempts", "do_not_call", "respondent_unavailable", "fax",
    }  # fmt: skip
    assert named <= set(DEFAULT_DISPOSITIONS)


@pytest.mark.parametrize(
    ("code", "final", "retry", "rate_class"),
    [
        ("complete", True, None, I),
        ("partial", False, timedelta(days=1), P),
        ("refusal_soft", False, timedelta(days=7), R),
        ("refusal_hard", True, None, R),
        ("break_off", False, timedelta(days=7), R),
        ("no_answer", False, timedelta(hours=3), UH),  # queXS: 180 minutes
        ("busy", False, timedelta(minutes=15), UH),
        ("answering_machine", False, timedelta(hours=3), UH),
        ("answering_machine_household", False, timedelta(hours=3), NC),
        ("respondent_unavailable", False, timedelta(days=1), NC),
        ("appointment", False, timedelta(0), NC),
        ("language_barrier", True, None, O),
        ("not_eligible", True, None, NE),
        ("number_not_working", False, timedelta(0), NE),
        ("fax", False, timedelta(0), NE),
        ("business", False, timedelta(0), NE),
        ("do_not_call", True, None, R),
        ("max_attempts", True, None, UH),
        ("max_attempts_eligible", True, None, NC),
    ],
)
def test_defaults_for_scheduling(
    code: str, final: bool, retry: timedelta | None, rate_class: RateClass
) -> None:
    outcome = DEFAULT_DISPOSITIONS[code]
    assert (outcome.final, outcome.retry_after, outcome.rate_class) == (final, retry, rate_class)


def test_flags_that_drive_the_console_and_the_numbers() -> None:
    table = DEFAULT_DISPOSITIONS
    assert table["complete"].needs_finished_interview
    assert table["partial"].needs_started_interview and table["break_off"].needs_started_interview
    assert table["appointment"].needs_appointment
    assert {c for c in table if table[c].number_dead} == {
        "fax", "number_not_working", "wrong_number", "business",
    }  # fmt: skip
    assert {c for c in table if table[c].refusal} == {
        "refusal_household", "refusal_soft", "refusal_hard", "do_not_call", "break_off",
    }  # fmt: skip
    assert not table["no_answer"].contact and not table["answering_machine"].contact
    assert table["refusal_soft"].contact and table["appointment"].contact
    # every final outcome is never retried, every other one has a delay
    for outcome in table.values():
        assert (outcome.retry_after is None) == outcome.final, outcome.code


def test_codable_offers_only_what_fits_the_interview() -> None:
    fresh = {
        d.code
        for d in DEFAULT_DISPOSITIONS.codable(interview_started=False, interview_finished=False)
    }
    assert "complete" not in fresh and "partial" not in fresh and "break_off" not in fresh
    assert "no_answer" in fresh and "refusal_soft" in fresh
    started = {
        d.code
        for d in DEFAULT_DISPOSITIONS.codable(interview_started=True, interview_finished=False)
    }
    assert "partial" in started and "break_off" in started and "complete" not in started
    done = {
        d.code
        for d in DEFAULT_DISPOSITIONS.codable(interview_started=True, interview_finished=True)
    }
    assert "complete" in done


def test_table_order_lookup_and_replacement() -> None:
    codes = list(DEFAULT_DISPOSITIONS)
    assert codes[:2] == ["complete", "partial"]
    with pytest.raises(KeyError, match="unknown outcome 'nope'"):
        DEFAULT_DISPOSITIONS["nope"]
    slower = Disposition("no_answer", "3.13", "No answer", UH, False, timedelta(hours=5))
    extra = Disposition("moved", "2.35", "Moved away", O, True, None, contact=True)
    changed = DEFAULT_DISPOSITIONS.replaced([slower, extra])
    assert changed["no_answer"].retry_after == timedelta(hours=5)
    assert list(changed)[: len(codes)] == codes and list(changed)[-1] == "moved"
    assert DEFAULT_DISPOSITIONS["no_answer"].retry_after == timedelta(hours=3)  # unchanged
    with pytest.raises(ValueError, match="given twice"):
        DispositionTable([slower, slower])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"final": True, "retry_after": timedelta(hours=1)}, "never retried"),
        ({"final": False, "retry_after": None}, "needs retry_after"),
        ({"final": False, "retry_after": timedelta(hours=-1)}, "negative"),
        ({"code": "No Answer"}, "lower-case name"),
    ],
)
def test_an_inconsistent_outcome_is_refused(kwargs: dict, message: str) -> None:
    fields = {"code": "x", "aapor": "3.13", "label": "X", "rate_class": UH, "final": False}
    fields["retry_after"] = timedelta(hours=1)
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Disposition(**fields)


@pytest.mark.parametrize(
    ("status", "answered_by", "expected"),
    [
        ("busy", None, "busy"),
        ("no-answer", None, "no_answer"),
        ("failed", None, "technical_problem"),  # not a dead number: carriers fail in passing
        ("completed", "machine_start", "answering_machine"),
        ("completed", "machine_end_beep", "answering_machine"),
        ("completed", "machine_end_silence", "answering_machine"),
        ("in-progress", "fax", "fax"),
        ("completed", "human", None),  # a person: the interviewer codes what was said
        ("completed", "unknown", None),
        ("completed", None, None),
        ("canceled", None, None),
        ("ringing", "machine_start", None),
        (None, None, None),
    ],
)
def test_suggested_outcome_of_a_call_status(
    status: str | None, answered_by: str | None, expected: str | None
) -> None:
    suggested = suggested_outcome(status, answered_by)
    assert suggested == expected
    assert suggested is None or suggested in DEFAULT_DISPOSITIONS
