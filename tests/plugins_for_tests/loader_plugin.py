"""Loads "*.qtxt" files: one question per line, "id: text".

Returns a small stand-in object, not an instrument.model.Questionnaire: the
host passes the result through untouched, which is what the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from instrument import hookimpl


@dataclass(frozen=True)
class TextQuestionnaire:
    source: Path
    questions: tuple[tuple[str, str], ...]


@hookimpl
def load_questionnaire(path: Path) -> TextQuestionnaire | None:
    if path.suffix != ".qtxt":
        return None  # not ours: let the next loader try
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, _, text = line.partition(":")
            pairs.append((qid.strip(), text.strip()))
    return TextQuestionnaire(path, tuple(pairs))
