"""Wording: the texts of a step, filled in for one interview, mode and language.

A text may hold fills (``{{ name }}``, ``{% if ... %}``) that show earlier
answers, preloads, computed values or the loop's iteration; it is rendered as
HTML (escaping what respondents typed) or as plain text, in the interview's
language, and in the wording of its mode: what a screen shows, what an
interviewer reads out, what an automated call says. Texts without fills are
the same for every interview, so they are rendered once and kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instrument.engine.context import Context
from instrument.engine.loops import run_of
from instrument.engine.state import State
from instrument.model import GridRow, Question, Questionnaire, Text, Variable
from instrument.modes import ModePolicy
from instrument.texts import FILL_GLOBALS, ChoiceValue, ChoiceValues, TextTemplate, fill_value

__all__ = ["NO_TEXTS", "Wording", "spoken_source"]

NO_TEXTS: tuple[str | None, ...] = ("", "", None, None, None)
"""A question's texts when a driver asked for none (see ``Engine.current_step(texts=False)``)."""


def spoken_source(item: Question | GridRow, policy: ModePolicy) -> Text | None:
    """The wording a mode uses: the first of its policy's wordings the item has, else the screen's.

    For an automated call that is the call's own text, else the interviewer's,
    else the screen's; for an interviewer, the text to read out, else the screen's.
    """
    for role in policy.wording:
        found = getattr(item, role, None)
        if found is not None:
            return found
    return item.text


