"""The contact plan on a frozen clock: what is due for a member, when, and never twice.

The waves open just before the last Sunday of March or of October 2027 in
Europe/London (the clocks change on the 28th of March and the 31st of October),
so every schedule here crosses a clock change. A small worker loop
(``run``) wakes when :func:`next_due` says, records what it did as the store
would, and lets the tests and the properties check the whole wave's contacts.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrument.panel.contact_plan import (
    CLOSE,
    INCENTIVE,
    Action,
    Address,
    Done,
    MemberState,
    due_actions,
    next_due,
    pending_actions,
)
from instrument.panel.wave_file import load_wave, load_wave_text
from instrument.panel.waves import CHANNEL_ADDRESS, QuietHours, Wave

LONDON = ZoneInfo("Europe/London")
FLAGSHIP_WAVE = (
    Path(__file__).resolve().parent.parent / "questionnaires" / "social_licence.wave1.yaml"
)

PLAN = """\
panel: families
wave: w1
questionnaire: q
fieldwork:
  zone: Europe/London
  open: {open}
contact_plan:
  - day: 0
    send: invitation
    channels: [email, sms]
    templates: {{email: inv_email, sms: inv_sms}}
  - day: 3
    send: reminder
    channels: [email, sms]
    templates: {{email: {{en: rem_en, cy: rem_cy}}, sms: rem_sms}}
  - day: 7
    send: reminder
    to: not_started
    channels: [email]
    templates: {{email: rem2}}
  - day: 12
    send: reminder
    to: started
    channels: [email]
    templates: {{email: rem3}}
  - day: 14
    move_to: phone
  - day: 21
    at: "21:30"
    automated_call: {{mode: ivr}}
  - close: day 28
quiet_hours: 21:00-08:00
incentive: {{on: complete, kind: voucher, value: "£10"}}
"""


def make_wave(opens: str = "2027-03-25 10:00", plan: str = PLAN) -> Wave:
    wave, diagnostics = load_wave_text(plan.format(open=opens), "w.wave.yaml")
    assert wave is not None, [str(d) for d in diagnostics.items]
    return wave


SPRING = make_wave()
AUTUMN = make_wave("2027-10-28 10:00")
EMAIL = Address("email", "e1")
MOBILE = Address("phone", "p1")
EVERYTHING = MemberState("m1", addresses=(EMAIL, MOBILE))


def at(text: str, zone: ZoneInfo = LONDON) -> datetime:
    """A wall-clock time in ``zone`` as UTC (the tests read like a fieldwork diary)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def record(member: MemberState, actions: list[Action], when: datetime) -> MemberState:
    done = tuple(Done(a.step, when, a.channel) for a in actions)
    return dataclasses.replace(member, done=member.done + done)


def run(
    wave: Wave,
    member: MemberState,
    until: datetime | None = None,
    finish_at: datetime | None = None,
    start_at: datetime | None = None,
    wakes: tuple[datetime, ...] = (),
) -> list[tuple[datetime, Action]]:
    """Carry the plan out as a worker would, waking only when next_due says; what was done, when."""
    now = wave.opens - timedelta(days=1)
    until = until or wave.closes + timedelta(days=3)
    log: list[tuple[datetime, Action]] = []
    for _ in range(400):
        if start_at is not None and now >= start_at and not member.started:
            member = dataclasses.replace(member, started=True)
        if finish_at is not None and now >= finish_at and not member.finished:
            member = dataclasses.replace(member, finished=True, finished_at=finish_at)
        actions = due_actions(wave, member, now)
        done = {(d.step, d.channel) for d in member.done}
        assert not [a for a in actions if (a.step, a.channel) in done], "a step came due twice"
        log += [(now, action) for action in actions]
        member = record(member, actions, now)
        wake = [
            t for t in (next_due(wave, member, now), finish_at, start_at, *wakes) if t and t > now
        ]
        if not wake or min(wake) > until:
            break
        now = min(wake)
    return log


def schedule(log: list[tuple[datetime, Action]]) -> list[tuple[str, str | None, datetime]]:
    return [(action.step, action.channel, when) for when, action in log]


