"""Text fills: Jinja templates in a sandbox, compiled once per questionnaire.

Texts are the one place where questionnaire authors write templates, so they run
in Jinja's immutable sandbox (no attribute tricks, no mutation) with only the
helpers we register. Texts without ``{{`` or ``{%`` never touch Jinja at all,
which keeps rendering a page cheap.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from instrument.values import DK, REFUSED

__all__ = [
    "FILL_GLOBALS",
    "TextTemplate",
    "TemplateProblem",
    "make_environments",
    "fill_value",
]

FILL_GLOBALS = frozenset({"label", "plural", "loop"})
"""Names that a fill may use besides the questionnaire's variables."""

NOT_VARIABLES = frozenset({"label", "plural"})


class ChoiceValue(int):
    """A chosen option's code inside a fill: compares and prints as its code,
    while ``label(x)`` can still say which option it was, in the interview's language."""

    label_text: str

    def __new__(cls, code: int, label_text: str) -> "ChoiceValue":
        obj = super().__new__(cls, code)
        obj.label_text = label_text
        return obj


class ChoiceValues(tuple):  # type: ignore[type-arg]
    """The codes chosen in a multiple choice, with their labels; prints as ``1, 3``."""

    label_text: str

    def __new__(cls, codes: tuple[int, ...], label_text: str) -> "ChoiceValues":
        obj = super().__new__(cls, codes)
        obj.label_text = label_text
        return obj

    def __str__(self) -> str:
        return ", ".join(str(c) for c in self)


def label_of(value: Any) -> str:
    """The ``label()`` helper of fills: the label of a chosen option (or options)."""
    return getattr(value, "label_text", "")


class MissingFill:
    """A missing answer inside a fill: prints as nothing, and, as in the expression
    language, every comparison with it is false (``{% if n > 0 %}`` is simply not taken).
    Arithmetic on it stays missing instead of raising in the middle of a page."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""

    def __html__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Any:
        return iter(())

    def __hash__(self) -> int:
        return 0

    def _false(self, other: Any) -> bool:
        return False

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __contains__ = _false  # type: ignore[assignment]

    def _same(self, *args: Any) -> "MissingFill":
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __neg__ = __pos__ = __abs__ = _same


MISSING = MissingFill()


def fill_value(value: Any) -> Any:
    """What a variable shows as inside a fill."""
    if value is None or value is DK or value is REFUSED:
        return MISSING
    if isinstance(value, dt.date):
        return value.strftime("%-d %B %Y")
    if isinstance(value, ChoiceValues):
        return value
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _plural(n: Any, one: str, many: str) -> str:
    return one if n == 1 else many


def make_environments(
    customise: Callable[[jinja2.Environment], None] | None = None,
) -> tuple[jinja2.Environment, jinja2.Environment]:
    """Two sandboxed environments: one escaping for HTML, one for plain speech and terminals."""
    envs = []
    for autoescape in (True, False):
        env = ImmutableSandboxedEnvironment(
            autoescape=autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.globals["plural"] = _plural
        env.globals["label"] = label_of
        if customise is not None:
            customise(env)
        envs.append(env)
    return envs[0], envs[1]


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    line: int  # line within the text, from 1


_FILLS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


_JINJA_GLOBALS = frozenset(jinja2.defaults.DEFAULT_NAMESPACE)


class TextTemplate:
    """One text in one language, ready to render for HTML or plain output."""

    __slots__ = ("source", "names", "_helpers", "_envs", "_compiled", "_markup")

    def __init__(
        self,
        source: str,
        names: frozenset[str],
        envs: tuple[jinja2.Environment, jinja2.Environment] | None,
    ) -> None:
        self.source = source
        self.names = names
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
        try:
            parsed = html_env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntax(
                TemplateProblem(exc.message or "template syntax error", exc.lineno)
            ) from None
        for node in parsed.find_all((jinja_nodes.Filter, jinja_nodes.Test)):
            known = html_env.filters if isinstance(node, jinja_nodes.Filter) else html_env.tests
            if node.name not in known:
                kind = "filter" if isinstance(node, jinja_nodes.Filter) else "test"
                raise TemplateSyntax(TemplateProblem(f"no {kind} named '{node.name}'", node.lineno))
        names = frozenset(meta.find_undeclared_variables(parsed))
        # Compiling to Python is the costly part of Jinja: done on first render, per process.
        return cls(source, names, (html_env, plain_env))

    def render(self, values: Mapping[str, Any], *, html: bool) -> str:
        """Render with ``values`` (which must hold every variable in :attr:`names`)."""
        if self._envs is None:
            # Author-written text is trusted, exactly as Jinja treats template literals.
            return self._markup if html else self.source
        index = 0 if html else 1
        template = self._compiled[index]
        if template is None:
            template = self._compiled[index] = self._envs[index].from_string(self.source)
        context_values = dict(values)
        context_values.update(self._helpers)
        try:
            # A shared context holds only what this text needs: no per-render copy
            # of the environment's globals (the bulk of Jinja's per-render cost).
            context = template.new_context(context_values, shared=True)
            text = "".join(template.root_render_func(context))
        except Exception:
            # Show the wording without its fills rather than an error page; the
            # author's `instrument simulate` run reports such fills beforehand.
            text = _FILLS.sub("", self.source)
        return Markup(text) if html else text


class TemplateSyntax(Exception):
    def __init__(self, problem: TemplateProblem):
        super().__init__(problem.message)
        self.problem = problem
