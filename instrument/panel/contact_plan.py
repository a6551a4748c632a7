"""What a wave's contact plan asks for, for one member, now: pure functions over plain data.

The fieldwork worker (written later) builds a :class:`MemberState` from the
store's rows, asks :func:`due_actions` what to do, carries each action out and
records it as a :class:`Done` under the action's ``step`` and ``channel``; it
sleeps until :func:`next_due`. Nothing here reads a clock or a database, so
the rules are tested on a frozen clock, across clock changes.

The rules (docs/waves.md, "How the plan is carried out"):

- nothing is ever done twice: a step and channel recorded as done is not due again;
- a member who has finished is sent nothing (only the incentive, if the wave has one);
  one who has withdrawn gets nothing at all, and one who opted out only has their case closed;
- a message (invitation or reminder) or an automated call that falls in the quiet hours
  of the member's time zone waits until they end;
- each message keeps the plan's spacing after the one before it: a reminder planned three
  days after the invitation comes at the earliest three days after the invitation was
  actually sent, so a member invited late, or a worker that was down, never gets two
  messages at once;
- moving a case to the phone queue happens on its day (the call queue keeps its own
  calling hours); the web link stays open;
- an SMS interview (the first question texted) waits for the quiet hours as a message does,
  and goes only to a number the SMS channel may still text (not opted out, not stopped);
  a first text that failed for a passing reason is tried again (:class:`Tried`), the step's
  ``max_attempts`` in all, backing off by its ``retry_after``; once tried, the step is
  followed through whatever its audience now says (its own text started the interview), but
  a STOP, an opt-out or a bounce ends it;
- at the close, every unfinished case is closed and nothing further is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .waves import CHANNEL_ADDRESS, SmsInterview, Step, Wave, utc

__all__ = [
    "CLOSE",
    "INCENTIVE",
    "PHONE",
    "TRY_LEASE",
    "Action",
    "ActionKind",
    "Address",
    "Done",
    "MemberState",
    "Tried",
    "due_actions",
    "next_due",
    "pending_actions",
]

CLOSE = "close"
"""The ``step`` under which a case's closing is recorded."""

INCENTIVE = "incentive"
"""The ``step`` under which an earned incentive is recorded."""

PHONE = "phone"
"""The kind of address the phone queue and automated calls need."""

ActionKind = Literal[
    "invitation",
    "reminder",
    "move_to_phone",
    "automated_call",
    "sms_interview",
    "incentive",
    "close",
]

SMS = "sms"
"""The channel whose number an ``sms_interview`` step texts (and whose STOP ends it)."""

TRY_LEASE = timedelta(minutes=10)
"""How long a try still going (recorded, not yet answered) is left to its worker: past it, the
worker is taken to have stopped and the try to be lost (the fieldwork worker's claim of a
member lasts as long, so its successor cannot take the member over sooner either)."""


@dataclass(frozen=True)
class Address:
    """One of a member's contact details, as the plan needs to know it (never the detail itself).

    ``kind`` is what a channel sends to (``email``, ``phone``, ``address``);
    ``ref`` is how the store knows it. A bounced address is used by no channel
    again; ``failed_channels`` are channels that could not deliver to it
    (an SMS to a landline) while others still may (a call to that landline).
    Addresses are listed in the member's order of preference.
    """

    kind: str
    ref: str
    bounced: bool = False
    failed_channels: frozenset[str] = frozenset()

    def usable_by(self, channel: str) -> bool:
        return not self.bounced and channel not in self.failed_channels


@dataclass(frozen=True)
class Done:
    """A step carried out for a member: ``step`` is the action's step, ``channel`` its channel."""

    step: str
    at: datetime
    channel: str | None = None


@dataclass(frozen=True)
class Tried:
    """A step tried but not carried out: a first text of an ``sms_interview`` that failed for
    a passing reason (``going`` False), or one recorded and not answered yet (``going``: its
    worker is handing it over, or stopped doing so). ``tries`` counts every try, ``at`` is
    when the last one began."""

    step: str
    tries: int
    at: datetime
    going: bool = False


