"""What the engine raises when a caller asks for something the interview cannot do."""

from __future__ import annotations

__all__ = ["EngineError", "StaleSubmission"]


class EngineError(Exception):
    """A caller asked for something the interview cannot do (not a respondent's mistake)."""


class StaleSubmission(EngineError):
    """The page submitted is no longer the current page (a second tab, a double click)."""
