"""Problems found in a questionnaire, each tied to a place in its file.

Every message a researcher sees from ``instrument check`` is one
:class:`Diagnostic`, printed as ``file:line:col: error|warning: text`` so that
editors and CI logs can jump straight to it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Position:
    """A place in a source file; line and column count from 1."""

    file: str
    line: int
    col: int

    def shifted(self, offset: int) -> "Position":
        """The position ``offset`` characters further along the same line."""
        return Position(self.file, self.line, self.col + offset)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    position: Position
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.position.file,
            "line": self.position.line,
            "col": self.position.col,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass
class Diagnostics:
    """An ordered collection that the loader appends to as it goes."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, position: Position, message: str) -> None:
        self.items.append(Diagnostic(position, "error", message))

    def warning(self, position: Position, message: str) -> None:
        self.items.append(Diagnostic(position, "warning", message))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.position, d.severity, d.message))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``; did you mean 'x'?`` suffix, or an empty string when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


class QuestionnaireError(Exception):
    """Raised by callers that need a questionnaire and got errors instead."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        shown = "\n".join(str(d) for d in diagnostics if d.severity == "error")
        super().__init__(shown or "the questionnaire has errors")
