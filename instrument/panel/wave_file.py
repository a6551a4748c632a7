"""Reading a wave file: every problem a diagnostic with its file, line and column.

A wave file (``<name>.wave.yaml``, ``<name>.wave1.yaml`` ...) is read the way a
fieldwork file is (:mod:`instrument.fieldwork.settings`, whose reader this one
extends): through :mod:`instrument.yamlsrc`, an unknown key answered with "did
you mean", the eligibility expression compiled against the profile variables
the file declares. The contact plan's steps are read by
:mod:`instrument.panel.wave_file_plan`. What can only be checked against the
questionnaire (its preloads, its modes, its languages) is
:func:`~instrument.panel.wave_file_questionnaire.check_against_questionnaire`,
which ``instrument check`` calls once it has opened the questionnaire, so
reading a wave file needs no plugin host.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from instrument.diagnostics import Diagnostics, Position, did_you_mean
from instrument.expressions import (
    CompiledExpression,
    ExpressionError,
    Scope,
    ValueType,
    VarInfo,
    compile_expression,
)
from instrument.fieldwork.settings import RANGE
from instrument.names import name_problem
from instrument.yamlsrc import YMap, YNode, YScalar, YSeq, parse_yaml

from .wave_file_plan import IDENT, LANGUAGE, PlanReader, clock_time
from .wave_file_questionnaire import check_against_questionnaire
from .waves import (
    BUILTIN_CHANNELS,
    PROFILE_TYPES,
    STATUSES,
    Incentive,
    ProfileVariable,
    QuietHours,
    RateLimit,
    Wave,
)

__all__ = [
    "DEFAULT_ELIGIBILITY",
    "DEFAULT_QUIET_HOURS",
    "check_against_questionnaire",
    "is_wave_file",
    "load_wave",
    "load_wave_text",
    "questionnaire_file",
]

WAVE_NAME = re.compile(r"\.wave[A-Za-z0-9_-]*\.ya?ml$")
TOP_KEYS = (
    "panel", "wave", "label", "questionnaire", "fieldwork", "profile", "eligibility", "preload",
    "contact_plan", "quiet_hours", "rate_limits", "incentive", "default_language", "target",
)  # fmt: skip
REQUIRED = ("panel", "wave", "questionnaire", "fieldwork", "contact_plan")
FIELDWORK_KEYS = ("zone", "open", "close")
PROFILE_KEYS = ("type", "codes", "label")
INCENTIVE_KEYS = ("on", "kind", "value")
INCENTIVE_ON = ("complete",)
DEFAULT_ELIGIBILITY = "status == 'active'"
DEFAULT_QUIET_HOURS = QuietHours(time(21), time(8))

LOCAL_TIME = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})\s*$")
RATE = re.compile(r"^\s*(\d{1,7})\s*/\s*(second|minute|hour|day)\s*$")
RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
EXPRESSION_WORDS = frozenset({"and", "or", "not", "in", "true", "false", "if"})
STATUS_LITERAL = re.compile(
    r"""\bstatus\s*[!=]=\s*(['"])(?P<a>.*?)\1|(['"])(?P<b>.*?)\3\s*[!=]=\s*status\b"""
)
STATUS_LIST = re.compile(r"\bstatus\s+(?:not\s+)?in\s*\[(?P<items>[^\]]*)\]")
QUOTED = re.compile(r"""(['"])(?P<word>.*?)\1""")


def is_wave_file(path: str | Path) -> bool:
    """Whether ``path`` is named as a wave file: ``<name>.wave.yaml``, ``<name>.wave1.yaml`` ..."""
    return WAVE_NAME.search(Path(path).name) is not None


def load_wave(
    path: str | Path, channels: Collection[str] = BUILTIN_CHANNELS
) -> tuple[Wave | None, Diagnostics]:
    """Read a wave file; problems are diagnostics, never exceptions (the wave is None with errors).

    ``channels`` are the contact channels installed (the built-in ones unless
    the caller knows of a plugin's).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diagnostics = Diagnostics()
        diagnostics.error(Position(str(path), 1, 1), f"cannot read the file: {exc}")
        return None, diagnostics
    return load_wave_text(text, str(path), channels, base=Path(path).parent)


def load_wave_text(
    text: str,
    filename: str = "<wave>",
    channels: Collection[str] = BUILTIN_CHANNELS,
    base: Path | None = None,
) -> tuple[Wave | None, Diagnostics]:
    """Read a wave file's YAML text; ``base`` is the folder a questionnaire path is relative to."""
    diagnostics = Diagnostics()
    root = parse_yaml(text, filename, diagnostics)
    if root is None:
        return None, diagnostics
    wave = _WaveReader(filename, diagnostics, tuple(channels), base).wave(root)
    return (None if diagnostics.has_errors() else wave), diagnostics


def questionnaire_file(wave: Wave) -> Path | None:
    """The questionnaire file a wave names: its path, or ``<id>.yaml`` beside the wave file."""
    if wave.questionnaire_path is not None:
        return wave.questionnaire_path
    if wave.source is None:
        return None
    beside = Path(wave.source).parent / f"{wave.questionnaire}.yaml"
    return beside if beside.is_file() else None


def _names_a_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".yaml", ".yml", ".json", ".xlsx"))


