"""A number question's range and its hard checks must agree on what is accepted.

The range (``min``/``max``) is what every mode states: the engine's message
("Enter a number between 1 and 10"), the terminal's hint ("a whole number
from 1 to 10"), an automated call's prompt. A hard check on the answer alone
that refuses part of that range (``error_if: n_children < 1`` under
``min: 0``) makes those statements wrong: the respondent is told 0 is fine and
then refused. Such a check is found here so the author narrows the range
instead, and the hints cannot disagree with what is enforced.

Only checks that compare the question's own answer with a number are read
(``x < 1``, ``x > 10``, ``x < 1 or x > 10``); anything else is the author's
business. A range written into the question's own text or hint ("from 0 to
10", "between 1 and 20") is compared with ``min`` and ``max`` too.
"""

from __future__ import annotations

import re
from typing import Any

from instrument.expressions import nodes as n
from instrument.model import Question

__all__ = ["range_disagreements"]

_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_STATED = re.compile(
    r"\b(?:from|between)\s+(-?\d+(?:\.\d+)?)\s+(?:to|and)\s+(-?\d+(?:\.\d+)?)\b", re.IGNORECASE
)
"""A range a text states in words: "from 0 to 10", "between 1 and 20"."""


def _bounds_refused(node: n.Node, qid: str) -> list[tuple[str, float]]:
    """(op, number) for each ``qid op number`` the condition is true for, whichever side."""
    if isinstance(node, n.Or):
        return [found for operand in node.operands for found in _bounds_refused(operand, qid)]
    if not isinstance(node, n.Compare) or node.op not in _FLIPPED:
        return []
    left, right, op = node.left, node.right, node.op
    if isinstance(left, n.Number) and isinstance(right, n.Name):
        left, right, op = right, left, _FLIPPED[op]
    if isinstance(left, n.Name) and left.name == qid and isinstance(right, n.Number):
        return [(op, right.value)]
    return []


def _show(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def range_disagreements(question: Question) -> list[str]:
    """What is wrong when a hard check refuses answers inside the question's own range, or its
    text or hint states another range."""
    if question.type not in ("integer", "decimal"):
        return []
    low, high = question.min, question.max
    whole = question.type == "integer"
    found = _stated_elsewhere(question, low, high)
    for check in question.checks:
        if check.severity != "error":
            continue
        for op, number in _bounds_refused(check.condition.node, question.id):
            if op in ("<", "<="):  # refuses below: the range should start higher
                start = number + 1 if op == "<=" and whole else number
                if op == "<=" and not whole:
                    continue  # "above number" has no smallest decimal to state as min
                if low is None or start > low:
                    found.append(
                        f"the check `{check.condition.source}` refuses answers below "
                        f"{_show(start)}, but the range says {_range(low, high)}, which every "
                        f"mode tells the respondent: set min: {_show(start)} instead (the "
                        "range's own message then says it)"
                    )
            else:
                end = number - 1 if op == ">=" and whole else number
                if op == ">=" and not whole:
                    continue
                if high is None or end < high:
                    found.append(
                        f"the check `{check.condition.source}` refuses answers above "
                        f"{_show(end)}, but the range says {_range(low, high)}, which every "
                        f"mode tells the respondent: set max: {_show(end)} instead (the "
                        "range's own message then says it)"
                    )
    return found


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"from {_show(low)} to {_show(high)}"
    if low is not None:
        return f"{_show(low)} or more"
    if high is not None:
        return f"{_show(high)} or less"
    return "any number"


def _stated_elsewhere(question: Question, low: Any, high: Any) -> list[str]:
    """A range the question's text or hint states that is not its ``min`` to ``max``."""
    found = []
    for role, text in (("text", question.text), ("hint", question.hint)):
        if text is None:
            continue
        for language, template in text.by_language.items():
            for match in _STATED.finditer(template.source):
                stated = (float(match.group(1)), float(match.group(2)))
                if low is None or high is None or stated != (float(low), float(high)):
                    found.append(
                        f"its {role} ({language}) says '{match.group(0)}', but the range it "
                        f"enforces is {_range(low, high)}: make them agree (the range is what "
                        "the checks and every mode's messages use)"
                    )
    return found
