"""A broken file never produces a traceback.

Hypothesis mangles real questionnaires (drops, duplicates and swaps lines,
deletes and inserts characters, changes values) and the loader must answer
every time with diagnostics that point inside the file, never an exception.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrument.loader import load_questionnaire_text

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    (ROOT / "tests" / "data" / "mini.yaml").read_text(),
    (ROOT / "questionnaires" / "school_travel.yaml").read_text(),
    (ROOT / "questionnaires" / "social_licence.yaml").read_text(),
]

NOISE = st.sampled_from(
    [
        ":",
        "-",
        " ",
        "  ",
        "{",
        "}",
        "[",
        "]",
        "'",
        '"',
        "{{",
        "}}",
        "{%",
        "when: ",
        "== 3",
        "and",
        "type: grid",
        "id: x",
        "code: -1",
        "yes",
        "\t",
        "\n",
        "*anchor",
        "&a",
        "<<: *a",
        "!!python/object",
        "!!timestamp 'nope'",
        "!!bool 'maybe'",
        "<<: 5",
        "&r [*r]",
        "{{ 'x' * 10**9 }}",
        "{{ ((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))) }}",
        "é",
        "\x00",
    ]
)


@st.composite
def mangled(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["drop", "dup", "swap", "cut", "insert", "replace_value"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if action == "drop" and len(lines) > 1:
            del lines[i]
        elif action == "dup":
            lines.insert(i, line)
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "cut" and line:
            a = draw(st.integers(0, len(line) - 1))
            b = draw(st.integers(a, len(line)))
            lines[i] = line[:a] + line[b:]
        elif action == "insert":
            a = draw(st.integers(0, len(line)))
            lines[i] = line[:a] + draw(NOISE) + line[a:]
        elif action == "replace_value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = key + ": " + draw(NOISE)
    return "\n".join(lines) + "\n"


@settings(
    max_examples=int(os.environ.get("ROBUSTNESS_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mangled())
def test_mangled_questionnaires_give_diagnostics_not_tracebacks(source: str) -> None:
    result = load_questionnaire_text(source, "mangled.yaml")
    line_count = source.count("\n") + 1
    for diagnostic in result.diagnostics:
        assert diagnostic.position.file == "mangled.yaml"
        assert 1 <= diagnostic.position.line <= line_count + 1, diagnostic
        assert diagnostic.message
    assert (result.questionnaire is None) == any(d.severity == "error" for d in result.diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(source: str) -> None:
    result = load_questionnaire_text(source, "any.yaml")
    assert result.questionnaire is None or not result.errors
