"""Property tests for the expression language (hypothesis).

Random well-typed expressions must compile and evaluate without exceptions for
random contexts (missing values included); comparisons with missing values are
false; the "never true" warning is sound; parse() only ever raises
ExpressionError, whatever text it gets.
"""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrument.expressions import (
    MAX_DEPTH,
    ExpressionError,
    MappingContext,
    Scope,
    ValueType,
    VarInfo,
    compile_expression,
    parse,
    unparse,
)
from instrument.expressions import nodes as n
from instrument.values import DK, REFUSED

V = ValueType
CODES3 = frozenset({1, 2, 3})
VARIABLES = {
    "i1": VarInfo("i1", V.INTEGER),
    "i2": VarInfo("i2", V.INTEGER),
    "d1": VarInfo("d1", V.DECIMAL),
    "t1": VarInfo("t1", V.TEXT),
    "dt1": VarInfo("dt1", V.DATE),
    "c1": VarInfo("c1", V.CODE, CODES3, labels={1: "One", 2: "Two", 3: "Three"}),
    "c2": VarInfo("c2", V.CODE, CODES3),
    "m1": VarInfo("m1", V.CODES, CODES3),
    "b1": VarInfo("b1", V.BOOLEAN),
    "li": VarInfo("li", V.INTEGER, loop="L"),
    "ld": VarInfo("ld", V.DECIMAL, loop="L"),
    "lc": VarInfo("lc", V.CODE, CODES3, loop="L"),
    "lt": VarInfo("lt", V.TEXT, loop="L"),
}
SCOPE = Scope(VARIABLES)
MISSING = st.sampled_from([None, DK, REFUSED])
LOOP_VARS = {"li", "ld", "lc", "lt"}

# --- random values ----------------------------------------------------------------------

_dates = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
_ints = st.one_of(st.integers(-5, 5), st.integers(-(10**30), 10**30))
_floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
_texts = st.text(max_size=8)
_codes = st.sampled_from([1, 2, 3])
_code_sets = st.lists(_codes, unique=True, max_size=3).map(lambda xs: tuple(sorted(xs)))

_VALUES = {
    V.INTEGER: _ints,
    V.DECIMAL: _floats,
    V.TEXT: _texts,
    V.DATE: _dates,
    V.CODE: _codes,
    V.CODES: _code_sets,
    V.BOOLEAN: st.booleans(),
}


def _value(kind: ValueType) -> st.SearchStrategy:
    return st.one_of(MISSING, _VALUES[kind])


@st.composite
def contexts(draw) -> MappingContext:
    values = {name: draw(_value(var.type)) for name, var in VARIABLES.items() if var.loop is None}
    iterations = draw(
        st.lists(
            st.fixed_dictionaries({name: _value(VARIABLES[name].type) for name in LOOP_VARS}),
            max_size=3,
        )
    )
    today = draw(_dates)
    return MappingContext(values, today, {"L": iterations})


# --- random well-typed expressions --------------------------------------------------------

NUM_OPS = ["+", "-", "*", "/", "%"]
CMP_OPS = ["==", "!=", "<", "<=", ">", ">="]


def _lit_int(draw) -> str:
    return str(draw(st.integers(0, 10**6)))


def _lit_float(draw) -> str:
    return f"{draw(st.integers(0, 1000))}.{draw(st.integers(0, 99))}"


