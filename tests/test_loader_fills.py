"""Fills are bounded: what one fill may make, and how long it may take to make it.

A fill past a bound fails like any failing fill at run time (the text is shown
without its fills); ``instrument check`` warns where the constant parts of a
fill already pass a bound, and refuses fills nested too deeply to parse.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import pytest

from instrument.loader import load_questionnaire_text
from instrument.texts import TemplateSyntax, TextTemplate, make_environments
from instrument.texts.limits import MAX_FILL_NESTING, MAX_FILL_STEPS, MAX_FILL_WEIGHT

HTML, PLAIN = make_environments()


def compiled(source: str) -> TextTemplate:
    return TextTemplate.compile(source, HTML, PLAIN)


def render(source: str, **values: object) -> str:
    return compiled(source).render(values, html=False)


@pytest.fixture
def frugal() -> Iterator[None]:
    """Each rendering in the test must finish fast and allocate little."""
    tracemalloc.start()
    started = time.perf_counter()
    yield
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 10
    assert peak < 50_000_000, f"peak {peak:,} bytes"


# --- ordinary fills are untouched ---------------------------------------------------


def test_ordinary_fills_render_as_before() -> None:
    source = (
        "{{ 7 / 2 }} {{ 7 // 2 }} {{ 2 ** 10 }} {{ 7 % 4 }} {{ n - 1 }} {{ 'a' ~ n }} "
        "{{ [1, 2]|join(',') }} {{ '%.1f' % x }} {{ 'ab' * 2 }} {{ 'x'|center(5) }}|"
        "{% for a, b in pairs %}{{ loop.index }}:{{ a }}={{ b }} {% endfor %}"
        "{% filter upper %}{{ name }}{% endfilter %} {{ plural(n, 'child', 'children') }}"
    )
    pairs = [(1, 2), (3, 4)]
    assert render(source, n=4, x=2.345, pairs=pairs, name="bo") == (
        "3.5 3 1024 3 3 a4 1,2 2.3 abab   x  |1:1=2 2:3=4 BO children"
    )


def test_values_are_still_escaped_on_the_web() -> None:
    text = compiled("{{ '<b>' ~ name }} {{ name * 2 }}").render({"name": "<i>"}, html=True)
    assert text == "&lt;b&gt;&lt;i&gt; &lt;i&gt;&lt;i&gt;"


def test_a_fill_may_make_up_to_the_bound() -> None:
    assert len(render("{{ 'x' * n }}", n=MAX_FILL_WEIGHT)) == MAX_FILL_WEIGHT


# --- past a bound, the wording without the fills ---------------------------------------


@pytest.mark.parametrize(
    ("source", "values"),
    [
        ("Hello {{ 'x' * n }}!", {"n": 10**9}),
        ("Hello {{ 'x' * 10**9 }}!", {}),
        ("Hello {{ n ** n }}!", {"n": 10**6}),
        ("Hello {{ [s] * n }}!", {"s": "abc", "n": 10**8}),
        ("Hello {{ ([s] * 1000) * 1000 }}!", {"s": "x"}),
        ("Hello {{ ('%0' ~ n ~ 'd') % 5 }}!", {"n": 10**9}),
        ("Hello {{ '{:>1000000000}'.format(5) }}!", {}),
        ("Hello {{ s.center(n) }}!", {"s": "x", "n": 10**9}),
        ("Hello {{ s|center(n) }}!", {"s": "x", "n": 10**9}),
        ("Hello {{ s|indent(n) }}!", {"s": "x\n" * 100, "n": 10**7}),
        ("Hello {{ s|replace('x', s)|replace('x', s)|replace('x', s) }}!", {"s": "x" * 100}),
        ("Hello {{ [s, s]|join(s) }}!", {"s": "x" * 60_000}),
        ("Hello {{ s|batch(n, 'y')|list }}!", {"s": "x", "n": 10**9}),
        ("Hello {% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}!", {}),
        ("Hello {{ s }}!", {"s": "x" * (MAX_FILL_WEIGHT + 1)}),
    ],
)
def test_a_fill_past_a_bound_is_left_out(source: str, values: dict, frugal: None) -> None:
    assert render(source, **values) == "Hello !"


def test_loops_and_recursion_stop_after_the_step_budget(frugal: None) -> None:
    three_loops = (
        "Hi {% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}!"
    )
    assert render(three_loops, s="x" * 1000) == "Hi !"
    doubling = (
        "Hi {% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}!"
    )
    assert render(doubling) == "Hi !"
    within = "{% for a in s %}{{ loop.index }}{% endfor %}"
    assert render(within, s="x" * 9) == "123456789"
    assert MAX_FILL_STEPS < 1000**3


def test_a_rendering_may_not_make_a_text_past_the_bound(frugal: None) -> None:
    many = "Hi {% for a in s %}{{ t }}{% endfor %}!"
    assert render(many, s="x" * 100, t="y" * 2000) == "Hi !"
    assert render(many, s="x" * 10, t="y" * 2000) == "Hi " + "y" * 20_000 + "!"


# --- checking -----------------------------------------------------------------------


def test_constant_parts_past_a_bound_are_warned_about_not_computed(frugal: None) -> None:
    warnings = compiled("Hello {{ 'x' * 10**9 }} and {{ 'x'|center(10000000000) }}").warnings
    assert [w.line for w in warnings] == [1, 1]
    assert "a repetition of about 1,000,000,000 characters" in warnings[0].message
    assert "shown without its fills" in warnings[0].message
    assert compiled("{{ 'x' * n }} {{ 2 ** 10 }}").warnings == ()


def test_fills_nested_too_deeply_are_errors() -> None:
    assert compiled("{{ " + "(" * MAX_FILL_NESTING + "1" + ")" * MAX_FILL_NESTING + " }}")
    for source in (
        "ok\n{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "ok\n{{ " + "not " * 3000 + "x }}",
        "ok\n{{ " + "1 + " * 3000 + "1 }}",
    ):
        with pytest.raises(TemplateSyntax) as caught:
            compiled(source)
        assert "nested too deeply" in caught.value.problem.message


QUESTIONNAIRE = """\
meta: {{id: fills, version: "1", title: Fills, languages: [en]}}
items:
  - {{id: n, type: integer, min: 0, text: How many?}}
  # (min 0 keeps the answers clear of the missing codes)

  - id: show
    type: info
    text: "{text}"
"""


def test_check_reports_fills_at_their_file_line() -> None:
    big = load_questionnaire_text(QUESTIONNAIRE.format(text="{{ 'x' * 10**9 }}"), "big.yaml")
    assert big.questionnaire is not None
    (warning,) = big.diagnostics
    assert str(warning).startswith("big.yaml:8:11: warning: the text of question 'show': ")
    assert "a repetition of about 1,000,000,000 characters" in warning.message

    deep = "{{ " + "(" * 5000 + "n" + ")" * 5000 + " }}"
    result = load_questionnaire_text(QUESTIONNAIRE.format(text=deep), "deep.yaml")
    (error,) = result.errors
    assert str(error).startswith("deep.yaml:8:11: error: the text of question 'show': fill syntax")
    assert "nested too deeply" in error.message
