"""Every text of the flagship is in Welsh too, with the fills the English has (issue 14).

The loader takes a plain string in a two-language questionnaire as the default language's
text without a word, so `instrument check` alone would not notice an English text left
behind; this walks the loaded questionnaire (the real loader's model) and names any.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from instrument.loader import load_questionnaire
from instrument.loader.interface_texts import domains_not_needed
from instrument.model import Questionnaire, Text

FLAGSHIP = Path(__file__).resolve().parent.parent / "questionnaires" / "social_licence.yaml"
FILL = re.compile(r"\{[{%].*?[}%]\}", re.DOTALL)


@pytest.fixture(scope="module")
def flagship() -> Questionnaire:
    result = load_questionnaire(FLAGSHIP)
    assert result.questionnaire is not None, result.diagnostics
    assert [str(d) for d in result.diagnostics] == []  # no error, no warning: check is clean
    return result.questionnaire


def texts_in(node: Any, seen: set[int] | None = None) -> Iterator[Text]:
    """Every :class:`Text` reachable from ``node`` (dataclasses, mappings, sequences)."""
    seen = set() if seen is None else seen
    if id(node) in seen or isinstance(node, (str, bytes, int, float, type(None))):
        return
    seen.add(id(node))
    if isinstance(node, Text):
        yield node
    elif dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            yield from texts_in(getattr(node, field.name), seen)
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from texts_in(value, seen)
    elif isinstance(node, (list, tuple, frozenset, set)):
        for value in node:
            yield from texts_in(value, seen)


def test_the_flagship_is_in_english_and_welsh(flagship: Questionnaire) -> None:
    assert flagship.languages == ("en", "cy") and flagship.default_language == "en"


def welsh_problems(texts: list[Text]) -> list[str]:
    """Each text without Welsh, with Welsh that is the English, or whose fills differ, by line."""
    problems = []
    for text in texts:
        where = f"{Path(text.pos.file).name}:{text.pos.line}"
        english, welsh = text.by_language.get("en"), text.by_language.get("cy")
        if english is None or welsh is None:
            problems.append(f"{where}: languages {sorted(text.by_language)}")
            continue
        if welsh.source.strip() == english.source.strip():
            problems.append(f"{where}: the Welsh is the English")
        fills = len(FILL.findall(welsh.source)) != len(FILL.findall(english.source))
        if welsh.names != english.names or fills:
            problems.append(f"{where}: the Welsh fills differ from the English's")
    return problems


def test_every_text_has_its_welsh_with_the_same_fills(flagship: Questionnaire) -> None:
    texts = list(texts_in(flagship))
    assert len(texts) > 200  # the walk reached the questions, options, rows and checks
    assert welsh_problems(texts) == []


def test_an_english_text_left_behind_or_a_lost_fill_is_named(flagship: Questionnaire) -> None:
    """The check above can fail: what it names when a text lacks Welsh or loses a fill."""
    with_fill = next(t for t in texts_in(flagship) if "n_children" in t.by_language["en"].names)
    english_only = dataclasses.replace(with_fill, by_language={"en": with_fill.by_language["en"]})
    plain = next(t for t in texts_in(flagship) if not t.by_language["en"].names)
    lost_fill = dataclasses.replace(
        with_fill, by_language={"en": with_fill.by_language["en"], "cy": plain.by_language["cy"]}
    )
    line = with_fill.pos.line
    assert welsh_problems([english_only, lost_fill]) == [
        f"social_licence.yaml:{line}: languages ['en']",
        f"social_licence.yaml:{line}: the Welsh fills differ from the English's",
    ]


def test_no_interface_text_is_missing_in_welsh(flagship: Questionnaire) -> None:
    skip = domains_not_needed(flagship.modes)
    assert flagship.interface_texts.missing("cy", skip=skip) == []
    assert "ivr" not in skip  # the call's own words are among those checked