def _lit_text(draw) -> str:
    text = draw(st.text(alphabet="ab' \\\"x", max_size=5))
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def expr(draw, kind: str, depth: int = 0, in_loop: bool = False) -> str:
    """Source text of a random expression of ``kind``: bool, num, int, text, date."""
    leaf = depth >= 4 or draw(st.integers(0, 3)) == 0
    sub = lambda k: expr(k, depth + 1, in_loop)
    if kind == "bool":
        if leaf:
            return draw(
                st.sampled_from(
                    [
                        "true",
                        "false",
                        "b1",
                        "c1 == 2",
                        "selected(m1, 3)",
                        "empty(i1)",
                        "answered(t1)",
                        "is_dk(c1)",
                        "is_refused(d1)",
                        "regex(t1, 'a|b')",
                    ]
                    + (["lc != 1", "li > 2"] if in_loop else [])
                )
            )
        choice = draw(st.integers(0, 11))
        if choice == 0:
            return f"{draw(sub('num'))} {draw(st.sampled_from(CMP_OPS))} {draw(sub('num'))}"
        if choice == 1:
            return f"not ({draw(sub('bool'))})"
        if choice == 2:
            return f"({draw(sub('bool'))}) and ({draw(sub('bool'))})"
        if choice == 3:
            return f"({draw(sub('bool'))}) or ({draw(sub('bool'))})"
        if choice == 4:
            codes = ", ".join(str(c) for c in draw(st.lists(_codes, max_size=3)))
            negated = draw(st.sampled_from(["in", "not in"]))
            return f"{draw(st.sampled_from(['c1', 'c2']))} {negated} [{codes}]"
        if choice == 5:
            return f"{draw(sub('text'))} {draw(st.sampled_from(CMP_OPS))} {draw(sub('text'))}"
        if choice == 6:
            return f"{draw(sub('date'))} {draw(st.sampled_from(CMP_OPS))} {draw(sub('date'))}"
        if choice == 7:
            return f"if({draw(sub('bool'))}, {draw(sub('bool'))}, {draw(sub('bool'))})"
        if choice == 8:
            return f"c1 {draw(st.sampled_from(CMP_OPS))} c2"
        if choice == 9:
            return f"i1 in [{_lit_int(draw)}, {_lit_float(draw)}]"
        if choice == 10 and not in_loop:
            inner = draw(expr("bool", depth + 1, True))
            return f"count_if(li > 0 or ({inner})) > {draw(st.integers(0, 3))}"
        return f"coalesce({draw(sub('bool'))}, {draw(sub('bool'))})"
    if kind in ("num", "int"):
        if leaf:
            # a choice takes part in arithmetic as a whole number (compared bare, it needs codes)
            options = ["i1", "i2", "c1 * 1", _lit_int(draw), "count_selected(m1)", "len(t1)"]
            if kind == "num":
                options += ["d1", _lit_float(draw)]
            if in_loop:
                options += ["li", "lc + 0"] + (["ld"] if kind == "num" else [])
            return draw(st.sampled_from(options))
        choice = draw(st.integers(0, 12))
        if choice == 0 and kind == "num":
            return f"({draw(sub('num'))}) {draw(st.sampled_from(NUM_OPS))} ({draw(sub('num'))})"
        if choice == 0:
            return f"({draw(sub('int'))}) {draw(st.sampled_from(['+', '-', '*', '%']))} ({draw(sub('int'))})"
        if choice == 1:
            return f"-({draw(sub(kind))})"
        if choice == 2:
            return f"abs({draw(sub(kind))})"
        if choice == 3:
            return f"round({draw(sub('num'))})"
        if choice == 4 and kind == "num":
            return f"round({draw(sub('num'))}, {draw(st.integers(-3, 3))})"
        if choice == 5:
            return f"{draw(st.sampled_from(['min', 'max']))}({draw(sub(kind))}, {draw(sub(kind))})"
        if choice == 6:
            return f"if({draw(sub('bool'))}, {draw(sub(kind))}, {draw(sub(kind))})"
        if choice == 7:
            return f"coalesce({draw(sub(kind))}, {draw(sub(kind))})"
        if choice == 8:
            return f"{draw(st.sampled_from(['year', 'month', 'day']))}({draw(sub('date'))})"
        if choice == 9:
            return f"{draw(st.sampled_from(['days_between', 'years_between']))}({draw(sub('date'))}, {draw(sub('date'))})"
        if choice == 10 and not in_loop:
            inner = draw(expr("num" if kind == "num" else "int", depth + 1, True))
            assume_loop = "li" if kind == "int" else "ld"
            return f"{draw(st.sampled_from(['sum', 'min', 'max']))}({assume_loop} + ({inner}))"
        if choice == 11 and not in_loop:
            return f"count({draw(st.sampled_from(['li', 'lt', 'lc', 'li + i1']))})"
        return draw(sub(kind))
    if kind == "text":
        if leaf:
            return draw(st.sampled_from(["t1", _lit_text(draw)] + (["lt"] if in_loop else [])))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return f"{draw(sub('text'))} + {draw(sub('text'))}"
        if choice == 1:
            return f"if({draw(sub('bool'))}, {draw(sub('text'))}, {draw(sub('text'))})"
        return f"coalesce({draw(sub('text'))}, {draw(sub('text'))})"
    if kind == "date":
        if leaf:
            return draw(
                st.sampled_from(["dt1", "today()", "date('2020-02-29')", "date('0001-01-01')"])
            )
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return f"add_days({draw(sub('date'))}, {draw(sub('int'))})"
        if choice == 1:
            return f"max({draw(sub('date'))}, {draw(sub('date'))})"
        return f"if({draw(sub('bool'))}, {draw(sub('date'))}, {draw(sub('date'))})"
    raise AssertionError(kind)


