"""Charts as SVG text, drawn on the server so the dashboard reads without JavaScript.

Pure functions of their numbers: no Flask, no database, no clock. Each returns
one ``<svg>`` element with ``role="img"``, a ``<title>`` and a ``<desc>`` it is
labelled by, so a screen reader announces what the chart shows; the page puts
the same numbers in a table beside it, which is what a screen reader user
actually reads. Why SVG text rather than a plotting library: the charts are a
few rectangles and lines, the page must work with scripts off and under a
``style-src 'self'`` policy (so only presentation attributes, never ``style``),
and tests parse the output with lxml and measure the bars.

Colours are dark enough to show against white at WCAG's 3:1 for graphics, and
each series of a stacked chart also has its own fill pattern and a legend, and
every bar its number written beside it where there is room, so nothing is told
by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "PALETTE",
    "Series",
    "bar_chart",
    "funnel_chart",
    "line_chart",
    "nice_maximum",
    "stacked_bar_chart",
]

PALETTE = ("#1d4f91", "#a33b00", "#23702a", "#6a2c91", "#3d3d3d", "#7a5c00")
"""Series colours, each at least 4.5:1 against white (and so above 3:1 for graphics)."""

_PATTERNS = ("solid", "hatch", "dots", "cross", "vertical", "grid")
"""One fill pattern a series, in the order of :data:`PALETTE`: colour is never the only cue."""

WIDTH = 640
HEIGHT = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 16, 64
_TEXT = "#1b1b1b"
_AXIS = "#505050"
_GRID = "#d0d0d0"
_TARGET = "#b00020"


@dataclass(frozen=True)
class Series:
    """One named row of numbers, one number a category (a mode's completes by day)."""

    name: str
    values: tuple[float, ...]


def nice_maximum(value: float, *, whole: bool = False) -> float:
    """The axis top for ``value``: four equal steps, each 1, 2, 2.5 or 5 times a power of ten.

    ``whole``: the numbers are counts, so each step is a whole number (no
    gridline at 1.25 people). Zero or less gives a top of 1 (4 for counts),
    so an empty chart still has an axis.
    """
    if value <= 0 or math.isnan(value):
        return 4.0 if whole else 1.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if whole and (step < 1 or not float(step).is_integer()):
            continue
        if step >= quarter:
            return float(4 * step)
    return float(40 * power)


def _number(value: float) -> str:
    """A number as a label: whole numbers without a point, others to one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def _defs(chart_id: str, count: int) -> list[str]:
    """A fill pattern for each of ``count`` series (the first is plain colour)."""
    out = ["<defs>"]
    for index in range(min(count, len(PALETTE))):
        colour = PALETTE[index]
        kind = _PATTERNS[index]
        pid = f"{escape(chart_id)}-p{index}"
        if kind == "solid":
            out.append(
                f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">'
                f'<rect width="8" height="8" fill="{colour}"/></pattern>'
            )
            continue
        marks = {
            "hatch": f'<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="{colour}" stroke-width="2.5"/>',
            "dots": f'<circle cx="4" cy="4" r="2.2" fill="{colour}"/>',
            "cross": f'<path d="M0,4 h8 M4,0 v8" stroke="{colour}" stroke-width="2.5"/>',
            "vertical": f'<path d="M2,0 v8 M6,0 v8" stroke="{colour}" stroke-width="2"/>',
            "grid": f'<path d="M0,0 h8 v8 h-8 z" fill="none" stroke="{colour}" stroke-width="3"/>',
        }[kind]
        out.append(
            f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f'<rect width="8" height="8" fill="#ffffff"/>{marks}</pattern>'
        )
    out.append("</defs>")
    return out


def _fill(chart_id: str, index: int) -> str:
    return f"url(#{escape(chart_id)}-p{index % len(PALETTE)})"


def _y_axis(
    top: float, plot_top: float, plot_height: float, left: float, right: float
) -> list[str]:
    """Gridlines and labels at 0, a quarter, ..., the top."""
    out = ['<g class="axis" aria-hidden="true">']
    for step in range(5):
        value = top * step / 4
        y = plot_top + plot_height - plot_height * step / 4
        out.append(
            f'<line x1="{_n(left)}" x2="{_n(right)}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="{_GRID if step else _AXIS}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end" font-size="12" '
            f'fill="{_TEXT}">{escape(_number(value))}</text>'
        )
    out.append("</g>")
    return out


def _empty(chart_id: str, title: str, desc: str, message: str) -> str:
    parts = _open(chart_id, title, desc, WIDTH, 80)
    parts.append(
        f'<text class="chart-empty" x="{WIDTH // 2}" y="44" text-anchor="middle" font-size="14" '
        f'fill="{_TEXT}">{escape(message)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _category_label(x: float, y: float, label: str, crowded: bool) -> str:
    """A category's name under its bar; turned when there are many, so they do not overlap."""
    text = escape(label if len(label) <= 18 else label[:17] + "…")
    if crowded:
        return (
            f'<text class="category" x="{_n(x)}" y="{_n(y)}" text-anchor="end" font-size="11" '
            f'fill="{_TEXT}" transform="rotate(-45 {_n(x)} {_n(y)})">{text}</text>'
        )
    return (
        f'<text class="category" x="{_n(x)}" y="{_n(y + 4)}" text-anchor="middle" font-size="12" '
        f'fill="{_TEXT}">{text}</text>'
    )


def _target_line(
    target: float | None,
    label: str | None,
    top: float,
    plot: tuple[float, float, float, float],
) -> list[str]:
    """A dashed line across the plot (top, height, left, right) at ``target``; none without one."""
    if target is None or target <= 0:
        return []
    plot_top, plot_height, left, right = plot
    y = plot_top + plot_height - plot_height * (target / top)
    return [
        f'<g class="target"><line x1="{_n(left)}" x2="{_n(right)}" y1="{_n(y)}" y2="{_n(y)}" '
        f'stroke="{_TARGET}" stroke-width="2" stroke-dasharray="6 4"/>',
        f'<text x="{_n(right - 4)}" y="{_n(y - 5)}" text-anchor="end" font-size="12" '
        f'fill="{_TARGET}">{escape(label or f"Target {_number(target)}")}</text></g>',
    ]


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    empty: str = "Nothing to show yet.",
) -> str:
    """Vertical bars, one a category, each with its value written above it.

    ``unit`` follows each value label ("%", " min"). No categories, or all
    zero, gives a short chart that says ``empty``.
    """
    if len(labels) != len(values):
        raise ValueError("one value a label")
    if not labels or not any(values):
        return _empty(chart_id, title, desc, empty)
    return stacked_bar_chart(
        chart_id, title, desc, labels, [Series("", tuple(values))], unit=unit, legend=False
    )


