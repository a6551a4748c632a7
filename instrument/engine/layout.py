"""Where everything sits in a questionnaire, worked out once per engine.

Routing, rendering and validation ask the same questions on every step:
what a container holds, which section a page is in, whether a block is
shuffled, which variables a page stores. The answers depend only on the
questionnaire, so a :class:`Layout` computes them when the engine is built
and keeps them as plain dicts and sets.
"""

from __future__ import annotations

from instrument.model import Block, Item, Loop, Page, Questionnaire, Section

__all__ = ["Layout"]


class Layout:
    """The questionnaire's structure, indexed for the engine's lookups."""

    def __init__(self, questionnaire: Questionnaire) -> None:
        self.q = questionnaire
        self.containers: dict[str, tuple[Item, ...]] = {"": questionnaire.items}
        self.container_nodes: dict[str, Section | Block | Loop] = {}
        self.page_section: dict[str, Section | None] = {}
        self._index(questionnaire.items, None)
        self.loops: dict[str, Loop] = {
            cid: node for cid, node in self.container_nodes.items() if isinstance(node, Loop)
        }
        self.shuffled_blocks: set[str] = {
            cid
            for cid, node in self.container_nodes.items()
            if isinstance(node, Block) and node.randomize and len(node.items) > 1
        }
        self.unconditional_keys = self._unconditional_keys()
        """Pages whose questions (and grid rows) have no conditions of their own, nor choice
        filters (a filter offering nothing routes its question past): the variables they store (loop suffixes are added per visit)."""
        self.checked_pages = {
            page.id
            for page in questionnaire.pages.values()
            if any(q.checks for q in page.questions)
        }
        self.fixed_progress: dict[str, float] = {}
        """Progress of the pages outside any randomised block (it does not depend on the interview)."""
        self._collect_fixed_progress(questionnaire.items, inside_shuffle=False)

    def _index(self, items: tuple[Item, ...], section: Section | None) -> None:
        for item in items:
            if isinstance(item, Page):
                self.page_section[item.id] = section
                continue
            self.containers[item.id] = item.items
            self.container_nodes[item.id] = item
            self._index(item.items, item if isinstance(item, Section) else section)

    def _unconditional_keys(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        for page in self.q.pages.values():
            if all(
                q.when is None
                and not q.choice_filter  # offering nothing, it is not asked (routing)
                and (q.type != "grid" or (q.rows and all(r.when is None for r in q.rows)))
                for q in page.questions
            ):
                keys: list[str] = []
                for q in page.questions:
                    if q.type == "grid":
                        keys.extend(r.id for r in q.rows)
                    elif q.stores_value:
                        keys.append(q.id)
                        if q.other_option is not None:
                            keys.append(f"{q.id}_other")
                found[page.id] = tuple(keys)
        return found

    def _collect_fixed_progress(self, items: tuple[Item, ...], *, inside_shuffle: bool) -> None:
        for item in items:
            if isinstance(item, Page):
                if not inside_shuffle:
                    self.fixed_progress[item.id] = self.share_before(item.questions[0].ordinal)
                continue
            shuffled = isinstance(item, Block) and item.randomize
            self._collect_fixed_progress(item.items, inside_shuffle=inside_shuffle or shuffled)

    def share_before(self, ordinal: int) -> float:
        """The share of the questionnaire's questions before the question numbered ``ordinal``."""
        return min(1.0, max(0.0, (ordinal - 1) / self.q.question_count))

    def first_ordinal(self, item: Item) -> int:
        """The number of the first question in ``item`` (in questionnaire order)."""
        if isinstance(item, Page):
            return item.questions[0].ordinal
        return min((self.first_ordinal(child) for child in item.items), default=0)

    def question_span(self, item: Item) -> int:
        """How many questions ``item`` holds."""
        if isinstance(item, Page):
            return len(item.questions)
        return sum(self.question_span(child) for child in item.items)

    def is_end_page(self, page_id: str) -> bool:
        return self.q.pages[page_id].questions[0].type == "end"
