"""Pass 2 for one question: the :class:`~instrument.model.Question` built from its node."""

from __future__ import annotations

from typing import Any

from instrument.diagnostics import did_you_mean
from instrument.expressions import ValueType
from instrument.model import Check, GridRow, Question, Text
from instrument.yamlsrc import YMap, YScalar

from .answer_defaults import DEFAULT_TYPES, AnswerDefaults
from .choice_filters import ChoiceFilters
from .date_limits import DateLimits
from .identifying import IDENTIFYING_TYPES, looks_identifying
from .missing_overlap import missing_overlap
from .range_checks import range_disagreements
from .state import RawQuestion, Site
from .texts import Texts
from .vocabulary import (
    CHECK_KEYS,
    COMMON_QUESTION_KEYS,
    DEFAULT_MAX_LENGTH,
    DISPLAYS,
    LEVELS,
    NO_VALUE_TYPES,
    OUTCOMES,
    ROW_KEYS,
    TEXT_ROLES,
    TYPE_KEYS,
    plain_label,
)

LONG_RADIOS = 100
"""A single choice with more options than this, shown as radio buttons, is warned about: a list
read from a file (thousands of districts) belongs in a search field (the terminal lists none of
a list this long, see instrument_console.render.LONG_LIST)."""


class Questions(Texts, ChoiceFilters, AnswerDefaults, DateLimits):
    """One question of any type: its keys, texts, conditions, checks, bounds and rows."""

    def build_question(self, raw: RawQuestion) -> Question | None:
        if raw.id in self.questions:
            return self.questions[raw.id]
        m, qtype = raw.node, raw.type
        what = f"question '{raw.id}'"
        other_types = {
            key: f" ({_types_with(key)} questions use it)"
            for t in TYPE_KEYS
            for key in TYPE_KEYS[t]
        }
        custom = self.custom_types.get(qtype)
        allowed = COMMON_QUESTION_KEYS + TYPE_KEYS.get(qtype, ())
        if qtype in NO_VALUE_TYPES:
            allowed = ("id", "type", "when", *TEXT_ROLES) + TYPE_KEYS[qtype]
        if qtype == "computed":
            allowed = ("id", "type", "label", "when", "level", "expr")
        visible = {k: v for k, v in m.entries.items() if not k.startswith("__")}
        probe = YMap(visible, m.key_pos, m.pos)
        required = ["text"] if qtype != "computed" else ["expr"]
        if qtype in ("single", "multi", "grid"):
            required.append("choices")
        if qtype == "grid":
            required.append("rows")
        self.check_keys(
            probe, allowed, f"{what} ({qtype})", required=required, elsewhere=other_types
        )

        own_site = Site(raw.loop, raw.page_seq)
        check_site = Site(raw.loop, raw.page_seq, same_page_ok=True)
        texts = {
            role: self.text(m.get(role), f"the {role.replace('_', ' ')} of {what}", own_site)
            for role in TEXT_ROLES
        }
        when = self.expression(m.get("when"), f"the condition of {what}", own_site)
        choices = m.get("__choices").value if "__choices" in m else None
        label = self.question_label(m, texts["text"], raw.id)

        kwargs: dict[str, Any] = dict(
            id=raw.id,
            type=qtype,
            pos=m.pos,
            label=label,
            when=when,
            loop=raw.loop,
            ordinal=raw.ordinal,
            custom=custom,
            **texts,
        )
        if qtype == "computed":
            # inside a loop it is worked out per iteration, over that iteration's answers
            expr = self.expression(
                m.get("expr"), f"the expression of {what}", None, None, loop=raw.loop
            )
            kwargs["expr"] = expr
            if expr is not None:
                kwargs["level"] = self.level(
                    m, "scale" if expr.type in (ValueType.INTEGER, ValueType.DECIMAL) else "nominal"
                )
            q = Question(**kwargs)
            self.questions[raw.id] = q
            return q
        if qtype == "summary":
            kwargs["summary_of"] = self.summary_section(m, raw, what)
        if qtype not in NO_VALUE_TYPES:
            kwargs["required"] = self.boolean(m, "required", False, what)
            kwargs["allow_dk"] = self.boolean(m, "dk", True, what) and not kwargs["required"]
            kwargs["allow_refused"] = (
                self.boolean(m, "refused", True, what) and not kwargs["required"]
            )
            kwargs["checks"] = self.read_checks(m, what, check_site)
            kwargs["identifying"] = self.read_identifying(m, raw.id, qtype, texts["text"], what)
            numeric = ("integer", "decimal", "date") if custom is None else ()
            default_level = (
                "scale"
                if qtype in numeric
                or (custom is not None and custom.value_type in ("int", "float"))
                else "nominal"
            )
            kwargs["level"] = self.level(m, default_level)
        kwargs["choices"] = choices
        if qtype in DEFAULT_TYPES and custom is None:
            kwargs["default"] = self.read_default(m, qtype, what, own_site, choices)
        if qtype in ("single", "multi"):
            kwargs["randomize"] = self.boolean(m, "randomize", False, what)
            kwargs["choice_filter"] = self.read_choice_filter(m, what, choices, own_site)
        if qtype == "single":
            display = self.scalar(m.get("display"), str, f"the display of {what}") or "radio"
            if display not in DISPLAYS:
                self.err(
                    m.where("display"),
                    f"display must be radio, dropdown or search{did_you_mean(display, DISPLAYS)}",
                )
            kwargs["display"] = display
            if display == "radio" and choices is not None and len(choices.options) > LONG_RADIOS:
                self.warn(
                    m.where("choices"),
                    f"{what} shows its {len(choices.options):,} options as radio buttons, one a "
                    "line of the web page: give it display: search (a field suggesting the "
                    "labels as they are typed; an interviewer keys the code)",
                )
        if qtype == "multi":
            kwargs["min_choices"], kwargs["max_choices"] = self.bounds(
                m, what, int, "min_choices", "max_choices"
            )
            if (
                choices is not None
                and kwargs["max_choices"] is not None
                and kwargs["max_choices"] > len(choices.options)
            ):
                self.warn(
                    m.where("max_choices"),
                    f"max_choices of {what} is more than its {len(choices.options)} options",
                )
        if qtype in ("integer", "decimal"):
            kind = int if qtype == "integer" else (int, float)
            kwargs["min"], kwargs["max"] = self.bounds(m, what, kind, "min", "max")
            kwargs["unit"] = self.text(m.get("unit"), f"the unit of {what}", None)
            self.report_missing_overlap(raw.id, qtype, kwargs["min"], kwargs["max"], m)
        if qtype == "decimal":
            places = self.scalar(m.get("places"), int, f"the places of {what}")
            kwargs["places"] = 2 if places is None else places
        if qtype in ("text", "long_text"):
            max_length = self.scalar(m.get("max_length"), int, f"the max_length of {what}")
            if max_length is not None and max_length < 1:
                self.err(m.where("max_length"), "max_length must be at least 1")
            kwargs["max_length"] = max_length or DEFAULT_MAX_LENGTH[qtype]
        if qtype == "date":
            kwargs["min"], kwargs["max"] = self.date_bounds(m, what, own_site)
        if qtype == "grid":
            kwargs["rows"] = self.read_rows(m, what, own_site)
            kwargs["randomize_rows"] = self.boolean(m, "randomize_rows", False, what)
        if qtype == "end":
            outcome = self.scalar(m.get("outcome"), str, f"the outcome of {what}") or "complete"
            if outcome not in OUTCOMES:
                self.err(
                    m.where("outcome"),
                    f"outcome must be one of {', '.join(OUTCOMES)}{did_you_mean(outcome, OUTCOMES)}",
                )
            kwargs["outcome"] = outcome
        if choices is not None and qtype == "single" and any(o.exclusive for o in choices.options):
            self.warn(
                m.where("choices"),
                f"'exclusive' only matters in a multiple choice; {what} is a single choice",
            )
        q = Question(**kwargs)
        for disagreement in range_disagreements(q):
            self.warn(m.where("checks"), f"{what}: {disagreement}")
        self.questions[raw.id] = q
        return q

    def read_identifying(self, m: YMap, qid: str, qtype: str, text: Text | None, what: str) -> bool:
        """``identifying:``; a warning when it is absent and the question looks identifying."""
        if "identifying" in m:
            return self.boolean(m, "identifying", False, what)
        wording = text.source(self.default_language, self.default_language) if text else None
        asks = looks_identifying(qid, wording) if qtype in IDENTIFYING_TYPES else None
        if asks is not None:
            self.warn(
                m.pos,
                f"{what} looks as if it asks for a {asks}: if its answers identify a person, add "
                "`identifying: true` (they are then kept apart with the contact details and never "
                "exported); if not, say `identifying: false`",
            )
        return False

    def report_missing_overlap(self, qid: str, qtype: str, low: Any, high: Any, m: YMap) -> None:
        """A range that reaches the missing codes (see :mod:`.missing_overlap`)."""
        found = missing_overlap(qid, qtype, low, high, self.missing)
        if found is not None:
            severity, message = found
            pos = m.where("min") if "min" in m else m.pos
            (self.err if severity == "error" else self.warn)(pos, message)

    def summary_section(self, m: YMap, raw: RawQuestion, what: str) -> str | None:
        """The section a summary lists: ``for_section:`` (a section before it), else its own."""
        named = self.scalar(m.get("for_section"), str, f"the for_section of {what}")
        if named is None:
            if raw.section is None:
                self.err(
                    m.pos,
                    f"{what} lists the answers of the section it is in, but it is in none; "
                    "put it in a section, or name one with for_section:",
                )
            return raw.section
        if named not in self.section_ids:
            self.err(
                m.where("for_section"),
                f"{what}: no section '{named}' comes before it"
                f"{did_you_mean(named, self.section_ids)}",
            )
        return named

    def question_label(self, m: YMap, text: Text | None, qid: str) -> str:
        label = self.scalar(m.get("label"), str, f"the label of '{qid}'")
        if label is not None:
            self.check_label_length(label, m.where("label"))
            return label
        if text is not None:
            return plain_label(text.source(self.default_language, self.default_language))
        return qid

    def level(self, m: YMap, default: str) -> str:
        level = self.scalar(m.get("level"), str, "the level")
        if level is None:
            return default
        if level not in LEVELS:
            self.err(
                m.where("level"),
                f"level must be one of {', '.join(LEVELS)}{did_you_mean(level, LEVELS)}",
            )
            return default
        return level

    def bounds(self, m: YMap, what: str, kind: Any, low_key: str, high_key: str) -> tuple[Any, Any]:
        low = self.scalar(m.get(low_key), kind, f"the {low_key} of {what}")
        high = self.scalar(m.get(high_key), kind, f"the {high_key} of {what}")
        if low is not None and high is not None and low > high:
            self.err(m.where(low_key), f"{what} has {low_key} {low} above {high_key} {high}")
        return low, high

    def read_checks(self, m: YMap, what: str, site: Site) -> tuple[Check, ...]:
        seq = self.expect_seq(m.get("checks"), f"the checks of {what}")
        checks = []
        for index, node in enumerate(seq or ()):
            cm = self.expect_map(node, f"a check of {what}", m.pos)
            if cm is None:
                continue
            self.check_keys(cm, CHECK_KEYS, f"a check of {what}", required=("message",))
            kinds = [k for k in ("error_if", "warn_if") if k in cm]
            if len(kinds) != 1:
                self.err(
                    cm.pos,
                    f"a check of {what} needs exactly one of error_if (a hard check) or warn_if (a soft check)",
                )
                continue
            condition = self.expression(cm.get(kinds[0]), f"the {kinds[0]} check of {what}", site)
            message = self.text(cm.get("message"), f"the message of a check of {what}", site)
            if condition is not None and message is not None:
                severity = "error" if kinds[0] == "error_if" else "warning"
                checks.append(Check(severity, condition, message, index))
        return tuple(checks)

    def read_rows(self, m: YMap, what: str, site: Site) -> tuple[GridRow, ...]:
        seq = self.expect_seq(m.get("rows"), f"the rows of {what}")
        rows = []
        for node in seq or ():
            if not isinstance(node, YMap):
                continue
            self.check_keys(node, ROW_KEYS, f"a row of {what}", required=("id", "text"))
            rid = node.get("id").value if isinstance(node.get("id"), YScalar) else None
            if not isinstance(rid, str) or rid not in self.vars:
                continue
            text = self.text(node.get("text"), f"the text of row '{rid}'", site)
            if text is None:
                continue
            label = self.scalar(node.get("label"), str, f"the label of row '{rid}'")
            if label is not None:
                self.check_label_length(label, node.where("label"))
            rows.append(
                GridRow(
                    id=rid,
                    text=text,
                    label=label
                    or plain_label(text.source(self.default_language, self.default_language)),
                    read_out=self.text(node.get("read_out"), f"the read_out of row '{rid}'", site),
                    ivr=self.text(node.get("ivr"), f"the ivr text of row '{rid}'", site),
                    when=self.expression(node.get("when"), f"the condition of row '{rid}'", site),
                )
            )
        if seq is not None and not rows and len(seq):
            self.err(seq.pos, f"{what} has no usable rows")
        return tuple(rows)


def _types_with(key: str) -> str:
    return ", ".join(t for t, keys in TYPE_KEYS.items() if key in keys)
