"""A panel wave: the questionnaire, the fieldwork dates, who is eligible and the contact plan.

A wave is written in a YAML file (read by :mod:`instrument.panel.wave_file`,
described in docs/waves.md); this module holds what that file becomes: frozen
plain data, so the fieldwork worker, ``instrument check`` and the tests all
read one thing, and the contact plan (:mod:`instrument.panel.contact_plan`)
can be worked out from it without a database or a clock.

Times are aware UTC datetimes. A step's day is counted on the wave's wall
clock (day 3 of a wave opened at 10:00 is 10:00 three days later, whatever a
clock change did in between), because that is how a researcher reads "day 3".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from instrument.diagnostics import Position
from instrument.expressions import CompiledExpression, MappingContext, ValueType, VarInfo
from instrument.fieldwork.calling import to_utc

__all__ = [
    "AUDIENCES",
    "BUILTIN_CHANNELS",
    "CHANNEL_ADDRESS",
    "NEVER_ELIGIBLE",
    "PROFILE_TYPES",
    "STATUSES",
    "AutomatedCall",
    "Incentive",
    "ProfileVariable",
    "QuietHours",
    "RateLimit",
    "SmsInterview",
    "Step",
    "StepKind",
    "Wave",
    "day_time",
    "utc",
]

STATUSES = ("active", "paused", "withdrawn", "ineligible", "deceased")
"""A member's status in the panel; eligibility expressions read it as the text ``status``."""

NEVER_ELIGIBLE = frozenset({"withdrawn", "ineligible", "deceased"})
"""Statuses no eligibility expression can let into a wave: nobody is invited after leaving."""

BUILTIN_CHANNELS = ("email", "sms", "letter")
"""The contact channels that come with the software (a plugin may add more)."""

CHANNEL_ADDRESS: Mapping[str, str] = MappingProxyType(
    {"email": "email", "sms": "phone", "letter": "address"}
)
"""What each built-in channel sends to (a plugin's channel says so itself: ``ContactChannel.needs``).

Moving a case to the phone queue and an automated call need a ``phone``.
"""

AUDIENCES = ("unfinished", "not_started", "started", "unfinished_with_phone")
"""Whom a step goes to. Nothing is ever sent to a member who has finished."""

PROFILE_TYPES: Mapping[str, ValueType] = MappingProxyType(
    {
        "integer": ValueType.INTEGER,
        "decimal": ValueType.DECIMAL,
        "text": ValueType.TEXT,
        "date": ValueType.DATE,
        "single": ValueType.CODE,
    }
)
"""Types of profile variables: those a questionnaire's preloads can have."""

StepKind = Literal["invitation", "reminder", "move_to_phone", "automated_call", "sms_interview"]


@dataclass(frozen=True)
class ProfileVariable:
    """A variable of the panel's member profile that this wave reads (eligibility, preloads)."""

    name: str
    type: str
    pos: Position
    codes: frozenset[int] | None = None
    label: str | None = None

    def info(self) -> VarInfo:
        return VarInfo(
            self.name, PROFILE_TYPES[self.type], codes=self.codes, label=self.label or None
        )


@dataclass(frozen=True)
class AutomatedCall:
    """An automated (IVR) call step: accepted and checked now, placed by the IVR work later.

    ``mode`` None means the questionnaire's machine-administered mode.
    """

    mode: str | None = None
    max_attempts: int = 1
    retry_after: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class SmsInterview:
    """An ``sms_interview`` step: the fieldwork worker texts the member the first question.

    ``mode`` None means the questionnaire's first mode asked by text message (``sms``).
    A first text the provider or the channel failed for a passing reason (the message path's
    rule: a failed receipt that is not ``permanent``) is tried again, ``max_attempts`` tries
    in all, the n-th waiting ``retry_after`` times 2**(n-2) after the one before (15 and 30
    minutes by default: the ordinary messages' 3 tries, 15 minutes apart at first). A try a
    worker did not finish (it stopped) counts as one.
    """

    mode: str | None = None
    max_attempts: int = 3
    retry_after: timedelta = timedelta(minutes=15)

    def wait_after(self, tries: int) -> timedelta:
        """How long after the ``tries``-th try (1, 2, ...) the next one waits: doubled each time."""
        return self.retry_after * 2 ** max(tries - 1, 0)