def _conforms(value, kind: ValueType) -> bool:
    if value is None or value is DK or value is REFUSED:
        return True  # any expression may be missing: a bare variable, if(), coalesce(), ...
    return {
        V.BOOLEAN: lambda v: isinstance(v, bool),
        V.INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
        V.DECIMAL: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        V.CODE: lambda v: isinstance(v, int),
        V.TEXT: lambda v: isinstance(v, str),
        V.DATE: lambda v: isinstance(v, dt.date),
    }[kind](value)


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(kind=st.sampled_from(["bool", "num", "int", "text", "date"]), data=st.data())
def test_random_well_typed_expressions_compile_and_evaluate(kind, data):
    source = data.draw(expr(kind))
    try:
        compiled = compile_expression(source, SCOPE, None)
    except ExpressionError as error:
        # the only legitimate refusals of a well-typed expression are the size limits
        assert "too deeply" in error.message or "too long" in error.message, (source, error.message)
        return
    expected = {
        "bool": {V.BOOLEAN},
        "num": {V.INTEGER, V.DECIMAL},
        "int": {V.INTEGER},
        "text": {V.TEXT},
        "date": {V.DATE},
    }[kind]
    assert compiled.type in expected, (source, compiled.type)
    for _ in range(3):
        context = data.draw(contexts())
        value = compiled.evaluate(context)
        assert _conforms(value, compiled.type), (source, value)
    assert isinstance(compiled.describe(), str)
    assert compiled.references <= set(VARIABLES)


@SETTINGS
@given(data=st.data())
def test_conditions_built_from_logic_are_strictly_boolean(data):
    source = f"({data.draw(expr('bool'))}) and true"
    compiled = compile_expression(source, SCOPE)
    assert compiled.evaluate(data.draw(contexts())) in (True, False)


@SETTINGS
@given(
    var=st.sampled_from(["i1", "d1", "c1", "li"]),
    op=st.sampled_from(CMP_OPS),
    missing=MISSING,
    data=st.data(),
)
def test_comparisons_with_missing_are_false(var, op, missing, data):
    in_loop = var == "li"
    other = data.draw(expr("num", 1, in_loop)) if var != "c1" else "c2"
    scope = Scope(VARIABLES, loop="L") if in_loop else SCOPE
    context = data.draw(contexts())
    values = {name: context.get(name) for name in VARIABLES}
    values[var] = missing
    context = MappingContext(values, context.today)
    for source in (f"{var} {op} ({other})", f"({other}) {op} {var}"):
        assert compile_expression(source, scope).evaluate(context) is False, source
    if var == "c1":
        for source in ("c1 in [1, 2]", "c1 not in [1, 2]", "c1 == 1", "c1 != 1"):
            assert compile_expression(source, scope).evaluate(context) is False


def _plain(value):
    return None if value is DK or value is REFUSED else value


@SETTINGS
@given(a=st.data())
def test_algebraic_laws_hold(a):
    left = a.draw(expr("bool"))
    right = a.draw(expr("bool"))
    context = a.draw(contexts())

    def run(source: str):
        return compile_expression(source, SCOPE, None).evaluate(context)

    assert run(f"({left}) and ({right})") == run(f"({right}) and ({left})")
    assert run(f"not (({left}) and ({right}))") == run(f"not ({left}) or not ({right})")
    assert run(f"not (({left}) or ({right}))") == run(f"not ({left}) and not ({right})")
    # if() makes every iteration's value known, so strict and known aggregates agree on it
    assert run(f"count_if_known(({left}) and li > 0)") == run(f"sum(if(({left}) and li > 0, 1, 0))")
    assert run(f"count_if(({left}) and li > 0)") in (
        None,
        run(f"count_if_known(({left}) and li > 0)"),
    )
    assert run("c1 in [1, 3]") == run("c1 == 1 or c1 == 3")
    # equal up to which missing value comes back (coalesce gives None when nothing is present)
    assert _plain(run("coalesce(i1, d1)")) == _plain(run("if(answered(i1), i1, d1)"))
    assert run("count(li)") == run("count_if(answered(li))")


