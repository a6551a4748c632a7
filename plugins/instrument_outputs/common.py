"""Helpers every output format shares: limits, missing values, safe text.

Imports nothing heavy; each format module imports its writer library
inside its ``write`` function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instrument.dataset import Dataset, VariableInfo
from instrument.dataset.limits import LIMITS, name_problems

__all__ = [
    "ExportError",
    "FORMULA_STARTS",
    "check_names",
    "neutralise",
    "open_text",
    "sibling",
    "spss_missing",
    "spss_missing_problems",
    "string_missing_for_spss",
]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes as the start of a formula (OWASP's list for CSV injection)."""


class ExportError(Exception):
    """A dataset cannot be written in a format; the message says which variable and why."""


def sibling(dest: Path, suffix: str) -> Path:
    """``DIR/stem.csv`` -> ``DIR/stem<suffix>`` (``.sps``, ``_dictionary.csv``...)."""
    return dest.with_name(dest.stem + suffix)


def check_names(dataset: Dataset, package: str) -> str | None:
    """None if every name is valid in ``package`` (``sav``/``dta``), else one sentence listing the problems."""
    problems = name_problems(list(dataset.frame.columns), LIMITS[package])
    if not problems:
        return None
    listed = "; ".join(str(p) for p in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return f"{len(problems)} variable name(s) cannot be written to {LIMITS[package].package}: {listed}{more}. Rename them in the questionnaire."


def open_text(info: VariableInfo) -> bool:
    """True for columns a respondent or interviewer typed freely."""
    return info.storage == "str" and info.value_type == "text"


def neutralise(value: Any, missing: dict[Any, str]) -> Any:
    """Make an open-text cell inert in a spreadsheet.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
    gets a leading apostrophe, which spreadsheets show as text and never
    evaluate (as does one already starting with an apostrophe, so that the
    .sps, .do and .R files can strip exactly one and restore the text). The missing codes themselves (``-8``...) are left alone: they
    are plain numbers, not formulas.
    """
    if (
        isinstance(value, str)
        and value
        and value.startswith(NEUTRALISED_STARTS)
        and value not in missing
    ):
        return "'" + value
    return value


NEUTRALISED_STARTS = FORMULA_STARTS + ("'",)
"""A text that already starts with an apostrophe gets one more, so the syntax
files can undo the neutralisation exactly: strip one leading apostrophe when
the next character is one of these."""


def spss_missing(
    info: VariableInfo, present: set[Any] | None = None
) -> list[dict[str, Any]] | None:
    """The SPSS user-missing declaration for a numeric column's missing codes.

    SPSS allows three discrete values, or one range plus one discrete value.
    Up to three codes are declared discretely. With more, one range covering
    them all is used when no substantive code (value label or value in the
    data) lies inside it; otherwise a range over all but the outermost code
    plus that code; otherwise :class:`ExportError`, never a silent drop.
    """
    codes = sorted(code for code in info.missing)
    if not codes:
        return None
    if len(codes) <= 3:
        return [{"lo": c, "hi": c} for c in codes]
    valid = set(info.value_labels) | (present or set())
    valid -= set(codes)

    def clear(lo: Any, hi: Any) -> bool:
        return not any(lo <= v <= hi for v in valid if isinstance(v, (int, float)))

    if clear(codes[0], codes[-1]):
        return [{"lo": codes[0], "hi": codes[-1]}]
    for outer, rest in ((codes[0], codes[1:]), (codes[-1], codes[:-1])):
        if clear(rest[0], rest[-1]):
            return [{"lo": rest[0], "hi": rest[-1]}, {"lo": outer, "hi": outer}]
    inside = sorted(v for v in valid if isinstance(v, (int, float)) and codes[0] <= v <= codes[-1])
    raise ExportError(
        f"{info.name}: answers ({', '.join(str(v) for v in inside[:5])}) lie among its missing "
        f"codes {codes}, so SPSS cannot declare the codes missing (three values, or one range "
        "and one value) without declaring these answers missing too; give the question a min "
        "above the codes, or the questionnaire a missing frame outside its answers "
        "(docs/questionnaire-format.md, 'The missing-value frame')"
    )


def spss_missing_problems(dataset: Dataset) -> str | None:
    """None if every numeric column's missing codes can be declared in SPSS, else why not.

    Asked before any file is written (the .sav and the CSV's .sps both declare
    them), so an export that cannot declare them stops with the variables named
    instead of a traceback half-way through.
    """
    problems = []
    for name in dataset.frame.columns:
        info = dataset.codebook.variables[name]
        if info.storage in ("int", "float") and info.missing:
            try:
                spss_missing(info, set(dataset.frame[name].unique().tolist()))
            except ExportError as exc:
                problems.append(str(exc))
    if not problems:
        return None
    return "; ".join(problems)


STRING_MISSING_PRIORITY = ("routed_past", "unanswered", "refused", "dk")


def string_missing_for_spss(info: VariableInfo, missing_codes: dict[str, int]) -> list[str]:
    """The string codes declared user-missing in SPSS: at most three, by a fixed priority.

    SPSS takes at most three discrete missing values for a string variable
    (no ranges), so with all four codes present the don't-know code of an
    open-text variable stays labelled but not declared. Documented in
    docs/exports.md.
    """
    wanted = [
        str(missing_codes[key])
        for key in STRING_MISSING_PRIORITY
        if str(missing_codes[key]) in info.missing
    ]
    return wanted[:3]
