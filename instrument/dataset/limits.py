"""What SPSS and Stata accept as names and labels, checked before any file is written.

The writers underneath (pyreadstat, pandas) either raise half-way through a
file or, worse, silently cut labels (pyreadstat truncates SPSS variable
labels at 256 and value labels at 120). So the dataset is checked here, in the
core, against each package's limits, and every label that does not fit is
shortened by one stated rule (:func:`shorten`) whose result is recorded beside
the full text in the codebook, the dictionary and the DDI file. Names are
never shortened: a name that does not fit is an error that says which
variable and why, because a renamed variable silently breaks analysis code.

Limits are counted in UTF-8 bytes, because that is what both file formats
store and what the writers count (Stata's "80 characters" are 80 bytes in
a format-118 file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from instrument.names import STATA_RESERVED

if TYPE_CHECKING:
    from .codebook import Codebook

__all__ = [
    "LIMITS",
    "Limits",
    "NameProblem",
    "name_problems",
    "shorten",
    "shorten_labels",
    "fits",
]

ELLIPSIS = "..."


@dataclass(frozen=True)
class Limits:
    """Size and spelling rules of one package's files."""

    package: str
    name_bytes: int
    variable_label_bytes: int
    value_label_bytes: int
    file_label_bytes: int
    name_pattern: re.Pattern[str]
    reserved: frozenset[str]
    case_insensitive_reserved: bool


# SPSS: names up to 64 bytes, starting with a letter (we do not allow the @ # $
# starts SPSS tolerates, since they mean scratch/system variables), no spaces,
# not one of the reserved keywords.
SPSS = Limits(
    package="SPSS",
    name_bytes=64,
    variable_label_bytes=256,
    value_label_bytes=120,
    file_label_bytes=64,
    name_pattern=re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z"),
    reserved=frozenset(
        {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
    ),
    case_insensitive_reserved=True,
)

# Stata 14+ (format 118): names up to 32 characters, labels up to 80 bytes,
# value labels up to 32,000 bytes; the words Stata and Mata keep for themselves
# (the list pandas' writer renames silently, so we refuse them first).
STATA = Limits(
    package="Stata",
    name_bytes=32,
    variable_label_bytes=80,
    value_label_bytes=32000,
    file_label_bytes=80,
    name_pattern=re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z"),
    reserved=STATA_RESERVED,
    case_insensitive_reserved=False,
)

LIMITS: dict[str, Limits] = {"sav": SPSS, "dta": STATA}


@dataclass(frozen=True)
class NameProblem:
    """A variable name one package cannot take."""

    name: str
    package: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: not a valid {self.package} name ({self.reason})"


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def fits(text: str, limit: int) -> bool:
    """True when ``text`` is at most ``limit`` UTF-8 bytes."""
    return _bytes(text) <= limit


def name_problems(names: list[str], limits: Limits) -> list[NameProblem]:
    """Every name that ``limits`` rejects, with the reason, and case-insensitive clashes."""
    problems: list[NameProblem] = []
    seen: dict[str, str] = {}
    reserved = (
        {r.upper() for r in limits.reserved}
        if limits.case_insensitive_reserved
        else limits.reserved
    )
    for name in names:
        if _bytes(name) > limits.name_bytes:
            problems.append(
                NameProblem(
                    name, limits.package, f"{_bytes(name)} bytes, the limit is {limits.name_bytes}"
                )
            )
        elif not limits.name_pattern.match(name):
            problems.append(
                NameProblem(
                    name, limits.package, "use letters, digits and _, starting with a letter"
                )
            )
        elif (name.upper() if limits.case_insensitive_reserved else name) in reserved:
            problems.append(NameProblem(name, limits.package, "a reserved word"))
        folded = name.lower()
        # SPSS and Stata names differ only in case? SPSS ignores case.
        if folded in seen and seen[folded] != name and limits is SPSS:
            problems.append(
                NameProblem(name, limits.package, f"differs from {seen[folded]} only in case")
            )
        seen.setdefault(folded, name)
    return problems


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes by the one documented rule.

    The rule: if the text fits, it is returned unchanged. Otherwise it is cut
    at the last space that leaves room for ``...``, or mid-word when there is
    no such space in the second half of the allowance, and ``...`` is
    appended; whitespace before the cut is dropped. A multi-byte character is
    never split. The full text stays in the dictionary and the DDI file.
    """
    text = " ".join(text.split())
    if _bytes(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    encoded = text.encode("utf-8")[:room]
    cut = encoded.decode("utf-8", errors="ignore")
    space = cut.rfind(" ")
    if space >= len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def shorten_labels(codebook: Codebook) -> None:
    """Record, per package, the shortened form of every label that exceeds its limit.

    Nothing is cut silently: the full label stays in ``label`` (and so in the
    dictionary and the DDI file) and the shortened one in ``labels_short``.
    """
    for package, rules in LIMITS.items():
        for info in codebook.variables.values():
            if not fits(info.label, rules.variable_label_bytes):
                info.labels_short[package] = shorten(info.label, rules.variable_label_bytes)
            short = {
                code: shorten(text, rules.value_label_bytes)
                for code, text in info.all_labels.items()
                if not fits(text, rules.value_label_bytes)
            }
            if short:
                info.value_labels_short[package] = short
