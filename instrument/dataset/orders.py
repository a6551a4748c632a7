"""The order each interview showed its randomised items in, as variables of the dataset.

A shuffled block, a question's shuffled options and a grid's shuffled rows are
drawn from the interview's seed (:mod:`instrument.engine.randomisation`), so the
order one respondent saw is known exactly, and an analyst of order effects
needs it: ``<id>_order`` holds it as text, the block's item ids, the option
codes (``m3`` for -3) or the row ids in the order shown, separated by spaces (``3 1 2 96``).
Inside a loop there is one per iteration (``<id>_order_<iteration>``). It is
routed past when the item was not on the interview's route.

The orders are drawn here with the engine's own shuffler and purposes, and a
test compares them with the steps the engine shows, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from instrument.engine.randomisation import Shuffler
from instrument.engine.state import State
from instrument.model import Block, Item, Loop, Page, Question, Questionnaire

from .codebook import VariableInfo

__all__ = [
    "ORDER_SUFFIX",
    "Randomised",
    "order_info",
    "order_key",
    "order_values",
    "randomised_items",
    "shown_order",
]

ORDER_SUFFIX = "_order"
_KEY_MARK = "@order"


@dataclass(frozen=True)
class Randomised:
    """One randomised item: what is shuffled, and the question keys that show it was on route."""

    id: str
    kind: str  # "block", "options" or "rows"
    loop: str | None
    ordinal: int  # the first question's place in the flow
    members: tuple[str, ...]  # block: item ids; options: codes; rows: row ids
    shown_by: tuple[str, ...]  # variable names whose keys are on the route when it is shown
    question: Question | None = None

    def name(self, suffix: str | None) -> str:
        return f"{self.id}{ORDER_SUFFIX}" + (f"_{suffix}" if suffix is not None else "")

    def label(self) -> str:
        what = {"block": "items", "options": "options", "rows": "rows"}[self.kind]
        return f"Order of {what} shown at {self.id} (randomised)"


def order_key(item_id: str, suffix: str | None) -> str:
    """The value key an order is kept under beside ``Engine.values`` (never a variable's)."""
    return item_id + _KEY_MARK + (f"_{suffix}" if suffix is not None else "")


def _spelt(code: int) -> str:
    """An option code as the order shows it: ``-3`` as ``m3``, as in ``q_m3``, so no
    order starts with ``-`` (which a spreadsheet would take for a formula)."""
    return str(code) if code >= 0 else f"m{-code}"


def _item_id(item: Item) -> str:
    if isinstance(item, Page) and item.implicit and len(item.questions) == 1:
        return item.questions[0].id
    return item.id


def _questions(items: tuple[Item, ...]) -> Iterator[Question]:
    for item in items:
        if isinstance(item, Page):
            yield from item.questions
        else:
            yield from _questions(item.items)


def _stored_names(question: Question) -> tuple[str, ...]:
    return question.variable_names


def randomised_items(q: Questionnaire) -> list[Randomised]:
    """Every randomised block, option list and grid of ``q``, in questionnaire order."""
    found: list[Randomised] = []

    def walk(items: tuple[Item, ...], loop: str | None) -> None:
        for item in items:
            if isinstance(item, Page):
                for question in item.questions:
                    names = _stored_names(question)
                    if question.randomize and question.choices is not None and names:
                        codes = tuple(_spelt(o.code) for o in question.choices.options)
                        found.append(
                            Randomised(
                                question.id,
                                "options",
                                loop,
                                question.ordinal,
                                codes,
                                names,
                                question,
                            )
                        )
                    if question.type == "grid" and question.randomize_rows and names:
                        found.append(
                            Randomised(
                                question.id,
                                "rows",
                                loop,
                                question.ordinal,
                                names,
                                names,
                                question,
                            )
                        )
                continue
            if isinstance(item, Block) and item.randomize:
                inside = [qn for qn in _questions(item.items) if qn.variable_names]
                if inside:
                    found.append(
                        Randomised(
                            item.id,
                            "block",
                            loop,
                            min(qn.ordinal for qn in inside),
                            tuple(_item_id(i) for i in item.items),
                            tuple(n for qn in inside for n in qn.variable_names),
                        )
                    )
            walk(item.items, item.id if isinstance(item, Loop) else loop)

    walk(q.items, None)
    return found


def order_info(
    item: Randomised, suffix: str | None, missing: dict[Any, str], universe: str
) -> VariableInfo:
    """The codebook entry of one order variable (text; flagged derived: nobody answered it)."""
    return VariableInfo(
        name=item.name(suffix),
        label=item.label() + (f" (iteration {suffix})" if suffix is not None else ""),
        kind="order",
        storage="str",
        level="nominal",
        missing=missing,
        question_id=item.question.id if item.question is not None else None,
        source_key=order_key(item.id, suffix),
        universe=universe,
        derived=True,
        value_type="order",
    )


def order_values(
    items: list[Randomised],
    q: Questionnaire,
    state: State,
    values: Mapping[str, Any],
    shuffler: Shuffler,
) -> dict[str, str]:
    """``{order key: order shown}`` for the randomised items this interview showed."""
    found: dict[str, str] = {}
    for item in items:
        suffixes: list[str | None] = (
            list(state.loop_keys.get(item.loop, ())) if item.loop is not None else [None]
        )
        for suffix in suffixes:
            sfx = f"_{suffix}" if suffix is not None else ""
            shown = [name for name in item.shown_by if name + sfx in values]
            if not shown:
                continue
            if item.kind == "block":
                order = shuffler.permutation(
                    len(item.members), state.seed, "block", item.id, suffix or ""
                )
                members = [item.members[i] for i in order]
            elif item.kind == "options":
                assert item.question is not None and item.question.choices is not None
                options = shuffler.shuffle_unfixed(
                    item.question.choices.options, state.seed, "options", item.id + sfx
                )
                members = [_spelt(o.code) for o in options]
            else:
                members = shuffler.shuffle(shown, state.seed, "rows", item.id + sfx)
            found[order_key(item.id, suffix)] = " ".join(members)
    return found


def shown_order(step: Any, q: Questionnaire) -> str:
    """The randomised options and rows as a step shows them: ``heard: 3 1 2 96; grid: g_b g_a``.

    What the web records with each page it shows (paradata), so the
    paradata file says what was on the screen, as the order variables do.
    """
    parts = []
    for view in step.questions:
        question = q.questions.get(view.id)
        if question is None:
            continue
        if question.randomize and view.options:
            parts.append(f"{view.key}: " + " ".join(_spelt(o.code) for o in view.options))
        if question.randomize_rows and view.rows:
            parts.append(f"{view.id}: " + " ".join(r.key for r in view.rows))
    return "; ".join(parts)