class _WaveReader(PlanReader):
    """The plan reader taught the rest of the file: identity, dates, profile, settings."""

    # the file --------------------------------------------------------------
    def wave(self, root: YNode) -> Wave | None:
        top = self.mapping(root, "the wave file")
        if top is None:
            return None
        self.keys(top, TOP_KEYS, "the wave file")
        for key in REQUIRED:
            if key not in top:
                self.d.error(top.pos, f"the wave file needs '{key}'")
        self.positions = {key: top.where(key) for key in top.keys()}
        e = top.entries
        panel = self.ident(e["panel"], "panel") if "panel" in e else None
        wave_id = self.ident(e["wave"], "wave") if "wave" in e else None
        label = self.text(e["label"], "label") if "label" in e else None
        questionnaire, path = self.questionnaire(e.get("questionnaire"))
        zone, opens, close_at = self.fieldwork(e.get("fieldwork"))
        profile = self.profile(e.get("profile"))
        eligibility = self.eligibility(e.get("eligibility"), profile)
        preload = self.preload(e.get("preload"), profile)
        language = "en"
        if "default_language" in e:
            language = self.language(e["default_language"], "default_language") or language
        steps, close_step = self.plan(e.get("contact_plan"), language)
        quiet = DEFAULT_QUIET_HOURS
        if "quiet_hours" in e:
            quiet = self.quiet_hours(e["quiet_hours"])
        limits = self.rate_limits(e.get("rate_limits"))
        incentive = self.incentive(e.get("incentive"))
        target = self.target(e["target"]) if "target" in e else None
        if None in (panel, wave_id, questionnaire, zone, opens, eligibility) or self.d.has_errors():
            return None
        assert zone is not None and opens is not None and eligibility is not None
        closes = self.closes(zone, opens, close_at, close_step, top)
        if closes is None:
            return None
        self.steps_before_close(steps, zone, opens, closes)
        if self.d.has_errors():
            return None
        return Wave(
            panel=str(panel),
            id=str(wave_id),
            label=label or f"{panel} wave {wave_id}",
            questionnaire=str(questionnaire),
            zone=zone,
            opens=opens,
            closes=closes,
            steps=steps,
            eligibility=eligibility,
            profile=profile,
            preload=preload,
            quiet_hours=quiet,
            rate_limits=limits,
            incentive=incentive,
            target=target,
            default_language=language,
            questionnaire_path=path,
            source=self.filename,
            positions=self.positions,
        )

    def questionnaire(self, node: YNode | None) -> tuple[str | None, Path | None]:
        if node is None:
            return None, None
        text = self.text(node, "questionnaire")
        if text is None:
            return None, None
        if not _names_a_path(text):
            if not IDENT.match(text):
                self.d.error(
                    node.pos,
                    f"questionnaire must be a file (such as q.yaml) or an id, not {text!r}",
                )
                return None, None
            return text, None
        path = Path(text) if self.base is None else self.base / text
        if self.base is not None and not path.is_file():
            self.d.error(node.pos, f"no questionnaire file at {path}")
            return None, None
        return text, path

    def fieldwork(
        self, node: YNode | None
    ) -> tuple[str | None, datetime | None, tuple[YNode, datetime] | None]:
        """The zone, the opening instant and (if given) the close's node and local time."""
        m = self.mapping(node, "fieldwork") if node is not None else None
        if m is None:
            if isinstance(node, YScalar) and node.value is None:  # "fieldwork:" and nothing
                self.d.error(node.pos, "fieldwork needs 'open' (and a 'zone', or Europe/London)")
            return None, None, None
        self.keys(m, FIELDWORK_KEYS, "fieldwork")
        zone: str | None = "Europe/London"
        if "zone" in m:
            zone = self.zone(m.entries["zone"], "fieldwork.zone")
        if "open" not in m:
            self.d.error(
                m.pos, "fieldwork needs 'open': when the wave opens, such as 2027-02-01 10:00"
            )
        if zone is None:
            return None, None, None
        opens = self.local_time(m.entries["open"], "fieldwork.open", zone) if "open" in m else None
        close = None
        if "close" in m:
            at = self.local_time(m.entries["close"], "fieldwork.close", zone)
            close = (m.entries["close"], at) if at is not None else None
        if opens is not None and close is not None and close[1] <= opens:
            self.d.error(close[0].pos, "fieldwork.close must come after fieldwork.open")
            close = None
        return zone, opens, close

    def zone(self, node: YNode, what: str) -> str | None:
        name = self.value(node, str, what, "a time zone such as Europe/London")
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.d.error(
                node.pos, f"unknown time zone {name!r} (an IANA name such as Europe/London)"
            )
            return None
        return name

    def local_time(self, node: YNode, what: str, zone: str) -> datetime | None:
        """A wall-clock date and time in ``zone`` (``2027-02-01 10:00``), as a UTC instant."""
        value = node.value if isinstance(node, YScalar) else None
        naive: datetime | None = None
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                self.d.error(
                    node.pos,
                    f"{what}: write the local time without an offset; the zone is fieldwork.zone",
                )
                return None
            naive = value
        elif isinstance(value, date):
            self.d.error(node.pos, f"{what} needs a time of day too, such as {value} 10:00")
            return None
        elif isinstance(value, str) and (match := LOCAL_TIME.match(value)):
            try:
                day = date.fromisoformat(match.group(1))
            except ValueError:
                day = None
            clock = clock_time(match.group(2), match.group(3))
            if day is not None and clock is not None:
                naive = datetime.combine(day, clock)
        if naive is None:
            self.d.error(
                node.pos, f"{what} must be a date and time such as 2027-02-01 10:00, not {value!r}"
            )
            return None
        tz = ZoneInfo(zone)
        first, second = (naive.replace(tzinfo=tz, fold=fold) for fold in (0, 1))
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
            self.d.error(
                node.pos,
                f"{what}: {naive:%Y-%m-%d %H:%M} does not happen in {zone} (the clocks go forward)",
            )
            return None
        if first.utcoffset() != second.utcoffset():
            self.d.warning(
                node.pos,
                f"{what}: {naive:%Y-%m-%d %H:%M} happens twice in {zone} (the clocks go back); "
                "the first is taken",
            )
        return first.astimezone(UTC)

    def language(self, node: YNode, what: str) -> str | None:
        value = self.value(node, str, what, "a language code such as en or cy")
        if value is not None and not LANGUAGE.match(value):
            self.d.error(
                node.pos, f"{what} must be a language code such as en or cy, not {value!r}"
            )
            return None
        return value

    # profile, eligibility, preloads ---------------------------------------
    def profile(self, node: YNode | None) -> dict[str, ProfileVariable]:
        m = self.mapping(node, "profile") if node is not None else None
        found: dict[str, ProfileVariable] = {}
        for name, value in m.items() if m is not None else []:
            pos = m.where(name)  # type: ignore[union-attr]
            problem = name_problem(name)
            if problem is None and (name in EXPRESSION_WORDS or name == "status"):
                problem = f"'{name}' is a word of the expression language"
                if name == "status":
                    problem = "'status' is the member's panel status, which every wave can read"
            if problem is not None:
                self.d.error(pos, f"profile: {problem}")
                continue
            variable = self.profile_variable(name, value, pos)
            if variable is not None:
                found[name] = variable
        return found

    def profile_variable(self, name: str, node: YNode, pos: Position) -> ProfileVariable | None:
        what = f"profile.{name}"
        if isinstance(node, YScalar):
            kind = self.choice(node, tuple(PROFILE_TYPES), f"{what} (its type)")
            if kind == "single":
                self.d.error(
                    node.pos,
                    f"{what}: a single choice needs its codes: {{type: single, codes: [1, 2]}}",
                )
                return None
            return ProfileVariable(name, kind, pos) if kind else None
        m = self.mapping(node, what)
        if m is None:
            return None
        self.keys(m, PROFILE_KEYS, what)
        if "type" not in m:
            self.d.error(m.pos, f"{what} needs a 'type' ({', '.join(PROFILE_TYPES)})")
            return None
        kind = self.choice(m.entries["type"], tuple(PROFILE_TYPES), f"{what}.type")
        label = self.text(m.entries["label"], f"{what}.label") if "label" in m else None
        codes = None
        if kind == "single":
            if "codes" not in m:
                self.d.error(
                    m.where("type"),
                    f"{what}: a single choice needs its codes, such as codes: [1, 2]",
                )
                return None
            codes = self.codes(m.entries["codes"], f"{what}.codes")
        elif "codes" in m and kind is not None:
            self.d.error(m.where("codes"), f"{what}: only a single choice has codes")
        if kind is None or (kind == "single" and codes is None):
            return None
        return ProfileVariable(name, kind, pos, codes, label)

    def codes(self, node: YNode, what: str) -> frozenset[int] | None:
        items = list(node) if isinstance(node, YSeq) else []
        values = [item.value if isinstance(item, YScalar) else None for item in items]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            self.d.error(node.pos, f"{what} must be a list of whole numbers, such as [1, 2, 3]")
            return None
        if len(set(values)) != len(values):
            self.d.error(node.pos, f"{what} lists a code twice")
            return None
        return frozenset(values)  # type: ignore[arg-type]

    def scope(self, profile: Mapping[str, ProfileVariable]) -> Scope:
        variables = {name: variable.info() for name, variable in profile.items()}
        variables["status"] = VarInfo("status", ValueType.TEXT, label="panel status")
        return Scope(variables)

    def eligibility(
        self, node: YNode | None, profile: Mapping[str, ProfileVariable]
    ) -> CompiledExpression | None:
        scope = self.scope(profile)
        if node is None:
            return compile_expression(DEFAULT_ELIGIBILITY, scope)
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            self.d.error(node.pos, "eligibility must be an expression written as text")
            return None
        assert isinstance(node, YScalar)
        try:
            compiled = compile_expression(value, scope)
        except ExpressionError as exc:
            self.d.error(self.expression_pos(node, exc.offset), f"eligibility: {exc.message}")
            return None
        for warning in compiled.warnings:
            self.d.warning(
                self.expression_pos(node, warning.offset), f"eligibility: {warning.message}"
            )
        self.status_words(node, value)
        return compiled

    def status_words(self, node: YScalar, source: str) -> None:
        """A warning for each word ``status`` is compared with that is not a status."""
        found = [
            (m.start(), m.group("a") if m.group("a") is not None else m.group("b"))
            for m in STATUS_LITERAL.finditer(source)
        ]
        for listed in STATUS_LIST.finditer(source):
            start = listed.start("items")
            found += [
                (start + q.start(), q.group("word")) for q in QUOTED.finditer(listed["items"])
            ]
        for offset, word in sorted(found):
            if word not in STATUSES:
                self.d.warning(
                    self.expression_pos(node, offset),
                    f"eligibility: a member's status is never {word!r} "
                    f"(it is one of {', '.join(STATUSES)}){did_you_mean(word, STATUSES)}",
                )

    @staticmethod
    def expression_pos(node: YScalar, offset: int) -> Position:
        """Where in the file an offset into an expression lies (a block scalar spans lines)."""
        before = str(node.value)[:offset]
        if "\n" not in before:
            return node.pos.shifted(offset + (1 if node.quoted else 0))
        return Position(
            node.pos.file, node.pos.line + before.count("\n"), offset - before.rfind("\n")
        )

    def preload(self, node: YNode | None, profile: Mapping[str, ProfileVariable]) -> dict[str, str]:
        m = self.mapping(node, "preload") if node is not None else None
        found: dict[str, str] = {}
        targets: dict[str, Position] = {}
        for name, value in m.items() if m is not None else []:
            pos = m.where(name)  # type: ignore[union-attr]
            if name not in profile:
                self.d.error(
                    pos,
                    f"preload: '{name}' is not a profile variable of this wave (declare it under "
                    f"profile){did_you_mean(name, profile)}",
                )
                continue
            target = self.value(value, str, f"preload.{name}", "the questionnaire's preload id")
            if target is None:
                continue
            if target in targets:
                self.d.error(
                    value.pos,
                    f"preload.{name}: the preload '{target}' is already given (line {targets[target].line})",
                )
                continue
            targets[target] = value.pos
            found[name] = target
            self.positions[f"preload.{name}"] = value.pos
        return found

    # settings ---------------------------------------------------------------
    def quiet_hours(self, node: YNode) -> QuietHours | None:
        text = node.value if isinstance(node, YScalar) else None
        if text in ("none", False):
            return None
        match = RANGE.match(text) if isinstance(text, str) else None
        start = clock_time(*match.groups()[:2]) if match else None
        end = clock_time(*match.groups()[2:]) if match else None
        if start is None or end is None or start == end:
            self.d.error(
                node.pos,
                f"quiet_hours must be a range of local times such as 21:00-08:00, or none; not {text!r}",
            )
            return DEFAULT_QUIET_HOURS
        return QuietHours(start, end)

    def rate_limits(self, node: YNode | None) -> dict[str, RateLimit]:
        m = self.mapping(node, "rate_limits") if node is not None else None
        found: dict[str, RateLimit] = {}
        for channel, value in m.items() if m is not None else []:
            if channel not in self.channels:
                hint = did_you_mean(channel, self.channels)
                self.d.error(m.where(channel), f"rate_limits: unknown channel '{channel}'{hint}")  # type: ignore[union-attr]
                continue
            text = value.value if isinstance(value, YScalar) else None
            match = RATE.match(text) if isinstance(text, str) else None
            if match is None or int(match.group(1)) < 1:
                self.d.error(
                    value.pos,
                    f"rate_limits.{channel} must be a rate such as 600/minute, not {text!r}",
                )
                continue
            found[channel] = RateLimit(
                int(match.group(1)), timedelta(seconds=RATE_UNITS[match.group(2)])
            )
        return found

    def target(self, node: YNode) -> int | None:
        """The completes the wave aims for: a whole number above 0 (the dashboard draws it)."""
        value = node.value if isinstance(node, YScalar) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.d.error(
                node.pos,
                f"target must be the number of completes aimed for, such as 1200, not {value!r}",
            )
            return None
        return value

    def incentive(self, node: YNode | None) -> Incentive | None:
        if isinstance(node, YMap) and "on" in node.entries:
            # YAML 1.1 reads a bare ``on`` as true; as this key it can only mean "on".
            on = node.where("on")
            kept = [(key, pos) for key, pos in node.non_string_keys if pos != on]
            node = dataclasses.replace(node, non_string_keys=kept)
        m = self.mapping(node, "incentive") if node is not None else None
        if m is None:
            return None
        self.keys(m, INCENTIVE_KEYS, "incentive")
        missing = [key for key in INCENTIVE_KEYS if key not in m]
        if missing:
            self.d.error(
                m.pos,
                f'incentive needs {", ".join(missing)}, such as {{on: complete, kind: voucher, value: "£10"}}',
            )
            return None
        on = self.choice(m.entries["on"], INCENTIVE_ON, "incentive.on")
        kind = self.ident(m.entries["kind"], "incentive.kind")
        value = self.text(m.entries["value"], "incentive.value")
        if on is None or kind is None or value is None:
            return None
        return Incentive(on, kind, value)
