"""Reading a wave file's contact plan, and the small values every part of the file uses.

:class:`PlanReader` extends the fieldwork file's reader
(:mod:`instrument.fieldwork.settings`: shapes, keys, values, durations) with
the wave's own small values (names, times of day, choices) and the steps of the
contact plan; :mod:`instrument.panel.wave_file` reads the rest of the file
with it. Every problem is a diagnostic where it is in the file.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from instrument.diagnostics import Diagnostics, Position, did_you_mean
from instrument.fieldwork.settings import _Reader  # its shape helpers, shared rather than copied
from instrument.yamlsrc import YMap, YNode, YScalar, YSeq

from .waves import AUDIENCES, AutomatedCall, SmsInterview, Step, day_time

STEP_ACTIONS = ("send", "move_to", "automated_call", "sms_interview", "close")
STEP_KEYS = {
    "send": ("day", "at", "send", "channels", "to", "templates"),
    "move_to": ("day", "at", "move_to", "to"),
    "automated_call": ("day", "at", "automated_call", "to"),
    "sms_interview": ("day", "at", "sms_interview", "to"),
    "close": ("close", "at"),
}
CALL_KEYS = ("mode", "max_attempts", "retry_after")
SENDS = ("invitation", "reminder")
MOVES = ("phone",)
MAX_DAY = 366
MAX_CALL_ATTEMPTS = 10
MAX_TEXT_ATTEMPTS = 10
MIN_TEXT_RETRY = timedelta(minutes=1)
"""An sms_interview's first text waits at least this long before it is tried again: a provider
that failed a moment ago is not asked again in the same breath (nor a worker kept busy)."""

IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
TEMPLATE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # as a channel's templates are named
CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
CLOSE_DAY = re.compile(r"^\s*day\s+(\d{1,3})\s*$")


def clock_time(hours: str, minutes: str) -> time | None:
    """A time of day from its digits, or None if there is no such time."""
    h, m = int(hours), int(minutes)
    return time(h, m) if h < 24 and m < 60 else None


class PlanReader(_Reader):
    """The fieldwork file's reader, taught the wave's small values and its contact plan."""

    def __init__(
        self, filename: str, diagnostics: Diagnostics, channels: tuple[str, ...], base: Path | None
    ) -> None:
        super().__init__(filename, diagnostics)
        self.channels = channels
        self.base = base
        self.positions: dict[str, Position] = {}

    # small values ---------------------------------------------------------
    def ident(self, node: YNode, what: str) -> str | None:
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and IDENT.match(value):
            return value
        shown = repr(value) if isinstance(node, YScalar) else "a list or mapping"
        self.d.error(node.pos, f"{what} must be a short name (letters, digits, _ . -), not {shown}")
        return None

    def text(self, node: YNode, what: str) -> str | None:
        value = self.value(node, str, what, "text")
        if value is not None and not value.strip():
            self.d.error(node.pos, f"{what} is empty")
            return None
        return value.strip() if value is not None else None

    def clock(self, node: YNode, what: str) -> time | None:
        text = node.value if isinstance(node, YScalar) else None
        match = CLOCK.match(text) if isinstance(text, str) else None
        found = clock_time(*match.groups()) if match else None
        if found is None:
            hint = ""
            if isinstance(text, int) and not isinstance(text, bool):
                hint = " (YAML reads a time without quotes as a number)"
            self.d.error(
                node.pos,
                f"{what} must be a time of day such as 10:00 (in quotes), not {text!r}{hint}",
            )
        return found

    def choice(self, node: YNode, allowed: tuple[str, ...], what: str) -> str | None:
        text = node.value if isinstance(node, YScalar) else None
        if isinstance(text, str) and text in allowed:
            return text
        hint = did_you_mean(str(text), allowed) if isinstance(text, str) else ""
        shown = repr(text) if isinstance(node, YScalar) else "a list or mapping"
        self.d.error(node.pos, f"{what} must be one of {', '.join(allowed)}, not {shown}{hint}")
        return None

    def channel(self, node: YNode, what: str) -> str | None:
        return self.choice(node, self.channels, what)

    # the contact plan -------------------------------------------------------
    def plan(
        self, node: YNode | None, language: str
    ) -> tuple[tuple[Step, ...], tuple[YNode, int, time | None] | None]:
        if node is None:
            return (), None
        if not isinstance(node, YSeq) or not len(node):
            self.d.error(
                node.pos,
                "contact_plan must be a list of steps, such as - {day: 0, send: invitation, channels: [email]}",
            )
            return (), None
        steps: list[Step] = []
        close: tuple[YNode, int, time | None] | None = None
        seen: dict[str, Position] = {}
        last_day = 0
        last_message: Step | None = None
        reminders = 0
        for item in node:
            m = self.mapping(item, "a contact_plan step")
            if m is None:
                if isinstance(item, YScalar) and item.value is None:
                    self.d.error(item.pos, "an empty contact_plan step")
                continue
            actions = [key for key in STEP_ACTIONS if key in m]
            if len(actions) != 1:
                named = " and ".join(actions) if actions else "none"
                self.d.error(
                    m.pos,
                    "a step does one of send, move_to, automated_call, sms_interview or close "
                    f"(this one: {named})",
                )
                continue
            action = actions[0]
            self.keys(m, STEP_KEYS[action], f"a {action} step")
            at = self.clock(m.entries["at"], "at") if "at" in m else None
            if action == "close":
                if close is not None:
                    self.d.error(
                        m.pos, f"the plan closes twice (first at line {close[0].pos.line})"
                    )
                    continue
                day = self.close_day(m.entries["close"])
                if day is not None:
                    close = (m.entries["close"], day, at)
                continue
            if close is not None:
                self.d.error(m.pos, "a step after the plan's close; close is the last step")
            day = self.day(m)
            if day is None:
                continue
            if day < last_day:
                self.d.error(
                    m.where("day"),
                    f"steps are listed in the order of their days: day {day} comes after day {last_day}",
                )
            last_day = max(last_day, day)
            step = self.step(action, m, day, at, language)
            if step is None:
                continue
            if step.kind == "reminder":
                if last_message is None:
                    self.d.error(
                        m.pos,
                        "a reminder before any invitation: the plan starts with send: invitation",
                    )
                    continue
                if day <= last_message.day:
                    self.d.error(
                        m.where("day"),
                        f"a reminder comes on a later day than the message before it (day {last_message.day})",
                    )
                    continue
                reminders += 1
                step = dataclasses.replace(step, reminder=reminders)
            if step.kind == "invitation" and last_message is not None:
                self.d.error(
                    m.pos,
                    f"the plan invites twice (first at line {seen[last_message.key].line}); later messages are reminders",
                )
                continue
            if step.key in seen:
                self.d.error(
                    m.pos,
                    f"two {step.kind} steps on day {day} (first at line {seen[step.key].line})",
                )
                continue
            seen[step.key] = m.pos
            if step.is_message:
                last_message = step
            steps.append(step)
        if not any(step.kind == "invitation" for step in steps) and not self.d.has_errors():
            self.d.error(
                node.pos,
                "the contact plan never invites: add - {day: 0, send: invitation, channels: [email]}",
            )
        return tuple(steps), close

    def day(self, m: YMap) -> int | None:
        if "day" not in m:
            self.d.error(m.pos, "a step needs its 'day' (0 is the day the wave opens)")
            return None
        day = self.value(m.entries["day"], int, "day", "a whole number of days from the opening")
        if day is not None and not 0 <= day <= MAX_DAY:
            self.d.error(m.entries["day"].pos, f"day must be from 0 to {MAX_DAY}")
            return None
        return day

    def close_day(self, node: YNode) -> int | None:
        value = node.value if isinstance(node, YScalar) else None
        day = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and (match := CLOSE_DAY.match(value)):
            day = int(match.group(1))
        if day is None or not 1 <= day <= MAX_DAY:
            self.d.error(
                node.pos,
                f"close must be a day of the wave such as 'day 28' (1 to {MAX_DAY}), not {value!r}",
            )
            return None
        return day

    def step(self, action: str, m: YMap, day: int, at: time | None, language: str) -> Step | None:
        e = m.entries
        if action == "send":
            kind = self.choice(e["send"], SENDS, "send")
            channels = self.channel_list(m)
            audience = self.choice(e["to"], AUDIENCES, "to") if "to" in m else "unfinished"
            templates = self.templates(m, channels, language) if channels else None
            if None in (kind, channels, audience, templates):
                return None
            return Step(kind, day, m.pos, at, channels, audience, templates)  # type: ignore[arg-type]
        if action == "move_to":
            if self.choice(e["move_to"], MOVES, "move_to") is None:
                return None
            audience = (
                self.choice(e["to"], AUDIENCES, "to") if "to" in m else "unfinished_with_phone"
            )
            return Step("move_to_phone", day, m.pos, at, audience=audience) if audience else None
        if action == "sms_interview":
            sms = self.sms_interview(e["sms_interview"])
            audience = (
                self.choice(e["to"], AUDIENCES, "to") if "to" in m else "unfinished_with_phone"
            )
            if sms is None or audience is None:
                return None
            return Step("sms_interview", day, m.pos, at, audience=audience, sms=sms)
        call = self.automated_call(e["automated_call"])
        audience = self.choice(e["to"], AUDIENCES, "to") if "to" in m else "unfinished_with_phone"
        if call is None or audience is None:
            return None
        return Step("automated_call", day, m.pos, at, audience=audience, call=call)

    def channel_list(self, m: YMap) -> tuple[str, ...] | None:
        if "channels" not in m:
            self.d.error(
                m.pos,
                f"a send step needs its channels, such as channels: [{', '.join(self.channels[:2])}]",
            )
            return None
        node = m.entries["channels"]
        items = list(node) if isinstance(node, YSeq) else [node]
        found: list[str] = []
        for item in items:
            channel = self.channel(item, "a channel")
            if channel is None:
                return None
            if channel in found:
                self.d.error(item.pos, f"the channel {channel} is listed twice")
                return None
            found.append(channel)
        if not found:
            self.d.error(node.pos, "channels is empty: a send step sends on at least one channel")
            return None
        return tuple(found)

    def templates(
        self, m: YMap, channels: tuple[str, ...], language: str
    ) -> dict[str, dict[str, str]] | None:
        """``{channel: name}`` or ``{channel: {language: name}}``; every channel needs one."""
        node = m.get("templates")
        if node is None:
            if channels:
                self.d.error(
                    m.pos,
                    f"a send step names its templates, such as templates: {{{channels[0]}: invitation}}",
                )
            return None
        t = self.mapping(node, "templates")
        if t is None:
            return None
        found: dict[str, dict[str, str]] = {}
        ok = True
        for channel, value in t.items():
            if channel not in channels:
                hint = did_you_mean(channel, channels)
                self.d.error(
                    t.where(channel), f"templates: '{channel}' is not a channel of this step{hint}"
                )
                ok = False
                continue
            names = self.template_names(value, f"templates.{channel}", language)
            if names is None:
                ok = False
                continue
            found[channel] = names
        for channel in channels:
            if channel not in t and ok:
                self.d.error(t.pos, f"templates: no template for {channel}")
                ok = False
        return found if ok else None

    def template_names(self, node: YNode, what: str, language: str) -> dict[str, str] | None:
        if isinstance(node, YScalar):
            name = self.template_name(node, what)
            return {"*": name} if name else None
        m = self.mapping(node, what)
        if m is None:
            return None
        names: dict[str, str] = {}
        for lang, value in m.items():
            if not LANGUAGE.match(lang):
                self.d.error(
                    m.where(lang), f"{what}: '{lang}' is not a language code such as en or cy"
                )
                return None
            name = self.template_name(value, f"{what}.{lang}")
            if name is None:
                return None
            names[lang] = name
        if language not in names:
            self.d.error(m.pos, f"{what} has no template in the default language ({language})")
            return None
        return names

    def template_name(self, node: YNode, what: str) -> str | None:
        name = self.value(node, str, what, "a template name")
        if name is not None and not TEMPLATE.match(name):
            self.d.error(
                node.pos,
                f"{what}: {name!r} is not a template name (lower-case letters, digits and _, "
                "starting with a letter)",
            )
            return None
        return name

    def automated_call(self, node: YNode) -> AutomatedCall | None:
        if isinstance(node, YScalar) and node.value is None:
            return AutomatedCall()
        if isinstance(node, YScalar):
            mode = self.ident(node, "automated_call (its mode)")
            return AutomatedCall(mode) if mode else None
        m = self.mapping(node, "automated_call")
        if m is None:
            return None
        fields = self.tries(m, "automated_call", MAX_CALL_ATTEMPTS)
        return None if fields is None else dataclasses.replace(AutomatedCall(), **fields)

    def tries(
        self, m: YMap, what: str, most: int, least_wait: timedelta | None = None
    ) -> dict[str, Any] | None:
        """A step's ``mode``, ``max_attempts`` (1 to ``most``) and ``retry_after`` (a duration,
        at least ``least_wait``), each given; None when one of them is wrong (said at its line)."""
        self.keys(m, CALL_KEYS, what)
        fields: dict[str, Any] = {}
        if "mode" in m:
            fields["mode"] = self.ident(m.entries["mode"], f"{what}.mode")
        if "max_attempts" in m:
            node = m.entries["max_attempts"]
            count = self.value(node, int, f"{what}.max_attempts", "a whole number")
            if count is not None and not 1 <= count <= most:
                self.d.error(node.pos, f"{what}.max_attempts must be from 1 to {most}")
                count = None
            fields["max_attempts"] = count
        if "retry_after" in m:
            node = m.entries["retry_after"]
            wait = self.duration(node, f"{what}.retry_after")
            if wait is not None and least_wait is not None and wait < least_wait:
                self.d.error(
                    node.pos,
                    f"{what}.retry_after must be at least {int(least_wait.total_seconds() // 60)}m",
                )
                wait = None
            fields["retry_after"] = wait
        if any(value is None for value in fields.values()):
            return None
        return fields

    def sms_interview(self, node: YNode) -> SmsInterview | None:
        """``sms_interview:`` empty (the questionnaire's text-message mode), a mode's name, or a
        mapping of ``mode``, ``max_attempts`` and ``retry_after`` (the first text's tries)."""
        if isinstance(node, YScalar) and node.value in (None, True):
            return SmsInterview()
        if isinstance(node, YScalar) and isinstance(node.value, str):
            mode = self.ident(node, "sms_interview (its mode)")
            return SmsInterview(mode) if mode else None
        if isinstance(node, YMap):
            fields = self.tries(node, "sms_interview", MAX_TEXT_ATTEMPTS, MIN_TEXT_RETRY)
            return None if fields is None else dataclasses.replace(SmsInterview(), **fields)
        shown = repr(node.value) if isinstance(node, YScalar) else "a list"
        self.d.error(
            node.pos,
            "sms_interview is left empty (the questionnaire's text-message mode), names the "
            "mode, such as sms_interview: sms, or is a mapping of mode, max_attempts and "
            f"retry_after; not {shown}",
        )
        return None

    def closes(
        self,
        zone: str,
        opens: datetime,
        close_at: tuple[YNode, datetime] | None,
        close_step: tuple[YNode, int, time | None] | None,
        top: YMap,
    ) -> datetime | None:
        """The close: the plan's ``close: day N`` or ``fieldwork.close``; both must agree."""
        tz = ZoneInfo(zone)
        from_plan = day_time(opens, tz, close_step[1], close_step[2]) if close_step else None
        if close_at is None and from_plan is None:
            self.d.error(
                top.pos,
                "the wave never closes: end the contact_plan with - close: day 28 (or give fieldwork.close)",
            )
            return None
        if close_at is not None and from_plan is not None and close_at[1] != from_plan:
            shown = from_plan.astimezone(ZoneInfo(zone))
            self.d.error(
                close_at[0].pos,
                f"fieldwork.close disagrees with the plan's close: day {close_step[1]} is "  # type: ignore[index]
                f"{shown:%Y-%m-%d %H:%M}; give one of them, or make them the same",
            )
            return None
        closes = close_at[1] if close_at is not None else from_plan
        assert closes is not None
        if closes <= opens:
            self.d.error(top.where("contact_plan"), "the wave closes before it opens")
            return None
        return closes

    def steps_before_close(
        self, steps: tuple[Step, ...], zone: str, opens: datetime, closes: datetime
    ) -> None:
        tz = ZoneInfo(zone)
        for step in steps:
            if day_time(opens, tz, step.day, step.at) >= closes:
                self.d.error(
                    step.pos, f"the {step.kind} on day {step.day} comes when the wave has closed"
                )