@dataclass(frozen=True)
class MemberState:
    """What the plan needs to know of one member's case in the wave.

    ``zone`` is the member's IANA time zone (the wave's when None);
    ``stopped_channels`` are channels the member stopped (an SMS STOP) while
    allowing others; ``opted_out`` stops all contact; ``finished_at`` dates an
    earned incentive (``now`` when unknown).
    """

    member: str
    addresses: tuple[Address, ...] = ()
    done: tuple[Done, ...] = ()
    language: str | None = None
    zone: str | None = None
    started: bool = False
    finished: bool = False
    finished_at: datetime | None = None
    opted_out: bool = False
    withdrawn: bool = False
    stopped_channels: frozenset[str] = field(default_factory=frozenset)
    tried: tuple[Tried, ...] = ()
    """Steps tried and to be tried again (not in ``done``)."""

    def address_for(self, channel: str, kind: str) -> Address | None:
        """The first address of ``kind`` that ``channel`` may still use."""
        for address in self.addresses:
            if address.kind == kind and address.usable_by(channel):
                return address
        return None


@dataclass(frozen=True)
class Action:
    """Something to do for a member, due at ``due`` (UTC).

    Record it as ``Done(action.step, when, action.channel)`` once carried out.
    """

    kind: ActionKind
    step: str
    due: datetime
    channel: str | None = None
    address: str | None = None
    template: str | None = None
    language: str | None = None
    reminder: int | None = None


def due_actions(
    wave: Wave, member: MemberState, now: datetime, needs: Mapping[str, str] = CHANNEL_ADDRESS
) -> list[Action]:
    """The actions due for ``member`` at ``now``, in the plan's order.

    ``needs`` says what each channel sends to (the built-in channels' by
    default; a plugin's channel adds its ``ContactChannel.needs``).
    """
    now = utc(now)
    return [action for action in pending_actions(wave, member, now, needs) if action.due <= now]


def next_due(
    wave: Wave, member: MemberState, now: datetime, needs: Mapping[str, str] = CHANNEL_ADDRESS
) -> datetime | None:
    """The earliest time after ``now`` at which something becomes due, if the state stays as it is.

    None when nothing ever will (finished, withdrawn, closed). What is due at
    ``now`` is left out: once it is carried out and recorded, ask again.
    """
    now = utc(now)
    later = [action.due for action in pending_actions(wave, member, now, needs) if action.due > now]
    return min(later, default=None)


def pending_actions(
    wave: Wave, member: MemberState, now: datetime, needs: Mapping[str, str] = CHANNEL_ADDRESS
) -> list[Action]:
    """Every action not yet done, due now or later, each with the time it becomes due."""
    now = utc(now)
    done: dict[tuple[str, str | None], datetime] = {}
    first: dict[str, datetime] = {}
    for record in member.done:
        at = utc(record.at)
        done[(record.step, record.channel)] = at
        first[record.step] = min(at, first.get(record.step, at))
    if member.withdrawn or CLOSE in first:
        return []
    if member.finished:
        if wave.incentive is None or INCENTIVE in first:
            return []
        earned = utc(member.finished_at) if member.finished_at is not None else now
        return [Action("incentive", INCENTIVE, earned)]
    close = Action("close", CLOSE, wave.closes)
    if now >= wave.closes or member.opted_out:
        return [close]
    zone = _zone(member.zone or wave.zone)
    actions: list[Action] = []
    previous: tuple[Step, datetime] | None = None  # the last message step and when it went
    for step in wave.steps:
        if step.is_message:
            actions_of_step, sent = _message(
                wave, step, member, done, first, previous, now, zone, needs
            )
            actions.extend(actions_of_step)
            previous = (step, sent)
        elif (step.key, None) in done:
            continue
        elif step.kind == "sms_interview":
            texting = _sms_interview(wave, step, member, now, zone, needs)
            actions.extend(texting)
        elif _reaches(step, member, needs):
            due = wave.step_time(step)
            address = None
            if step.kind == "automated_call":
                due = _quiet_now(wave, _quiet(wave, due, zone), now, zone)
                found = _phone_for(step, member, needs)
                address = found.ref if found else None
            actions.append(Action(step.kind, step.key, due, address=address))
    return [action for action in actions if action.due < wave.closes] + [close]


