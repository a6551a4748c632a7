"""The entry points: load a questionnaire from a file or from text, or require one without errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from instrument.diagnostics import Diagnostic, Diagnostics, Position, QuestionnaireError
from instrument.model import Questionnaire
from instrument.modes import STANDARD_MODES, ModePolicy
from instrument.yamlsrc import parse_yaml

from .builder import Builder
from .state import Abort


@dataclass(frozen=True)
class LoadOptions:
    """What the plugin host adds to every questionnaire it opens, whichever plugin reads it.

    :param text_environment: adds Jinja filters and globals for fills
        (the host passes its ``prepare_text_environment`` hook).
    :param question_types: plugin answer types by name.
    :param modes: the modes a questionnaire may name, with their policies
        (None: the standard web, cati and ivr).
    """

    text_environment: Callable[[jinja2.Environment], None] | None = None
    question_types: Mapping[str, Any] = field(default_factory=dict)
    modes: Mapping[str, ModePolicy] | None = None

    @classmethod
    def of(cls, facade: Any) -> LoadOptions:
        """The options a plugin facade gives: its fill filters, question types and modes."""
        return cls(
            facade.prepare_text_environment, dict(facade.question_types()), facade.mode_policies()
        )

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`load_questionnaire` and :func:`load_questionnaire_text`."""
        return {
            "text_environment": self.text_environment,
            "question_types": dict(self.question_types),
            "modes": self.modes,
        }


@dataclass
class LoadResult:
    """What loading produced: the questionnaire when there were no errors, and every diagnostic."""

    questionnaire: Questionnaire | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.questionnaire is not None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def load_questionnaire(
    path: str | Path,
    *,
    text_environment: Callable[[jinja2.Environment], None] | None = None,
    question_types: Mapping[str, Any] | None = None,
    modes: Mapping[str, ModePolicy] | None = None,
) -> LoadResult:
    """Load and check one questionnaire file.

    ``text_environment`` may add filters and globals to the Jinja environments
    used for fills (the plugin host passes ``prepare_text_environment`` here).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(
            None, [Diagnostic(Position(str(path), 1, 1), "error", f"cannot read the file: {exc}")]
        )
    return load_questionnaire_text(
        text,
        str(path),
        text_environment=text_environment,
        question_types=question_types,
        modes=modes,
    )


def require_questionnaire(path: str | Path) -> Questionnaire:
    """Load a questionnaire that must be free of errors (raises :class:`QuestionnaireError`)."""
    result = load_questionnaire(path)
    if result.questionnaire is None:
        raise QuestionnaireError(result.diagnostics)
    return result.questionnaire


def load_questionnaire_text(
    text: str,
    filename: str = "<questionnaire>",
    *,
    text_environment: Callable[[jinja2.Environment], None] | None = None,
    question_types: Mapping[str, Any] | None = None,
    modes: Mapping[str, ModePolicy] | None = None,
) -> LoadResult:
    """Load a questionnaire from its YAML text; ``filename`` is used in messages.

    ``question_types`` maps extra type names to plugin ``QuestionType`` objects
    (the plugin host passes its ``register_question_types`` registry);
    ``modes`` maps the mode names a questionnaire may use to their policies
    (default: the standard web, cati and ivr; the host adds plugins' modes).
    """
    diagnostics = Diagnostics()
    root = parse_yaml(text, filename, diagnostics)
    if root is None:
        return LoadResult(None, diagnostics.sorted())
    builder = Builder(
        filename, text, diagnostics, text_environment, question_types or {}, modes or STANDARD_MODES
    )
    try:
        questionnaire = builder.build(root)
    except Abort:
        questionnaire = None
    if diagnostics.has_errors():
        questionnaire = None
    return LoadResult(questionnaire, diagnostics.sorted())
