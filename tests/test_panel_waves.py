"""The wave file: what it becomes, every error at its line, and ``instrument check`` on it.

Each broken case changes one thing in a small valid wave file and names the
message (a fragment) and the line it must point at, as the questionnaire's and
the fieldwork file's checks do. The flagship's wave file must check clean.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.panel.wave_file import (
    DEFAULT_QUIET_HOURS,
    check_against_questionnaire,
    is_wave_file,
    load_wave,
    load_wave_text,
    questionnaire_file,
)
from instrument.panel.wave_file_questionnaire import check_templates
from instrument.panel.waves import QuietHours, RateLimit
from instrument.questionnaires import open_questionnaire

ROOT = Path(__file__).resolve().parent.parent
QUESTIONNAIRES = ROOT / "questionnaires"
FLAGSHIP_WAVE = QUESTIONNAIRES / "social_licence.wave1.yaml"
FLAGSHIP = QUESTIONNAIRES / "social_licence.yaml"
NAME = "w.wave.yaml"

BASE = """\
panel: families
wave: w1
questionnaire: q
fieldwork:
  zone: Europe/London
  open: 2027-03-25 10:00
profile:
  n_children: integer
  age_band: {type: single, codes: [1, 2, 3]}
eligibility: status == 'active' and n_children > 0
preload:
  n_children: profile_n_children
contact_plan:
  - day: 0
    send: invitation
    channels: [email, sms]
    templates: {email: inv_email, sms: inv_sms}
  - day: 3
    send: reminder
    channels: [email]
    templates: {email: {en: rem_en, cy: rem_cy}}
  - day: 14
    move_to: phone
  - close: day 28