# the schedule across the clock changes ------------------------------------------


def test_the_whole_plan_for_a_member_who_never_answers_across_the_spring_change() -> None:
    log = run(SPRING, EVERYTHING)
    assert schedule(log) == [
        ("day0-invitation", "email", at("2027-03-25 10:00")),  # GMT: 10:00 UTC
        ("day0-invitation", "sms", at("2027-03-25 10:00")),
        ("day3-reminder", "email", at("2027-03-28 10:00")),  # the clocks went forward at 01:00
        ("day3-reminder", "sms", at("2027-03-28 10:00")),
        ("day7-reminder", "email", at("2027-04-01 10:00")),  # not started: the day-7 one
        ("day14-move_to_phone", None, at("2027-04-08 10:00")),  # web link stays open
        ("day21-automated_call", None, at("2027-04-16 08:00")),  # 21:30 is quiet: next morning
        ("close", None, at("2027-04-22 10:00")),
    ]
    assert at("2027-03-28 10:00") == datetime(2027, 3, 28, 9, tzinfo=UTC)
    invitation = log[0][1]
    assert (invitation.kind, invitation.address, invitation.template) == (
        "invitation",
        "e1",
        "inv_email",
    )
    assert [a.reminder for _, a in log if a.kind == "reminder"] == [1, 1, 2]
    assert log[-3][1].address is None and log[-2][1].address == "p1"


def test_the_autumn_change_keeps_the_wall_clock() -> None:
    log = run(AUTUMN, EVERYTHING)
    times = {(step, channel): when for step, channel, when in schedule(log)}
    assert times[("day0-invitation", "email")] == datetime(2027, 10, 28, 9, tzinfo=UTC)  # BST
    assert times[("day3-reminder", "email")] == datetime(2027, 10, 31, 10, tzinfo=UTC)  # GMT
    assert times[(CLOSE, None)] == at("2027-11-25 10:00")


def test_nothing_is_due_before_the_wave_opens() -> None:
    before = SPRING.opens - timedelta(minutes=1)
    assert due_actions(SPRING, EVERYTHING, before) == []
    assert next_due(SPRING, EVERYTHING, before) == SPRING.opens


# quiet hours ---------------------------------------------------------------------


def test_quiet_hours_defer_to_the_next_morning_on_either_side_of_a_clock_change() -> None:
    quiet = QuietHours(time(21), time(8))
    # the evening before the spring change: 08:00 BST on Sunday is 07:00 UTC
    assert quiet.next_allowed(at("2027-03-27 22:00"), LONDON) == datetime(
        2027, 3, 28, 7, tzinfo=UTC
    )
    # in the small hours the clocks skip: still 08:00 local
    assert quiet.next_allowed(at("2027-03-28 00:30"), LONDON) == datetime(
        2027, 3, 28, 7, tzinfo=UTC
    )
    # the evening before the autumn change: 08:00 GMT on Sunday is 08:00 UTC
    assert quiet.next_allowed(at("2027-10-30 22:00"), LONDON) == datetime(
        2027, 10, 31, 8, tzinfo=UTC
    )
    # in the hour that happens twice
    twice = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 01:30 BST, the first time
    assert quiet.next_allowed(twice, LONDON) == datetime(2027, 10, 31, 8, tzinfo=UTC)
    assert quiet.next_allowed(twice + timedelta(hours=1), LONDON) == datetime(
        2027, 10, 31, 8, tzinfo=UTC
    )
    # outside the quiet hours nothing moves; the end itself is allowed
    assert quiet.next_allowed(at("2027-03-27 20:59"), LONDON) == at("2027-03-27 20:59")
    assert quiet.next_allowed(at("2027-03-29 08:00"), LONDON) == at("2027-03-29 08:00")
    lunch = QuietHours(time(12), time(14))
    assert lunch.next_allowed(at("2027-03-29 13:00"), LONDON) == at("2027-03-29 14:00")
    assert lunch.next_allowed(at("2027-03-29 11:00"), LONDON) == at("2027-03-29 11:00")
    with pytest.raises(ValueError):
        QuietHours(time(8), time(8))