class Wording:
    """Renders the texts of one questionnaire's interviews, keeping those without fills."""

    def __init__(self, questionnaire: Questionnaire, variables: Mapping[str, Variable]) -> None:
        self.q = questionnaire
        self.variables = variables
        self._default_language = questionnaire.default_language
        self._static: dict[tuple[str, str, str, bool], tuple[str | None, ...]] = {}

    def iteration_label(self, loop_id: str, suffix: str, state: State) -> str | None:
        """What names an iteration: the loop's ``label`` with this iteration's fills, else a
        ``for_each`` loop's option label (``None`` for a counted loop without a label)."""
        loop = self.q.loops[loop_id]
        if loop.label is None and loop.for_list is not None:  # named as the list names them
            loop = self.q.loops[loop.for_list]
        if loop.label is not None:
            ctx = Context(self.variables, state, loop.id, suffix)
            return (self.render(loop.label, ctx, state, False) or "").strip() or None
        if loop.for_each is None:
            return None
        return self._option_label(loop.for_each, suffix, state) or None

    # ------------------------------------------------------------------ texts

    def render(self, text: Text | None, ctx: Context, state: State, html: bool) -> str | None:
        """One text in the interview's language, its fills filled in."""
        if text is None:
            return None
        template = text.template(state.language, self._default_language)
        if template.is_static:
            return template.render({}, html=html)
        return template.render(self._fill_values(template, ctx, state), html=html)

    def section_title(
        self, title: Text, section_id: str, ctx: Context, state: State, html: bool
    ) -> str | None:
        """A section's title; rendered once per language and output when it has no fills."""
        cache_key = ("\x00" + section_id, state.language, "", html)
        cached = self._static.get(cache_key)
        if cached is not None:
            return cached[0]
        rendered = self.render(title, ctx, state, html)
        if title.template(state.language, self._default_language).is_static:
            self._static[cache_key] = (rendered,)
        return rendered

    def _fill_values(self, template: TextTemplate, ctx: Context, state: State) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in template.names:
            if name in FILL_GLOBALS:
                continue
            var = self.variables.get(name)
            if var is None:
                values[name] = ""
                continue
            value = ctx.get(name)
            if (
                var.choices is not None
                and isinstance(value, (int, tuple))
                and not isinstance(value, bool)
            ):
                value = self._choice_value(var, value, state)
            values[name] = fill_value(value)
        if "loop" in template.names:
            values["loop"] = self.loop_fill(ctx.loop, ctx.suffix, state)
        return values

    def loop_fill(self, loop_id: str | None, suffix: str | None, state: State) -> dict[str, Any]:
        """``loop.number``, ``loop.count``, ``loop.label`` and, in a loop inside another,
        ``loop.outer`` (the same for the loop around it: "person 2 of household 1")."""
        if not loop_id or not suffix:
            return {"number": 0, "count": 0, "label": "", "outer": {}}
        number, count = run_of(state.loop_keys.get(loop_id, ()), suffix)
        loop = self.q.loops[loop_id]
        outer_suffix = suffix.rpartition("_")[0]
        return {
            "number": number,
            "count": count,
            # a loop's own label may say "Person {{ loop.number }}": not read back into itself
            "label": self._option_label(loop.for_each, suffix, state) if loop.for_each else "",
            "outer": self.loop_fill(loop.parent, outer_suffix, state) if loop.parent else {},
        }

    def _option_label(self, question: str, suffix: str, state: State) -> str:
        choices = self.q.questions[question].choices
        option = choices.option(int(suffix.rpartition("_")[2])) if choices else None
        return option.label.source(state.language, self._default_language) if option else ""

    def iteration_path(self, loop_id: str, suffix: str, state: State) -> tuple[str, ...]:
        """The labels of this iteration and of those of the loops around it, outermost first
        (levels without a label left out): "Household 2", "Ama"."""
        path: list[str] = []
        current: str | None = loop_id
        while current is not None and suffix:
            label = self.iteration_label(current, suffix, state)
            if label:
                path.insert(0, label)
            current = self.q.loops[current].parent
            suffix = suffix.rpartition("_")[0]
        return tuple(path)

    def _choice_value(self, var: Variable, value: int | tuple[int, ...], state: State) -> Any:
        """A code (or codes) that also knows its label, for ``label(x)`` in fills."""
        assert var.choices is not None
        codes = value if isinstance(value, tuple) else (value,)
        labels = []
        for code in codes:
            option = var.choices.option(code)
            if option is not None:
                labels.append(option.label.source(state.language, self._default_language))
        text = ", ".join(labels)
        return ChoiceValues(value, text) if isinstance(value, tuple) else ChoiceValue(value, text)

    def question_texts(
        self, question: Question, ctx: Context, state: State, html: bool | None
    ) -> tuple[str | None, ...]:
        """Text, spoken text, instruction, hint and unit, rendered for the mode and language.

        Texts without fills are the same for every interview, so they are
        rendered once per question, language, mode and output and reused.
        ``html=None`` asks for no texts.
        """
        if html is None:
            return NO_TEXTS
        cache_key = (question.id, state.language, state.mode, html)
        cached = self._static.get(cache_key)
        if cached is not None:
            return cached
        spoken = spoken_source(question, self.q.mode_policies[state.mode])
        sources = (question.text, spoken, question.instruction, question.hint, question.unit)
        rendered = tuple(self.render(text, ctx, state, html) for text in sources)
        if all(
            text is None or text.template(state.language, self._default_language).is_static
            for text in sources
        ):
            self._static[cache_key] = rendered
        return rendered

    def row_texts(
        self, question: Question, row: GridRow, ctx: Context, state: State, html: bool | None
    ) -> tuple[str, str]:
        """A grid row's text and spoken text; rendered once when neither has fills."""
        if html is None:
            return ("", "")
        cache_key = (question.id + "\x00" + row.id, state.language, state.mode, html)
        cached = self._static.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        spoken = spoken_source(row, self.q.mode_policies[state.mode])
        rendered = (
            self.render(row.text, ctx, state, html) or "",
            self.render(spoken, ctx, state, html) or "",
        )
        language, default = state.language, self._default_language
        if all(t is None or t.template(language, default).is_static for t in (row.text, spoken)):
            self._static[cache_key] = rendered
        return rendered