quiet_hours: 21:00-08:00
rate_limits: {email: 600/minute}
incentive: {on: complete, kind: voucher, value: "£10"}
"""


def changed(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def test_a_small_wave_reads_as_written() -> None:
    wave, diagnostics = load_wave_text(BASE, NAME)
    assert diagnostics.items == []
    assert wave is not None
    assert (wave.panel, wave.id, wave.label, wave.questionnaire) == (
        "families",
        "w1",
        "families wave w1",
        "q",
    )
    assert wave.opens == datetime(2027, 3, 25, 10, tzinfo=UTC)  # GMT until the 28th
    # day 28 is 10:00 on the wall clock, which is 09:00 UTC in summer time
    assert wave.closes == datetime(2027, 4, 22, 9, tzinfo=UTC)
    assert [step.key for step in wave.steps] == [
        "day0-invitation",
        "day3-reminder",
        "day14-move_to_phone",
    ]
    invitation, reminder, phone = wave.steps
    assert invitation.channels == ("email", "sms") and invitation.audience == "unfinished"
    assert invitation.templates == {"email": {"*": "inv_email"}, "sms": {"*": "inv_sms"}}
    assert reminder.reminder == 1 and reminder.template("email", "cy", "en") == "rem_cy"
    assert reminder.template("email", "fr", "en") == "rem_en"
    assert phone.audience == "unfinished_with_phone" and phone.channels == ()
    assert wave.step_time(reminder) == datetime(2027, 3, 28, 9, tzinfo=UTC)  # the clocks went on
    assert wave.quiet_hours == QuietHours(time(21), time(8))
    assert wave.rate_limits == {"email": RateLimit(600, timedelta(minutes=1))}
    assert wave.incentive is not None and wave.incentive.value == "£10"
    assert wave.preload == {"n_children": "profile_n_children"}
    assert wave.profile["age_band"].codes == frozenset({1, 2, 3})
    assert wave.now_open(wave.opens) and not wave.now_open(wave.closes)
    assert not wave.now_open(wave.opens - timedelta(seconds=1))


def test_eligibility_reads_the_profile_and_never_lets_leavers_in() -> None:
    wave, _ = load_wave_text(BASE, NAME)
    assert wave is not None
    today = date(2027, 3, 1)
    assert wave.eligible({"n_children": 2}, "active", today)
    assert not wave.eligible({"n_children": 0}, "active", today)
    assert not wave.eligible({}, "active", today)  # missing: a comparison with it is false
    assert not wave.eligible({"n_children": 2}, "paused", today)
    always = load_wave_text(
        changed("eligibility: status == 'active' and n_children > 0", "eligibility: true"), NAME
    )[0]
    assert always is not None
    assert always.eligible({}, "paused", today)
    for status in ("withdrawn", "ineligible", "deceased"):
        assert not always.eligible({"n_children": 2}, status, today)
    assert wave.preloads({"n_children": 2, "age_band": 1}) == {"profile_n_children": 2}
    assert wave.preloads({}) == {}


def test_defaults() -> None:
    text = changed("eligibility: status == 'active' and n_children > 0\n", "")
    text = text.replace("quiet_hours: 21:00-08:00\n", "").replace(
        'incentive: {on: complete, kind: voucher, value: "£10"}\n', ""
    )
    wave, diagnostics = load_wave_text(text, NAME)
    assert diagnostics.items == [] and wave is not None
    assert wave.eligibility.source == "status == 'active'"
    assert wave.quiet_hours == DEFAULT_QUIET_HOURS
    assert wave.incentive is None and wave.default_language == "en"
    assert wave.target is None
    aimed = load_wave_text(BASE + "target: 1200\n", NAME)[0]
    assert aimed is not None and aimed.target == 1200
    none = load_wave_text(changed("quiet_hours: 21:00-08:00", "quiet_hours: none"), NAME)[0]
    assert none is not None and none.quiet_hours is None


def test_a_bare_on_key_is_read_as_on() -> None:
    """YAML 1.1 reads ``on`` as true; ``incentive: {on: complete}`` must still work."""
    wave, diagnostics = load_wave_text(BASE, NAME)
    assert wave is not None and wave.incentive is not None and wave.incentive.on == "complete"
    text = changed("incentive: {on: complete,", "incentive: {yes: complete, on: complete,")
    _, diagnostics = load_wave_text(text, NAME)
    assert any("key True is not text" in d.message for d in diagnostics.errors)


def test_a_fieldwork_close_that_agrees_with_the_plan_is_accepted() -> None:
    text = changed(
        "  open: 2027-03-25 10:00\n", "  open: 2027-03-25 10:00\n  close: 2027-04-22 10:00\n"
    )
    wave, diagnostics = load_wave_text(text, NAME)
    assert diagnostics.items == [] and wave is not None
    only = text.replace("  - close: day 28\n", "")
    wave, diagnostics = load_wave_text(only, NAME)
    assert diagnostics.items == [] and wave is not None
    assert wave.closes == datetime(2027, 4, 22, 9, tzinfo=UTC)


# (name, yaml, expected fragment, line, severity)
CASES = [
    ("yaml syntax", changed("panel: families", "panel: [families"), "YAML syntax", 2, "error"),
    ("empty", "", "the file is empty", 1, "error"),
    ("not a mapping", "- 1\n", "the wave file must be a mapping", 1, "error"),
    ("unknown top key", changed("quiet_hours:", "quite_hours:"), "unknown key 'quite_hours' in the wave file; did you mean 'quiet_hours'?", 25, "error"),
    ("missing panel", changed("panel: families\n", ""), "the wave file needs 'panel'", 1, "error"),
    ("duplicate key", changed("wave: w1\n", "wave: w1\nwave: w2\n"), "duplicate key 'wave' (first at line 2)", 3, "error"),
    ("bad wave id", changed("wave: w1", "wave: [1]"), "wave must be a short name", 2, "error"),
    ("bad questionnaire", changed("questionnaire: q", "questionnaire: my questionnaire"), "questionnaire must be a file (such as q.yaml) or an id", 3, "error"),
    ("bad zone", changed("Europe/London", "Europe/Londn"), "unknown time zone 'Europe/Londn'", 5, "error"),
    ("fieldwork empty", changed("fieldwork:\n  zone: Europe/London\n  open: 2027-03-25 10:00\n", "fieldwork:\n"), "fieldwork needs 'open'", 4, "error"),
    ("fieldwork not a mapping", changed("fieldwork:\n  zone: Europe/London\n  open: 2027-03-25 10:00\n", "fieldwork: 2027-03-25\n"), "fieldwork must be a mapping", 4, "error"),
    ("fieldwork without open", changed("  open: 2027-03-25 10:00\n", ""), "fieldwork needs 'open': when the wave opens", 5, "error"),
    ("fieldwork key", changed("  zone:", "  zome:"), "unknown key 'zome' in fieldwork; did you mean 'zone'?", 5, "error"),
    ("open without time", changed("open: 2027-03-25 10:00", "open: 2027-03-25"), "fieldwork.open needs a time of day too, such as 2027-03-25 10:00", 6, "error"),
    ("open in another form", changed("open: 2027-03-25 10:00", "open: 25/03/2027 10:00"), "fieldwork.open must be a date and time such as 2027-02-01 10:00", 6, "error"),
    ("impossible date", changed("open: 2027-03-25 10:00", "open: 2027-02-30 10:00"), "fieldwork.open must be a date and time", 6, "error"),
    ("open skipped by the clocks", changed("open: 2027-03-25 10:00", "open: 2027-03-28 01:30"), "2027-03-28 01:30 does not happen in Europe/London (the clocks go forward)", 6, "error"),
    ("open twice on the clock", changed("open: 2027-03-25 10:00", "open: 2027-10-31 01:30"), "happens twice in Europe/London (the clocks go back); the first is taken", 6, "warning"),
    ("open with an offset", changed("open: 2027-03-25 10:00", "open: 2027-03-25 10:00:00+01:00"), "write the local time without an offset", 6, "error"),
    ("profile type", changed("n_children: integer", "n_children: intger"), "did you mean 'integer'?", 8, "error"),
    ("single without codes", changed("{type: single, codes: [1, 2, 3]}", "{type: single}"), "a single choice needs its codes", 9, "error"),
    ("codes not numbers", changed("codes: [1, 2, 3]", "codes: [a, b]"), "profile.age_band.codes must be a list of whole numbers", 9, "error"),
    ("code twice", changed("codes: [1, 2, 3]", "codes: [1, 2, 2]"), "lists a code twice", 9, "error"),
    ("profile key", changed("{type: single, codes: [1, 2, 3]}", "{type: single, codes: [1], labels: x}"), "unknown key 'labels' in profile.age_band; did you mean 'label'?", 9, "error"),
    ("profile named status", changed("  age_band: {type: single, codes: [1, 2, 3]}", "  status: text"), "'status' is the member's panel status", 9, "error"),
    ("profile bad name", changed("  age_band: {type: single, codes: [1, 2, 3]}", "  2nd_home: text"), "'2nd_home' is not a valid SPSS and Stata name", 9, "error"),
    ("eligibility unknown variable", changed("n_children > 0", "n_child > 0"), "eligibility: unknown variable 'n_child'; did you mean 'n_children'?", 10, "error"),
    ("eligibility syntax", changed("n_children > 0", "n_children >"), "eligibility: the expression is incomplete", 10, "error"),
    ("eligibility not a condition", changed("status == 'active' and n_children > 0", "n_children"), "a condition must be true or false", 10, "error"),
    ("eligibility code", changed("n_children > 0", "age_band == 7"), "age_band has no option with code 7", 10, "error"),
    ("eligibility status word", changed("status == 'active'", "status == 'actve'"), "a member's status is never 'actve' (it is one of active, paused, withdrawn, ineligible, deceased); did you mean 'active'?", 10, "warning"),
    ("eligibility status list", changed("status == 'active'", "status in ['active', 'pasued']"), "a member's status is never 'pasued' (it is one of active, paused, withdrawn, ineligible, deceased); did you mean 'paused'?", 10, "warning"),
    ("eligibility as a list", changed("eligibility: status == 'active' and n_children > 0", "eligibility: [a]"), "eligibility must be an expression written as text", 10, "error"),
    ("preload of no profile variable", changed("  n_children: profile_n_children", "  n_kids: profile_n_children"), "preload: 'n_kids' is not a profile variable of this wave (declare it under profile)", 12, "error"),
    ("preload given twice", changed("  n_children: profile_n_children\n", "  n_children: profile_n_children\n  age_band: profile_n_children\n"), "the preload 'profile_n_children' is already given (line 12)", 13, "error"),
    ("step without action", changed("    move_to: phone", "    moveto: phone"), "a step does one of send, move_to, automated_call, sms_interview or close (this one: none)", 22, "error"),
    ("step with two actions", changed("    move_to: phone", "    move_to: phone\n    send: reminder"), "(this one: send and move_to)", 22, "error"),
    ("unknown send", changed("send: reminder", "send: remindr"), "send must be one of invitation, reminder, not 'remindr'; did you mean 'reminder'?", 19, "error"),
    ("unknown channel", changed("channels: [email]", "channels: [emial]"), "a channel must be one of email, sms, letter, not 'emial'; did you mean 'email'?", 20, "error"),
    ("channel twice", changed("channels: [email, sms]", "channels: [email, email]"), "the channel email is listed twice", 16, "error"),
    ("no channels", changed("    channels: [email]\n", ""), "a send step needs its channels", 18, "error"),
    ("no template for a channel", changed("templates: {email: inv_email, sms: inv_sms}", "templates: {email: inv_email}"), "templates: no template for sms", 17, "error"),
    ("template for another channel", changed("templates: {email: inv_email, sms: inv_sms}", "templates: {email: inv_email, sms: inv_sms, letter: x}"), "templates: 'letter' is not a channel of this step", 17, "error"),
    ("no templates", changed("    templates: {email: inv_email, sms: inv_sms}\n", ""), "a send step names its templates", 14, "error"),
    ("template in no default language", changed("{en: rem_en, cy: rem_cy}", "{cy: rem_cy}"), "templates.email has no template in the default language (en)", 21, "error"),
    ("template language", changed("{en: rem_en, cy: rem_cy}", "{en: rem_en, Welsh: rem_cy}"), "'Welsh' is not a language code", 21, "error"),
    ("template name", changed("inv_email,", "'inv email',"), "'inv email' is not a template name (lower-case letters, digits and _", 17, "error"),
    ("unknown audience", changed("    send: reminder\n", "    send: reminder\n    to: everyone\n"), "to must be one of unfinished, not_started, started, unfinished_with_phone, not 'everyone'", 20, "error"),
    ("reminder on the invitation's day", changed("  - day: 3", "  - day: 0"), "a reminder comes on a later day than the message before it (day 0)", 18, "error"),
    ("steps out of order", changed("  - day: 14", "  - day: 2"), "steps are listed in the order of their days: day 2 comes after day 3", 22, "error"),
    ("reminder before an invitation", changed("send: invitation", "send: reminder"), "a reminder before any invitation", 14, "error"),
    ("two invitations", changed("send: reminder", "send: invitation"), "the plan invites twice (first at line 14)", 18, "error"),
    ("no day", changed("  - day: 14\n    move_to: phone", "  - move_to: phone"), "a step needs its 'day'", 22, "error"),
    ("negative day", changed("  - day: 14", "  - day: -1"), "day must be from 0 to 366", 22, "error"),
    ("day in words", changed("  - day: 14", "  - day: fourteen"), "day must be a whole number of days from the opening, not 'fourteen'", 22, "error"),
    ("step after the close", changed("  - day: 14", "  - day: 30"), "the move_to_phone on day 30 comes when the wave has closed", 22, "error"),
    ("step listed after close", changed("  - close: day 28\n", "  - close: day 28\n  - day: 20\n    move_to: phone\n"), "a step after the plan's close", 25, "error"),
    ("unknown step key", changed("    move_to: phone", "    move_to: phone\n    channels: [sms]"), "unknown key 'channels' in a move_to step", 24, "error"),
    ("move to what", changed("move_to: phone", "move_to: phones"), "move_to must be one of phone, not 'phones'; did you mean 'phone'?", 23, "error"),
    ("bad at", changed("    move_to: phone", "    move_to: phone\n    at: '25:00'"), "at must be a time of day such as 10:00 (in quotes), not '25:00'", 24, "error"),
    ("sexagesimal at", changed("    move_to: phone", "    move_to: phone\n    at: 10:00"), "at must be a time of day such as 10:00 (in quotes), not 600", 24, "error"),
    ("automated call attempts", changed("move_to: phone", "automated_call: {max_attempts: 20}"), "automated_call.max_attempts must be from 1 to 10", 23, "error"),
    ("automated call key", changed("move_to: phone", "automated_call: {attempts: 2}"), "unknown key 'attempts' in automated_call; did you mean 'max_attempts'?", 23, "error"),
    ("automated call retry", changed("move_to: phone", "automated_call: {retry_after: tomorrow}"), "automated_call.retry_after must be a duration such as 90m, 3h or 7d", 23, "error"),
    ("no close", changed("  - close: day 28\n", ""), "the wave never closes", 1, "error"),
    ("close twice", changed("  - close: day 28\n", "  - close: day 28\n  - close: day 29\n"), "the plan closes twice (first at line 24)", 25, "error"),
    ("bad close", changed("close: day 28", "close: 28 days"), "close must be a day of the wave such as 'day 28'", 24, "error"),
    ("close and fieldwork.close disagree", changed("  open: 2027-03-25 10:00\n", "  open: 2027-03-25 10:00\n  close: 2027-04-23 10:00\n"), "fieldwork.close disagrees with the plan's close: day 28 is 2027-04-22 10:00", 7, "error"),
    ("close before open", changed("  open: 2027-03-25 10:00\n", "  open: 2027-03-25 10:00\n  close: 2027-03-24 10:00\n"), "fieldwork.close must come after fieldwork.open", 7, "error"),
    ("plan is not a list", changed("contact_plan:\n", "contact_plan: weekly\nx_plan:\n"), "contact_plan must be a list of steps", 13, "error"),
    ("quiet hours", changed("21:00-08:00", "9pm-8am"), "quiet_hours must be a range of local times such as 21:00-08:00, or none; not '9pm-8am'", 25, "error"),
    ("quiet hours of no length", changed("21:00-08:00", "08:00-08:00"), "quiet_hours must be a range", 25, "error"),
    ("rate", changed("600/minute", "600 a minute"), "rate_limits.email must be a rate such as 600/minute, not '600 a minute'", 26, "error"),
    ("rate of no channel", changed("{email: 600/minute}", "{emails: 600/minute}"), "rate_limits: unknown channel 'emails'; did you mean 'email'?", 26, "error"),
    ("incentive on", changed("on: complete", "on: start"), "incentive.on must be one of complete, not 'start'", 27, "error"),
    ("incentive value missing", changed(', value: "£10"', ""), "incentive needs value", 27, "error"),
    ("incentive value as a number", changed('value: "£10"', "value: 10"), "incentive.value must be text, not 10", 27, "error"),
    ("incentive key", changed("kind: voucher", "kind: voucher, amount: 3"), "unknown key 'amount' in incentive", 27, "error"),
    ("default language", BASE + "default_language: English\n", "default_language must be a language code such as en or cy, not 'English'", 28, "error"),
    ("target of none", BASE + "target: 0\n", "target must be the number of completes aimed for, such as 1200, not 0", 28, "error"),
    ("target as text", BASE + "target: lots\n", "target must be the number of completes aimed for, such as 1200, not 'lots'", 28, "error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment", "line", "severity"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_problem_is_reported_at_its_line(
    text: str, fragment: str, line: int, severity: str
) -> None:
    wave, diagnostics = load_wave_text(text, NAME)
    matching = [d for d in diagnostics.items if fragment in d.message]
    assert matching, [str(d) for d in diagnostics.items]
    found = matching[0]
    assert (found.position.line, found.severity) == (line, severity), str(found)
    assert str(found).startswith(f"{NAME}:{line}:")
    assert all(d.position.file == NAME and d.position.line >= 1 for d in diagnostics.items)
    if severity == "error":
        assert wave is None  # a wave with errors is never handed out
    else:
        assert wave is not None and not diagnostics.errors


def test_an_expression_error_points_at_its_column() -> None:
    _, diagnostics = load_wave_text(changed("n_children > 0", "n_child > 0"), NAME)
    (error,) = diagnostics.errors
    assert (error.position.line, error.position.col) == (10, 37)  # the 'n' of n_child


def test_a_plan_that_never_invites() -> None:
    text = changed(
        "  - day: 0\n    send: invitation\n    channels: [email, sms]\n"
        "    templates: {email: inv_email, sms: inv_sms}\n  - day: 3\n    send: reminder\n"
        "    channels: [email]\n    templates: {email: {en: rem_en, cy: rem_cy}}\n",
        "",
    )
    _, diagnostics = load_wave_text(text, NAME)
    assert [d.message for d in diagnostics.errors] == [
        "the contact plan never invites: add - {day: 0, send: invitation, channels: [email]}"
    ]


def test_a_plugin_channel_is_known_when_installed() -> None:
    text = changed("channels: [email]", "channels: [whatsapp]").replace(
        "{email: {en: rem_en, cy: rem_cy}}", "{whatsapp: rem}"
    )
    assert load_wave_text(text, NAME)[0] is None
    wave, diagnostics = load_wave_text(text, NAME, channels=("email", "sms", "whatsapp"))
    assert diagnostics.items == [] and wave is not None
    assert wave.steps[1].channels == ("whatsapp",)


def test_wave_files_are_known_by_name() -> None:
    for name in ("a.wave.yaml", "social_licence.wave1.yaml", "x.wave-2027-03.yml"):
        assert is_wave_file(name), name
    for name in ("a.yaml", "a.fieldwork.yaml", "wave.yaml", "a.waves.txt"):
        assert not is_wave_file(name), name


# the flagship ---------------------------------------------------------------


def test_the_flagships_wave_file_checks_clean() -> None:
    wave, diagnostics = load_wave(FLAGSHIP_WAVE)
    assert diagnostics.items == [] and wave is not None
    assert questionnaire_file(wave) == FLAGSHIP
    questionnaire = open_questionnaire(FLAGSHIP).questionnaire
    assert questionnaire is not None
    assert check_against_questionnaire(wave, questionnaire).items == []
    # the plan: email and SMS on day 0, reminders on 3, 7, 12, phone from 14, close on 28
    assert [(s.day, s.kind) for s in wave.steps] == [
        (0, "invitation"),
        (3, "reminder"),
        (7, "reminder"),
        (12, "reminder"),
        (14, "move_to_phone"),
        (21, "automated_call"),
    ]
    assert wave.steps[0].channels == ("email", "sms")
    assert [s.audience for s in wave.steps[1:4]] == ["unfinished"] * 3
    assert wave.closes == wave.day_time(28)
    assert wave.incentive is not None
    assert (wave.incentive.on, wave.incentive.kind, wave.incentive.value) == (
        "complete",
        "voucher",
        "£10",
    )
    assert set(wave.preload.values()) == {p.id for p in questionnaire.preload}
    shipped = frozenset({"invitation", "reminder"})  # the built-in channels' own templates
    assert check_templates(wave, {"email": shipped, "sms": shipped}).items == []


def test_templates_the_channels_do_not_ship_are_warned_about() -> None:
    wave, _ = load_wave_text(BASE, NAME)
    assert wave is not None
    shipped = {"email": frozenset({"invitation", "reminder"}), "sms": frozenset()}
    warnings = [str(d) for d in check_templates(wave, shipped).items]
    assert warnings == [
        f"{NAME}:14:5: warning: the invitation on day 0: the email channel ships no template "
        "'inv_email' (it has: invitation, reminder); the study's own templates must provide it",
        f"{NAME}:18:5: warning: the reminder on day 3: the email channel ships no template "
        "'rem_cy' (it has: invitation, reminder); the study's own templates must provide it",
        f"{NAME}:18:5: warning: the reminder on day 3: the email channel ships no template "
        "'rem_en' (it has: invitation, reminder); the study's own templates must provide it",
    ]  # sms ships none, so its names are not checked


def questionnaire_problems(text: str) -> list[str]:
    wave, diagnostics = load_wave_text(text, str(QUESTIONNAIRES / NAME), base=QUESTIONNAIRES)
    assert wave is not None, [str(d) for d in diagnostics.items]
    questionnaire = open_questionnaire(FLAGSHIP).questionnaire
    assert questionnaire is not None
    return [str(d) for d in check_against_questionnaire(wave, questionnaire).sorted()]


def test_what_the_wave_asks_of_its_questionnaire_is_checked() -> None:
    text = changed("questionnaire: q", "questionnaire: social_licence.yaml")
    problems = questionnaire_problems(text)
    # two of the flagship's three preloads are not given (it is in English and Welsh, so the
    # reminder's Welsh template is one of its languages')
    assert [p.split(": warning: ")[1][:40] for p in problems] == [
        "the questionnaire's preload 'profile_age",
        "the questionnaire's preload 'profile_lon",
    ]
    assert "'profile_age_band' is not given by this wave" in problems[0]
    line12 = f"{QUESTIONNAIRES / NAME}:12:"
    wrong = text.replace("n_children: profile_n_children", "n_children: profile_n_child")
    (error,) = [p for p in questionnaire_problems(wrong) if ": error: " in p]
    assert error.startswith(line12)
    assert "the questionnaire has no preload 'profile_n_child'" in error
    assert "did you mean 'profile_n_children'?" in error
    typed = text.replace("n_children: integer", "n_children: text").replace(
        "n_children > 0", "n_children != ''"
    )
    (error,) = [p for p in questionnaire_problems(typed) if ": error: " in p]
    assert (
        "the profile variable is text but the questionnaire's preload 'profile_n_children' is integer"
        in error
    )
    coded = text.replace(
        "  n_children: profile_n_children", "  age_band: profile_age_band"
    ).replace("codes: [1, 2, 3]", "codes: [1, 2, 3, 6]")
    (error,) = [p for p in questionnaire_problems(coded) if ": error: " in p]
    assert "the profile's codes 6 are not options of the preload 'profile_age_band'" in error
    called = text.replace("move_to: phone", "automated_call: {mode: web}")
    (error,) = [p for p in questionnaire_problems(called) if ": error: " in p]
    assert error.startswith(f"{QUESTIONNAIRES / NAME}:22:")
    assert (
        "automated_call: 'web' is not an automated mode of the questionnaire (it has: ivr)" in error
    )
    breton = text + "default_language: br\n"
    breton = breton.replace("{en: rem_en, cy: rem_cy}", "{br: rem_br}")
    errors = [p for p in questionnaire_problems(breton) if ": error: " in p]
    assert errors == [
        f"{QUESTIONNAIRES / NAME}:28:1: error: default_language 'br' is not a language of the "
        "questionnaire (en, cy)"
    ]
    french = text.replace("{en: rem_en, cy: rem_cy}", "{en: rem_en, fr: rem_fr}")
    warned = [p for p in questionnaire_problems(french) if "a template in 'fr'" in p]
    assert len(warned) == 1 and ": warning: " in warned[0]


def test_a_questionnaire_path_that_is_not_there(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text(changed("questionnaire: q", "questionnaire: missing.yaml"), encoding="utf-8")
    wave, diagnostics = load_wave(path)
    assert wave is None
    (error,) = diagnostics.errors
    assert str(error).startswith(f"{path}:3:16: error: no questionnaire file at ")


def test_an_unreadable_file(tmp_path: Path) -> None:
    wave, diagnostics = load_wave(tmp_path / "none.wave.yaml")
    assert wave is None and "cannot read the file" in diagnostics.errors[0].message


# instrument check ----------------------------------------------------------


def flagship_copy(tmp_path: Path) -> Path:
    for name in (
        "social_licence.yaml",
        "social_licence.fieldwork.yaml",
        "social_licence.wave1.yaml",
    ):
        shutil.copy(QUESTIONNAIRES / name, tmp_path / name)
    return tmp_path / "social_licence.wave1.yaml"


def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.output


def test_check_passes_the_flagships_wave_file() -> None:
    code, output = run_check(str(FLAGSHIP_WAVE))
    assert code == 0, output
    assert "1 file checked: 0 errors, 0 warnings" in output


def test_check_reports_a_broken_wave_file_at_its_line(tmp_path: Path) -> None:
    path = flagship_copy(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if "send: reminder" in line)
    lines[number] = lines[number].replace("send: reminder", "send: remindr")
    path.write_text("".join(lines), encoding="utf-8")
    code, output = run_check(str(path))
    assert code == 1
    assert (
        f"{path}:{number + 1}:11: error: send must be one of invitation, reminder, not 'remindr'; "
        "did you mean 'reminder'?"
    ) in output
    assert "1 file checked: 1 error, 0 warnings" in output
    code, output = run_check("--format", "json", str(path))
    report = json.loads(output)
    assert code == 1 and not report["ok"]
    assert [(p["line"], p["severity"]) for p in report["problems"]] == [(number + 1, "error")]


def test_check_also_checks_the_questionnaire_the_wave_names(tmp_path: Path) -> None:
    path = flagship_copy(tmp_path)
    questionnaire = tmp_path / "social_licence.yaml"
    text = questionnaire.read_text(encoding="utf-8")
    questionnaire.write_text(text.replace("\n  title:", "\n  titel:", 1), encoding="utf-8")
    line = text.splitlines().index("  title:") + 1  # meta's title (in English and Welsh)
    code, output = run_check(str(path))
    assert code == 1
    assert f"{questionnaire}:{line}:3: error: unknown key 'titel' in meta" in output
    # and what the wave asks of it, once the questionnaire reads
    questionnaire.write_text(text, encoding="utf-8")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "lone_parent: profile_lone_parent", "lone_parent: profile_loneparent"
        ),
        encoding="utf-8",
    )
    code, output = run_check(str(path))
    assert code == 1
    assert "the questionnaire has no preload 'profile_loneparent'" in output
    assert "did you mean 'profile_lone_parent'?" in output


def test_check_says_when_a_text_goes_as_several_parts(tmp_path: Path) -> None:
    path = flagship_copy(tmp_path)
    text = path.read_text(encoding="utf-8")
    long = 'label: "Families panel, wave 1: Families, data and public services"'
    path.write_text(re.sub(r"(?m)^label: .*$", long, text), encoding="utf-8")
    code, output = run_check(str(path))
    assert code == 0  # a warning: the texts still go
    lines = [line for line in output.splitlines() if "SMS parts" in line]
    day0 = text.splitlines().index("  - day: 0") + 1  # the step's line
    assert any(line.startswith(f"{path}:{day0}:") for line in lines), lines
    assert any(
        "the invitation on day 0: the sms template 'invitation' in cy is sent as 2 SMS parts"
        in line
        for line in lines
    ), lines
    assert not any("email" in line for line in lines)  # email has nothing to advise


def test_check_counts_the_parts_of_a_text_that_invites_a_reply(tmp_path: Path) -> None:
    """Where the wave's questionnaire can be answered by text, the invitation and reminders say
    so ("or reply to this text to answer by text"), and check measures them with those words:
    the flagship's texts fit one part without them and need two with them."""
    path = flagship_copy(tmp_path)
    code, output = run_check(str(path))
    assert code == 0
    assert not [
        line for line in output.splitlines() if "wave1.yaml" in line and "SMS parts" in line
    ]
    questionnaire = tmp_path / "social_licence.yaml"
    text = questionnaire.read_text(encoding="utf-8")
    assert "  modes: [web, cati, ivr]\n" in text
    questionnaire.write_text(
        text.replace("  modes: [web, cati, ivr]\n", "  modes: [web, cati, ivr, sms]\n"),
        encoding="utf-8",
    )
    code, output = run_check(str(path))
    assert code == 0
    lines = [line for line in output.splitlines() if "wave1.yaml" in line and "SMS parts" in line]
    day0 = path.read_text(encoding="utf-8").splitlines().index("  - day: 0") + 1
    assert (
        f"{path}:{day0}:5: warning: the invitation on day 0: the sms template 'invitation' in en "
        "is sent as 2 SMS parts, each billed: 189 characters in GSM-7"
    ) in "\n".join(lines), lines
    assert any("the reminder on day 3: the sms template 'reminder' in cy" in line for line in lines)


def test_check_knows_the_installed_channels_templates(tmp_path: Path) -> None:
    path = flagship_copy(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{email: reminder}", "{email: nudge}"), encoding="utf-8")
    code, output = run_check(str(path))
    assert code == 0
    assert "the email channel ships no template 'nudge' (it has: invitation, reminder)" in output
    assert "0 errors, 1 warning" in output
    path.write_text(text.replace("channels: [email]", "channels: [mail]"), encoding="utf-8")
    code, output = run_check(str(path))
    assert code == 1
    assert (
        "a channel must be one of email, sms, letter, not 'mail'; did you mean 'email'?" in output
    )


def test_check_warns_when_a_questionnaire_named_by_id_is_not_beside_it(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text(BASE, encoding="utf-8")
    code, output = run_check(str(path))
    assert code == 0
    assert f"{path}:3:1: warning: the questionnaire 'q' is named by its id" in output
    code, _ = run_check("--strict", str(path))
    assert code == 1
