"""Hostile questionnaire files give one clear ``file:line`` error, never a traceback.

Each file in ``tests/data/hostile/`` says on its first line what it must produce:
``# expect: <severity> <line>: <part of the message>``. The files are also the
corpus of ``tests/test_loader_fuzz.py``, which bounds their time and memory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from instrument.loader import load_questionnaire, load_questionnaire_text
from instrument.yamlsrc import MAX_ALIAS_NODES, MAX_DEPTH

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
EXPECT = re.compile(r"# expect: (error|warning) (\d+): (.+)")
CORPUS = sorted(HOSTILE.glob("*.yaml"))


def expectation(path: Path) -> tuple[str, int, str]:
    match = EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert match, f"{path.name} does not start with '# expect: <severity> <line>: <message>'"
    severity, line, fragment = match.groups()
    return severity, int(line), fragment


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 10


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_hostile_file_gives_its_diagnostic(path: Path) -> None:
    severity, line, fragment = expectation(path)
    result = load_questionnaire(path)
    found = [d for d in result.diagnostics if fragment in d.message]
    assert found, [str(d) for d in result.diagnostics]
    assert found[0].severity == severity
    assert str(found[0]).startswith(f"{path}:{line}:")
    if severity == "error":
        assert result.questionnaire is None


MINI = """\
meta: {id: mini, version: "1", title: Mini, languages: [en]}
items:
  - {id: q, type: info, text: Hello}
"""


def test_an_alias_bomb_stops_at_the_alias_past_the_bound() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        aliases = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    source = MINI + "\n".join(lines) + "\n"
    assert len(source) < 600
    result = load_questionnaire_text(source, "bomb.yaml")
    (error,) = result.errors
    # a1..a3 repeat 110 + 1,110 + 11,110 nodes; a4's eighth alias of a3 (11,111 each) passes
    assert (error.position.line, error.position.col) == (3 + 5, 45)
    assert f"past {MAX_ALIAS_NODES:,} repeated nodes" in error.message
    assert error.message.startswith("the alias *a3 repeats 11,111 nodes")


def test_aliases_within_the_bound_still_work() -> None:
    source = MINI + "answers: &same {q: 1}\nagain: *same\nmore: [*same, *same]\n"
    result = load_questionnaire_text(source, "ok.yaml")
    assert [d.message for d in result.errors] == [
        "unknown key 'answers' in the questionnaire",
        "unknown key 'again' in the questionnaire",
        "unknown key 'more' in the questionnaire",
    ]


def test_an_aliased_node_is_a_copy_and_keeps_the_anchor_position() -> None:
    from instrument.diagnostics import Diagnostics
    from instrument.yamlsrc import YMap, parse_yaml

    root = parse_yaml("a: &x {k: 1}\nb: *x\n", "f.yaml", Diagnostics())
    assert isinstance(root, YMap)
    first, second = root.get("a"), root.get("b")
    assert isinstance(first, YMap) and isinstance(second, YMap)
    assert first is not second and first.plain() == second.plain() == {"k": 1}
    assert second.pos == first.pos and second.where("k") == first.where("k")
    second.entries.clear()  # the loader annotates and clears nodes it has read
    assert first.plain() == {"k": 1}


def test_merge_keys_merge_as_pyyaml_does() -> None:
    from instrument.diagnostics import Diagnostics
    from instrument.yamlsrc import parse_yaml

    diagnostics = Diagnostics()
    root = parse_yaml(
        "base: &b {x: 1, y: 2}\nother: &o {z: 3}\nm: {<<: [*b, *o], w: 4}\n", "f.yaml", diagnostics
    )
    assert root is not None and not diagnostics.items
    assert root.plain()["m"] == {"x": 1, "y": 2, "z": 3, "w": 4}


def test_nesting_is_refused_just_past_the_bound() -> None:
    from instrument.diagnostics import Diagnostics
    from instrument.yamlsrc import parse_yaml

    deep_enough = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert parse_yaml(deep_enough, "f.yaml", Diagnostics()) is not None
    too_deep = "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    diagnostics = Diagnostics()
    assert parse_yaml(too_deep, "f.yaml", diagnostics) is None
    (error,) = diagnostics.items
    assert error.position.col == 3 + MAX_DEPTH
    assert "nested more than" in error.message


def test_a_file_nested_fifty_thousand_deep_does_not_crash_the_process() -> None:
    # libyaml's own composer recursed in C here and the interpreter died (SIGSEGV)
    result = load_questionnaire_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "deep.yaml")
    (error,) = result.errors
    assert error.position.line == 1
