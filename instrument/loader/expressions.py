"""Expressions in the file: compiled, placed in the file, and checked for reference order.

A condition may only use answers given on earlier pages; a computed variable is
known from the page of its latest input (``effective_page``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from instrument.diagnostics import Position
from instrument.expressions import (
    CompiledExpression,
    ExpressionError,
    Scope,
    ValueType,
    VarInfo,
    compile_expression,
)
from instrument.yamlsrc import YNode, YScalar

from .shapes import Shapes
from .state import Site


class Expressions(Shapes):
    """Conditions, counts and computed values: compiled against the variables known so far."""

    def expr_pos(self, node: YScalar, offset: int) -> Position:
        text = str(node.value)
        before = text[:offset]
        newlines = before.count("\n")
        if newlines == 0:
            return node.pos.shifted(offset + (1 if node.quoted else 0))
        return Position(node.pos.file, node.pos.line + newlines, offset - before.rfind("\n"))

    def expression(
        self,
        node: YNode | None,
        what: str,
        site: Site | None,
        expected: ValueType | None = ValueType.BOOLEAN,
        loop: str | None = None,
    ) -> CompiledExpression | None:
        """Compile one expression in the file.

        ``site`` places it on the route (and checks what it reads comes earlier);
        an expression with no site (a computed variable's) still sits in ``loop``.
        """
        if node is None:
            return None
        if not isinstance(node, YScalar) or isinstance(node.value, (dict, list)):
            self.err(node.pos, f"{what} must be an expression written as text")
            return None
        value = node.value
        if isinstance(value, bool):
            source = "true" if value else "false"
        elif isinstance(value, (int, float)):
            source = str(value)
        elif isinstance(value, str):
            source = value
        else:
            self.err(node.pos, f"{what} must be an expression written as text")
            return None
        scope = Scope(self.var_infos(), site.loop if site else loop, self.scope_parents())
        try:
            compiled = compile_expression(source, scope, expected)
        except ExpressionError as exc:
            if not self.names_broken(source):
                self.err(self.expr_pos(node, exc.offset), f"{what}: {exc.message}")
            return None
        for warning in compiled.warnings:
            self.warn(self.expr_pos(node, warning.offset), f"{what}: {warning.message}")
        if site is not None:
            self.check_reference_order(compiled, node, what, site)
        return compiled

    def names_broken(self, source: str) -> bool:
        """Whether an expression names a question whose own error was reported (an unknown type):
        one misspelt type is one error, not one more for every condition that uses the question."""
        return any(re.search(rf"\b{re.escape(name)}\b", source) for name in self.broken_names)

    def check_reference_order(
        self, compiled: CompiledExpression, node: YScalar, what: str, site: Site
    ) -> None:
        for name in sorted(compiled.references):
            meta = self.vars.get(name)
            if meta is None:
                continue
            asked_at = self.effective_page(name, set())
            if asked_at > site.page_seq or (
                asked_at == site.page_seq and not site.same_page_ok and asked_at > 0
            ):
                where = "on the same page" if asked_at == site.page_seq else "later"
                self.err(
                    node.pos,
                    f"{what} uses '{name}', which is asked {where}; a condition can only use answers given on earlier pages",
                )

    def var_infos(self) -> Mapping[str, VarInfo]:
        """Every variable's type information, rebuilt only when a variable was added or changed."""
        if self._infos is None or self._infos_size != len(self.vars) or self._infos_dirty:
            self._infos = {name: meta.info for name, meta in self.vars.items()}
            self._infos_size = len(self.vars)
            self._infos_dirty = False
        return self._infos

    def effective_page(self, name: str, seen: set[str]) -> int:
        """The page by which a variable is known (computed: its latest input)."""
        meta = self.vars[name]
        if meta.kind != "computed":
            return meta.page_seq
        if name in seen:
            return 0  # cycles are reported separately
        seen.add(name)
        deps = self.computed_deps.get(name, frozenset())
        return max((self.effective_page(dep, seen) for dep in deps if dep in self.vars), default=0)
