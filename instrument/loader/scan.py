"""Pass 1: what each item is, and every variable's type, loop and page, before anything is compiled.

Pass 2 type-checks each expression against exactly the variables known at its
point of the route, so it needs the whole table first. Pass 1 marks the nodes it
has read (``__raw``, ``__page_seq``, ``__choices``) and empties those it rejected,
so that pass 2 neither repeats its work nor its messages.
"""

from __future__ import annotations

from instrument.diagnostics import did_you_mean
from instrument.expressions import ExpressionError, Scope, ValueType, VarInfo, compile_expression
from instrument.model import CHOICE_TYPES, QUESTION_TYPES, VALUE_TYPE_OF
from instrument.yamlsrc import YMap, YScalar, YSeq

from .choices import Choices
from .state import RawQuestion, VarMeta
from .vocabulary import (
    CONTAINER_KEYS,
    CUSTOM_VALUE_TYPES,
    NO_VALUE_TYPES,
    SIMPLE_ID,
    option_labels,
    plain_label,
)

MAX_LOOP_DEPTH = 3
"""Loops inside loops inside loops, and no deeper: every level multiplies the exported columns."""


class Scan(Choices):
    """Pass 1 over ``items``: every item's kind and id, every variable's type, loop and page."""

    def item_kind(self, m: YMap) -> str | None:
        kinds = [k for k in CONTAINER_KEYS if k in m]
        if "type" in m or "id" in m:
            kinds.append("question")
        if len(kinds) > 1:
            self.err(
                m.pos,
                f"an item must be one thing, but this has {' and '.join(repr(k) for k in kinds)}",
            )
            return None
        if not kinds:
            self.err(
                m.pos,
                "an item needs 'id' and 'type' (a question) or one of 'section', 'page', 'block', 'loop'",
            )
            return None
        return kinds[0]

    def container_id(self, m: YMap, kind: str) -> str | None:
        cid = self.scalar(m.get(kind), str, f"the {kind} id")
        if cid is None:
            return None
        if not SIMPLE_ID.match(cid):
            self.err(
                m.where(kind),
                f"{kind} id '{cid}' must start with a letter and use only letters, digits and underscores",
            )
            return None
        if cid in self.container_ids:
            self.err(
                m.where(kind),
                f"duplicate {kind} id '{cid}' (first at line {self.container_ids[cid].line})",
            )
            return None
        self.container_ids[cid] = m.where(kind)
        return cid

    def scan_items(self, seq: YSeq, loop: str | None, in_page: str | None) -> None:
        for node in seq:
            m = self.expect_map(node, "an item", seq.pos)
            if m is None:
                continue
            kind = self.item_kind(m)
            if kind is None:
                m.entries.clear()
                continue
            if kind == "question":
                self.scan_question(m, loop, in_page)
                continue
            if in_page is not None:
                self.err(
                    m.pos,
                    f"a page holds questions only; a {kind} cannot be inside page '{in_page}'",
                )
                m.entries.clear()
                continue
            self.check_keys(m, CONTAINER_KEYS[kind], f"a {kind}", required=("items",))
            cid = self.container_id(m, kind)
            children = self.expect_seq(m.get("items"), f"the items of {kind} '{cid}'")
            if children is None:
                continue
            if len(children) == 0:
                self.err(children.pos, f"{kind} '{cid}' has no items")
            inner_loop = loop
            if kind == "list" and cid is not None and self.start_list(m, cid, loop, children):
                inner_loop = cid
            if kind == "loop" and cid is not None and "for_list" in m:
                self.loop_over_list(m, cid, loop)
            if kind == "loop" and f"{loop}_another" in self.list_another:
                self.err(
                    m.pos, f"loop '{cid}' is inside list '{loop}'; a list holds questions only"
                )
            elif kind == "loop" and cid is not None:
                depth = 1 + len(self.loops_around(loop))
                if depth > MAX_LOOP_DEPTH:
                    self.err(
                        m.pos,
                        f"loop '{cid}' is loop {depth} deep; loops nest at most {MAX_LOOP_DEPTH} deep "
                        f"(people inside households inside areas)",
                    )
                else:
                    inner_loop = cid
                    self.loops_raw[cid] = m
                    if loop is not None:
                        self.loop_parents[cid] = loop
            if kind == "page":
                self.page_counter += 1
                page_id = cid or f"page{self.page_counter}"
                m.entries["__page_seq"] = YScalar(self.page_counter, m.pos)
                self.scan_items(children, inner_loop, page_id)
            elif kind == "section":  # a summary inside lists this section's answers
                outer, self.current_section = self.current_section, cid
                if cid is not None:
                    self.section_ids.append(cid)
                self.scan_items(children, inner_loop, None)
                self.current_section = outer
            else:
                self.scan_items(children, inner_loop, None)

    def start_list(self, m: YMap, cid: str, loop: str | None, children: YSeq) -> bool:
        """A list collector: a loop that asks its items once per person added, then
        "anyone else?" (a yes/no question of its own, ``<list>_another``, added here)."""
        if loop is not None:
            self.err(
                m.pos, f"list '{cid}' is inside loop '{loop}'; a list is collected outside loops"
            )
            return False
        self.loops_raw[cid] = m
        question = m.get("another") or YScalar("Is there anyone else to add?", m.pos)
        children.items.append(
            YMap(
                {
                    "id": YScalar(f"{cid}_another", m.where("another")),
                    "type": YScalar("yesno", m.where("another")),
                    "text": question,
                    "required": YScalar(True, m.where("another")),
                },
                {},
                m.where("another"),
            )
        )
        self.list_another[f"{cid}_another"] = cid
        return True

    def loop_over_list(self, m: YMap, cid: str, loop: str | None) -> None:
        """A loop over a list collected earlier: one iteration per item, named as the list names it."""
        name = self.scalar(m.get("for_list"), str, f"the for_list of loop '{cid}'")
        if name is None:
            return
        if f"{name}_another" not in self.list_another:
            self.err(
                m.where("for_list"),
                f"loop '{cid}' is for each item of '{name}', which is not a list collected earlier",
            )
        elif loop is not None:
            self.err(
                m.pos, f"loop '{cid}' over list '{name}' is inside loop '{loop}'; it must not be"
            )
        else:
            self.loop_lists[cid] = name

    def scan_question(self, m: YMap, loop: str | None, in_page: str | None) -> None:
        qid = self.scalar(m.get("id"), str, "a question id")
        qtype = self.scalar(m.get("type"), str, f"the type of '{qid}'")
        if qid is None or qtype is None:
            if "id" not in m:
                self.err(m.pos, "a question needs 'id'")
            if "type" not in m:
                self.err(m.pos, f"question '{qid}' needs 'type'")
            m.entries.clear()
            return
        if qtype not in QUESTION_TYPES and qtype not in self.custom_types:
            known = QUESTION_TYPES + tuple(self.custom_types)
            self.err(
                m.where("type"),
                f"unknown question type '{qtype}'{did_you_mean(qtype, known)}; types are {', '.join(known)}",
            )
            self.broken_names.add(qid)  # conditions and tests that name it say nothing more
            m.entries.clear()
            return
        if qtype == "computed":
            page_seq = self.page_counter  # known from the current point on
        elif in_page is not None:
            page_seq = self.page_counter
        else:
            self.page_counter += 1
            page_seq = self.page_counter
        if qtype in NO_VALUE_TYPES:
            if not SIMPLE_ID.match(qid):
                self.err(
                    m.where("id"),
                    f"id '{qid}' must start with a letter and use only letters, digits and underscores",
                )
            elif qid in self.container_ids or qid.lower() in self.lower_names:
                self.err(m.where("id"), f"duplicate id '{qid}'")
            else:
                self.container_ids[qid] = m.where("id")
        elif not self.register_name(qid, m.where("id"), f"question '{qid}'"):
            m.entries.clear()
            return
        self.ordinal_counter += 1
        raw = RawQuestion(
            m,
            qid,
            qtype,
            loop,
            page_seq,
            self.ordinal_counter,
            in_page or qid,
            self.current_section,
        )
        self.raw_questions.append(raw)
        m.entries["__raw"] = YScalar(raw, m.pos)
        self.var_ordinals[qid] = self.ordinal_counter
        if qtype in NO_VALUE_TYPES:
            return
        what = f"question '{qid}'"
        if qtype == "computed":
            self.vars[qid] = VarMeta(
                VarInfo(qid, ValueType.INTEGER, None, loop, None, self.raw_label(m)),
                page_seq,
                "computed",
                m.pos,
                m,
            )
            return
        if qtype in self.custom_types:
            value_type = CUSTOM_VALUE_TYPES[self.custom_types[qtype].value_type]
            self.vars[qid] = VarMeta(
                VarInfo(qid, value_type, None, loop, None, self.raw_label(m)),
                page_seq,
                "question",
                m.pos,
            )
            return
        choices = None
        if qtype == "yesno":
            choices = self.yesno_list(m.pos)
        elif qtype in CHOICE_TYPES:
            choices = self.resolve_choices(m, what)
        m.entries["__choices"] = YScalar(choices, m.pos)
        labels = option_labels(choices, self.default_language)
        if qtype == "grid":
            rows = self.expect_seq(m.get("rows"), f"the rows of {what}")
            for row in rows or ():
                rm = self.expect_map(row, f"a row of {what}", m.pos)
                if rm is None:
                    continue
                rid = self.scalar(rm.get("id"), str, "a row id")
                if rid is None or not self.register_name(
                    rid, rm.where("id"), f"row '{rid}' of {what}"
                ):
                    continue
                self.vars[rid] = VarMeta(
                    VarInfo(
                        rid,
                        ValueType.CODE,
                        choices.codes if choices else None,
                        loop,
                        labels,
                        self.raw_label(rm),
                    ),
                    page_seq,
                    "grid_row",
                    rm.pos,
                )
                self.var_ordinals[rid] = self.ordinal_counter
            return
        self.vars[qid] = VarMeta(
            VarInfo(
                qid,
                VALUE_TYPE_OF[qtype],
                choices.codes if choices else None,
                loop,
                labels,
                self.raw_label(m),
            ),
            page_seq,
            "question",
            m.pos,
        )

    def raw_label(self, m: YMap) -> str | None:
        """A variable's short label before texts are compiled (for describe())."""
        node = m.get("label") or m.get("text")
        value = node.value if isinstance(node, YScalar) else None
        if value is None and isinstance(node, YMap):
            inner = node.get(self.default_language)
            value = inner.value if isinstance(inner, YScalar) else None
        return plain_label(str(value)) if isinstance(value, (str, int, float)) else None

    def precompile_computed(self) -> None:
        """Give computed variables their types before anything reads them.

        A computed variable may use another defined further down, so types are
        settled by compiling repeatedly until nothing changes (cycles stop it).
        """
        pending = [n for n, meta in self.vars.items() if meta.kind == "computed"]
        for _ in range(len(pending) + 1):
            changed = False
            for name in pending:
                meta = self.vars[name]
                node = meta.computed_node.get("expr") if meta.computed_node else None
                if not isinstance(node, YScalar) or not isinstance(node.value, (str, int, float)):
                    continue
                scope = Scope(
                    {n: m.info for n, m in self.vars.items() if n != name},
                    meta.info.loop,
                    self.scope_parents(),
                )
                try:
                    compiled = compile_expression(str(node.value), scope, None)
                except ExpressionError:
                    continue
                self.computed_deps[name] = compiled.references
                if compiled.type != meta.info.type:
                    self._infos_dirty = True
                    self.vars[name] = VarMeta(
                        VarInfo(name, compiled.type, None, meta.info.loop, None, meta.info.label),
                        meta.page_seq,
                        "computed",
                        meta.node_pos,
                        meta.computed_node,
                    )
                    changed = True
            if not changed:
                break
