"""Conditions in plain English, for the codebook and the paper version of a questionnaire.

"parent == 1 and n_children > 2" becomes "parent is Yes and number of children
(n_children) is more than 2": option codes are shown by their labels and
variables by their label (if the scope gave one) with the name in brackets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from . import nodes as n
from .compiler import Checked, is_aggregate_call
from .scope import Scope, ValueType, VarInfo

__all__ = ["describe"]

_COMPARE_WORDS = {
    "==": "is",
    "!=": "is not",
    "<": "is less than",
    "<=": "is at most",
    ">": "is more than",
    ">=": "is at least",
}
_DATE_WORDS = {
    "<": "is before",
    "<=": "is on or before",
    ">": "is after",
    ">=": "is on or after",
}
_ARITH_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "%": "modulo"}


def describe(checked: Checked, scope: Scope) -> str:
    return _Describer(checked, scope.variables).say(checked.node)


def _join(words: list[str], last: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


class _Describer:
    def __init__(self, checked: Checked, variables: Mapping[str, VarInfo]) -> None:
        self.info = checked.info
        self.loops = checked.aggregate_loops
        self.variables = variables

    def labels_of(self, node: n.Node) -> Mapping[int, str] | None:
        typed = self.info.get(id(node))
        if typed is None or typed.type not in (ValueType.CODE, ValueType.CODES):
            return None
        return typed.labels

    def literal(self, value: Any, labels: Mapping[int, str] | None = None) -> str:
        if labels and isinstance(value, int) and value in labels:
            return str(labels[value])
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return f"'{value}'"
        if isinstance(value, dt.date):
            return value.isoformat()
        if value is None:
            return "missing"
        return str(value)

    def value(self, node: n.Node, labels: Mapping[int, str] | None = None) -> str:
        typed = self.info.get(id(node))
        if typed is not None and typed.pure and not isinstance(node, n.Name):
            return self.literal(typed.value, labels)
        return self.say(node)

    def grouped(self, node: n.Node) -> str:
        text = self.say(node)
        return f"({text})" if isinstance(node, (n.Or, n.And)) else text

    def say(self, node: n.Node) -> str:
        if isinstance(node, n.Name):
            var = self.variables.get(node.name)
            if var is not None and var.label:
                return f"{var.label} ({node.name})"
            return node.name
        if isinstance(node, (n.Number, n.String, n.Boolean)):
            return self.literal(node.value)
        if isinstance(node, n.Neg):
            return f"minus {self.grouped(node.operand)}"
        if isinstance(node, n.Not):
            return f"not ({self.say(node.operand)})"
        if isinstance(node, n.And):
            return " and ".join(
                f"({self.say(op)})" if isinstance(op, n.Or) else self.say(op)
                for op in node.operands
            )
        if isinstance(node, n.Or):
            return " or ".join(
                f"({self.say(op)})" if isinstance(op, n.And) else self.say(op)
                for op in node.operands
            )
        if isinstance(node, n.Arith):
            parts = [self.grouped_arith(node.operands[0])]
            for op, operand in zip(node.operators, node.operands[1:]):
                parts.append(f"{_ARITH_WORDS[op]} {self.grouped_arith(operand)}")
            return " ".join(parts)
        if isinstance(node, n.Compare):
            return self.compare(node)
        if isinstance(node, n.Membership):
            labels = self.labels_of(node.left)
            items = [self.value(item, labels) for item in node.items]
            if not items:
                return f"{self.say(node.left)} is one of an empty list"
            phrase = "is not one of" if node.negated else "is one of"
            if len(items) == 1:
                phrase = "is not" if node.negated else "is"
            return f"{self.say(node.left)} {phrase} {_join(items, 'or')}"
        if isinstance(node, n.Call):
            return self.call(node)
        return n.unparse(node)  # pragma: no cover - every node kind is handled above

    def grouped_arith(self, node: n.Node) -> str:
        text = self.say(node)
        return f"({text})" if isinstance(node, n.Arith) else text

    def compare(self, node: n.Compare) -> str:
        left, right = node.left, node.right
        op = node.op
        left_typed = self.info.get(id(left))
        right_typed = self.info.get(id(right))
        if (
            left_typed is not None
            and left_typed.pure
            and not (right_typed is not None and right_typed.pure)
        ):
            # put the variable first: "5 < x" reads better as "x is more than 5"
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        labels = self.labels_of(left)
        words = _COMPARE_WORDS[op]
        typed = self.info.get(id(left))
        if typed is not None and typed.type is ValueType.DATE:
            words = _DATE_WORDS.get(op, words)
        return f"{self.say(left)} {words} {self.value(right, labels)}"

    def call(self, node: n.Call) -> str:
        name = node.function
        args = node.args
        say = self.say
        if is_aggregate_call(node):
            loop = self.loops.get(id(node), "loop")
            inner = say(args[0])
            known = " with a known value" if name.endswith("_known") else ""
            return {
                "sum": f"the sum of {inner} over all '{loop}' iterations{known}",
                "count": f"the number of '{loop}' iterations with an answer for {inner}",
                "count_if": f"the number of '{loop}' iterations{known} where {inner}",
                "min": f"the smallest {inner} over all '{loop}' iterations{known}",
                "max": f"the largest {inner} over all '{loop}' iterations{known}",
            }[name.removesuffix("_known")]
        if name == "selected":
            labels = self.labels_of(args[0])
            typed = self.info.get(id(args[0]))
            code = self.value(args[1], labels)
            verb = "includes" if typed is not None and typed.type is ValueType.CODES else "is"
            return f"{say(args[0])} {verb} {code}"
        if name == "count_selected":
            return f"the number of options chosen at {say(args[0])}"
        if name == "if":
            return f"{self.value(args[1])} if {say(args[0])}, otherwise {self.value(args[2])}"
        if name == "coalesce":
            return " if answered, otherwise ".join(self.value(a) for a in args)
        simple = {
            "empty": "{0} is not answered",
            "answered": "{0} is answered",
            "is_dk": "{0} is don't know",
            "is_refused": "{0} is refused",
            "len": "the length of {0}",
            "regex": "{0} matches the pattern {1}",
            "days_between": "the number of days from {0} to {1}",
            "years_between": "the number of whole years from {0} to {1}",
            "add_days": "{0} plus {1} days",
            "add_months": "{0} plus {1} months",
            "add_years": "{0} plus {1} years",
            "year": "the year of {0}",
            "month": "the month of {0}",
            "day": "the day of the month of {0}",
            "abs": "the absolute value of {0}",
        }
        if name in simple:
            return simple[name].format(*(self.value(a) for a in args))
        if name == "today":
            return "today's date"
        if name == "age":
            at = self.value(args[1]) if len(args) > 1 else "today"
            return f"the age in whole years at {at} of someone born on {self.value(args[0])}"
        if name == "date":
            return self.value(node)
        if name == "round":
            if len(args) == 1:
                return f"{self.value(args[0])} rounded to a whole number"
            return f"{self.value(args[0])} rounded to {self.value(args[1])} decimal places"
        if name in ("min", "max"):
            word = "smallest" if name == "min" else "largest"
            return f"the {word} of {_join([self.value(a) for a in args], 'and')}"
        return n.unparse(node)  # pragma: no cover
