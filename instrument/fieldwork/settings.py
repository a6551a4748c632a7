"""A study's fieldwork file: calling rules, outcome changes and telephony options in YAML.

The file sits beside the questionnaire as ``<stem>.fieldwork.yaml`` (or is
named explicitly) and only says what differs from the defaults, so a study
that is happy with them needs none. It is read like a questionnaire: through
:mod:`instrument.yamlsrc`, every problem a :class:`~instrument.diagnostics.Diagnostic`
with its file, line and column, an unknown key answered with "did you mean",
so that ``instrument check`` reports it in the same words and CI stops on it
before fieldwork starts rather than in the middle of it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from instrument.diagnostics import Diagnostics, Position, did_you_mean
from instrument.yamlsrc import YMap, YNode, YScalar, YSeq, parse_yaml

from .automated import (
    MAX_RING_SECONDS,
    MAX_VOICEMAIL_CHARACTERS,
    MIN_RING_SECONDS,
    ON_MACHINE,
    AutomatedCallSettings,
)
from .calling import WEEKDAYS, CallingRules, Interval, PartOfDay
from .dispositions import (
    CODE_NAME,
    DEFAULT_DISPOSITIONS,
    Disposition,
    DispositionTable,
    RateClass,
    aapor_class,
)
from .numbers import study_number
from .wording import LANGUAGE_TAG, Wording, texts_of

SUFFIX = ".fieldwork.yaml"
TOP_KEYS = ("calling", "dispositions", "telephony")
COUNT_KEYS = (
    "max_attempts_per_case",
    "max_attempts_per_number",
    "max_attempts_per_part",
    "max_refusals",
)
DURATION_KEYS = ("refusal_cool_off", "hold_timeout", "appointment_grace")
CALLING_KEYS = ("hours", "parts_of_day", *COUNT_KEYS, *DURATION_KEYS, "default_zone")
FLAG_KEYS = (
    "final", "contact", "needs_finished_interview", "needs_started_interview",
    "needs_appointment", "refusal", "number_dead",
)  # fmt: skip
DISPOSITION_KEYS = ("aapor", "label", "rate_class", "retry_after", *FLAG_KEYS)
NEW_DISPOSITION_NEEDS = ("aapor", "label", "rate_class", "final")
TELEPHONY_KEYS = ("recording", "consent_text", "machine_detection", "automated", "numbers")
AUTOMATED_KEYS = ("on_machine", "voicemail_message", "ring_seconds")

DURATION = re.compile(r"^(?:(\d{1,6})([wdhms]))+$")
_DURATION_PART = re.compile(r"(\d{1,6})([wdhms])")
_UNIT = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_DURATION = timedelta(days=366)
MAX_COUNT = 1000
RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class TelephonySettings:
    """Recording is off unless the study turns it on, and then the consent text is read first.

    ``machine_detection``: Twilio's answering-machine detection on the
    respondent's leg, off unless the study turns it on (the respondent hears a
    moment's silence while it listens); what it hears suggests the outcome.
    ``automated``: how the study's automated (IVR) calls ring and what they do
    on reaching a machine (``telephony: automated:``).
    ``numbers``: the study's own numbers in E.164 (:mod:`~instrument.fieldwork.numbers`): a
    call to one of them is this study's alone (its languages, its access codes), and its
    automated calls show the first as their caller id; none: the instance's number.
    ``number_positions``: where each was written, for a message naming a number two studies
    list (not part of the settings' value).
    """

    recording: bool = False
    consent_text: Wording | None = None
    machine_detection: bool = False
    automated: AutomatedCallSettings = AutomatedCallSettings()
    numbers: tuple[str, ...] = ()
    number_positions: tuple[Position, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class FieldworkSettings:
    """What a study's fieldwork runs by: the defaults with its file's changes applied."""

    calling: CallingRules = field(default_factory=CallingRules)
    dispositions: DispositionTable = field(default_factory=lambda: DEFAULT_DISPOSITIONS)
    telephony: TelephonySettings = TelephonySettings()
    source: str | None = None


def fieldwork_path_for(questionnaire: str | Path) -> Path:
    """Where a questionnaire's fieldwork file is looked for: beside it, ``<stem>.fieldwork.yaml``."""
    path = Path(questionnaire)
    return path.with_name(path.stem + SUFFIX)


def is_fieldwork_file(path: str | Path) -> bool:
    return Path(path).name.endswith(SUFFIX)


def load_fieldwork(path: str | Path) -> tuple[FieldworkSettings, Diagnostics]:
    """Read a fieldwork file; problems are diagnostics, never exceptions.

    With errors, the settings returned keep the defaults for what could not be read.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diagnostics = Diagnostics()
        diagnostics.error(Position(str(path), 1, 1), f"cannot read the file: {exc}")
        return FieldworkSettings(source=str(path)), diagnostics
    return load_fieldwork_text(text, str(path))


def load_fieldwork_text(
    text: str, filename: str = "<fieldwork>"
) -> tuple[FieldworkSettings, Diagnostics]:
    """Read a fieldwork file's YAML text (``filename`` is used in messages)."""
    diagnostics = Diagnostics()
    root = parse_yaml(text, filename, diagnostics)
    if root is None:
        return FieldworkSettings(source=filename), diagnostics
    return _Reader(filename, diagnostics).settings(root), diagnostics


def settings_for(questionnaire: str | Path) -> tuple[FieldworkSettings, Diagnostics]:
    """The fieldwork settings of a questionnaire: its file's, or the defaults without one."""
    path = fieldwork_path_for(questionnaire)
    if not path.is_file():
        return FieldworkSettings(), Diagnostics()
    return load_fieldwork(path)


def parse_duration(text: str) -> timedelta | None:
    """``"90m"``, ``"3h"``, ``"7d"``, ``"1h30m"``, ``"2w"`` as a timedelta (None if not one)."""
    if not DURATION.match(text):
        return None
    total = timedelta(0)
    for amount, unit in _DURATION_PART.findall(text):
        total += timedelta(**{_UNIT[unit]: int(amount)})
    return total


def _time(hours: str, minutes: str) -> time | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return time.max if h == 24 else time(h, m)


class _Reader:
    """Reads the file's nodes, reporting each problem once, where it is."""

    def __init__(self, filename: str, diagnostics: Diagnostics) -> None:
        self.filename = filename
        self.d = diagnostics

    # shapes -------------------------------------------------------------
    def mapping(self, node: YNode, what: str) -> YMap | None:
        if isinstance(node, YScalar) and node.value is None:
            return None  # an empty section ("calling:" and nothing under it) changes nothing
        if not isinstance(node, YMap):
            self.d.error(node.pos, f"{what} must be a mapping (key: value pairs)")
            return None
        for key, pos in node.non_string_keys:
            self.d.error(
                pos, f"key {key!r} is not text; quote it (YAML reads yes/no/on/off as true/false)"
            )
        return node

    def keys(self, node: YMap, allowed: tuple[str, ...], what: str) -> None:
        for key in node.keys():
            if key not in allowed:
                self.d.error(
                    node.where(key), f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}"
                )

    def value(self, node: YNode, kind: type, what: str, example: str) -> Any:
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        shown = (
            "a list or mapping" if value is None and not isinstance(node, YScalar) else repr(value)
        )
        self.d.error(node.pos, f"{what} must be {example}, not {shown}")
        return None

    def wording(self, node: YNode, what: str) -> Wording | None:
        """One text, or a text per language (``{en: ..., cy: ...}``); each stripped and not empty."""
        if isinstance(node, YMap):
            found: dict[str, str] = {}
            for key, pos in node.non_string_keys:
                self.d.error(pos, f"{what}: {key!r} is not a language code such as en or cy")
            for language, entry in node.items():
                if not LANGUAGE_TAG.match(language):
                    self.d.error(
                        node.where(language),
                        f"{what}: {language!r} is not a language code such as en or cy",
                    )
                    continue
                text = self.value(entry, str, f"{what}.{language}", "text")
                if text is not None and not text.strip():
                    self.d.error(entry.pos, f"{what}.{language} is empty")
                elif text is not None:
                    found[language] = text.strip()
            if not node.entries:
                self.d.error(node.pos, f"{what} is empty")
            ok = len(found) == len(node.entries) and not node.non_string_keys
            return found if ok and found else None
        text = self.value(node, str, what, "text, or a text per language ({en: ..., cy: ...})")
        if text is not None and not text.strip():
            self.d.error(node.pos, f"{what} is empty")
            return None
        return None if text is None else text.strip()

    def duration(self, node: YNode, what: str) -> timedelta | None:
        text = node.value if isinstance(node, YScalar) else None
        found = parse_duration(text.strip()) if isinstance(text, str) else None
        if found is None:
            self.d.error(node.pos, f"{what} must be a duration such as 90m, 3h or 7d, not {text!r}")
        elif found > MAX_DURATION:
            self.d.error(node.pos, f"{what} is longer than a year")
            return None
        return found

    # the file -----------------------------------------------------------
    def settings(self, root: YNode) -> FieldworkSettings:
        top = self.mapping(root, "the fieldwork file")
        if top is None:
            return FieldworkSettings(source=self.filename)
        self.keys(top, TOP_KEYS, "the fieldwork file")
        calling = self.calling(top.get("calling"))
        table = self.dispositions(top.get("dispositions"))
        telephony = self.telephony(top.get("telephony"))
        return FieldworkSettings(calling, table, telephony, self.filename)

    def calling(self, node: YNode | None) -> CallingRules:
        m = self.mapping(node, "calling") if node is not None else None
        if m is None:
            return CallingRules()
        self.keys(m, CALLING_KEYS, "calling")
        changes: dict[str, Any] = {}
        for key in COUNT_KEYS:
            if key in m:
                count = self.value(m.entries[key], int, f"calling.{key}", "a whole number")
                if count is not None and not 1 <= count <= MAX_COUNT:
                    self.d.error(m.entries[key].pos, f"calling.{key} must be from 1 to {MAX_COUNT}")
                elif count is not None:
                    changes[key] = count
        for key in DURATION_KEYS:
            if key in m and (found := self.duration(m.entries[key], f"calling.{key}")) is not None:
                changes[key] = found
        if "default_zone" in m:
            node_zone = m.entries["default_zone"]
            zone = self.value(
                node_zone, str, "calling.default_zone", "a time zone such as Europe/London"
            )
            if zone is not None:
                try:
                    CallingRules().zone(zone)
                    changes["default_zone"] = zone
                except ValueError as exc:
                    self.d.error(node_zone.pos, str(exc))
        if "hours" in m and (hours := self.hours(m.entries["hours"])) is not None:
            changes["hours"] = hours
        if "parts_of_day" in m and (parts := self.parts(m.entries["parts_of_day"])) is not None:
            changes["parts_of_day"] = parts
        try:
            return CallingRules(**changes)
        except ValueError as exc:
            self.d.error(m.pos, f"calling: {exc}")
            return CallingRules()

    def ranges(self, node: YNode, what: str) -> tuple[Interval, ...] | None:
        """``09:00-21:00``, a list of such ranges, or ``none`` / ``[]`` for no calls."""
        items = list(node) if isinstance(node, YSeq) else [node]
        if isinstance(node, YScalar) and node.value in ("none", None):
            return ()
        found: list[Interval] = []
        for item in items:
            text = item.value if isinstance(item, YScalar) else None
            match = RANGE.match(text) if isinstance(text, str) else None
            start = end = None
            if match:
                start, end = _time(*match.groups()[:2]), _time(*match.groups()[2:])
            if start is None or end is None:
                shown = f"{text!r}" if isinstance(item, YScalar) else "a list or mapping"
                self.d.error(item.pos, f"{what} must be a range such as 09:00-21:00, not {shown}")
                return None
            if not start < end:
                self.d.error(item.pos, f"{what}: {text} must start before it ends")
                return None
            found.append((start, end))
        return tuple(found)

    def hours(self, node: YNode) -> dict[int, tuple[Interval, ...]] | None:
        m = self.mapping(node, "calling.hours")
        if m is None:
            return None
        hours = dict(CallingRules().hours)
        given: dict[int, Position] = {}
        ok = True
        for key, value in m.items():
            days = self.days(key, m.where(key))
            intervals = self.ranges(value, f"calling.hours.{key}")
            if days is None or intervals is None:
                ok = False
                continue
            for day in days:
                if day in given:
                    first = given[day].line
                    self.d.error(
                        m.where(key), f"{WEEKDAYS[day]} is given twice (first at line {first})"
                    )
                    ok = False
                given[day] = m.where(key)
                hours[day] = intervals
        return hours if ok else None

    def days(self, key: str, pos: Position) -> list[int] | None:
        """``mon``, or a range such as ``mon-fri``."""
        first, _, last = key.lower().partition("-")
        names = [first, last] if last else [first]
        for name in names:
            if name not in WEEKDAYS:
                hint = did_you_mean(name, WEEKDAYS)
                self.d.error(pos, f"'{key}' is not a day or a range of days such as mon-fri{hint}")
                return None
        a, b = WEEKDAYS.index(names[0]), WEEKDAYS.index(names[-1])
        if b < a:
            self.d.error(pos, f"'{key}': a range of days runs forward, such as mon-fri")
            return None
        return list(range(a, b + 1))

    def parts(self, node: YNode) -> tuple[PartOfDay, ...] | None:
        m = self.mapping(node, "calling.parts_of_day")
        if m is None:
            return None
        parts = []
        for name, value in m.items():
            intervals = self.ranges(value, f"calling.parts_of_day.{name}")
            if intervals is None:
                return None
            if len(intervals) != 1:
                self.d.error(
                    value.pos, f"calling.parts_of_day.{name} is one range such as 09:00-12:00"
                )
                return None
            parts.append(PartOfDay(name, *intervals[0]))
        return tuple(parts)

    def dispositions(self, node: YNode | None) -> DispositionTable:
        m = self.mapping(node, "dispositions") if node is not None else None
        if m is None:
            return DEFAULT_DISPOSITIONS
        changed: list[Disposition] = []
        for code, value in m.items():
            outcome = self.disposition(code, value, m.where(code))
            if outcome is not None:
                changed.append(outcome)
        return DEFAULT_DISPOSITIONS.replaced(changed)

    def disposition(self, code: str, node: YNode, pos: Position) -> Disposition | None:
        m = self.mapping(node, f"dispositions.{code}")
        if not CODE_NAME.match(code):
            self.d.error(pos, f"'{code}' is not an outcome name (lower case, digits and _)")
            return None
        if m is None:
            return None
        what = f"dispositions.{code}"
        self.keys(m, DISPOSITION_KEYS, what)
        base = DEFAULT_DISPOSITIONS.get(code)
        if base is None:
            missing = [key for key in NEW_DISPOSITION_NEEDS if key not in m]
            if missing:
                known = did_you_mean(code, DEFAULT_DISPOSITIONS)
                self.d.error(pos, f"new outcome '{code}' needs {', '.join(missing)}{known}")
                return None
        fields: dict[str, Any] = {}
        for key, value in m.items():
            if key in ("aapor", "label"):
                example = "text in quotes such as '2.35'" if key == "aapor" else "text"
                fields[key] = self.value(value, str, f"{what}.{key}", example)
            elif key == "rate_class":
                fields[key] = self.rate_class(value, f"{what}.rate_class")
            elif key == "retry_after":
                fields[key] = self.duration(value, f"{what}.retry_after")
            elif key in FLAG_KEYS:
                fields[key] = self.value(value, bool, f"{what}.{key}", "true or false")
        if any(value is None for value in fields.values()):
            return None
        if base is None:
            fields.setdefault("retry_after", None)
            outcome_fields = {"code": code, **fields}
        else:
            outcome_fields = {**dataclasses.asdict(base), **fields}
            if fields.get("final") is True and "retry_after" not in fields:
                outcome_fields["retry_after"] = None  # made final: no longer retried
        try:
            outcome = Disposition(**outcome_fields)
        except ValueError as exc:
            self.d.error(pos, f"{what}: {str(exc).removeprefix(code + ': ')}")
            return None
        if aapor_class(outcome.aapor) is None:
            self.d.warning(
                m.where("aapor"), f"{what}: '{outcome.aapor}' is not a code of AAPOR's table"
            )
        elif aapor_class(outcome.aapor) is not outcome.rate_class:
            self.d.warning(
                m.where("rate_class") if "rate_class" in m else pos,
                f"{what}: AAPOR counts {outcome.aapor} as {aapor_class(outcome.aapor)}, "
                f"not {outcome.rate_class}; the rates will count it as {outcome.rate_class}",
            )
        return outcome

    def rate_class(self, node: YNode, what: str) -> RateClass | None:
        text = node.value if isinstance(node, YScalar) else None
        names = [c.value for c in RateClass]
        if isinstance(text, str) and text.upper() in names:
            return RateClass(text.upper())
        hint = did_you_mean(str(text).upper(), names)
        self.d.error(node.pos, f"{what} must be one of {', '.join(names)}, not {text!r}{hint}")
        return None

    def telephony(self, node: YNode | None) -> TelephonySettings:
        m = self.mapping(node, "telephony") if node is not None else None
        if m is None:
            return TelephonySettings()
        self.keys(m, TELEPHONY_KEYS, "telephony")
        recording = False
        consent = None
        if "recording" in m:
            recording = bool(
                self.value(m.entries["recording"], bool, "telephony.recording", "true or false")
            )
        if "consent_text" in m:
            consent = self.wording(m.entries["consent_text"], "telephony.consent_text")
        if recording and consent is None and "consent_text" not in m:
            self.d.error(
                m.where("recording"),
                "telephony.recording needs consent_text: what the interviewer reads before "
                "recording starts (MRS Code: disclose recording)",
            )
        detect = False
        if "machine_detection" in m:
            entry = m.entries["machine_detection"]
            detect = bool(self.value(entry, bool, "telephony.machine_detection", "true or false"))
        automated = self.automated(m.entries["automated"]) if "automated" in m else None
        numbers = self.numbers(m.entries["numbers"]) if "numbers" in m else ()
        return TelephonySettings(
            recording,
            consent or None,
            detect,
            automated or AutomatedCallSettings(),
            tuple(number for number, _ in numbers),
            tuple(pos for _, pos in numbers),
        )

    def numbers(self, node: YNode) -> tuple[tuple[str, Position], ...]:
        """``telephony.numbers``: one number or a list of them, each E.164 and valid, none twice."""
        what = "telephony.numbers"
        items = list(node) if isinstance(node, YSeq) else [node]
        found: dict[str, Position] = {}
        for item in items:
            text = self.value(item, str, what, "a phone number in E.164 such as +442920180001")
            if text is None:
                continue
            try:
                number = study_number(text)
            except ValueError as exc:
                self.d.error(item.pos, f"{what}: {exc}")
                continue
            if number in found:
                self.d.error(
                    item.pos,
                    f"{what}: {number} is given twice (first at line {found[number].line})",
                )
                continue
            found[number] = item.pos
        return tuple(found.items())

    def automated(self, node: YNode) -> AutomatedCallSettings | None:
        """``telephony.automated``: the voicemail policy, its message and the ring time."""
        m = self.mapping(node, "telephony.automated")
        if m is None:
            return None
        self.keys(m, AUTOMATED_KEYS, "telephony.automated")
        changes: dict[str, Any] = {}
        ok = True
        if "on_machine" in m:
            entry = m.entries["on_machine"]
            policy = self.value(
                entry, str, "telephony.automated.on_machine", "hang_up or leave_message"
            )
            if policy is not None and policy not in ON_MACHINE:
                hint = did_you_mean(policy, ON_MACHINE)
                self.d.error(
                    entry.pos,
                    f"telephony.automated.on_machine must be hang_up or leave_message, "
                    f"not {policy!r}{hint}",
                )
                policy = None
            ok = ok and policy is not None
            changes["on_machine"] = policy
        if "voicemail_message" in m:
            entry = m.entries["voicemail_message"]
            what = "telephony.automated.voicemail_message"
            message = self.wording(entry, what)
            longest = max((len(text) for text in texts_of(message)), default=0)
            if longest > MAX_VOICEMAIL_CHARACTERS:
                self.d.error(
                    entry.pos,
                    f"{what} has {longest} characters; keep it under "
                    f"{MAX_VOICEMAIL_CHARACTERS} (about half a minute spoken)",
                )
                message = None
            ok = ok and message is not None
            changes["voicemail_message"] = message
        if "ring_seconds" in m:
            entry = m.entries["ring_seconds"]
            what = "telephony.automated.ring_seconds"
            seconds = self.value(entry, int, what, "a whole number of seconds")
            if seconds is not None and not MIN_RING_SECONDS <= seconds <= MAX_RING_SECONDS:
                self.d.error(
                    entry.pos,
                    f"{what} must be from {MIN_RING_SECONDS} (Ofcom: let a phone ring 15 "
                    f"seconds) to {MAX_RING_SECONDS} (Twilio's limit), not {seconds}",
                )
                seconds = None
            ok = ok and seconds is not None
            changes["ring_seconds"] = seconds
        if changes.get("on_machine") == "leave_message" and "voicemail_message" not in m:
            self.d.error(
                m.where("on_machine"),
                "telephony.automated.on_machine: leave_message needs voicemail_message, "
                "the words left on the machine",
            )
            return None
        if not ok:
            return None
        if changes.get("voicemail_message") and changes.get("on_machine") != "leave_message":
            self.d.warning(
                m.where("voicemail_message"),
                "telephony.automated.voicemail_message is never played: on_machine is not "
                "leave_message",
            )
        return AutomatedCallSettings(**changes)
