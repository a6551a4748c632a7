"""The scheduler on a frozen clock: retry delays, refusals, limits, numbers, spread, appointments.

January 2026 keeps London on GMT (local time = UTC), so the times read as
they are written; 5 January 2026 is a Monday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from instrument.fieldwork.calling import CallingRules
from instrument.fieldwork.dispositions import DEFAULT_DISPOSITIONS
from instrument.fieldwork.schedule import (
    AppointmentFact,
    AttemptFact,
    CaseFacts,
    Window,
    appointment_problem,
    case_disposition,
    hold_expired,
    next_number,
    next_window,
    queue_key,
)

RULES = CallingRules()
TABLE = DEFAULT_DISPOSITIONS
LONDON = "Europe/London"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


MONDAY = utc(2026, 1, 5, 10)  # 10:00 GMT, inside the hours


def facts(*attempts: tuple[datetime, str, int] | tuple[datetime, str], **kw: object) -> CaseFacts:
    made = tuple(AttemptFact(a[0], a[1], a[2] if len(a) > 2 else 1) for a in attempts)
    kw.setdefault("numbers", (1,))
    return CaseFacts("case-1", LONDON, attempts=made, **kw)  # type: ignore[arg-type]


def nxt(case: CaseFacts, now: datetime = MONDAY, rules: CallingRules = RULES) -> Window | None:
    return next_window(case, rules, TABLE, now)


def test_a_fresh_case_is_callable_now_until_the_end_of_the_day() -> None:
    assert nxt(facts()) == Window(MONDAY, utc(2026, 1, 5, 21), "normal")
    assert case_disposition(facts(), TABLE, RULES) == "not_attempted"


@pytest.mark.parametrize(
    ("outcome", "delay"),
    [
        ("no_answer", timedelta(hours=3)),
        ("busy", timedelta(minutes=15)),
        ("answering_machine", timedelta(hours=3)),
        ("technical_problem", timedelta(hours=1)),
        ("fax", timedelta(0)),  # a dead number: the next one at once
    ],
)
def test_retry_delay_of_the_last_outcome(outcome: str, delay: timedelta) -> None:
    case = facts((MONDAY, outcome, 1), numbers=(1, 2))
    found = nxt(case, MONDAY + timedelta(minutes=1))
    assert found is not None
    assert found.start == max(MONDAY + delay, MONDAY + timedelta(minutes=1))


def test_a_delay_past_the_end_of_the_day_opens_the_next_morning() -> None:
    late = utc(2026, 1, 5, 19)
    found = nxt(facts((late, "no_answer")), late)
    assert found is not None and found.start == utc(2026, 1, 6, 9)


def test_a_soft_refusal_is_callable_after_the_cool_off_and_a_hard_one_never() -> None:
    soft = facts((MONDAY, "refusal_soft"))
    assert nxt(soft, MONDAY + timedelta(days=6, hours=23)).start == MONDAY + timedelta(days=7)  # type: ignore[union-attr]
    week_on = MONDAY + timedelta(days=7, minutes=5)
    assert nxt(soft, week_on).start == week_on  # type: ignore[union-attr]
    assert nxt(facts((MONDAY, "refusal_hard")), week_on + timedelta(days=30)) is None
    assert nxt(facts((MONDAY, "do_not_call")), week_on) is None


def test_the_cool_off_is_a_floor_for_every_refusal() -> None:
    longer = CallingRules(refusal_cool_off=timedelta(days=14))
    found = nxt(facts((MONDAY, "refusal_household")), MONDAY, longer)
    assert found is not None and found.start == MONDAY + timedelta(days=14)
    # a later no answer does not shorten a refusal's rest
    case = facts((MONDAY, "refusal_soft"), (MONDAY + timedelta(days=1), "no_answer"))
    assert nxt(case, MONDAY + timedelta(days=2)).start == MONDAY + timedelta(days=7)  # type: ignore[union-attr]


def test_conversion_is_tried_until_max_refusals() -> None:
    twice = facts((MONDAY, "refusal_soft"), (MONDAY + timedelta(days=8), "break_off"))
    assert nxt(twice, MONDAY + timedelta(days=30)) is None
    assert case_disposition(twice, TABLE, RULES) == "break_off"
    patient = CallingRules(max_refusals=3)
    assert nxt(twice, MONDAY + timedelta(days=30), patient) is not None


def test_a_finished_interview_a_final_outcome_or_do_not_call_means_never() -> None:
    assert nxt(facts(interview_finished=True)) is None
    assert case_disposition(facts(interview_finished=True), TABLE, RULES) == "complete"
    assert nxt(facts(do_not_call=True)) is None
    assert nxt(facts((MONDAY, "not_eligible"))) is None
    assert nxt(facts((MONDAY, "complete"))) is None
    # finished on the web after a phone appointment: still never
    hard = AppointmentFact("hard", at=MONDAY + timedelta(hours=2))
    assert nxt(facts(interview_finished=True, appointment=hard)) is None


def no_answers(
    count: int, rank: int = 1, start: datetime = MONDAY
) -> list[tuple[datetime, str, int]]:
    """``count`` no answers a day apart, at 10:00, 14:00 and 18:00 in turn (all parts tried)."""
    hours = (0, 4, 8)
    return [
        (start + timedelta(days=i, hours=hours[i % 3]), "no_answer", rank) for i in range(count)
    ]


def test_max_attempts_per_case() -> None:
    later = MONDAY + timedelta(days=20)
    one_number = CallingRules(max_attempts_per_number=20)  # the case's limit is the one that bites
    assert nxt(facts(*no_answers(9)), later, one_number) is not None
    ten = facts(*no_answers(10))
    assert nxt(ten, later, one_number) is None
    assert case_disposition(ten, TABLE, RULES) == "max_attempts"
    reached = no_answers(9) + [(MONDAY + timedelta(days=9, hours=1), "respondent_unavailable", 1)]
    assert case_disposition(facts(*reached), TABLE, RULES) == "max_attempts_eligible"
    refused = [(MONDAY - timedelta(days=1), "refusal_soft", 1)] + no_answers(9)
    assert case_disposition(facts(*refused), TABLE, RULES) == "refusal_soft"
    started = facts(*no_answers(10), interview_started=True)
    assert case_disposition(started, TABLE, RULES) == "partial"


def test_max_attempts_per_number_moves_to_the_next_number() -> None:
    rules = CallingRules(max_attempts_per_case=20)
    six = facts(*no_answers(6, rank=1), numbers=(1, 2))
    assert next_number(six, rules) == 2
    twelve = facts(*no_answers(6, rank=1), *no_answers(6, rank=2), numbers=(1, 2))
    assert next_number(twelve, rules) is None
    assert nxt(twelve, MONDAY + timedelta(days=20), rules) is None
    assert next_number(facts(numbers=(3, 1, 2)), rules) == 1  # priority order: rank 1 first


def test_dead_numbers_are_skipped_and_the_last_one_ends_the_case() -> None:
    case = facts((MONDAY, "fax", 1), numbers=(1, 2))
    assert next_number(case, RULES, TABLE) == 2
    assert nxt(case, MONDAY + timedelta(minutes=1)) is not None
    dead = facts((MONDAY, "fax", 1), (MONDAY + timedelta(minutes=2), "number_not_working", 2))
    dead = CaseFacts("c", LONDON, numbers=(1, 2), attempts=dead.attempts)
    assert next_number(dead, RULES, TABLE) is None
    assert nxt(dead, MONDAY + timedelta(minutes=5)) is None
    assert case_disposition(dead, TABLE, RULES) == "number_not_working"
    assert nxt(facts(numbers=())) is None  # no number at all


def test_attempts_are_spread_over_the_parts_of_the_day() -> None:
    mornings = [(MONDAY + timedelta(days=i), "no_answer", 1) for i in range(3)]  # 10:00 x3
    case = facts(*mornings)
    thursday_morning = utc(2026, 1, 8, 9, 30)
    found = nxt(case, thursday_morning)
    # the morning had its three tries while the afternoon and evening had none
    assert found == Window(utc(2026, 1, 8, 12), utc(2026, 1, 8, 21), "normal")
    # two morning tries: the morning is still open
    assert nxt(facts(*mornings[:2]), thursday_morning).start == thursday_morning  # type: ignore[union-attr]
    # with an afternoon try too, only the evening is left untried: morning and afternoon
    # stay open (the afternoon had one try only)
    afternoon = (utc(2026, 1, 7, 13), "no_answer", 1)
    assert nxt(facts(*mornings, afternoon), thursday_morning).start == utc(2026, 1, 8, 12)  # type: ignore[union-attr]
    # once every part was tried, the limit no longer applies
    every = facts(*mornings, afternoon, (utc(2026, 1, 7, 18), "no_answer", 1))
    assert nxt(every, thursday_morning).start == thursday_morning  # type: ignore[union-attr]


def test_a_hard_appointment_is_its_own_window_with_its_interviewer() -> None:
    at = utc(2026, 1, 6, 14)
    booked = AppointmentFact("hard", at=at, interviewer="ann")
    case = facts((MONDAY, "appointment"), appointment=booked)
    assert nxt(case, MONDAY) == Window(at, at + timedelta(minutes=30), "hard", "ann")
    # kept even when the attempt limits are reached: a promise to the respondent
    full = facts(*no_answers(9), (MONDAY + timedelta(days=9), "appointment", 1), appointment=booked)
    assert nxt(full, MONDAY) is not None
    assert next_number(full, RULES, TABLE) == 1
    # missed (past its grace): the ordinary rules take over
    missed = nxt(case, at + timedelta(hours=1))
    assert missed == Window(at + timedelta(hours=1), utc(2026, 1, 6, 21), "normal")
    assert nxt(full, at + timedelta(hours=1)) is None


def test_a_soft_appointment_is_its_part_of_that_day_in_local_time() -> None:
    summer_tuesday = date(2026, 7, 7)
    evening = AppointmentFact("soft", day=summer_tuesday, part="evening")
    case = facts((utc(2026, 7, 6, 10), "appointment"), appointment=evening)
    # 17:00-21:00 BST = 16:00-20:00 UTC
    assert nxt(case, utc(2026, 7, 6, 10)) == Window(
        utc(2026, 7, 7, 16), utc(2026, 7, 7, 20), "soft"
    )
    saturday = AppointmentFact("soft", day=date(2026, 7, 11), part="afternoon")
    # Saturday's hours end at 16:00: 12:00-16:00 BST
    found = nxt(facts(appointment=saturday), utc(2026, 7, 6, 10))
    assert found == Window(utc(2026, 7, 11, 11), utc(2026, 7, 11, 15), "soft")


def test_queue_order() -> None:
    t = MONDAY
    entries = [
        ("normal-low-early", Window(t, t + timedelta(hours=1), "normal"), 0),
        ("normal-high-late", Window(t + timedelta(minutes=5), t + timedelta(hours=1), "normal"), 5),
        (
            "normal-low-earlier",
            Window(t - timedelta(minutes=5), t + timedelta(hours=1), "normal"),
            0,
        ),
        ("soft-low", Window(t, t + timedelta(hours=1), "soft"), 0),
        ("hard-low", Window(t, t + timedelta(minutes=30), "hard", "ann"), 0),
        ("soft-high", Window(t, t + timedelta(hours=1), "soft"), 9),
    ]
    ordered = sorted(entries, key=lambda e: queue_key(e[1], e[2]))
    assert [name for name, _, _ in ordered] == [
        "hard-low", "soft-high", "soft-low", "normal-high-late", "normal-low-earlier",
        "normal-low-early",
    ]  # fmt: skip


def test_case_disposition_keeps_what_showed_eligibility() -> None:
    case = facts(
        (MONDAY, "no_answer"),
        (MONDAY + timedelta(days=1), "refusal_soft"),
        (MONDAY + timedelta(days=9), "no_answer"),
    )
    assert case_disposition(case, TABLE, RULES) == "refusal_soft"
    assert case_disposition(facts((MONDAY, "busy"), (MONDAY, "no_answer")), TABLE, RULES) in (
        "busy",
        "no_answer",
    )
    later = facts((MONDAY, "busy"), (MONDAY + timedelta(hours=1), "no_answer"))
    assert case_disposition(later, TABLE, RULES) == "no_answer"
    # attempts are read in time order, whatever order they are given in
    shuffled = CaseFacts("c", LONDON, attempts=tuple(reversed(later.attempts)))
    assert case_disposition(shuffled, TABLE, RULES) == "no_answer"
    # a final outcome wins over anything after it
    final = facts((MONDAY, "not_eligible"), (MONDAY + timedelta(hours=1), "no_answer"))
    assert case_disposition(final, TABLE, RULES) == "not_eligible"
    # an interview started on the web, then unreachable by phone: a partial
    started = facts((MONDAY, "no_answer"), interview_started=True)
    assert case_disposition(started, TABLE, RULES) == "partial"


def test_hold_timeout() -> None:
    assert not hold_expired(MONDAY, MONDAY + timedelta(minutes=14), RULES)
    assert hold_expired(MONDAY, MONDAY + timedelta(minutes=15), RULES)


def test_appointments_are_checked_when_booked() -> None:
    ok = AppointmentFact("hard", at=utc(2026, 1, 6, 14))
    assert appointment_problem(ok, LONDON, RULES, MONDAY) is None
    sunday = AppointmentFact("hard", at=utc(2026, 1, 11, 14))
    assert "outside calling hours" in appointment_problem(sunday, LONDON, RULES, MONDAY)  # type: ignore[operator]
    late = AppointmentFact("hard", at=utc(2026, 1, 6, 22))
    assert "Tuesday 06 January 22:00" in appointment_problem(late, LONDON, RULES, MONDAY)  # type: ignore[operator]
    past = AppointmentFact("hard", at=MONDAY - timedelta(hours=1))
    assert appointment_problem(past, LONDON, RULES, MONDAY) == "the appointment's time has passed"
    saturday_evening = AppointmentFact("soft", day=date(2026, 1, 10), part="evening")
    assert "no calling hours" in appointment_problem(saturday_evening, LONDON, RULES, MONDAY)  # type: ignore[operator]
    unknown = AppointmentFact("soft", day=date(2026, 1, 6), part="night")
    assert "unknown part of the day 'night'" in appointment_problem(unknown, LONDON, RULES, MONDAY)  # type: ignore[operator]
    with pytest.raises(ValueError, match="needs its time"):
        AppointmentFact("hard")
    with pytest.raises(ValueError, match="day and a part"):
        AppointmentFact("soft", day=date(2026, 1, 6))
