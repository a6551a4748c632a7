"""What one fill may cost: the bounds, and the checks the sandbox runs against them.

The sandbox stops fills from reaching anything they should not; these bounds stop
them from exhausting the process. ``{{ 'x' * 10**9 }}`` is twelve characters of
template and three gigabytes of text. Every value a fill makes is weighed (a
character, a digit or an item weighs one, and a list weighs what printing it
would) before it is made wherever its size can be known beforehand (repetition,
powers, padding, replacing, joining) and after it is made everywhere else, and
one rendering may take only so many steps (loop iterations, operations, calls).
A fill past a bound raises :class:`FillTooCostly`, and the text is shown without
its fills, as for any fill that fails.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any

__all__ = [
    "MAX_FILL_NESTING",
    "MAX_FILL_STEPS",
    "MAX_FILL_WEIGHT",
    "MAX_FILL_WIDTH",
    "FillTooCostly",
    "check_binop",
    "check_call",
    "check_filter",
    "guard_filters",
    "spend",
    "start_budget",
    "stop_budget",
    "weighed",
]

MAX_FILL_WEIGHT = 100_000
"""Heaviest value a fill may make, and longest text a rendering may give."""

MAX_FILL_STEPS = 10_000
"""Loop iterations, operations and calls one rendering of a text may take."""

MAX_FILL_WIDTH = 1_000
"""Widest padding or precision a format may ask for (``%5d``, ``{:>10}``, ``center(80)``)."""

MAX_FILL_NESTING = 30
"""Deepest nesting of brackets inside one ``{{ }}`` or ``{% %}`` (Jinja's parser recurses)."""


class FillTooCostly(Exception):
    """A fill went past a bound; the message says what it would have made."""


# --- the step budget of one rendering ----------------------------------------------


class _Budget:
    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = MAX_FILL_STEPS


_BUDGET: ContextVar[_Budget | None] = ContextVar("fill_budget", default=None)


def start_budget() -> Token[_Budget | None]:
    """Give the rendering about to start its steps (pass the token to :func:`stop_budget`)."""
    return _BUDGET.set(_Budget())


def stop_budget(token: Token[_Budget | None]) -> None:
    _BUDGET.reset(token)


def spend() -> None:
    """Count one step of the current rendering (outside a rendering, nothing is counted)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.steps -= 1
        if budget.steps < 0:
            raise FillTooCostly(f"more than {MAX_FILL_STEPS:,} steps")


# --- weights -----------------------------------------------------------------------


def weight(value: Any, seen: dict[int, int] | None = None) -> int:
    """What printing ``value`` would cost: characters, digits, and one per item of a list."""
    if isinstance(value, str):
        return max(len(value), 1)
    if isinstance(value, bool) or not isinstance(value, (int, list, tuple, dict)):
        return 1
    if isinstance(value, int):
        return _digits(value.bit_length())
    seen = {} if seen is None else seen
    known = seen.get(id(value))
    if known is None:
        parts = value.items() if isinstance(value, dict) else ((item,) for item in value)
        known = 1 + sum(weight(part, seen) for pair in parts for part in pair)
        seen[id(value)] = known
    return known


def weighed(value: Any) -> Any:
    """``value`` itself, once it is known to weigh no more than a fill may make."""
    if isinstance(value, str):  # the common case first: this runs for every value made
        if len(value) > MAX_FILL_WEIGHT:
            _refuse(len(value), "a text")
    elif isinstance(value, (list, tuple, dict)):
        _refuse(weight(value), "a value")
    elif isinstance(value, int) and value.bit_length() > _MAX_BITS:
        _refuse(_digits(value.bit_length()), "a number", "digits")
    return value


_MAX_BITS = MAX_FILL_WEIGHT * 33219 // 10000  # log2(10) = 3.3219: more bits, more digits


def _digits(bits: int) -> int:
    return bits * 30103 // 100000 + 1  # log10(2) = 0.30103


def _refuse(size: int, what: str, unit: str = "characters or items") -> None:
    if size > MAX_FILL_WEIGHT:
        raise FillTooCostly(f"{what} of about {size:,} {unit}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


# --- operators -----------------------------------------------------------------------


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too large, before it is computed."""
    if operator == "*":
        if _is_int(left) and _is_int(right):
            _refuse(_digits(left.bit_length() + right.bit_length()), "a number", "digits")
        elif _is_sequence(left) and _is_int(right):
            _refuse(weight(left) * right, "a repetition")
        elif _is_int(left) and _is_sequence(right):
            _refuse(left * weight(right), "a repetition")
    elif operator == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            _refuse(_digits(right * (abs(left).bit_length() - 1) + 1), "a number", "digits")
    elif operator == "+":
        if _is_sequence(left) and _is_sequence(right):
            _refuse(weight(left) + weight(right), "a joined value")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(template: str) -> None:
    """Widths and precisions of a ``%`` format within bounds (and never taken from '*')."""
    for match in _PERCENT_SPEC.finditer(template):
        for number in match.groups():
            _check_width(number)


def check_brace_format(template: str) -> None:
    """Widths and precisions of a ``str.format`` template within bounds."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # the format call fails by itself
    for _literal, _name, spec, _conversion in fields:
        if spec and "{" in spec:
            raise FillTooCostly("a format width taken from a value")
        for number in re.findall(r"\d+", spec or ""):
            _check_width(number)


def _check_width(number: str | None) -> None:
    if number is None:
        return
    if number == "*":
        raise FillTooCostly("a format width taken from a value")
    if len(number) > 6 or int(number) > MAX_FILL_WIDTH:
        shown = number if len(number) <= 12 else number[:9] + "..."
        raise FillTooCostly(f"a format of width or precision {shown} (at most {MAX_FILL_WIDTH:,})")


def _check_padding(width: Any, text: Any) -> None:
    if _is_int(width):
        _refuse(width + weight(text), "a padded text")


# --- method calls and filters --------------------------------------------------------


def check_call(function: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a call to a text method that would make too large a text, before it runs."""
    owner = getattr(function, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(function, "__name__", "")
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_padding(first, owner)
    elif name == "expandtabs":
        tab = first if _is_int(first) else kwargs.get("tabsize", 8)
        if _is_int(tab):
            _refuse(weight(owner) + owner.count("\t") * tab, "a text")
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "join" and isinstance(first, (list, tuple)):
        _refuse(weight(first) + weight(owner) * len(first), "a joined text")
    elif name == "join" and isinstance(first, str):
        _refuse(weight(first) * (weight(owner) + 1), "a joined text")
    elif name == "translate" and isinstance(first, dict):
        longest = max((weight(v) for v in first.values()), default=1)
        _refuse(weight(owner) * longest, "a translated text")


def _check_replace(text: Any, old: Any, new: Any, count: Any) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    times = text.count(old) if old else len(text) + 1
    if _is_int(count) and count >= 0:
        times = min(times, count)
    _refuse(len(text) + times * max(len(new) - len(old), 0), "a replaced text")


def _arguments(check: Callable[[dict[str, Any]], None]) -> Callable[[Callable[..., Any]], Any]:
    """Wrap a Jinja filter so that ``check`` sees its arguments, by name, before it runs."""

    def wrap(filter_function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(filter_function)

        @functools.wraps(filter_function)  # keeps Jinja's pass_eval_context marks
        def guarded(*args: Any, **kwargs: Any) -> Any:
            spend()
            _check_arguments(signature, check, args, kwargs)
            return filter_function(*args, **kwargs)

        guarded.fill_check = check  # type: ignore[attr-defined]
        return guarded

    return wrap


def _check_arguments(
    signature: inspect.Signature,
    check: Callable[[dict[str, Any]], None],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> None:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return  # the filter itself will say what is wrong
    bound.apply_defaults()
    check(bound.arguments)


def check_filter(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    """Refuse a guarded filter's arguments as a call would (``args`` as Jinja passes them)."""
    check = getattr(function, "fill_check", None)
    if check is not None:
        _check_arguments(inspect.signature(function), check, args, kwargs)


def _check_join(a: dict[str, Any]) -> None:
    items, separator = a["value"], a["d"]
    if isinstance(items, (list, tuple, str)) and isinstance(separator, str):
        _refuse(weight(items) + weight(separator) * len(items), "a joined text")


def _check_indent(a: dict[str, Any]) -> None:
    text, width = a["s"], a["width"]
    if isinstance(text, str):
        per_line = weight(width) if isinstance(width, str) else width
        if _is_int(per_line):
            _refuse(weight(text) + (text.count("\n") + 1) * per_line, "an indented text")


def _check_count(name: str) -> Callable[[dict[str, Any]], None]:
    def check(a: dict[str, Any]) -> None:
        if _is_int(a[name]):
            _refuse(a[name], "a list")

    return check


def _check_wordwrap(a: dict[str, Any]) -> None:
    text, width, wrap = a["s"], a["width"], a["wrapstring"]
    if isinstance(text, str) and isinstance(wrap, str) and _is_int(width):
        _refuse(weight(text) * (1 + weight(wrap) // max(width, 1)), "a wrapped text")


_FILTER_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "center": lambda a: _check_padding(a["width"], a["value"]),
    "indent": _check_indent,
    "format": lambda a: check_percent_format(str(a["value"])),
    "replace": lambda a: _check_replace(a["s"], a["old"], a["new"], a["count"]),
    "join": _check_join,
    "batch": _check_count("linecount"),
    "slice": _check_count("slices"),
    "wordwrap": _check_wordwrap,
}


def guard_filters(filters: dict[str, Callable[..., Any]]) -> None:
    """Replace Jinja's filters that can multiply a value's size by guarded versions."""
    for name, check in _FILTER_CHECKS.items():
        if name in filters:
            filters[name] = _arguments(check)(filters[name])
