"""The patterns of ``regex()``: refused at load when matching could take exponential time.

Python's ``re`` backtracks, with no time limit. A repeat inside a repeat that can
split the same characters between its iterations in many ways (``(a+)+``,
``(\\w+\\s?)*``, the phone number check of a published field form), or a repeat
over alternatives that can match the same character (``(\\w|\\d)+``), makes a
match fail only after trying every split: 2^n of them for an answer of n
characters, so one long answer would hang a page turn for every interview on
that server process. Such patterns are refused when the file loads, at the
pattern's line, with what to write instead; what is left can cost at most a
power of the answer's length, and :data:`MAX_SUBJECT` bounds that length.

The test is the classic one, made precise enough for real patterns: a repeat of
many iterations (``*``, ``+``, ``{2,}``) whose body holds a repeat of variable
length (``+``, ``{1,3}``) is refused unless the body also holds a character that
the variable repeats cannot match (the ``.`` of ``(\\w+\\.)*``, which fixes where each
iteration ends). A possessive repeat (``++``) or an atomic group (``(?>...)``)
never gives characters back, so what is inside one is not counted.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from re import _constants as sre  # the parser's opcodes (CPython's own, stable since 3.11)
from re import _parser as parser
from typing import Any

__all__ = ["MAX_SUBJECT", "UnsafePattern", "compile_pattern"]

MAX_SUBJECT = 2_000
"""``regex()`` over a longer text is false: what a pattern refused by nothing here can still
cost grows as a power of the length (``.*a.*b`` searched in a text is quadratic). A long text's
default ``max_length`` is the same 2,000 characters, so answers never reach it."""

_PROBE = frozenset(string.printable + "\u00a0\u00e9\u00df\u00c0\u0663\u4e2d")
"""Characters that stand for all: sets of characters are compared on these."""

_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)  # a possessive repeat gives nothing back


class UnsafePattern(ValueError):
    """A pattern whose matching can take exponential time; the message says why and what to do."""


@lru_cache(maxsize=512)
def compile_pattern(source: str) -> re.Pattern[str]:
    """``re.compile(source)``, refusing patterns that can backtrack without bound.

    :raises re.error: not a regular expression.
    :raises UnsafePattern: a repeat inside a repeat, or over overlapping alternatives.
    """
    pattern = re.compile(source)
    problem = _risk(list(parser.parse(source)), many=False)
    if problem is not None:
        raise UnsafePattern(problem)
    return pattern


def _risk(seq: list[tuple[Any, Any]], many: bool) -> str | None:
    """Why ``seq`` can backtrack exponentially, or None; ``many``: inside a repeat of many."""
    for op, av in seq:
        if op in _REPEATS:
            low, high, body = av
            repeats_many = high > 1
            if repeats_many and not many:
                problem = _nested(body) or _overlapping(body)
                if problem is not None:
                    return problem
            found = _risk(list(body), many or repeats_many)
        elif op == sre.POSSESSIVE_REPEAT:
            found = _risk(list(av[2]), False)
        elif op == sre.ATOMIC_GROUP:
            found = _risk(list(av), False)
        elif op == sre.SUBPATTERN:
            found = _risk(list(av[3]), many)
        elif op == sre.BRANCH:
            found = next((p for b in av[1] if (p := _risk(list(b), many)) is not None), None)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            found = _risk(list(av[1]), many)
        elif op == sre.GROUPREF_EXISTS:
            found = _risk(list(av[1]), many) or (_risk(list(av[2]), many) if av[2] else None)
        else:
            found = None
        if found is not None:
            return found
    return None


def _nested(body: Any) -> str | None:
    """A repeat of variable length inside this repeat's body, with no character to fix the split."""
    variable = _variable_repeats(list(body))
    if not variable:
        return None
    inner = frozenset().union(*(_chars(list(b)) for b in variable))
    if any(not (chars & inner) for chars in _fixed_chars(list(body))):
        return None  # a character the inner repeats cannot match ends each iteration
    return (
        "a repeat inside a repeat can split the same text in exponentially many ways, so a "
        "long answer that does not match takes hours to refuse; repeat once ('^[0-9 ]+$', "
        "not '^([0-9]+ ?)+$'), or make the inner repeat possessive ('[0-9]++') or atomic "
        "('(?>...)')"
    )


