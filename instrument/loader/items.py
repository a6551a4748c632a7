"""Pass 2: the item tree (pages, sections, blocks, loops) built from the nodes pass 1 marked."""

from __future__ import annotations

from instrument.diagnostics import did_you_mean
from instrument.expressions import CompiledExpression, ValueType
from instrument.model import Block, Item, Loop, Page, Section
from instrument.yamlsrc import YMap, YScalar, YSeq

from .questions import Questions
from .state import RawQuestion, Site
from .vocabulary import CONTAINER_KEYS


class Items(Questions):
    """Pass 2 over ``items``: pages, sections, blocks and loops around the questions."""

    def build_items(self, seq: YSeq, loop: str | None) -> list[Item]:
        result: list[Item] = []
        for node in seq:
            if not isinstance(node, YMap) or not node.entries:
                continue
            if "__raw" in node:
                raw: RawQuestion = node.get("__raw").value
                question = self.build_question(raw)
                if question is None or question.type == "computed":
                    continue
                page = Page(question.id, (question,), node.pos, None, True, loop)
                self.pages[page.id] = page
                result.append(page)
                continue
            kind = next(k for k in CONTAINER_KEYS if k in node)
            cid = node.get(kind).value if isinstance(node.get(kind), YScalar) else None
            children = node.get("items")
            if not isinstance(children, YSeq):
                continue
            first_page = self.first_page_seq(children)
            site = Site(loop, first_page)
            when = self.expression(node.get("when"), f"the condition of {kind} '{cid}'", site)
            if kind == "page":
                questions = []
                for child in children:
                    if isinstance(child, YMap) and "__raw" in child:
                        q = self.build_question(child.get("__raw").value)
                        if q is not None and q.type != "computed":
                            questions.append(q)
                if any(q.type == "end" for q in questions) and len(questions) > 1:
                    self.err(
                        node.pos,
                        f"page '{cid}' mixes an end with other questions; an end stands on its own page",
                    )
                page = Page(str(cid), tuple(questions), node.pos, when, False, loop)
                if questions:
                    self.pages[page.id] = page
                    result.append(page)
            elif kind == "section":
                title = self.text(node.get("title"), f"the title of section '{cid}'", site)
                result.append(
                    Section(
                        str(cid), tuple(self.build_items(children, loop)), node.pos, title, when
                    )
                )
            elif kind == "block":
                randomize = self.boolean(node, "randomize", False, f"block '{cid}'")
                result.append(
                    Block(
                        str(cid), tuple(self.build_items(children, loop)), node.pos, when, randomize
                    )
                )
            elif kind == "loop":
                built = self.build_loop(node, str(cid), children, when, site)
                if built is not None:
                    result.append(built)
        return result

    def first_page_seq(self, seq: YSeq) -> int:
        for node in seq:
            if isinstance(node, YMap):
                if "__raw" in node and node.get("__raw").value.type != "computed":
                    return node.get("__raw").value.page_seq
                if "__page_seq" in node:
                    return node.get("__page_seq").value
                if isinstance(node.get("items"), YSeq):
                    found = self.first_page_seq(node.get("items"))
                    if found:
                        return found
        return self.page_counter + 1

    def build_loop(
        self, node: YMap, cid: str, children: YSeq, when: CompiledExpression | None, site: Site
    ) -> Loop | None:
        has_count, has_each = "count" in node, "for_each" in node
        if has_count == has_each:
            self.err(node.pos, f"loop '{cid}' needs exactly one of 'count' or 'for_each'")
            return None
        count = None
        for_each = None
        if has_count:
            count = self.expression(
                node.get("count"), f"the count of loop '{cid}'", site, ValueType.INTEGER
            )
            max_iter = self.scalar(node.get("max"), int, f"the max of loop '{cid}'")
            if "max" not in node:
                self.err(
                    node.pos,
                    f"loop '{cid}' needs 'max', the most iterations (it fixes the width of exported files)",
                )
                max_iter = None
            elif max_iter is not None and not 1 <= max_iter <= 99:
                self.err(node.where("max"), f"the max of loop '{cid}' must be between 1 and 99")
                max_iter = None
        else:
            name = self.scalar(node.get("for_each"), str, f"the for_each of loop '{cid}'")
            meta = self.vars.get(name) if name else None
            max_iter = None
            if name is not None and meta is None:
                self.err(
                    node.where("for_each"),
                    f"loop '{cid}' is for each '{name}', which is not a question{did_you_mean(name, self.vars)}",
                )
            elif meta is not None and (
                meta.kind != "question" or meta.info.type != ValueType.CODES
            ):
                self.err(
                    node.where("for_each"),
                    f"loop '{cid}' can only be for each answer of a multiple-choice question, and '{name}' is not one",
                )
            elif meta is not None and meta.page_seq >= site.page_seq:
                self.err(
                    node.where("for_each"),
                    f"loop '{cid}' is for each answer of '{name}', which is asked later",
                )
            elif meta is not None:
                for_each = name
                max_iter = len(meta.info.codes or ())
            if "max" in node:
                self.err(
                    node.where("max"),
                    f"a for_each loop takes its size from the question; remove 'max' from loop '{cid}'",
                )
        self.loop_max[cid] = max_iter or 1
        loop = Loop(
            cid,
            tuple(self.build_items(children, cid)),
            node.pos,
            max_iter or 1,
            count,
            for_each,
            when,
        )
        self.loops[cid] = loop
        return loop
