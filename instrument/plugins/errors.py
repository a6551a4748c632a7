"""What can go wrong with a plugin: errors in strict mode, warnings otherwise."""

from __future__ import annotations

__all__ = [
    "DuplicateNameError",
    "PluginError",
    "PluginLoadError",
    "PluginWarning",
    "QuestionnaireNotLoadedError",
]


class PluginError(Exception):
    """A plugin could not be used; the message names it."""


class PluginLoadError(PluginError):
    """A plugin failed to load in strict mode."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name for a mode, format, type or command."""


class QuestionnaireNotLoadedError(PluginError, LookupError):
    """No plugin could read a questionnaire file."""


class PluginWarning(UserWarning):
    """A plugin failed and was left out (the non-strict form of PluginError)."""
