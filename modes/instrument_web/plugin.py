"""Hook implementations of the built-in web mode (self-completion in a browser).

Flask and WTForms are imported only when the server builds the blueprint, so
listing plugins or running ``instrument check`` never pays for them.
"""

from __future__ import annotations

from typing import Any

from instrument import hookimpl
from instrument.modes import WEB
from instrument.plugin_types import ModeSpec


def create_blueprint(context: Any) -> Any:
    """Build the web mode's blueprint for the host (see :mod:`instrument_web.views`)."""
    from instrument_web.views import create_blueprint as build

    return build(context)


def preview(step: Any, language: str) -> str:
    """A step as the web shows it, for the staff area (see :mod:`instrument_web.preview`)."""
    from instrument_web.preview import render_preview

    return render_preview(step, language)


@hookimpl
def register_modes() -> list[ModeSpec]:
    return [
        ModeSpec(
            name="web",
            label="Web self-completion",
            capabilities=frozenset({"self_completion"}),
            create_blueprint=create_blueprint,
            requires=("flask", "flask_wtf", "wtforms"),
            policy=WEB,
            preview=preview,
        )
    ]
