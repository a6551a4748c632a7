"""The names the export gives the order each randomised item was shown in must be free.

A shuffled block, a question with shuffled options and a grid with shuffled
rows are exported with ``<id>_order`` (``<id>_order_<iteration>`` in a loop;
:mod:`instrument.dataset.orders`). A variable of the questionnaire already so
named would clash in every output file, so it is an error here, at load,
where the author can rename it, and not at export.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from instrument.diagnostics import Position
from instrument.model import Block, Item, Loop, Page, Question, every_loop_suffix
from instrument.names import name_problem

__all__ = ["check_order_names"]


def check_order_names(
    items: tuple[Item, ...] | list[Item],
    loops: Mapping[str, Loop],
    questions: Mapping[str, Question],
    taken: Mapping[str, str],
    error: Callable[[Position, str], None],
) -> None:
    """Report every order variable whose name is taken (``taken``: lower-cased names) or invalid."""

    def report(item_id: str, pos: Position, loop: str | None) -> None:
        base = f"{item_id}_order"
        names = (
            [f"{base}_{s}" for s in every_loop_suffix(loops, questions, loop)] if loop else [base]
        )
        for name in names:
            if name.lower() in taken:
                error(
                    pos,
                    f"'{name}', which the exports make for the order '{item_id}' is shown in, is "
                    "already the name of another variable; rename one of them",
                )
                return
            problem = name_problem(name)
            if problem:
                error(
                    pos,
                    f"the exports would name the order of '{item_id}' {problem}; shorten the id",
                )
                return

    def walk(nodes: tuple[Item, ...] | list[Item], loop: str | None) -> None:
        for item in nodes:
            if isinstance(item, Page):
                for q in item.questions:
                    shuffled = (q.randomize and q.choices is not None) or (
                        q.type == "grid" and q.randomize_rows
                    )
                    if shuffled and q.variable_names:
                        report(q.id, q.pos, loop)
                continue
            if isinstance(item, Block) and item.randomize:
                report(item.id, item.pos, loop)
            walk(item.items, item.id if isinstance(item, Loop) else loop)

    walk(items, None)