@dataclass(frozen=True)
class Step:
    """One step of the contact plan.

    ``templates`` maps a channel to a language to a template name; the language
    ``*`` stands for every language (a template named once for all of them).
    ``key`` is what the store records a step's sending under: the day and the
    kind, so that inserting another step in a running wave changes no key.
    """

    kind: StepKind
    day: int
    pos: Position
    at: time | None = None
    channels: tuple[str, ...] = ()
    audience: str = "unfinished"
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    reminder: int | None = None
    call: AutomatedCall | None = None
    sms: SmsInterview | None = None

    @property
    def key(self) -> str:
        return f"day{self.day}-{self.kind}"

    @property
    def is_message(self) -> bool:
        return self.kind in ("invitation", "reminder")

    def template(self, channel: str, language: str | None, default_language: str) -> str | None:
        """The template for ``channel`` in ``language``, else the default language's, else ``*``."""
        names = self.templates.get(channel, {})
        for key in (language, default_language, "*"):
            if key is not None and key in names:
                return names[key]
        return None


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which no message is sent nor call placed; may run past midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime, zone: ZoneInfo) -> datetime:
        """``at`` itself if it is outside the quiet hours, else when they end (UTC).

        The end is found on the member's wall clock and turned into an instant
        by :func:`~instrument.fieldwork.calling.to_utc`, so 08:00 is 08:00 local
        on either side of a clock change.
        """
        local = at.astimezone(zone)
        if not self.contains(local.time()):
            return at
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)  # quiet from the evening: allowed again tomorrow morning
        end = to_utc(day, self.end, zone, boundary="start")
        return max(end, at)


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` messages on a channel in any ``per`` (the worker enforces it)."""

    count: int
    per: timedelta


@dataclass(frozen=True)
class Incentive:
    """What a member earns, and for what (``on``: only ``complete`` so far)."""

    on: str
    kind: str
    value: str


@dataclass(frozen=True)
class Wave:
    """A wave as its file describes it; see docs/waves.md for every field."""

    panel: str
    id: str
    label: str
    questionnaire: str
    zone: str
    opens: datetime
    closes: datetime
    steps: tuple[Step, ...]
    eligibility: CompiledExpression
    profile: Mapping[str, ProfileVariable] = field(default_factory=dict)
    preload: Mapping[str, str] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    incentive: Incentive | None = None
    target: int | None = None
    """Completes aimed for (the dashboard's target line); None: not set."""
    default_language: str = "en"
    questionnaire_path: Path | None = None
    source: str | None = None
    positions: Mapping[str, Position] = field(default_factory=dict, compare=False)
    """Where the file wrote each top-level key and each preload (``preload.<name>``)."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def template_context(self, *, reply_by_text: bool = False) -> dict[str, Any]:
        """What a message's template may say of the wave besides the links: the study's name,
        the closing date (on the wave's clock), the wave's id, and ``reply_by_text``: whether
        a member may reply to a text of the wave to answer by text (its questionnaire lists a
        mode asked by text message), so an SMS template says so only when it is true."""
        closes = self.closes.astimezone(self.tz)
        return {
            "study": self.label,
            "closes": f"{closes:%d/%m/%Y}",
            "wave": self.id,
            "reply_by_text": reply_by_text,
        }

    def step_time(self, step: Step) -> datetime:
        """When ``step`` is scheduled: its day on the wave's wall clock, at its time (UTC)."""
        return self.day_time(step.day, step.at)

    def day_time(self, day: int, at: time | None = None) -> datetime:
        """Day ``day`` of the wave at ``at`` (default: the time the wave opens), as UTC."""
        return day_time(self.opens, self.tz, day, at)

    def eligible(self, profile: Mapping[str, Any], status: str, today: dt.date) -> bool:
        """Whether a member with this profile and status belongs in the wave.

        Withdrawn, ineligible and deceased members never do, whatever the
        expression says. A profile value the member lacks is missing, so a
        comparison with it is false (docs/expressions.md).
        """
        if status in NEVER_ELIGIBLE:
            return False
        values = {name: profile.get(name) for name in self.profile}
        values["status"] = status
        return self.eligibility.evaluate(MappingContext(values, today)) is True

    def preloads(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """The questionnaire's preload values from a member's profile (absent ones left out)."""
        return {
            target: profile[name]
            for name, target in self.preload.items()
            if profile.get(name) is not None
        }

    def now_open(self, now: datetime) -> bool:
        """Whether fieldwork is under way at ``now`` (aware): opened and not yet closed."""
        return self.opens <= utc(now) < self.closes


def day_time(opens: datetime, zone: ZoneInfo, day: int, at: time | None = None) -> datetime:
    """Day ``day`` after ``opens`` on ``zone``'s wall clock, at ``at`` or the opening's time."""
    opened = opens.astimezone(zone)
    local_time = at if at is not None else opened.time()
    return to_utc(opened.date() + timedelta(days=day), local_time, zone, boundary="start")


def utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (a wall-clock time needs its zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times passed to the panel rules must be aware (UTC)")
    return moment.astimezone(UTC)
