"""Rendering: a page of one interview as a step a mode can show.

A step holds the page's questions on the route, each with its texts filled in
(:mod:`instrument.engine.wording`), its options in their randomised order,
the answers given so far, and don't know / refused offered as the mode's
policy says; and where the page is: its section, loop iteration and progress.

Much of a step is the same for every interview: option views, the labels of
don't know and refused, and whole question views when nothing in them is the
interview's own (no answer yet; texts, offers and order as another interview
had them). Those are built once and shared, which views being frozen makes
safe, so a page turn seldom builds a question view at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instrument.engine.context import Context
from instrument.engine.layout import Layout
from instrument.engine.lists import list_items
from instrument.engine.loops import run_of
from instrument.engine.offered import date_limits, default_value, offered_codes
from instrument.engine.randomisation import Shuffler
from instrument.engine.routing import Router
from instrument.engine.state import State
from instrument.engine.steps import OptionView, QuestionView, RowView, Step, changed
from instrument.engine.summary import Summaries
from instrument.engine.wording import Wording
from instrument.model import GridRow, Question, Variable

__all__ = ["Renderer"]

VIEWS_KEPT = 2048
"""How many shared question views (and as many row views) a renderer keeps before starting afresh."""


class Renderer:
    """Builds the steps of one questionnaire's interviews."""

    def __init__(
        self,
        layout: Layout,
        router: Router,
        shuffler: Shuffler,
        wording: Wording,
        variables: Mapping[str, Variable],
    ) -> None:
        self.q = layout.q
        self.layout = layout
        self.router = router
        self.shuffler = shuffler
        self.variables = variables
        self._wording = wording
        self._question_texts = wording.question_texts
        self._default_language = layout.q.default_language
        self.message = layout.q.interface_texts.domain("engine")
        self._fixed_progress = layout.fixed_progress
        self._another_pages = {lp.another: lp for lp in layout.loops.values() if lp.another}
        self._options: dict[tuple[str, str], tuple[OptionView, ...]] = {}
        self._missing_labels: dict[tuple[str, str], tuple[str, str]] = {}
        self._views: dict[tuple[Any, ...], QuestionView] = {}
        self._rows: dict[tuple[str, str, str], RowView] = {}
        self._summaries = Summaries(layout, wording, variables)

    # ------------------------------------------------------------------ steps

    def step(self, state: State, html: bool | None, texts: bool) -> Step:
        """The page to show now (or the end screen); see :meth:`Engine.current_step`."""
        visit = state.history[-1] if state.history else None
        if visit is None or (state.outcome is not None and not self.layout.is_end_page(visit.page)):
            # the route ran out (or the interview was closed): there is no page to show
            return Step(
                kind="end",
                page_id="",
                token="end",
                questions=(),
                progress=1.0,
                can_go_back=False,
                outcome=state.outcome or "complete",
                language=state.language,
                mode=state.mode,
            )
        if html is None:
            html = self.q.mode_policies[state.mode].markup
        render: bool | None = html if texts else None  # None: no texts at all
        page = self.q.pages[visit.page]
        loop_id = page.loop
        suffix = visit.suffix
        ctx = Context(self.variables, state, loop_id, suffix)
        view = self.question_view
        views = tuple([view(q, ctx, state, render) for q in self.router.shown(page, ctx)])
        section = self.layout.page_section.get(page.id)
        end = page.questions[0].type == "end"
        iteration = label = None
        path: tuple[str, ...] = ()
        if loop_id is not None and suffix is not None:
            iteration = run_of(state.loop_keys.get(loop_id, ()), suffix)[0] or None
            path = self._wording.iteration_path(loop_id, suffix, state)
            label = self._wording.iteration_label(loop_id, suffix, state)
        return Step(
            kind="end" if end else "page",
            page_id=page.id,
            token=str(visit.visit),
            questions=views,
            progress=1.0
            if end
            else self._fixed_progress.get(page.id)
            or self.router.progress(page, visit.frames, state, suffix),
            can_go_back=len(state.history) > 1 and state.outcome is None,
            section_title=self._wording.section_title(section.title, section.id, ctx, state, render)
            if section and section.title and render is not None
            else None,
            outcome=state.outcome if end else None,
            loop=loop_id,
            iteration=iteration,
            iteration_label=label,
            iteration_path=path,
            list_items=self._list_summary(page.id, state),
            language=state.language,
            mode=state.mode,
        )

    def _list_summary(self, page_id: str, state: State) -> tuple[tuple[str, str, str], ...]:
        """On a list's "anyone else?" page, the persons listed so far."""
        loop = self._another_pages.get(page_id)
        if loop is None:
            return ()
        return list_items(self.q, state, loop, self._wording.iteration_label)

    def preview(self, state: State, page_id: str, mode: str) -> Step:
        """Any page as a step, every question shown; see :meth:`Engine.preview_step`."""
        page = self.q.pages[page_id]
        suffix = None
        if page.loop is not None:  # the first iteration, inside the first of the loops around
            chain = []
            current: str | None = page.loop
            while current is not None:
                chain.insert(0, self.q.loops[current])
                current = chain[0].parent
            for loop in chain:
                choices = self.q.questions[loop.for_each].choices if loop.for_each else None
                own = str(choices.options[0].code) if choices is not None else "1"
                suffix = own if suffix is None else f"{suffix}_{own}"
                state.loop_keys[loop.id] = [suffix]
            state.changed()
        ctx = Context(self.variables, state, page.loop, suffix)
        html = self.q.mode_policies[mode].markup
        section = self.layout.page_section.get(page.id)
        return Step(
            kind="end" if self.layout.is_end_page(page.id) else "page",
            page_id=page.id,
            token="preview",
            questions=tuple(self.question_view(q, ctx, state, html) for q in page.questions),
            progress=self.layout.share_before(page.questions[0].ordinal),
            can_go_back=False,
            section_title=self._wording.render(section.title, ctx, state, html)
            if section and section.title
            else None,
            loop=page.loop,
            iteration=1 if suffix is not None else None,
            iteration_label=self._wording.iteration_label(page.loop, suffix, state)
            if page.loop and suffix
            else None,
            iteration_path=self._wording.iteration_path(page.loop, suffix, state)
            if page.loop and suffix
            else (),
            language=state.language,
            mode=mode,
        )

    def question_view(
        self, question: Question, ctx: Context, state: State, html: bool | None
    ) -> QuestionView:
        """One question as this interview shows it now.

        The question's shared view (texts as filled in here, options in
        questionnaire order, no rows, no answers) is looked up or built; what is
        this interview's own (its answers, its order of options, its grid rows)
        is laid over it.
        """
        sfx = ctx.sfx
        qid = question.id
        stores = question.stores_value
        key = qid + sfx if stores else ""
        lang = state.language
        rows: tuple[RowView, ...] = ()
        missing_key = key
        if question.type == "grid":
            shown = [r for r in question.rows if r.when is None or r.when.evaluate(ctx)]
            missing_key = shown[0].id + sfx if shown else ""  # as validation keys the skip prompt
            if question.randomize_rows:
                shown = self.shuffler.shuffle(shown, state.seed, "rows", qid + sfx)
            rows = tuple([self._row_view(question, r, ctx, state, html) for r in shown])
        texts = self._question_texts(question, ctx, state, html)
        offer = (
            (question.allow_dk or question.allow_refused)
            and (stores or bool(rows))
            and self._offer_missing(missing_key, state)
        )
        memo_key = (qid, key, lang, state.mode, html, texts, offer)
        view = self._views.get(memo_key)
        if view is None:
            view = self._shared_view(question, key, sfx, texts, offer, lang, state.mode)
            if len(self._views) >= VIEWS_KEPT:
                self._views.clear()
            self._views[memo_key] = view
        changes: dict[str, Any] = {}
        if rows:
            changes["rows"] = rows
        if key:
            value = state.answers.get(key)
            if value is not None:
                changes["value"] = value
            elif question.default is not None and key not in state.answers:
                value = default_value(question, ctx)
                if value is not None:
                    changes["value"] = value
                    changes["prefilled"] = True
            other_key = view.other_key
            if other_key is not None:
                other_value = state.answers.get(other_key)
                if other_value is not None:
                    changes["other_value"] = other_value
        if question.randomize and view.options:
            changes["options"] = self._ordered_options(question, view.options, state, key or qid)
        if question.type == "summary":
            words = (
                *self._missing_labels_for(lang, state.mode),
                self.message(lang, "not_answered"),
            )
            changes["summary"] = self._summaries.lines(question, state, html, words)
        if question.type == "date" and question.relative_limits:
            changes["min"], changes["max"] = date_limits(question, ctx)
        if question.choice_filter:
            offered = offered_codes(question, ctx)
            if offered is not None:
                options = changes.get("options", view.options)
                changes["options"] = tuple([o for o in options if o.code in offered])
        return changed(view, **changes) if changes else view

    def _shared_view(
        self,
        question: Question,
        key: str,
        sfx: str,
        texts: tuple[str | None, ...],
        offer: bool,
        language: str,
        mode: str,
    ) -> QuestionView:
        """The view of ``question`` any interview with these texts and offer shares (no answers)."""
        dk_label, refused_label = self._missing_labels_for(language, mode)
        return QuestionView(
            key=key,
            id=question.id,
            type=question.type,
            text=texts[0] or "",
            spoken=texts[1] or "",
            instruction=texts[2],
            hint=texts[3],
            options=self._option_views(question, language) if question.choices is not None else (),
            other_key=f"{question.id}_other{sfx}" if question.other_option is not None else None,
            min=question.min,
            max=question.max,
            places=question.places if question.type == "decimal" else None,
            unit=texts[4],
            max_length=question.max_length,
            min_choices=question.min_choices,
            max_choices=question.max_choices,
            required=question.required,
            allow_dk=question.allow_dk,
            allow_refused=question.allow_refused,
            offer_missing=offer,
            dk_label=dk_label,
            refused_label=refused_label,
            display=question.display,
        )

    def _ordered_options(
        self, question: Question, options: tuple[OptionView, ...], state: State, purpose: str
    ) -> tuple[OptionView, ...]:
        """The options in this interview's shuffled order (those marked fixed keep their places)."""
        assert question.choices is not None
        by_code = {view.code: view for view in options}
        ordered = self.shuffler.shuffle_unfixed(
            question.choices.options, state.seed, "options", purpose
        )
        return tuple([by_code[o.code] for o in ordered])

    def _row_view(
        self, question: Question, row: GridRow, ctx: Context, state: State, html: bool | None
    ) -> RowView:
        key = row.id + ctx.sfx
        value = state.answers.get(key)
        text, spoken = self._wording.row_texts(question, row, ctx, state, html)
        if value is not None:
            return RowView(key=key, id=row.id, text=text, spoken=spoken, value=value)
        memo_key = (key, text, spoken)
        found = self._rows.get(memo_key)
        if found is None:
            found = RowView(key=key, id=row.id, text=text, spoken=spoken, value=None)
            if len(self._rows) >= VIEWS_KEPT:
                self._rows.clear()
            self._rows[memo_key] = found
        return found

    def _offer_missing(self, key: str, state: State) -> bool:
        """Whether a question that allows don't know or refused shows them now.

        Always, unless the mode offers them on request (the web): then as the
        questionnaire's ``web_missing`` says (after a skip prompt about ``key``,
        or from the start).
        """
        if self.q.mode_policies[state.mode].missing != "on_request":
            return True
        policy = self.q.web_missing
        return policy == "shown" or (policy == "after_skip" and key in state.prompted)

    def _option_views(self, question: Question, language: str) -> tuple[OptionView, ...]:
        """Option views in questionnaire order, built once per question and language."""
        cache_key = (question.id, language)
        views = self._options.get(cache_key)
        if views is None:
            default = self._default_language
            assert question.choices is not None
            views = tuple(
                OptionView(
                    code=o.code,
                    label=o.label.source(language, default),
                    spoken=(o.read_out or o.label).source(language, default),
                    exclusive=o.exclusive,
                    other_specify=o.other_specify,
                    not_read_out=o.not_read_out,
                )
                for o in question.choices.options
            )
            self._options[cache_key] = views
        return views

    def _missing_labels_for(self, language: str, mode: str) -> tuple[str, str]:
        """Don't know and refused as a mode words them ("Refused" to an interviewer)."""
        found = self._missing_labels.get((language, mode))
        if found is None:
            interviewer = self.q.mode_policies[mode].interviewer
            found = (
                self.message(language, "dk"),
                self.message(language, "refused_cati" if interviewer else "refused"),
            )
            self._missing_labels[(language, mode)] = found
        return found
