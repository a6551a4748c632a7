"""The Jinja environments fills run in: Jinja's immutable sandbox, bounded.

Jinja's sandbox decides what a fill may reach; the hooks here apply
:mod:`.limits` to what it may make. Arithmetic goes through ``call_binop``
(which also keeps Jinja from folding ``'x' * 10**9`` into a constant while the
questionnaire is being checked), calls through ``call`` (and ``str.format`` when it is read), the filters that can
multiply a size are guarded, and the generated code counts loop iterations and
weighs lists, joins (``~``) and filter results, by wrapping them in two internal
filters whose names no template can write. So every value a fill makes is weighed
when it is made; what it prints is bounded when the text is rendered
(:meth:`.template.TextTemplate.render`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from . import limits
from .values import label_of, plural

__all__ = ["FillEnvironment", "make_environments"]

_COUNTED = "fill steps"  # a space: no template can name these filters
_WEIGHED = "fill weight"


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        limits.spend()
        yield item


class _Bounds(NodeTransformer):
    """Wraps loops, literals, joins and filter results in the internal filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _wrap(node.iter, _COUNTED)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_wrap(part, _WEIGHED) for part in node.nodes]  # weighed before printed
        return _wrap(node, _WEIGHED)

    def visit_Filter(self, node: nodes.Filter) -> nodes.Node:
        self.generic_visit(node)
        if node.node is None or node.name in (_COUNTED, _WEIGHED):
            return node  # a {% filter %} block's filter has no value of its own to weigh
        return _wrap(node, _WEIGHED)

    def _literal(self, node: nodes.Tuple | nodes.List | nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node  # the names a loop or a set assigns to
        return _wrap(node, _WEIGHED)

    visit_List = visit_Tuple = visit_Dict = _literal


def _wrap(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _Bounds().visit(node)  # a freshly parsed tree, compiled once: safe to change
        super().visit_Template(node, frame)


class FillEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the bounds of :mod:`.limits` on what fills make."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    code_generator_class = _BoundedCodeGenerator

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.spend()
        limits.check_binop(operator, left, right)
        return limits.weighed(self.binop_table[operator](left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:  # 'x.format' read: its widths are checked before it can run
            limits.check_brace_format(value.__self__)
        return wrapper

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        limits.spend()
        if isinstance(getattr(obj, "__self__", None), str):  # a text's own method
            limits.check_call(obj, args, kwargs)
        return limits.weighed(super().call(context, obj, *args, **kwargs))


def make_environments(
    customise: Callable[[jinja2.Environment], None] | None = None,
) -> tuple[jinja2.Environment, jinja2.Environment]:
    """Two sandboxed environments: one escaping for HTML, one for plain speech and terminals."""
    envs = []
    for autoescape in (True, False):
        env = FillEnvironment(
            autoescape=autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        limits.guard_filters(env.filters)
        env.filters[_COUNTED] = _counted
        env.filters[_WEIGHED] = limits.weighed
        env.globals["plural"] = plural
        env.globals["label"] = label_of
        if customise is not None:
            customise(env)
        envs.append(env)
    return envs[0], envs[1]
