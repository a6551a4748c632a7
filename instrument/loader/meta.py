"""``meta`` and ``missing``: the settings every other part of the file is read against."""

from __future__ import annotations

from instrument.diagnostics import Position, did_you_mean
from instrument.model import MissingFrame
from instrument.modes import STANDARD_MODES
from instrument.yamlsrc import YMap, YNode, YSeq

from .shapes import Shapes
from .vocabulary import LANGUAGE_CODE, MISSING_KEYS


class Meta(Shapes):
    """The questionnaire's languages, modes and missing-value codes."""

    def read_languages(self, meta: YMap) -> None:
        node = meta.get("languages")
        langs: list[str] = []
        if isinstance(node, YSeq):
            for item in node:
                code = self.scalar(item, str, "a language code")
                if code is None:
                    continue
                if not LANGUAGE_CODE.match(code):
                    self.err(item.pos, f"'{code}' is not a language code such as en, cy or en-GB")
                elif code in langs:
                    self.err(item.pos, f"language '{code}' is listed twice")
                else:
                    langs.append(code)
        elif node is not None:
            self.err(node.pos, "meta.languages must be a list such as [en, cy]")
        if not langs:
            langs = ["en"]
        self.languages = tuple(langs)
        default = self.scalar(meta.get("default_language"), str, "meta.default_language")
        if default is not None and default not in langs:
            self.err(
                meta.where("default_language"),
                f"default_language '{default}' is not in meta.languages",
            )
            default = None
        self.default_language = default or langs[0]

    def read_modes(self, meta: YMap) -> tuple[str, ...]:
        """The modes the questionnaire runs in: known modes (the standard ones and plugins')."""
        node = meta.get("modes")
        if node is None:
            self.modes = tuple(STANDARD_MODES)
            return self.modes
        known = list(self.mode_registry)
        seq = self.expect_seq(node, "meta.modes")
        modes: list[str] = []
        for item in seq or ():
            mode = self.scalar(item, str, "a mode")
            if mode is None:
                continue
            if mode not in self.mode_registry:
                self.err(
                    item.pos,
                    f"unknown mode '{mode}'; modes are {', '.join(known)}{did_you_mean(mode, known)}",
                )
            elif mode in modes:
                self.err(item.pos, f"meta.modes lists '{mode}' twice")
            else:
                modes.append(mode)
        self.modes = tuple(modes) or tuple(STANDARD_MODES)
        return self.modes

    def read_missing(self, node: YNode | None) -> None:
        m = self.expect_map(node, "missing", Position(self.filename, 1, 1))
        if m is None:
            return
        self.check_keys(m, MISSING_KEYS, "missing")
        codes = self.missing.codes()
        for key in MISSING_KEYS:
            value = self.scalar(m.get(key), int, f"missing.{key}")
            if value is not None:
                codes[key] = value
        if len(set(codes.values())) != len(codes):
            self.err(m.pos, "the missing codes must all differ")
        self.missing = MissingFrame(**codes)