def stacked_bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    target: float | None = None,
    target_label: str | None = None,
    unit: str = "",
    legend: bool = True,
    empty: str = "Nothing to show yet.",
) -> str:
    """Bars of several series stacked (completes by day, a segment per mode), with a target line.

    Each bar's total is written above it; each segment carries its series'
    pattern, and the legend names them. ``target`` draws a dashed line across
    at that value, labelled ``target_label``.
    """
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(
                f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels"
            )
        if any(v < 0 for v in s.values):
            raise ValueError("bars count things: no negative values")
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    if not labels or not any(totals):
        return _empty(chart_id, title, desc, empty)
    whole = all(float(v).is_integer() for s in series for v in s.values)
    top = nice_maximum(max(max(totals), target or 0), whole=whole)
    crowded = len(labels) > 8
    bottom = _BOTTOM + (30 if crowded else 0) + (24 if legend else 0)
    height = HEIGHT + (30 if crowded else 0)
    plot_top, plot_height = _TOP, height - _TOP - bottom
    left, right = _LEFT, WIDTH - _RIGHT
    slot = (right - left) / len(labels)
    bar_width = max(min(slot * 0.7, 60), 2)
    parts = _open(chart_id, title, desc, WIDTH, height)
    parts += _defs(chart_id, len(series))
    parts += _y_axis(top, plot_top, plot_height, left, right)
    parts.append('<g class="bars">')
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar_width) / 2
        base = plot_top + plot_height
        for index, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_height * value / top
            base -= h
            name = f"{s.name}: " if s.name else ""
            parts.append(
                f'<rect class="bar" data-series="{escape(s.name)}" data-category="{escape(label)}" '
                f'data-value="{_n(value)}" x="{_n(x)}" y="{_n(base)}" width="{_n(bar_width)}" '
                f'height="{_n(h)}" fill="{_fill(chart_id, index)}" stroke="{PALETTE[index % len(PALETTE)]}" '
                f'stroke-width="1"><title>{escape(label)}, {escape(name)}{escape(_number(value))}{escape(unit)}</title></rect>'
            )
        if totals[i] > 0 and slot >= 18:
            parts.append(
                f'<text class="value" x="{_n(x + bar_width / 2)}" y="{_n(base - 4)}" '
                f'text-anchor="middle" font-size="11" fill="{_TEXT}">'
                f"{escape(_number(totals[i]))}{escape(unit)}</text>"
            )
        parts.append(
            _category_label(x + bar_width / 2, plot_top + plot_height + 14, label, crowded)
        )
    parts.append("</g>")
    parts += _target_line(target, target_label, top, (plot_top, plot_height, left, right))
    if legend and any(s.name for s in series):
        parts += _legend(chart_id, [s.name for s in series], height - 14)
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(chart_id: str, names: Sequence[str], y: float) -> list[str]:
    out = ['<g class="legend">']
    x = float(_LEFT)
    for index, name in enumerate(names):
        out.append(
            f'<rect x="{_n(x)}" y="{_n(y - 11)}" width="14" height="14" fill="{_fill(chart_id, index)}" '
            f'stroke="{PALETTE[index % len(PALETTE)]}" stroke-width="1"/>'
        )
        out.append(
            f'<text class="legend-label" x="{_n(x + 19)}" y="{_n(y)}" font-size="12" '
            f'fill="{_TEXT}">{escape(name)}</text>'
        )
        x += 19 + 8 * len(name) + 20
    out.append("</g>")
    return out


