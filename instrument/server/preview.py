"""Preview any page of a questionnaire in any mode and language, without creating data.

The preview builds a throw-away engine state in memory (never saved) and asks
the engine for the views of every question on the page, *ignoring* routing
conditions, so a researcher can see a question that only some respondents
reach. Fills that depend on earlier answers show as empty.

It uses two engine internals (``_Context`` and ``Engine._question_view``)
because the engine has no public "render this page out of context" call yet;
see the report to the lead. Everything else goes through the public API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from instrument.engine import Engine, QuestionView, Step
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
    from instrument.engine.engine import _Context  # see the module docstring

    page = engine.q.pages[page_id]
    state = engine.start(now=now, seed=1, mode=mode, language=language)
    suffix = _first_suffix(engine, page)
    if page.loop is not None and suffix is not None:
        state.loop_keys[page.loop] = [suffix]
    ctx = _Context(engine, state, page.loop, suffix)
    html = mode in ("web", "cati")
    views: tuple[QuestionView, ...] = tuple(
        engine._question_view(question, ctx, state, html) for question in page.questions
    )
    kind = "end" if page.questions and page.questions[0].type == "end" else "page"
    return Step(
        kind=kind,
        page_id=page.id,
        token="preview",
        questions=views,
        progress=0.0,
        can_go_back=False,
        loop=page.loop,
        iteration=1 if suffix is not None else None,
        language=language,
        mode=mode,
    )
