"""Pass 2: the item tree (pages, sections, blocks, loops) built from the nodes pass 1 marked."""

from __future__ import annotations

import math
from dataclasses import replace

from instrument.diagnostics import did_you_mean
from instrument.expressions import CompiledExpression, ValueType
from instrument.expressions import nodes as n
from instrument.model import Block, Item, Loop, Page, Question, Section
from instrument.yamlsrc import YMap, YScalar, YSeq

from .loop_counts import count_bound
from .questions import Questions
from .state import RawQuestion, Site
from .vocabulary import CONTAINER_KEYS


class Items(Questions):
    """Pass 2 over ``items``: pages, sections, blocks and loops around the questions."""

    def build_items(
        self, seq: YSeq, loop: str | None, guards: tuple[CompiledExpression, ...] = ()
    ) -> list[Item]:
        """The items of ``seq``, inside ``loop`` and under the conditions ``guards``.

        A computed variable is no page of its own; it keeps the conditions of the
        sections, blocks, pages and loops around it, so that routed past them it
        is routed past too (its value leaves the data, as an answer's would).
        """
        result: list[Item] = []
        for node in seq:
            if not isinstance(node, YMap) or not node.entries:
                continue
            if "__raw" in node:
                raw: RawQuestion = node.get("__raw").value
                question = self.build_question(raw)
                if question is not None and question.type == "computed":
                    self.guard_computed(question, guards)
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
            inner = guards if when is None else (*guards, when)
            if kind == "page":
                questions = []
                for child in children:
                    if isinstance(child, YMap) and "__raw" in child:
                        q = self.build_question(child.get("__raw").value)
                        if q is not None and q.type != "computed":
                            questions.append(q)
                        elif q is not None:
                            self.guard_computed(q, inner)
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
                        str(cid),
                        tuple(self.build_items(children, loop, inner)),
                        node.pos,
                        title,
                        when,
                    )
                )
            elif kind == "block":
                randomize = self.boolean(node, "randomize", False, f"block '{cid}'")
                result.append(
                    Block(
                        str(cid),
                        tuple(self.build_items(children, loop, inner)),
                        node.pos,
                        when,
                        randomize,
                    )
                )
            elif kind in ("loop", "list"):
                built = self.build_loop(node, str(cid), children, when, site, inner, loop)
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

    def loop_max_of(self, node: YMap, cid: str) -> int | None:
        """A loop's ``max``, required for a count loop and a list: it fixes the exported width."""
        max_iter = self.scalar(node.get("max"), int, f"the max of loop '{cid}'")
        if "max" not in node:
            self.err(
                node.pos,
                f"loop '{cid}' needs 'max', the most iterations (it fixes the width of exported files)",
            )
            return None
        if max_iter is not None and not 1 <= max_iter <= 99:
            self.err(node.where("max"), f"the max of loop '{cid}' must be between 1 and 99")
            return None
        return max_iter

    def guard_computed(self, question: Question, guards: tuple[CompiledExpression, ...]) -> None:
        if guards:
            self.questions[question.id] = replace(question, guards=guards)

    def build_loop(
        self,
        node: YMap,
        cid: str,
        children: YSeq,
        when: CompiledExpression | None,
        site: Site,
        guards: tuple[CompiledExpression, ...],
        parent: str | None,
    ) -> Loop | None:
        has_count, has_each = "count" in node, "for_each" in node
        collects, over_list = "list" in node, "for_list" in node
        count = None
        for_each = None
        if collects or over_list:
            if has_count or has_each:
                self.err(
                    node.where("count" if has_count else "for_each"),
                    f"loop '{cid}' takes its items from a list; remove "
                    f"'{'count' if has_count else 'for_each'}'",
                )
            if over_list and "max" in node:
                self.err(
                    node.where("max"), f"loop '{cid}' takes its size from the list; remove 'max'"
                )
            list_id = self.loop_lists.get(cid)
            max_iter = self.loop_max_of(node, cid) if collects else self.loop_max.get(list_id or "")
        elif has_count == has_each:
            self.err(node.pos, f"loop '{cid}' needs exactly one of 'count' or 'for_each'")
            return None
        elif has_count:
            count = self.expression(
                node.get("count"), f"the count of loop '{cid}'", site, ValueType.INTEGER
            )
            max_iter = self.loop_max_of(node, cid)
            if count is not None and max_iter is not None:
                self.check_count_within_max(cid, node, count, max_iter)
        else:
            name = self.scalar(node.get("for_each"), str, f"the for_each of loop '{cid}'")
            meta = self.vars.get(name) if name else None
            max_iter = None
            if name is not None and meta is None and name not in self.broken_names:
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
        items = tuple(self.build_items(children, cid, guards))
        # the label names an iteration on each of its pages, from the first: its fills
        # read what is known then (an answer of the loop around it, a preload, ...)
        # (a list's names its persons in its summary and in later loops: after their answers)
        label_site = Site(cid, self.page_counter + 1 if collects else site.page_seq)
        label = self.text(node.get("label"), f"the label of loop '{cid}'", label_site)
        loop = Loop(
            cid,
            items,
            node.pos,
            max_iter or 1,
            count,
            for_each,
            when,
            parent,
            label,
            f"{cid}_another" if collects else None,
            self.loop_lists.get(cid) if over_list else None,
        )
        self.loops[cid] = loop
        return loop

    def check_count_within_max(
        self, cid: str, node: YMap, count: CompiledExpression, max_iter: int
    ) -> None:
        """Report a count that can be larger than the loop's max (the engine would refuse it)."""

        def loop_max_of(name: str) -> int | None:
            meta = self.vars.get(name)
            loop = meta.info.loop if meta is not None else None
            return self.loop_max.get(loop) if loop is not None else None

        found = count_bound(count, self.questions.get, loop_max_of)
        where = node.where("count")
        if found.largest <= max_iter:
            return
        if found.unbounded_question is not None:
            name = found.unbounded_question
            self.err(
                where,
                f"loop '{cid}' holds at most {max_iter} iterations, but its count ({count.source}) "
                f"has no upper limit, since '{name}' has no max: give '{name}' max: {max_iter} "
                f"(or raise the loop's max), so no one is asked about fewer than they have",
            )
        elif found.largest != math.inf:
            largest = int(found.largest)
            bare = count.node.name if isinstance(count.node, n.Name) else None
            lower = (
                f"give '{bare}' max: {max_iter}"
                if bare
                else (f"lower the largest answer the count allows to {max_iter}")
            )
            self.err(
                where,
                f"loop '{cid}' holds at most {max_iter} iterations, but its count ({count.source}) "
                f"can be {largest}: raise the loop's max to {largest} or {lower}, "
                "so no one is asked about fewer than they have",
            )
        else:
            self.warn(
                where,
                f"cannot tell whether the count of loop '{cid}' ({count.source}) stays within its "
                f"max of {max_iter}; an interview whose count is larger is refused (an answer that "
                f"makes it larger is not accepted), never cut short",
            )