def _message(
    wave: Wave,
    step: Step,
    member: MemberState,
    done: Mapping[tuple[str, str | None], datetime],
    first: Mapping[str, datetime],
    previous: tuple[Step, datetime] | None,
    now: datetime,
    zone: ZoneInfo,
    needs: Mapping[str, str],
) -> tuple[list[Action], datetime]:
    """A message step's actions for this member, and when the step went (or will go)."""
    earliest = wave.step_time(step)
    if previous is not None:
        before, sent = previous
        # days counted on the wave's wall clock, as the schedule's are (aware arithmetic is)
        gap = timedelta(days=step.day - before.day)
        earliest = max(earliest, utc(sent.astimezone(wave.tz) + gap))
    due = _quiet_now(wave, _quiet(wave, earliest, zone), now, zone)
    actions: list[Action] = []
    if _reaches(step, member, needs):
        for channel in step.channels:
            if channel in member.stopped_channels or (step.key, channel) in done:
                continue
            address = member.address_for(channel, _need(needs, channel))
            if address is None:
                continue
            language = _language(step, channel, member.language, wave.default_language)
            template = step.template(channel, member.language, wave.default_language)
            actions.append(
                Action(
                    step.kind,
                    step.key,
                    due,
                    channel=channel,
                    address=address.ref,
                    template=template,
                    language=language,
                    reminder=step.reminder,
                )
            )
    if step.key in first:
        return actions, first[step.key]  # carried out (on its first channel) then
    if actions:
        return actions, max(due, now)  # to be sent: not before now
    return actions, due  # nothing to send to this member: the step passes at its time


def _sms_interview(
    wave: Wave,
    step: Step,
    member: MemberState,
    now: datetime,
    zone: ZoneInfo,
    needs: Mapping[str, str],
) -> list[Action]:
    """An ``sms_interview`` step not yet carried out: its first try, or the next one.

    A step not tried yet goes to its audience on its day. A step tried goes on whatever the
    audience now says (its own first text started the member's interview: ``not_started``
    would otherwise never let it be tried again), after the step's wait (doubled at each
    try) or, for a try still going, after :data:`TRY_LEASE`; not at all once its tries are
    used up. Its number must still be one the SMS channel may text: when it no longer is (a
    STOP, an opt-out, a bounce) the action comes without an address, and is recorded as
    carried out with why, never tried.
    """
    tried = next((t for t in member.tried if t.step == step.key), None)
    found = _phone_for(step, member, needs)
    if tried is None:
        if not _reaches(step, member, needs):
            return []
        due = wave.step_time(step)
    else:
        sms = step.sms or SmsInterview()
        if tried.tries >= sms.max_attempts:
            return []
        wait = TRY_LEASE if tried.going else sms.wait_after(tried.tries)
        due = max(wave.step_time(step), utc(tried.at) + wait)
    due = _quiet_now(wave, _quiet(wave, due, zone), now, zone)
    return [Action(step.kind, step.key, due, address=found.ref if found else None)]


def _reaches(step: Step, member: MemberState, needs: Mapping[str, str]) -> bool:
    """Whether the step's audience takes in this (unfinished) member.

    Moving to the phone and automated calls need a usable phone number, whatever
    their audience; so does a message to ``unfinished_with_phone``. An SMS interview
    needs a number the SMS channel may text, and a member who has not stopped texts.
    """
    needs_phone = step.audience == "unfinished_with_phone" or not step.is_message
    if needs_phone and _phone_for(step, member, needs) is None:
        return False
    if step.audience == "not_started":
        return not member.started
    if step.audience == "started":
        return member.started
    return True


def _phone_for(step: Step, member: MemberState, needs: Mapping[str, str]) -> Address | None:
    """The number a step would use: the SMS channel's for an SMS interview, else any phone."""
    if step.kind != "sms_interview":
        return member.address_for(PHONE, PHONE)
    if SMS in member.stopped_channels:
        return None
    return member.address_for(SMS, _need(needs, SMS))


def _quiet(wave: Wave, at: datetime, zone: ZoneInfo) -> datetime:
    return at if wave.quiet_hours is None else wave.quiet_hours.next_allowed(at, zone)


def _quiet_now(wave: Wave, due: datetime, now: datetime, zone: ZoneInfo) -> datetime:
    """An overdue message or call found inside the quiet hours waits until they end.

    A message falls due outside the quiet hours, but a worker that was down,
    or a member who became reachable late, may find it overdue at 21:30: it
    goes at 08:00, not at once.
    """
    if due > now:
        return due
    allowed = _quiet(wave, now, zone)
    return allowed if allowed > now else due


def _need(needs: Mapping[str, str], channel: str) -> str:
    try:
        return needs[channel]
    except KeyError:
        raise ValueError(
            f"channel {channel!r}: what it sends to is not known (pass its ContactChannel.needs)"
        ) from None


def _language(step: Step, channel: str, language: str | None, default: str) -> str | None:
    names = step.templates.get(channel, {})
    for key in (language, default):
        if key is not None and key in names:
            return key
    return language or default


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Europe/London)"
        ) from None
