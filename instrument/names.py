"""Variable names that every statistics package will accept.

Names travel unchanged from the questionnaire into SPSS, Stata, R and pandas,
so the loader holds them to the strictest common rule instead of letting an
export rename them later.
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 32  # Stata's limit; SPSS allows 64 bytes
MAX_VARIABLE_LABEL = {"SPSS": 256, "Stata": 80}
MAX_VALUE_LABEL = {"SPSS": 120, "Stata": 80}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

# SPSS reserved keywords, compared without case.
SPSS_RESERVED = frozenset(
    ["ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"]
)
# Stata reserved names, its Mata words included (Stata is case sensitive, but we
# compare without case so that the same data never needs renaming in either
# package). The Stata writer's limits (instrument.dataset.limits) use this list.
STATA_RESERVED = frozenset(
    [
        "_all",
        "_b",
        "_coef",
        "_cons",
        "_N",
        "_n",
        "_pi",
        "_pred",
        "_rc",
        "_se",
        "_skip",
        "aggregate",
        "array",
        "boolean",
        "break",
        "byte",
        "case",
        "catch",
        "class",
        "colvector",
        "complex",
        "const",
        "continue",
        "default",
        "delegate",
        "delete",
        "do",
        "double",
        "else",
        "eltypedef",
        "end",
        "enum",
        "explicit",
        "export",
        "external",
        "float",
        "for",
        "friend",
        "function",
        "global",
        "goto",
        "if",
        "in",
        "inline",
        "int",
        "local",
        "long",
        "NULL",
        "pragma",
        "protected",
        "quad",
        "rowvector",
        "short",
        "str",
        "strL",
        "typedef",
        "typename",
        "using",
        "virtual",
        "with",
    ]
)
_RESERVED_LOWER = {w.lower() for w in SPSS_RESERVED | STATA_RESERVED}


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a variable name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a name must be a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"'{name}' is {len(name)} characters long; Stata allows at most {MAX_NAME_LENGTH}"
    if not _NAME.match(name):
        return (
            f"'{name}' is not a valid SPSS and Stata name: start with a letter, "
            "then use only letters, digits and underscores"
        )
    if name.lower() in _RESERVED_LOWER or re.fullmatch(r"str\d+", name.lower()):
        return f"'{name}' is a reserved word in SPSS or Stata"
    return None
