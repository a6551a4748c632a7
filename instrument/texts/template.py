"""One text in one language: checked once when the questionnaire loads, rendered many times.

Texts without ``{{`` or ``{%`` never touch Jinja at all, which keeps rendering a
page cheap. Checking finds syntax errors, unknown filters, the variables a text
names, fills nested too deeply for Jinja's recursive parser, and fills whose
constant parts alone would pass a bound of :mod:`.limits` (reported as warnings:
such a fill is left out when the text is shown).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from . import limits

__all__ = ["TemplateProblem", "TemplateSyntax", "TextTemplate"]


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    line: int  # line within the text, from 1


class TemplateSyntax(Exception):
    def __init__(self, problem: TemplateProblem):
        super().__init__(problem.message)
        self.problem = problem


_FILLS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)

_JINJA_GLOBALS = frozenset(jinja2.defaults.DEFAULT_NAMESPACE)

_TOO_DEEP = "the fill is nested too deeply"

_REPEATING = (jinja_nodes.For, jinja_nodes.Macro, jinja_nodes.CallBlock)

_EVAL_CONTEXT = jinja_nodes.EvalContext


class TextTemplate:
    """One text in one language, ready to render for HTML or plain output."""

    __slots__ = (
        "source",
        "names",
        "warnings",
        "_helpers",
        "_envs",
        "_compiled",
        "_markup",
        "_repeats",
    )

    def __init__(
        self,
        source: str,
        names: frozenset[str],
        envs: tuple[jinja2.Environment, jinja2.Environment] | None,
        warnings: tuple[TemplateProblem, ...] = (),
        repeats: bool = True,
    ) -> None:
        self.source = source
        self.names = names
        self.warnings = warnings
        # Without loops or macros a rendering cannot repeat itself: its steps and its
        # length are bounded by the text it renders, so it needs no step budget.
        self._repeats = repeats
        self._envs = envs
        self._compiled: list[Any] = [None, None]  # html, plain: compiled on first use
        self._markup = Markup(source)
        # Our helpers and any a plugin added (Jinja's own globals such as range stay out).
        self._helpers = (
            {}
            if envs is None
            else {
                name: value for name, value in envs[0].globals.items() if name not in _JINJA_GLOBALS
            }
        )

    @property
    def is_static(self) -> bool:
        return self._envs is None

    @classmethod
    def compile(
        cls, source: str, html_env: jinja2.Environment, plain_env: jinja2.Environment
    ) -> "TextTemplate":
        """Check ``source``; raises :class:`TemplateSyntax` for bad template syntax."""
        if "{{" not in source and "{%" not in source:
            return cls(source, frozenset(), None)
        _check_nesting(source)
        try:
            parsed = html_env.parse(source)
            for node in parsed.find_all((jinja_nodes.Filter, jinja_nodes.Test)):
                is_filter = isinstance(node, jinja_nodes.Filter)
                known = html_env.filters if is_filter else html_env.tests
                if node.name not in known:
                    kind = "filter" if is_filter else "test"
                    raise TemplateSyntax(
                        TemplateProblem(f"no {kind} named '{node.name}'", node.lineno)
                    )
            names = frozenset(meta.find_undeclared_variables(parsed))
            warnings = tuple(_costly_constants(parsed, html_env))
            repeats = any(True for _ in parsed.find_all(_REPEATING))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntax(
                TemplateProblem(exc.message or "template syntax error", exc.lineno)
            ) from None
        except RecursionError:  # e.g. 'not not not ...' or '1 + 1 + ...' thousands of times
            raise TemplateSyntax(TemplateProblem(_TOO_DEEP, 1)) from None
        # Compiling to Python is the costly part of Jinja: done on first render, per process.
        return cls(source, names, (html_env, plain_env), warnings, repeats)

    def render(self, values: Mapping[str, Any], *, html: bool) -> str:
        """Render with ``values`` (which must hold every variable in :attr:`names`)."""
        if self._envs is None:
            # Author-written text is trusted, exactly as Jinja treats template literals.
            return self._markup if html else self.source
        index = 0 if html else 1
        context_values = dict(values)
        context_values.update(self._helpers)
        budget = limits.start_budget() if self._repeats else None
        try:
            template = self._compiled[index]
            if template is None:
                template = self._compiled[index] = self._envs[index].from_string(self.source)
            # A shared context holds only what this text needs: no per-render copy
            # of the environment's globals (the bulk of Jinja's per-render cost).
            context = template.new_context(context_values, shared=True)
            if self._repeats:
                text = _bounded_join(template.root_render_func(context))
            else:  # a few parts, each already weighed
                text = "".join(template.root_render_func(context))
                if len(text) > limits.MAX_FILL_WEIGHT:
                    raise limits.FillTooCostly(f"a text of {len(text):,} characters")
        except Exception:
            # Show the wording without its fills rather than an error page; the
            # author's `instrument simulate` run reports such fills beforehand.
            text = _FILLS.sub("", self.source)
        finally:
            if budget is not None:
                limits.stop_budget(budget)
        return Markup(text) if html else text


def _bounded_join(parts: Iterator[str]) -> str:
    """The parts joined, stopped as soon as they pass the bound on a rendered text."""
    kept = []
    length = 0
    for part in parts:
        length += len(part)
        if length > limits.MAX_FILL_WEIGHT:
            raise limits.FillTooCostly(f"a text of more than {length:,} characters")
        kept.append(part)
    return "".join(kept)


def _check_nesting(source: str) -> None:
    """Brackets inside ``{{ }}`` and ``{% %}`` nested within bounds (outside quoted text)."""
    for fill in _FILLS.finditer(source):
        depth = 0
        quote = ""
        inside = fill.group()[2:-2]  # the fill's own braces are not nesting
        for offset, char in enumerate(inside, start=fill.start() + 2):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "([{":
                depth += 1
                if depth > limits.MAX_FILL_NESTING:
                    line = source.count("\n", 0, offset) + 1
                    raise TemplateSyntax(
                        TemplateProblem(
                            f"{_TOO_DEEP} (more than {limits.MAX_FILL_NESTING} brackets)", line
                        )
                    )
            elif char in ")]}":
                depth -= 1


# --- fills too costly in their constant parts ------------------------------------------


class _NotConstant(Exception):
    """The value depends on the interview (or cannot be worked out here)."""


_OPERATORS = {
    jinja_nodes.Add: "+",
    jinja_nodes.Sub: "-",
    jinja_nodes.Mul: "*",
    jinja_nodes.Div: "/",
    jinja_nodes.FloorDiv: "//",
    jinja_nodes.Mod: "%",
    jinja_nodes.Pow: "**",
}


def _costly_constants(tree: jinja_nodes.Node, env: jinja2.Environment) -> list[TemplateProblem]:
    """The largest constant parts of fills that would pass a bound whatever the answers."""
    found: list[TemplateProblem] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        try:
            if isinstance(node, (jinja_nodes.BinExpr, jinja_nodes.Concat)):
                _value(node)
                continue  # a constant within bounds: nothing below it can pass one
            if isinstance(node, jinja_nodes.Filter) and node.node is not None:
                function = env.filters.get(node.name)
                limits.check_filter(function, *_arguments(node, env, _value(node.node)))
            elif isinstance(node, jinja_nodes.Call) and isinstance(node.node, jinja_nodes.Getattr):
                method = getattr(_value(node.node.node), node.node.attr, None)
                args, kwargs = _arguments(node, env)
                if getattr(method, "__name__", "") in ("format", "format_map"):
                    limits.check_brace_format(method.__self__)  # type: ignore[union-attr]
                limits.check_call(method, args, kwargs)
        except limits.FillTooCostly as exc:
            message = f"this fill would make {exc}, past the bounds on fills, so the text will be shown without its fills"
            found.append(TemplateProblem(message, node.lineno or 1))
            continue
        except _NotConstant:
            pass
        stack.extend(reversed(list(node.iter_child_nodes())))  # in the order written
    return sorted(found, key=lambda problem: problem.line)


def _arguments(
    node: jinja_nodes.Filter | jinja_nodes.Call, env: jinja2.Environment, *first: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A filter's or call's constant arguments, as Jinja would pass them."""
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        raise _NotConstant
    args = tuple(_value(arg) for arg in node.args)
    kwargs = {pair.key: _value(pair.value) for pair in node.kwargs}
    if first and isinstance(node, jinja_nodes.Filter):
        function = env.filters.get(node.name)
        mark = getattr(getattr(function, "jinja_pass_arg", None), "name", None)
        if mark == "context":
            raise _NotConstant  # needs the interview's context
        passed = {None: (), "environment": (env,), "eval_context": (_EVAL_CONTEXT(env),)}[mark]
        args = (*passed, *first, *args)
    return args, kwargs


