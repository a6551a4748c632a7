"""The builder: one class made of one mixin per concern, and the order they run in.

``build`` reads ``meta`` and the lists that come before the items, runs pass 1
(:mod:`.scan`) and pass 2 (:mod:`.items`), the checks that need the whole file
(:mod:`.variables`) and the scenarios (:mod:`.scenarios`), and only then, when
there were no errors, assembles the :class:`~instrument.model.Questionnaire`.
"""

from __future__ import annotations

from instrument.diagnostics import Position, did_you_mean
from instrument.model import Questionnaire, Text
from instrument.yamlsrc import YNode, YScalar

from .attachments import with_attachments
from .interface_texts import InterfaceTexts
from .items import Items
from .ivr_options import IvrMeta
from .meta import Meta
from .order_names import check_order_names
from .scan import Scan
from .scenarios import Scenarios
from .state import Abort
from .variables import Variables
from .vocabulary import META_KEYS, SIMPLE_ID, TOP_KEYS, WEB_MISSING


class Builder(Meta, IvrMeta, InterfaceTexts, Scan, Items, Scenarios, Variables):
    """Reads one questionnaire: each concern is a mixin, :meth:`build` runs them in order."""

    def build(self, root: YNode) -> Questionnaire:
        top = self.expect_map(root, "the questionnaire", Position(self.filename, 1, 1))
        if top is None:
            raise Abort
        self.check_keys(top, TOP_KEYS, "the questionnaire", required=("meta", "items"))
        meta = self.expect_map(top.get("meta"), "meta", top.pos)
        if meta is None:
            raise Abort
        self.read_languages(meta)
        self.interface_texts = self.read_interface_texts(meta.where("languages"))
        title = self.text(meta.get("title"), "meta.title", None)
        qid = self.scalar(meta.get("id"), str, "meta.id")
        version = meta.get("version")
        version_text = (
            str(version.value)
            if isinstance(version, YScalar) and version.value is not None
            else None
        )
        self.check_keys(meta, META_KEYS, "meta", required=("id", "version", "title", "languages"))
        if qid is not None and not SIMPLE_ID.match(qid):
            self.err(
                meta.get("id").pos,
                f"meta.id '{qid}' must start with a letter and use only letters, digits and underscores",
            )
        modes = self.read_modes(meta)
        self.read_ivr(meta)
        web_missing = self.scalar(meta.get("web_missing"), str, "meta.web_missing") or "after_skip"
        if web_missing not in WEB_MISSING:
            self.err(
                meta.where("web_missing"),
                f"meta.web_missing must be one of {', '.join(WEB_MISSING)}{did_you_mean(web_missing, WEB_MISSING)}",
            )
        self.read_missing(top.get("missing"))
        self.read_choices(top.get("choices"))
        preload = self.read_preload(top.get("preload"))
        experiments = self.read_experiments(top.get("experiments"))

        items_node = self.expect_seq(top.get("items"), "items")
        if items_node is None:
            raise Abort
        if len(items_node) == 0:
            self.err(items_node.pos, "items is empty: a questionnaire needs at least one question")
        # pass 1: names, types, loops, pages
        self.computed_deps = {}
        self.scan_items(items_node, loop=None, in_page=None)
        self.precompile_computed()
        # pass 2: build the model
        items = self.build_items(items_node, loop=None)
        self.check_computed_cycles()
        self.check_generated_names()
        self.check_ivr_read_back()
        check_order_names(items, self.loops, self.questions, self.lower_names, self.err)
        tests = self.read_tests(top.get("tests"))

        if self.d.has_errors():
            raise Abort
        variables = self.make_variables(preload, experiments)
        return Questionnaire(
            id=qid or "",
            version=version_text or "",
            title=title or Text({}, top.pos),
            languages=self.languages,
            default_language=self.default_language,
            modes=modes,
            mode_policies={mode: self.mode_registry[mode] for mode in modes},
            web_missing=web_missing,
            missing=self.missing,
            choices=dict(self.choices),
            preload=preload,
            experiments=experiments,
            items=tuple(items),
            questions=dict(self.questions),
            variables=variables,
            loops=dict(self.loops),
            pages=dict(self.pages),
            tests=tests,
            source_text=with_attachments(self.source, self.files_read),
            source_path=self.filename,
            question_count=max(self.ordinal_counter, 1),
            interface_texts=self.interface_texts,
            ivr=self.ivr_options,
        )