def _overlapping(body: Any) -> str | None:
    """Alternatives in this repeat's body that can match the same single character."""
    for op, av in body:
        if op == sre.SUBPATTERN:
            found = _overlapping(av[3])
            if found is not None:
                return found
        if op != sre.BRANCH:
            continue
        seen: frozenset[str] = frozenset()
        empty = False
        for branch in av[1]:
            chars, nullable = _first(list(branch))
            if chars & seen or (nullable and empty):
                return (
                    "a repeat over alternatives that can match the same text ('(a|a?)+', "
                    "'(x|xy?)*') can split a text in exponentially many ways; use one class "
                    "('[ab]+') or alternatives that start differently"
                )
            seen |= chars
            empty = empty or nullable
    return None


def _first(seq: list[tuple[Any, Any]]) -> tuple[frozenset[str], bool]:
    """The probe characters a match of ``seq`` can start with, and whether it can be empty."""
    found: set[str] = set()
    for op, av in seq:
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue
        if op in _REPEATS or op == sre.POSSESSIVE_REPEAT:
            chars, nullable = _first(list(av[2]))
            nullable = nullable or av[0] == 0
        elif op == sre.SUBPATTERN:
            chars, nullable = _first(list(av[3]))
        elif op == sre.ATOMIC_GROUP:
            chars, nullable = _first(list(av))
        elif op == sre.BRANCH:
            parts = [_first(list(branch)) for branch in av[1]]
            chars = frozenset().union(*(c for c, _ in parts))
            nullable = any(n for _, n in parts)
        else:
            chars, nullable = _chars([(op, av)]), False
        found |= chars
        if not nullable:
            return frozenset(found), False
    return frozenset(found), True


def _variable_repeats(seq: list[tuple[Any, Any]]) -> list[Any]:
    """Bodies of the repeats of variable length in ``seq`` (possessive and atomic ones left out)."""
    found = []
    for op, av in seq:
        if op in _REPEATS:
            low, high, body = av
            if high != low:
                found.append(body)
            found.extend(_variable_repeats(list(body)))
        elif op == sre.SUBPATTERN:
            found.extend(_variable_repeats(list(av[3])))
        elif op == sre.BRANCH:
            for branch in av[1]:
                found.extend(_variable_repeats(list(branch)))
    return found


def _fixed_chars(seq: list[tuple[Any, Any]]) -> list[frozenset[str]]:
    """The character sets of single characters that every match of ``seq`` must contain."""
    found = []
    for op, av in seq:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN):
            found.append(_chars([(op, av)]))
        elif op == sre.SUBPATTERN:
            found.extend(_fixed_chars(list(av[3])))
        elif (
            (op in _REPEATS or op == sre.POSSESSIVE_REPEAT) and av[0] >= 1 and _single(list(av[2]))
        ):
            found.append(_chars(list(av[2])))
    return found


def _single(seq: list[tuple[Any, Any]]) -> bool:
    """Whether ``seq`` is one character of a set (a literal, a class, any)."""
    if len(seq) != 1:
        return False
    op, av = seq[0]
    if op == sre.SUBPATTERN:
        return _single(list(av[3]))
    return op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)


def _chars(seq: list[tuple[Any, Any]]) -> frozenset[str]:
    """Every probe character ``seq`` can match somewhere (all of them where unsure)."""
    found: set[str] = set()
    for op, av in seq:
        if op == sre.LITERAL:
            found.add(chr(av))
        elif op == sre.NOT_LITERAL:
            found |= _PROBE - {chr(av)}
        elif op == sre.IN:
            found |= {c for c in _PROBE if _in_class(c, av)}
        elif op in _REPEATS or op == sre.POSSESSIVE_REPEAT:
            found |= _chars(list(av[2]))
        elif op == sre.SUBPATTERN:
            found |= _chars(list(av[3]))
        elif op == sre.ATOMIC_GROUP:
            found |= _chars(list(av))
        elif op == sre.BRANCH:
            for branch in av[1]:
                found |= _chars(list(branch))
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue  # matches no character
        else:  # any character, a back reference, ...: assume the worst
            return _PROBE
    return frozenset(found)


def _in_class(char: str, items: list[tuple[Any, Any]]) -> bool:
    negate = False
    hit = False
    code = ord(char)
    for op, av in items:
        if op == sre.NEGATE:
            negate = True
        elif op == sre.LITERAL:
            hit = hit or code == av
        elif op == sre.RANGE:
            hit = hit or av[0] <= code <= av[1]
        elif op == sre.CATEGORY:
            shorthand = _CATEGORIES.get(av)
            hit = hit or shorthand is None or re.fullmatch(shorthand, char) is not None
        else:
            hit = True
    return hit != negate