def _value(node: jinja_nodes.Node) -> Any:
    """A constant expression's value, computed within the bounds (or FillTooCostly)."""
    if isinstance(node, jinja_nodes.Const):
        return node.value
    if isinstance(node, (jinja_nodes.List, jinja_nodes.Tuple)):
        return [_value(item) for item in node.items]
    if isinstance(node, jinja_nodes.Neg | jinja_nodes.Pos):
        operand = _value(node.node)
        return -operand if isinstance(node, jinja_nodes.Neg) else operand
    if isinstance(node, jinja_nodes.Concat):
        parts = [limits.weighed(_value(part)) for part in node.nodes]
        return limits.weighed("".join(str(part) for part in parts))
    operator = _OPERATORS.get(type(node))
    if operator is None:
        raise _NotConstant
    left = _value(node.left)  # type: ignore[attr-defined]
    if operator == "%" and isinstance(left, str):
        limits.check_percent_format(left)  # a fixed format is checked whatever it formats
    right = _value(node.right)  # type: ignore[attr-defined]
    limits.check_binop(operator, left, right)
    try:
        return limits.weighed(SandboxedEnvironment.default_binop_table[operator](left, right))
    except (ArithmeticError, TypeError, ValueError):
        raise _NotConstant from None  # fails whatever the answers; not a question of size