def test_quiet_hours_are_the_members_own() -> None:
    """10:00 in London is 06:00 in New York: the invitation waits for 08:00 there."""
    new_york = ZoneInfo("America/New_York")
    member = dataclasses.replace(EVERYTHING, zone="America/New_York")
    assert due_actions(SPRING, member, SPRING.opens) == []
    due = next_due(SPRING, member, SPRING.opens)
    assert due == at("2027-03-25 08:00", new_york)  # New York is already on summer time
    assert {a.channel for a in due_actions(SPRING, member, due)} == {"email", "sms"}
    sydney = dataclasses.replace(EVERYTHING, zone="Australia/Sydney")  # 10:00 GMT is 21:00 there
    assert next_due(SPRING, sydney, SPRING.opens) == at(
        "2027-03-26 08:00", ZoneInfo("Australia/Sydney")
    )


def test_an_overdue_message_found_in_the_quiet_hours_waits_for_the_morning() -> None:
    """The invitation fell due at 10:00; a worker that was down finds it at 21:30: 08:00 next day.

    Found by the whole-wave property test (a worker waking at 21:00 sent a reminder overdue
    since the morning).
    """
    late = at("2027-03-25 21:30")
    assert due_actions(SPRING, EVERYTHING, late) == []
    morning = next_due(SPRING, EVERYTHING, late)
    assert morning == at("2027-03-26 08:00")
    assert {a.channel for a in due_actions(SPRING, EVERYTHING, morning)} == {"email", "sms"}
    assert {a.channel for a in due_actions(SPRING, EVERYTHING, at("2027-03-25 20:59"))} == {
        "email",
        "sms",
    }


def test_a_wave_without_quiet_hours_sends_at_any_hour() -> None:
    night = make_wave(
        "2027-03-25 23:00", PLAN.replace("quiet_hours: 21:00-08:00", "quiet_hours: none")
    )
    assert {a.channel for a in due_actions(night, EVERYTHING, night.opens)} == {"email", "sms"}
    quiet = make_wave("2027-03-25 23:00")
    assert due_actions(quiet, EVERYTHING, quiet.opens) == []
    assert next_due(quiet, EVERYTHING, quiet.opens) == at("2027-03-26 08:00")


# never twice, and stopping ---------------------------------------------------------


def test_a_step_done_on_one_channel_is_still_due_on_the_other() -> None:
    sent = record(
        EVERYTHING, [Action("invitation", "day0-invitation", SPRING.opens, "email")], SPRING.opens
    )
    assert [a.channel for a in due_actions(SPRING, sent, SPRING.opens)] == ["sms"]
    both = record(
        sent, [Action("invitation", "day0-invitation", SPRING.opens, "sms")], SPRING.opens
    )
    assert due_actions(SPRING, both, SPRING.opens + timedelta(hours=1)) == []
    assert next_due(SPRING, both, SPRING.opens) == at("2027-03-28 10:00")


def test_once_finished_only_the_incentive_is_due_and_only_once() -> None:
    finished_at = at("2027-03-29 12:00")
    log = run(SPRING, EVERYTHING, finish_at=finished_at)
    steps = [(a.step, when) for when, a in log]
    assert steps[-1] == (INCENTIVE, finished_at)
    assert all(when < finished_at for step, when in steps[:-1])
    assert [a.kind for _, a in log].count("incentive") == 1
    no_incentive = dataclasses.replace(SPRING, incentive=None)
    member = dataclasses.replace(EVERYTHING, finished=True)
    assert due_actions(no_incentive, member, SPRING.opens) == []
    assert next_due(no_incentive, member, SPRING.opens) is None


def test_an_opted_out_member_is_only_closed_and_a_withdrawn_one_gets_nothing() -> None:
    opted_out = dataclasses.replace(EVERYTHING, opted_out=True)
    assert due_actions(SPRING, opted_out, SPRING.opens) == []
    assert next_due(SPRING, opted_out, SPRING.opens) == SPRING.closes
    assert [a.kind for a in due_actions(SPRING, opted_out, SPRING.closes)] == ["close"]
    withdrawn = dataclasses.replace(EVERYTHING, withdrawn=True)
    assert pending_actions(SPRING, withdrawn, SPRING.opens) == []
    assert next_due(SPRING, withdrawn, SPRING.opens) is None
    finished_then_withdrawn = dataclasses.replace(withdrawn, finished=True)
    assert pending_actions(SPRING, finished_then_withdrawn, SPRING.closes) == []


