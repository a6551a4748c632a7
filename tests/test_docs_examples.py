"""Every complete questionnaire in the documentation loads cleanly and passes its own scenarios."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from instrument.loader import load_questionnaire_text
from instrument.scenarios import run_scenarios

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for index, block in enumerate(BLOCK.findall(path.read_text(encoding="utf-8"))):
            if block.startswith("meta:") and "\nitems:" in block and "..." not in block:
                found.append((f"{path.name}#{index}", block))
    return found


EXAMPLES = examples()


def test_the_format_page_has_worked_examples() -> None:
    assert sum(name.startswith("questionnaire-format.md") for name, _ in EXAMPLES) >= 7


@pytest.mark.parametrize("name,source", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_documented_questionnaire_is_clean_and_its_scenarios_pass(name: str, source: str) -> None:
    result = load_questionnaire_text(source, name)
    assert result.ok, "\n".join(map(str, result.diagnostics))
    assert result.diagnostics == [], "\n".join(map(str, result.diagnostics))
    for outcome in run_scenarios(result.questionnaire):
        assert outcome.passed, (outcome.name, outcome.failures)
