"""The words a questionnaire file may use: its keys, their allowed values, and two small readers.

Every list of allowed keys and values lives here, so that what the format
accepts can be read in one place and ``docs/questionnaire-format.md`` checked
against it.
"""

from __future__ import annotations

import re

from instrument.expressions import ValueType
from instrument.model import ChoiceList

TOP_KEYS = ("meta", "missing", "preload", "experiments", "choices", "items", "tests")
META_KEYS = (
    "id", "version", "title", "languages", "default_language", "modes", "web_missing", "ivr",
)  # fmt: skip
MISSING_KEYS = ("dk", "refused", "routed_past", "unanswered")
OPTION_KEYS = (
    "code",
    "label",
    "read_out",
    "exclusive",
    "other_specify",
    "fixed",
    "not_read_out",
    "attributes",
)
PRELOAD_KEYS = ("id", "type", "label", "choices", "export")
PRELOAD_TYPES = ("integer", "decimal", "text", "date", "single")
EXPERIMENT_KEYS = ("id", "label", "arms")
CHECK_KEYS = ("error_if", "warn_if", "message")
ROW_KEYS = ("id", "text", "read_out", "ivr", "label", "when")
TEXT_ROLES = ("text", "read_out", "ivr", "instruction", "hint")
COMMON_QUESTION_KEYS = (
    "id",
    "type",
    "label",
    "when",
    "required",
    "dk",
    "refused",
    "checks",
    "level",
    "identifying",
    *TEXT_ROLES,
)
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "single": ("choices", "randomize", "display", "choice_filter", "default"),
    "multi": ("choices", "randomize", "min_choices", "max_choices", "choice_filter", "default"),
    "yesno": ("default",),
    "integer": ("min", "max", "unit", "default"),
    "decimal": ("min", "max", "places", "unit", "default"),
    "text": ("max_length", "default"),
    "long_text": ("max_length", "default"),
    "date": ("min", "max", "default"),
    "grid": ("choices", "rows", "randomize_rows"),
    "info": (),
    "summary": ("for_section",),
    "end": ("outcome",),
    "computed": ("expr",),
}
NO_ANSWER_KEYS = ("required", "dk", "refused", "checks", "level")
CONTAINER_KEYS = {
    "section": ("section", "title", "when", "items"),
    "page": ("page", "when", "items"),
    "block": ("block", "when", "randomize", "items"),
    "loop": ("loop", "count", "for_each", "for_list", "max", "when", "label", "items"),
    "list": ("list", "max", "when", "label", "another", "items"),
}
SCENARIO_KEYS = (
    "name",
    "answers",
    "preload",
    "seed",
    "mode",
    "language",
    "confirm_warnings",
    "expect",
)
EXPECT_KEYS = ("outcome", "asked", "not_asked", "values", "errors")
LEVELS = ("nominal", "ordinal", "scale")
NO_VALUE_TYPES = ("info", "end", "summary")  # screens that take no answer
DISPLAYS = ("radio", "dropdown", "search")  # search: type to find one of a long list
OUTCOMES = ("complete", "screened_out")
WEB_MISSING = ("after_skip", "shown", "never")
DEFAULT_MAX_LENGTH = {"text": 200, "long_text": 2000}
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")
SIMPLE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
CUSTOM_VALUE_TYPES = {
    "int": ValueType.INTEGER,
    "float": ValueType.DECIMAL,
    "str": ValueType.TEXT,
    "date": ValueType.DATE,
    "codes": ValueType.CODES,
}


def option_labels(choices: ChoiceList | None, language: str) -> dict[int, str] | None:
    if choices is None:
        return None
    return {o.code: o.label.source(language, language) for o in choices.options}


_TAGS = re.compile(r"<[^>]+>|\{\{.*?\}\}|\{%.*?%\}", re.S)


def plain_label(text: str) -> str:
    """A variable label from question text: fills and markup removed, whitespace folded."""
    return " ".join(_TAGS.sub("…", text).split())
