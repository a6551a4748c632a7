"""Operators: negation, not/and/or, arithmetic, comparisons and ``in``."""

from __future__ import annotations

from typing import Any

from . import nodes as n
from . import runtime as rt
from .checker import CheckerBase, Typed
from .scope import NUMERIC, ValueType, type_phrase

__all__ = ["Operators"]


T = ValueType


class Operators(CheckerBase):
    """Checks and compiles the operator nodes."""

    def _Neg(self, node: n.Neg, loop: str | None) -> Typed:
        operand = self.visit(node.operand, loop)
        if operand.type not in NUMERIC:
            raise self.error(
                f"only a number can be negative, but {self.text(node.operand)} is "
                f"{type_phrase(operand.type)}",
                node.operand,
            )
        result = T.DECIMAL if operand.type is T.DECIMAL else T.INTEGER
        return Typed(result, rt.negative(operand.fn), pure=operand.pure)

    def _Not(self, node: n.Not, loop: str | None) -> Typed:
        operand = self.condition(node.operand, loop, "the value after 'not'")
        return Typed(T.BOOLEAN, rt.negate(operand.fn), pure=operand.pure)

    def _And(self, node: n.And, loop: str | None) -> Typed:
        return self._logic(node, loop, "and", rt.all_of)

    def _Or(self, node: n.Or, loop: str | None) -> Typed:
        return self._logic(node, loop, "or", rt.any_of)

    def _logic(self, node: n.And | n.Or, loop: str | None, word: str, build: Any) -> Typed:
        parts = [self.condition(op, loop, f"each side of '{word}'") for op in node.operands]
        return Typed(T.BOOLEAN, build([p.fn for p in parts]), pure=all(p.pure for p in parts))

    def _Arith(self, node: n.Arith, loop: str | None) -> Typed:
        parts = [self.visit(op, loop) for op in node.operands]
        is_text = all(p.type is T.TEXT for p in parts) and set(node.operators) == {"+"}
        if not is_text:
            for part, operand in zip(parts, node.operands):
                if part.type in NUMERIC:
                    continue
                if part.type is T.DATE:
                    hint = "; for dates use add_days(d, n) or days_between(a, b)"
                elif part.type is T.TEXT and set(node.operators) == {"+"}:
                    hint = "; + joins two texts, or adds two numbers, not a mix"
                elif part.type is T.CODES:
                    hint = f"; did you mean count_selected({self.text(operand)})?"
                else:
                    hint = ""
                raise self.error(
                    f"arithmetic needs numbers, but {self.text(operand)} is "
                    f"{type_phrase(part.type)}{hint}",
                    operand,
                )
        if is_text:
            result = T.TEXT
        elif "/" in node.operators or any(p.type is T.DECIMAL for p in parts):
            result = T.DECIMAL
        else:
            result = T.INTEGER
        fn = rt.arithmetic([p.fn for p in parts], node.operators)
        return Typed(result, fn, pure=all(p.pure for p in parts))

    def _Compare(self, node: n.Compare, loop: str | None) -> Typed:
        left = self.visit(node.left, loop)
        right = self.visit(node.right, loop)
        self.check_comparable(node, left, right)
        pure = left.pure and right.pure
        if right.pure and left.name is not None:
            fn = rt.compare_var_const(left.name, node.op, right.value)
        elif left.pure and right.name is not None:
            fn = rt.compare_var_const(right.name, rt.FLIPPED[node.op], left.value)
        elif right.pure:
            fn = rt.compare_fn_const(left.fn, node.op, right.value)
        elif left.pure:
            fn = rt.compare_fn_const(right.fn, rt.FLIPPED[node.op], left.value)
        else:
            fn = rt.compare_fn_fn(left.fn, node.op, right.fn)
        if (left.pure and left.value is None) or (right.pure and right.value is None):
            fn = rt.constant(False)  # e.g. x == 1 / 0: a missing operand makes it false
        return Typed(T.BOOLEAN, fn, pure=pure)

    def check_comparable(self, node: n.Compare, left: Typed, right: Typed) -> None:
        for typed, side in ((left, node.left), (right, node.right)):
            if typed.type is T.CODES:
                text = self.text(side)
                raise self.error(
                    f"{text} is a multiple choice and cannot be compared directly; use "
                    f"selected({text}, code) or count_selected({text})",
                    side,
                )
        lt, rt_ = left.type, right.type
        if T.CODE in (lt, rt_):
            if lt is T.CODE and rt_ is T.CODE:
                if left.codes is not None and right.codes is not None and left.codes != right.codes:
                    raise self.error(
                        f"{self.text(node.left)} and {self.text(node.right)} have different "
                        f"options, so comparing them means nothing; compare each with a code",
                        node,
                    )
                return
            code_typed, code_node, other, other_node = (
                (left, node.left, right, node.right)
                if lt is T.CODE
                else (right, node.right, left, node.left)
            )
            if other.type not in NUMERIC:
                raise self.error(
                    f"cannot compare {self.text(code_node)} (a choice) with "
                    f"{type_phrase(other.type)}; compare it with one of its codes",
                    other_node,
                )
            if not other.pure:
                example = min(code_typed.codes) if code_typed.codes else 1
                raise self.error(
                    f"{self.text(code_node)} is a choice: compare it with one of its codes, "
                    f"e.g. {self.text(code_node)} == {example}, not with {self.text(other_node)}",
                    other_node,
                )
            self.check_code(code_node, code_typed, other.value, other_node)
            return
        if lt in NUMERIC and rt_ in NUMERIC:
            return
        if lt is rt_ and lt in (T.TEXT, T.DATE):
            return
        if lt is rt_ is T.BOOLEAN:
            if node.op not in ("==", "!="):
                raise self.error("true/false values can only be compared with == or !=", node)
            return
        hint = ""
        if T.DATE in (lt, rt_) and T.TEXT in (lt, rt_):
            hint = "; write a date as date('2024-01-31')"
        raise self.error(
            f"cannot compare {type_phrase(lt)} ({self.text(node.left)}) with "
            f"{type_phrase(rt_)} ({self.text(node.right)}){hint}",
            node,
        )

    def _Membership(self, node: n.Membership, loop: str | None) -> Typed:
        left = self.visit(node.left, loop)
        if left.type is T.CODES:
            text = self.text(node.left)
            raise self.error(
                f"{text} is a multiple choice; use selected({text}, code) to test for one option",
                node.left,
            )
        values = []
        for item in node.items:
            typed = self.visit(item, loop)
            if not typed.pure:
                raise self.error(
                    "the list after 'in' may only hold fixed values (numbers, texts, dates); "
                    "compare with == to use a variable",
                    item,
                )
            compatible = typed.type in NUMERIC if left.type in NUMERIC else typed.type is left.type
            if not compatible:
                raise self.error(
                    f"{self.text(node.left)} is {type_phrase(left.type)}, but "
                    f"{self.text(item)} is {type_phrase(typed.type)}",
                    item,
                )
            if left.type is T.CODE:
                self.check_code(node.left, left, typed.value, item)
            if typed.value is not None:
                values.append(typed.value)
        fn = rt.member(left.fn, frozenset(values), node.negated)
        return Typed(T.BOOLEAN, fn, pure=left.pure)
