"""A question's ``default``: the answer shown pre-filled, from an expression or a list of codes.

``default: profile_n_children`` pre-fills last wave's answer from a preload,
``default: today()`` a date, ``default: 2`` an option. It is only a
suggestion: nothing is stored until the person submits the page. Its type must
be the question's, and a fixed code must be one of the question's options.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from instrument.expressions import CompiledExpression, ValueType
from instrument.expressions.context import MappingContext
from instrument.model import VALUE_TYPE_OF, ChoiceList
from instrument.yamlsrc import YMap, YScalar, YSeq

from .expressions import Expressions
from .state import Site

DEFAULT_TYPES = frozenset(VALUE_TYPE_OF)
"""The question types that take a default: every type with one value of its own."""


class AnswerDefaults(Expressions):
    """Reads and checks a question's ``default``."""

    def read_default(
        self, m: YMap, qtype: str, what: str, site: Site, choices: ChoiceList | None
    ) -> CompiledExpression | tuple[int, ...] | None:
        node = m.get("default")
        if node is None:
            return None
        if qtype == "multi" and isinstance(node, YSeq):
            return self._default_codes(node, what, choices)
        expected = VALUE_TYPE_OF[qtype]
        compiled = self.expression(node, f"the default of {what}", site, expected)
        if compiled is None or choices is None:
            return compiled
        if expected is ValueType.CODE:
            if not compiled.references and "today" not in compiled.source:
                value = compiled.evaluate(MappingContext({}, dt.date(2000, 1, 1), {}))
                if value not in choices.codes:
                    self.err(node.pos, _not_an_option(what, value, choices))
            else:
                self._check_codes_of(compiled, node, what, choices)
        return compiled

    def _default_codes(
        self, node: YSeq, what: str, choices: ChoiceList | None
    ) -> tuple[int, ...] | None:
        codes: list[int] = []
        for item in node:
            value = item.value if isinstance(item, YScalar) else None
            if isinstance(value, bool) or not isinstance(value, int):
                self.err(item.pos, f"the default of {what} must list option codes, like [1, 3]")
                return None
            if choices is not None and value not in choices.codes:
                self.err(item.pos, _not_an_option(what, value, choices))
                return None
            codes.append(value)
        order = [o.code for o in choices.options] if choices else sorted(codes)
        return tuple(code for code in order if code in codes)

    def _check_codes_of(
        self, compiled: CompiledExpression, node: Any, what: str, choices: ChoiceList
    ) -> None:
        """A default taken from another choice variable should not hold codes this one lacks."""
        meta = self.vars.get(compiled.source.strip())
        codes = meta.info.codes if meta is not None else None
        if codes and not codes <= choices.codes:
            extra = ", ".join(map(str, sorted(codes - choices.codes)))
            self.warn(
                node.pos,
                f"the default of {what} may be {extra}, which {what} does not offer; "
                "then nothing is pre-filled",
            )


def _not_an_option(what: str, value: Any, choices: ChoiceList) -> str:
    codes = ", ".join(str(c) for c in sorted(choices.codes))
    return f"the default of {what} is {value!r}, which is not one of its codes ({codes})"