@SETTINGS
@given(data=st.data())
def test_never_true_warning_is_sound(data):
    source = data.draw(expr("bool"))
    try:
        compiled = compile_expression(source, SCOPE)
    except ExpressionError:
        return
    whole = [w for w in compiled.warnings if w.offset == 0 and w.length == len(source)]
    never = any(w.message.startswith("this condition can never be true") for w in whole)
    always = any(w.message == "this condition is always true" for w in whole)
    for _ in range(5):
        value = compiled.evaluate(data.draw(contexts()))
        if never:
            assert value is not True, source
        if always:
            assert value is True, source


@st.composite
def _contradictions(draw) -> str:
    var = draw(st.sampled_from(["i1", "d1"]))
    a = draw(st.integers(-5, 5))
    b = draw(st.integers(-5, 5))
    return (
        f"{var} {draw(st.sampled_from(CMP_OPS))} {a} and {var} {draw(st.sampled_from(CMP_OPS))} {b}"
    )


@SETTINGS
@given(source=_contradictions(), value=st.one_of(st.integers(-7, 7), st.floats(-7, 7)))
def test_range_warnings_are_sound(source, value):
    """Whenever a pair of bounds warns "never true", no value makes it true."""
    compiled = compile_expression(source, SCOPE)
    if compiled.warnings:
        name = source.split(" ")[0]
        if name == "i1":
            value = int(value)
        assert compiled.evaluate(MappingContext({name: value}, dt.date(2024, 1, 1))) is False


@SETTINGS
@given(data=st.data())
def test_unparse_round_trips(data):
    source = data.draw(expr(data.draw(st.sampled_from(["bool", "num", "text", "date"]))))
    try:
        tree = parse(source)
    except ExpressionError:
        return
    again = parse(unparse(tree))
    assert unparse(again) == unparse(tree)


_TOKENS = st.sampled_from(
    [
        "a",
        "x1",
        "1",
        "2.5",
        "'s'",
        '"t"',
        "(",
        ")",
        "[",
        "]",
        ",",
        "and",
        "or",
        "not",
        "in",
        "true",
        "false",
        "if",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "selected",
        "count_if",
        ".",
        "!",
        "&",
        "\\",
        "'",
        " ",
        "\n",
        "\u00e9",
        "_",
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.lists(_TOKENS, max_size=40).map(" ".join),
        st.lists(_TOKENS, max_size=40).map("".join),
    )
)
def test_parse_only_raises_expression_error(text):
    try:
        tree = parse(text)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text) and error.length >= 1
        assert error.message
        return
    assert isinstance(tree, n.Node)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(_TOKENS, max_size=40).map(" ".join))
def test_compile_only_raises_expression_error(text):
    scope = Scope({"a": VarInfo("a", V.INTEGER), "x1": VarInfo("x1", V.CODES, CODES3)})
    try:
        compiled = compile_expression(text, scope, None)
    except ExpressionError as error:
        assert error.message and error.offset >= 0
        return
    compiled.evaluate(MappingContext({"a": 1, "x1": (1,)}, dt.date(2024, 1, 1)))
    compiled.describe()


@settings(max_examples=100, deadline=None)
@given(
    depth=st.integers(MAX_DEPTH + 1, 3000),
    shape=st.sampled_from(
        ["({})", "abs({})", "-{}", "not {}", "[{}", "if(true, 1, {})", "1 + ({})"]
    ),
)
def test_deep_nesting_gives_expression_error_not_recursion_error(depth, shape):
    source = "1"
    for _ in range(depth):
        source = shape.format(source)
        if len(source) > 2000:
            break
    limit = sys.getrecursionlimit()
    try:
        with pytest.raises(ExpressionError):
            compile_expression(source, SCOPE, None)
    finally:
        assert sys.getrecursionlimit() == limit
