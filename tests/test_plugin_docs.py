"""Every hook is documented with its exact signature, and has a test.

The signatures are read from the hookspec functions with :mod:`inspect`, so
changing a hook's arguments or return type without updating
``docs/plugins.md`` fails here (datasette keeps its hook docs honest the same
way).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from instrument import PROJECT_NAME, hookspecs
from instrument.plugins import DISABLE_ENV, ENTRY_POINT_GROUP, STRICT_ENV

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"


def hookspec_functions() -> dict[str, object]:
    # pluggy's marker leaves an "<project>_spec" attribute on each spec.
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{PROJECT_NAME}_spec")
    }


def signature_text(fn: object) -> str:
    """``name(arg: Type, ...) -> Return`` as written in hookspecs.py."""
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = []
    for param in sig.parameters.values():
        text = param.name
        if param.annotation is not inspect.Parameter.empty:
            text += f": {param.annotation}"  # a string: the module uses postponed annotations
        params.append(text)
    result = f"{fn.__name__}({', '.join(params)})"  # type: ignore[attr-defined]
    if sig.return_annotation is not inspect.Signature.empty:
        result += f" -> {sig.return_annotation}"
    return result


def doc_headings() -> list[str]:
    return [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("#")]


def test_hookspecs_are_found() -> None:
    # Guards the two tests below against passing vacuously.
    assert set(hookspec_functions()) == set(hookspecs.__all__)
    assert len(hookspecs.__all__) == 9


@pytest.mark.parametrize("name", sorted(hookspecs.__all__))
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    expected = signature_text(hookspec_functions()[name])
    headings = [h for h in doc_headings() if expected in h]
    assert headings, f"docs/plugins.md needs a heading containing `{expected}`"


@pytest.mark.parametrize("name", sorted(hookspecs.__all__))
def test_hook_has_a_test(name: str) -> None:
    pattern = re.compile(rf"^\s*def test_hook_{name}\(", re.MULTILINE)
    found = [
        path.name
        for path in TESTS.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found, f"no test named test_hook_{name} in tests/"


def test_docs_name_the_settings_authors_need() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for needed in (DISABLE_ENV, STRICT_ENV, f"[project.entry-points.{ENTRY_POINT_GROUP}]"):
        assert needed in text, needed


def test_documented_signature_would_change_with_the_spec() -> None:
    # The derivation is sensitive to what the docs must track.
    def load_questionnaire(path: Path, strict: bool) -> int:
        """A changed spec."""

    assert signature_text(load_questionnaire) == (
        "load_questionnaire(path: Path, strict: bool) -> int"
    )
    assert signature_text(load_questionnaire) not in "\n".join(doc_headings())
