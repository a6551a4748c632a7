"""A question's ``choice_filter``: which options to offer, from answers given earlier.

Written as a mapping from an option attribute to an expression,
``choice_filter: {region: region}`` offers the districts whose ``region``
attribute equals the answer to ``region`` (XLSForm's
``choice_filter: region=${region}``). Each name is checked here: the attribute
must be one the list's options have, its values must be of the expression's
kind, and a code a choice question does not have is reported at its option.
"""

from __future__ import annotations

from instrument.diagnostics import did_you_mean
from instrument.expressions import CompiledExpression, ValueType
from instrument.model import ChoiceFilter, ChoiceList
from instrument.yamlsrc import YMap

from .expressions import Expressions
from .state import Site

_TEXTUAL = frozenset({ValueType.TEXT})
_WHOLE = frozenset({ValueType.CODE, ValueType.INTEGER})


class ChoiceFilters(Expressions):
    """Reads and checks the ``choice_filter`` of a single or multiple choice."""

    def read_choice_filter(
        self, m: YMap, what: str, choices: ChoiceList | None, site: Site
    ) -> tuple[ChoiceFilter, ...]:
        node = m.get("choice_filter")
        fm = self.expect_map(node, f"the choice_filter of {what}", m.pos) if node else None
        if fm is None or choices is None:
            return ()
        if not fm.entries:
            self.err(fm.pos, f"the choice_filter of {what} names no attribute")
            return ()
        known = sorted({name for o in choices.options for name, _ in o.attributes})
        result = []
        for attribute, value_node in fm.items():
            if attribute not in known:
                having = f" (its options have: {', '.join(known)})" if known else ""
                self.err(
                    fm.where(attribute),
                    f"the choice_filter of {what}: no option of '{choices.name}' has the "
                    f"attribute '{attribute}'{having}{did_you_mean(attribute, known)}",
                )
                continue
            compiled = self.expression(
                value_node, f"the choice_filter '{attribute}' of {what}", site, expected=None
            )
            if compiled is None:
                continue
            self._check_attribute_values(compiled, attribute, choices, what, fm)
            result.append(ChoiceFilter(attribute, compiled))
        return tuple(result)

    def _check_attribute_values(
        self,
        compiled: CompiledExpression,
        attribute: str,
        choices: ChoiceList,
        what: str,
        fm: YMap,
    ) -> None:
        """Each option's value of ``attribute`` must be something the expression can give."""
        kind = compiled.type
        if kind not in _TEXTUAL | _WHOLE:
            self.err(
                fm.where(attribute),
                f"the choice_filter '{attribute}' of {what} must give a code, a whole number "
                f"or a text, not {kind.value}",
            )
            return
        codes = None
        if kind is ValueType.CODE and compiled.source.strip() in self.vars:
            codes = self.vars[compiled.source.strip()].info.codes
            if codes:
                self._warn_offering_nothing(attribute, codes, compiled, choices, what, fm)
        wanted = str if kind in _TEXTUAL else int
        for option in choices.options:
            value = option.attribute(attribute)
            if value is None:
                continue
            values = value if isinstance(value, tuple) else (value,)
            for single in values:
                if not isinstance(single, wanted):
                    self.err(
                        option.pos or choices.pos,
                        f"option {option.code} of '{choices.name}' has {attribute} {single!r}, "
                        f"but the choice_filter of {what} compares it with "
                        f"{'a text' if wanted is str else 'a whole number'}",
                    )
                    return
                if codes is not None and single not in codes:
                    self.err(
                        option.pos or choices.pos,
                        f"option {option.code} of '{choices.name}' has {attribute} {single}, "
                        f"which is not a code of '{compiled.source.strip()}' "
                        f"(its codes are {', '.join(map(str, sorted(codes)))})",
                    )
                    return

    def _warn_offering_nothing(
        self,
        attribute: str,
        codes: frozenset[int],
        compiled: CompiledExpression,
        choices: ChoiceList,
        what: str,
        fm: YMap,
    ) -> None:
        """Warn when some answer to the question filtered on leaves no option to offer.

        The engine does not ask such a question (there is nothing to choose; it is
        routed past, see engine.routing), so the author learns here that those
        respondents will have no answer: a region whose districts are missing from
        the list, say. An option without the attribute is offered whatever the answer.
        """
        having: set[object] = set()
        for option in choices.options:
            value = option.attribute(attribute)
            if value is None:
                return
            having.update(value if isinstance(value, tuple) else (value,))
        empty = sorted(code for code in codes if code not in having)
        if not empty:
            return
        shown = ", ".join(map(str, empty[:10])) + (
            f" and {len(empty) - 10} more" if len(empty) > 10 else ""
        )
        self.warn(
            fm.where(attribute),
            f"the choice_filter of {what} offers no option of '{choices.name}' when "
            f"{compiled.source.strip()} is {shown}: the question is then not asked (routed "
            f"past, as if its condition were false); give those answers options of their own "
            f"or add an option without the attribute '{attribute}' (offered whatever the answer)",
        )
