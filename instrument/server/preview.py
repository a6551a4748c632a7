"""Preview any page of a questionnaire in any mode and language, without creating data.

The preview builds a throw-away engine state in memory (never saved) and asks
the engine for the views of every question on the page, *ignoring* routing
conditions, so a researcher can see a question that only some respondents
reach. Fills that depend on earlier answers show as empty.

The rendering itself is ``Engine.preview_step``: the engine, not the staff
area, decides what a page looks like in each mode.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from instrument.engine import Engine, Step
from instrument.model import Page

__all__ = ["PreviewPage", "page_list", "preview_step"]


@dataclass(frozen=True)
class PreviewPage:
    id: str
    label: str  # the question ids on it
    loop: str | None


def page_list(engine: Engine) -> Iterator[PreviewPage]:
    """Every page of the questionnaire in document order."""
    for page in engine.q.walk_pages():
        yield PreviewPage(page.id, ", ".join(q.id for q in page.questions), page.loop)


def _first_suffix(engine: Engine, page: Page) -> str | None:
    if page.loop is None:
        return None
    loop = engine.q.loops[page.loop]
    if loop.for_each is not None:
        choices = engine.q.questions[loop.for_each].choices
        return str(choices.options[0].code) if choices and choices.options else "1"
    return "1"


def preview_step(
    engine: Engine, page_id: str, *, mode: str, language: str, now: dt.datetime
) -> Step:
    """The page as a :class:`Step`, every question shown, rendered for ``mode`` and ``language``.

    :raises KeyError: no such page; ``EngineError``: the questionnaire does
        not run in ``mode`` or has no ``language``.
    """
    return engine.preview_step(page_id, mode=mode, language=language, now=now)
