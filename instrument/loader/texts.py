"""Texts: one string or one per language, each a template whose fills are checked.

A fill may only name a variable known at its place in the route: one asked on an
earlier page (a later one would be empty, which is a warning), or inside the same
loop for a loop's variables.
"""

from __future__ import annotations

import re

from instrument.diagnostics import Position, did_you_mean
from instrument.model import Text
from instrument.texts import FILL_GLOBALS, TemplateSyntax, TextTemplate
from instrument.yamlsrc import YMap, YNode, YScalar

from .shapes import Shapes
from .state import Site

_FILLS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
"""A text's fills and tags (``{{ name }}``, ``{% if %}``): the same in every language."""


class Texts(Shapes):
    """Texts in each language, compiled as templates, and the variables their fills name."""

    def warn_one_text(self, node: YScalar, what: str) -> None:
        """A plain string in a questionnaire of several languages is taken as the default
        language's text and shown to everyone: warn, naming the languages it stands in for.

        A warning, not an error: a text that reads the same in every language (a name, a
        unit, a number) is fine, and ``{en: ..., cy: ...}`` is how to say so for the others.
        Numbers written as numbers, and texts without a letter outside their fills, are the
        same in every language and are not reported.
        """
        others = [lang for lang in self.languages if lang != self.default_language]
        if not others or not isinstance(node.value, str):
            return
        if not any(ch.isalpha() for ch in _FILLS.sub("", node.value)):
            return
        self.warn(
            node.pos,
            f"{what} is one text, taken as the '{self.default_language}' text: it has no "
            f"{', '.join(repr(lang) for lang in others)} text, so the "
            f"'{self.default_language}' is shown in "
            f"{'that language' if len(others) == 1 else 'those languages'} too; write it per "
            f"language ({{{self.default_language}: ..., {others[0]}: ...}})",
        )

    def text(self, node: YNode | None, what: str, site: Site | None) -> Text | None:
        if node is None:
            return None
        by_language: dict[str, TextTemplate] = {}
        if isinstance(node, YScalar):
            if not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
                self.err(node.pos, f"{what} must be text")
                return None
            sources = {self.default_language: (str(node.value), node)}
            self.warn_one_text(node, what)
        elif isinstance(node, YMap):
            sources = {}
            if node.non_string_keys:
                self.expect_map(node, what, node.pos)  # reports yes/no/on/off keys
                return None
            for lang, value in node.items():
                if lang not in self.languages:
                    self.err(
                        node.where(lang),
                        f"{what}: language '{lang}' is not in meta.languages{did_you_mean(lang, self.languages)}",
                    )
                    continue
                if not isinstance(value, YScalar) or not isinstance(value.value, (str, int, float)):
                    self.err(value.pos, f"{what} in '{lang}' must be text")
                    continue
                sources[lang] = (str(value.value), value)
            if self.default_language not in sources and sources:
                self.err(
                    node.pos,
                    f"{what} has no text in the default language '{self.default_language}'",
                )
                return None
            for lang in self.languages:
                if lang not in sources and sources:
                    self.warn(
                        node.pos,
                        f"{what} has no '{lang}' text; the '{self.default_language}' text will be used",
                    )
        else:
            self.err(node.pos, f"{what} must be text, or a mapping from language to text")
            return None
        for lang, (source, vnode) in sources.items():
            if not source.strip():
                self.err(vnode.pos, f"{what} is empty")
            try:
                template = TextTemplate.compile(source, self.html_env, self.plain_env)
            except TemplateSyntax as exc:
                self.err(
                    Position(vnode.pos.file, vnode.pos.line + exc.problem.line - 1, vnode.pos.col),
                    f"{what}: fill syntax: {exc.problem.message}",
                )
                continue
            by_language[lang] = template
            for problem in template.warnings:
                self.warn(
                    Position(vnode.pos.file, vnode.pos.line + problem.line - 1, vnode.pos.col),
                    f"{what}: {problem.message}",
                )
            if site is not None:
                self.check_fill_names(template, vnode, what, site)
        if not by_language:
            return None
        return Text(by_language, node.pos)

    def check_fill_names(
        self, template: TextTemplate, node: YScalar, what: str, site: Site
    ) -> None:
        for name in sorted(template.names):
            if name in FILL_GLOBALS:
                continue
            meta = self.vars.get(name)
            if meta is None and name in self.broken_names:
                continue  # its own error (an unknown type) was reported
            if meta is None:
                self.err(
                    node.pos,
                    f"{what}: the fill names an unknown variable '{name}'{did_you_mean(name, self.vars)}",
                )
                continue
            if meta.info.loop and meta.info.loop not in self.loops_readable(site.loop):
                self.err(
                    node.pos,
                    f"{what}: the fill uses '{name}', which is asked once per iteration of loop '{meta.info.loop}'; it can only be filled inside that loop",
                )
            elif (
                meta.page_seq > site.page_seq
                or (
                    meta.page_seq == site.page_seq
                    and meta.kind != "computed"
                    and not site.same_page_ok
                )
            ) and meta.kind in ("question", "grid_row", "other_text"):
                self.warn(
                    node.pos,
                    f"{what}: the fill uses '{name}', which is not yet answered at this point, so it will be empty",
                )
