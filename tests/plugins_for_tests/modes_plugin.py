"""Adds a "paper" mode (self-completion on a printed form, keyed in later)."""

from __future__ import annotations

from instrument import hookimpl
from instrument.plugin_types import ModeSpec


def _supports(question: object) -> bool:
    # Paper cannot run live checks such as a hard numeric range prompt.
    return getattr(question, "type", None) != "audio"


@hookimpl
def register_modes() -> list[ModeSpec]:
    return [
        ModeSpec(
            name="paper",
            label="Paper questionnaire",
            capabilities={"self_completion", "offline"},
            supports=_supports,
        )
    ]