def test_opting_out_mid_wave_stops_everything_but_the_close() -> None:
    log = run(SPRING, EVERYTHING, until=at("2027-03-30 00:00"))
    member = record(EVERYTHING, [a for _, a in log], at("2027-03-30 00:00"))
    member = dataclasses.replace(member, opted_out=True)
    assert next_due(SPRING, member, at("2027-03-30 00:00")) == SPRING.closes


def test_after_the_close_only_the_close_and_then_nothing() -> None:
    late = SPRING.closes + timedelta(days=2)
    (close,) = due_actions(SPRING, EVERYTHING, late)
    assert (close.kind, close.due) == ("close", SPRING.closes)
    closed = record(EVERYTHING, [close], late)
    assert pending_actions(SPRING, closed, late) == []


# whom each step reaches ----------------------------------------------------------------


def test_reminders_reach_only_their_audience() -> None:
    started_at = at("2027-03-26 12:00")
    log = run(SPRING, EVERYTHING, start_at=started_at)
    steps = [a.step for _, a in log]
    assert "day7-reminder" not in steps  # to: not_started
    assert "day12-reminder" in steps  # to: started
    assert steps.count("day3-reminder") == 2  # to: unfinished (default)


def test_the_phone_needs_a_phone_whatever_the_audience() -> None:
    plan = PLAN.replace("    move_to: phone\n", "    move_to: phone\n    to: not_started\n")
    wave = make_wave(plan=plan)
    email_only = MemberState("m6", addresses=(EMAIL,))
    assert "day14-move_to_phone" not in [a.step for _, a in run(wave, email_only)]
    assert "day14-move_to_phone" in [a.step for _, a in run(wave, EVERYTHING)]
    started = [a.step for _, a in run(wave, EVERYTHING, start_at=wave.opens + timedelta(hours=1))]
    assert "day14-move_to_phone" not in started


def test_no_address_means_no_message_and_no_phone() -> None:
    nobody = MemberState("m2")
    assert [a.kind for _, a in run(SPRING, nobody)] == ["close"]
    letters_only = MemberState("m3", addresses=(Address("address", "a1"),))
    assert [a.kind for _, a in run(SPRING, letters_only)] == ["close"]


def test_a_bounced_address_is_not_used_again() -> None:
    member = MemberState(
        "m4",
        addresses=(
            Address("email", "old", bounced=True),
            Address("email", "new"),
            Address("phone", "landline", failed_channels=frozenset({"sms"})),
        ),
    )
    actions = due_actions(SPRING, member, SPRING.opens)
    assert [(a.channel, a.address) for a in actions] == [("email", "new")]  # no SMS to a landline
    phone = [
        a for a in due_actions(SPRING, member, SPRING.day_time(14)) if a.kind == "move_to_phone"
    ]
    assert len(phone) == 1  # a landline is still called
    dead = dataclasses.replace(
        member,
        addresses=(Address("email", "old", bounced=True), Address("phone", "x", bounced=True)),
    )
    assert [a.kind for _, a in run(SPRING, dead)] == ["close"]


def test_a_stopped_channel_is_not_used() -> None:
    member = dataclasses.replace(EVERYTHING, stopped_channels=frozenset({"sms"}))
    assert {a.channel for _, a in run(SPRING, member) if a.channel} == {"email"}


def test_templates_in_the_members_language() -> None:
    welsh = dataclasses.replace(EVERYTHING, language="cy")
    sent = record(welsh, due_actions(SPRING, welsh, SPRING.opens), SPRING.opens)
    reminders = due_actions(SPRING, sent, SPRING.day_time(3))
    assert [(a.channel, a.template, a.language) for a in reminders] == [
        ("email", "rem_cy", "cy"),
        ("sms", "rem_sms", "cy"),
    ]
    french = dataclasses.replace(sent, language="fr")
    email = due_actions(SPRING, french, SPRING.day_time(3))[0]
    assert (email.template, email.language) == ("rem_en", "en")