def funnel_chart(
    chart_id: str,
    title: str,
    desc: str,
    stages: Sequence[tuple[str, int]],
    *,
    empty: str = "Nothing to show yet.",
) -> str:
    """Horizontal bars, one a stage (invited, opened, started, finished), each as wide as its count.

    Each bar is labelled with its count and its share of the first stage.
    """
    if not stages or not any(n for _, n in stages):
        return _empty(chart_id, title, desc, empty)
    if any(n < 0 for _, n in stages):
        raise ValueError("stages count people: no negative counts")
    first = stages[0][1]
    widest = max(n for _, n in stages)
    row = 34
    label_width = 150
    height = _TOP + row * len(stages) + 8
    left, right = label_width, WIDTH - 130
    parts = _open(chart_id, title, desc, WIDTH, height)
    parts += _defs(chart_id, 1)
    parts.append('<g class="bars">')
    for i, (name, count) in enumerate(stages):
        y = _TOP + row * i
        w = (right - left) * count / widest
        share = f" ({count / first:.0%})" if first and i else ""
        parts.append(
            f'<text class="category" x="{left - 8}" y="{_n(y + 17)}" text-anchor="end" '
            f'font-size="12" fill="{_TEXT}">{escape(name)}</text>'
        )
        parts.append(
            f'<rect class="bar" data-category="{escape(name)}" data-value="{count}" x="{left}" '
            f'y="{_n(y)}" width="{_n(w)}" height="24" fill="{_fill(chart_id, 0)}">'
            f"<title>{escape(name)}: {escape(_number(count))}{escape(share)}</title></rect>"
        )
        parts.append(
            f'<text class="value" x="{_n(left + w + 6)}" y="{_n(y + 17)}" font-size="12" '
            f'fill="{_TEXT}">{escape(_number(count))}{escape(share)}</text>'
        )
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    target: float | None = None,
    target_label: str | None = None,
    empty: str = "Nothing to show yet.",
) -> str:
    """Lines across categories (cumulative completes by day), each point marked and the last
    point labelled with its value, with a dashed target line."""
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(
                f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels"
            )
    if not labels or not series or not any(any(s.values) for s in series):
        return _empty(chart_id, title, desc, empty)
    whole = all(float(v).is_integer() for s in series for v in s.values)
    top = nice_maximum(max(max(max(s.values) for s in series), target or 0), whole=whole)
    crowded = len(labels) > 8
    height = HEIGHT + (30 if crowded else 0)
    bottom = _BOTTOM + (30 if crowded else 0) + 24
    plot_top, plot_height = _TOP, height - _TOP - bottom
    left, right = _LEFT, WIDTH - _RIGHT - 40
    step = (right - left) / max(len(labels) - 1, 1)
    parts = _open(chart_id, title, desc, WIDTH, height)
    parts += _y_axis(top, plot_top, plot_height, left, right)
    markers = ("circle", "square", "diamond", "triangle")
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (left + step * i, plot_top + plot_height - plot_height * v / top)
            for i, v in enumerate(s.values)
        ]
        dash = "" if index == 0 else ' stroke-dasharray="2 3"'
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{_n(x)},{_n(y)}" for i, (x, y) in enumerate(points)
        )
        parts.append(
            f'<g class="series" data-series="{escape(s.name)}"><path class="line" d="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="2.5"{dash}/>'
        )
        for i, (x, y) in enumerate(points):
            parts.append(_marker(markers[index % len(markers)], x, y, colour, labels[i], s, i))
        x, y = points[-1]
        parts.append(
            f'<text class="value" x="{_n(x + 6)}" y="{_n(y + 4)}" font-size="12" fill="{_TEXT}">'
            f"{escape(_number(s.values[-1]))}</text></g>"
        )
    parts.append('<g class="categories">')
    for i, label in enumerate(labels):
        if crowded and i % max(len(labels) // 14, 1):
            continue
        parts.append(_category_label(left + step * i, plot_top + plot_height + 14, label, crowded))
    parts.append("</g>")
    parts += _target_line(target, target_label, top, (plot_top, plot_height, left, right))
    if len(series) > 1 or series[0].name:
        parts += _legend_lines([s.name for s in series], height - 14)
    parts.append("</svg>")
    return "\n".join(parts)


def _marker(kind: str, x: float, y: float, colour: str, label: str, s: Series, i: int) -> str:
    tip = f"<title>{escape(label)}, {escape(s.name + ': ' if s.name else '')}{escape(_number(s.values[i]))}</title>"
    data = f'class="point" data-category="{escape(label)}" data-value="{_n(s.values[i])}"'
    if kind == "square":
        return f'<rect {data} x="{_n(x - 3.5)}" y="{_n(y - 3.5)}" width="7" height="7" fill="{colour}">{tip}</rect>'
    if kind == "diamond":
        return (
            f'<path {data} d="M{_n(x)},{_n(y - 5)} L{_n(x + 5)},{_n(y)} L{_n(x)},{_n(y + 5)} '
            f'L{_n(x - 5)},{_n(y)} Z" fill="{colour}">{tip}</path>'
        )
    if kind == "triangle":
        return (
            f'<path {data} d="M{_n(x)},{_n(y - 5)} L{_n(x + 5)},{_n(y + 4)} L{_n(x - 5)},{_n(y + 4)} Z" '
            f'fill="{colour}">{tip}</path>'
        )
    return f'<circle {data} cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{colour}">{tip}</circle>'


def _legend_lines(names: Sequence[str], y: float) -> list[str]:
    out = ['<g class="legend">']
    x = float(_LEFT)
    for index, name in enumerate(names):
        colour = PALETTE[index % len(PALETTE)]
        dash = "" if index == 0 else ' stroke-dasharray="2 3"'
        out.append(
            f'<line x1="{_n(x)}" x2="{_n(x + 22)}" y1="{_n(y - 4)}" y2="{_n(y - 4)}" '
            f'stroke="{colour}" stroke-width="2.5"{dash}/>'
        )
        out.append(
            f'<text class="legend-label" x="{_n(x + 27)}" y="{_n(y)}" font-size="12" '
            f'fill="{_TEXT}">{escape(name)}</text>'
        )
        x += 27 + 8 * len(name) + 20
    out.append("</g>")
    return out