# the plan's spacing: never two messages at once -----------------------------------------


def test_a_member_invited_late_keeps_the_plans_spacing() -> None:
    late = at("2027-03-30 15:00")  # day 5: the member joined the wave late
    invited = record(EVERYTHING, due_actions(SPRING, EVERYTHING, late), late)
    assert {a.step for a in due_actions(SPRING, EVERYTHING, late)} == {"day0-invitation"}
    assert next_due(SPRING, invited, late) == at("2027-04-02 15:00")  # three days after
    log = run(SPRING, invited)
    first = {a.step: when for when, a in log}
    assert first["day3-reminder"] == at("2027-04-02 15:00")
    assert first["day7-reminder"] == at("2027-04-06 15:00")  # four days later, as planned
    assert first["day14-move_to_phone"] == at("2027-04-08 10:00")  # the queue keeps its day


def test_a_worker_that_was_down_sends_one_message_at_a_time() -> None:
    back = at("2027-04-05 12:00")  # day 11, nothing sent yet
    assert {a.step for a in due_actions(SPRING, EVERYTHING, back)} == {"day0-invitation"}


def test_plugin_channels_say_what_they_send_to() -> None:
    plan = PLAN.replace(
        "channels: [email, sms]\n    templates: {{email: inv_email, sms: inv_sms}}",
        "channels: [whatsapp]\n    templates: {{whatsapp: inv}}",
    )
    wave, diagnostics = load_wave_text(
        plan.format(open="2027-03-25 10:00"), "w.wave.yaml", channels=("email", "sms", "whatsapp")
    )
    assert wave is not None, diagnostics.items
    with pytest.raises(ValueError, match="whatsapp"):
        due_actions(wave, EVERYTHING, wave.opens)
    (action,) = due_actions(
        wave, EVERYTHING, wave.opens, needs={**CHANNEL_ADDRESS, "whatsapp": "phone"}
    )
    assert (action.channel, action.address) == ("whatsapp", "p1")


def test_times_must_be_aware_and_zones_known() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_actions(SPRING, EVERYTHING, datetime(2027, 3, 25, 10))
    with pytest.raises(ValueError, match="unknown time zone"):
        due_actions(SPRING, dataclasses.replace(EVERYTHING, zone="Mars/Olympus"), SPRING.opens)


# properties ---------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Europe/Berlin"]
addresses = st.lists(
    st.builds(
        Address,
        kind=st.sampled_from(["email", "phone", "address"]),
        ref=st.text("abc", min_size=1, max_size=3),
        bounced=st.booleans(),
        failed_channels=st.frozensets(st.sampled_from(["sms", "email", "phone"]), max_size=2),
    ),
    max_size=4,
).map(tuple)
members = st.builds(
    MemberState,
    member=st.just("m"),
    addresses=addresses,
    language=st.sampled_from([None, "en", "cy", "fr"]),
    zone=st.sampled_from([None, *ZONES]),
    opted_out=st.booleans(),
    withdrawn=st.booleans(),
    stopped_channels=st.frozensets(st.sampled_from(["sms", "email"]), max_size=1),
)
waves = st.sampled_from(
    [SPRING, AUTUMN, make_wave("2027-03-27 20:45"), make_wave("2027-10-30 07:15")]
)
hours = st.integers(min_value=0, max_value=32 * 24)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wave=waves,
    member=members,
    finish=st.none() | hours,
    start=st.none() | hours,
    wakes=st.lists(hours, max_size=20),
)
def test_a_whole_wave_keeps_every_rule(
    wave: Wave, member: MemberState, finish: int | None, start: int | None, wakes: list[int]
) -> None:
    """A worker waking when told and at random other times: every rule holds."""
    finish_at = wave.opens + timedelta(hours=finish) if finish is not None else None
    start_at = wave.opens + timedelta(hours=start) if start is not None else None
    extra = tuple(wave.opens + timedelta(hours=h, minutes=17) for h in wakes)
    log = run(wave, member, finish_at=finish_at, start_at=start_at, wakes=extra)
    zone = ZoneInfo(member.zone or wave.zone)
    keys = [(a.step, a.channel) for _, a in log]
    assert len(keys) == len(set(keys)), "never a step twice"
    messages: list[tuple[datetime, Action]] = []
    for when, action in log:
        if action.kind in ("invitation", "reminder", "automated_call"):
            local = when.astimezone(zone).time()
            assert not wave.quiet_hours or not wave.quiet_hours.contains(local), (when, action)
        if action.kind != "incentive":
            assert finish_at is None or when < finish_at, "nothing after finishing"
        if action.kind in ("invitation", "reminder"):
            messages.append((when, action))
            assert action.channel not in member.stopped_channels
        if action.kind != "close":
            assert when < wave.closes
        if action.kind == "reminder":
            assert any(a.kind == "invitation" and w <= when for w, a in messages)
    # one message step at a time, each at least a day after the one before
    steps: dict[str, datetime] = {}
    for when, action in messages:
        steps.setdefault(action.step, when)
    ordered = sorted(steps.values())
    assert all(b - a >= timedelta(hours=23) for a, b in zip(ordered, ordered[1:]))
    if member.withdrawn:
        assert log == []
    elif member.opted_out and finish_at is None:
        assert [a.kind for _, a in log] == ["close"]
    elif finish_at is None:
        assert [a.kind for _, a in log].count("close") == 1


@settings(max_examples=200, deadline=None)
@given(
    wave=waves, member=members, offset=st.integers(min_value=-2 * 24 * 60, max_value=30 * 24 * 60)
)
def test_next_due_is_when_something_becomes_due(
    wave: Wave, member: MemberState, offset: int
) -> None:
    now = wave.opens + timedelta(minutes=offset)
    if due_actions(wave, member, now):
        return  # once those are done and recorded the worker asks again
    later = next_due(wave, member, now)
    if later is None:
        assert pending_actions(wave, member, now) == []
        return
    assert later > now
    assert due_actions(wave, member, later)
    assert not due_actions(wave, member, later - timedelta(seconds=1))


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2027, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    start=st.integers(min_value=0, max_value=23),
    end=st.integers(min_value=0, max_value=23),
)
def test_quiet_hours_give_the_first_allowed_moment(
    moment: datetime, zone: str, start: int, end: int
) -> None:
    if start == end:
        return
    quiet = QuietHours(time(start), time(end))
    tz = ZoneInfo(zone)
    allowed = quiet.next_allowed(moment, tz)
    assert allowed >= moment
    assert not quiet.contains(allowed.astimezone(tz).time())
    if allowed > moment:  # every minute before it was quiet
        assert quiet.contains((allowed - timedelta(minutes=1)).astimezone(tz).time())
        assert allowed - moment <= timedelta(hours=25)


def test_the_flagships_wave_web_then_phone() -> None:
    """The issue's plan: email and SMS, reminders to those not finished, the phone from day 14."""
    wave, _ = load_wave(FLAGSHIP_WAVE)
    assert wave is not None
    never = [(a.step, a.channel) for _, a in run(wave, EVERYTHING)]
    assert never == [
        ("day0-invitation", "email"),
        ("day0-invitation", "sms"),
        ("day3-reminder", "email"),
        ("day3-reminder", "sms"),
        ("day7-reminder", "email"),
        ("day12-reminder", "email"),
        ("day12-reminder", "sms"),
        ("day14-move_to_phone", None),
        ("day21-automated_call", None),
        (CLOSE, None),
    ]
    finished_at = wave.day_time(5)
    answered = [(a.step, a.channel) for _, a in run(wave, EVERYTHING, finish_at=finished_at)]
    assert answered == [*never[:4], (INCENTIVE, None)]
    email_only = MemberState("m5", addresses=(EMAIL,))
    steps = [a.step for _, a in run(wave, email_only)]
    assert "day14-move_to_phone" not in steps and steps[-1] == CLOSE
