"""The randomised order each interview showed, exported as `<id>_order` variables.

docs/questionnaire-format.md promised that the order shown is kept; it was
not. Each order variable must equal what the engine actually showed on the
page (options, grid rows) or the order the pages of a shuffled block came in,
for several seeds, and be routed past when the item was not on the route.
"""

from __future__ import annotations

import datetime as dt

from test_dataset_support import MINI, MINI_CHILDREN, START, load

from instrument.dataset import RowCoder
from instrument.engine import Engine

ROUTED_PAST = "-8"


def _drive_recording(engine: Engine, answers: dict, seed: int) -> tuple[object, dict[str, str]]:
    """Answer page by page from ``answers`` (web), recording the orders the steps showed."""
    state = engine.start(now=START, seed=seed, mode="web")
    shown: dict[str, str] = {}
    pages: list[str] = []
    now = START
    while not state.finished:
        step = engine.current_step(state, html=False)
        pages.append(step.page_id)
        for view in step.questions:
            if view.id == "heard":
                shown["heard_order"] = " ".join(str(o.code) for o in view.options)
            if view.id == "grid":
                shown["grid_order"] = " ".join(r.key for r in view.rows)
        given = {
            key: answers[key] for view in step.questions for key in view.keys if key in answers
        }
        now += dt.timedelta(seconds=5)
        result = engine.submit(state, given, now=now, token=step.token, confirm=True)
        if not result.accepted:
            result = engine.submit(state, given, now=now, token=step.token, confirm=True)
        assert result.accepted, step.page_id
    shown["rand_order"] = " ".join(p for p in pages if p in ("b1", "b2"))
    return state, shown


def test_order_variables_hold_the_order_the_engine_showed() -> None:
    q = load(MINI)
    engine = Engine(q)
    coder = RowCoder(q, engine=engine)
    names = ("heard_order", "grid_order", "rand_order")
    seen_orders = set()
    for seed in range(1, 9):
        state, shown = _drive_recording(engine, MINI_CHILDREN, seed)
        columns = coder.parse([coder.encode(state)])
        got = {name: columns[name][0] for name in names}
        assert got == shown, seed
        seen_orders.add(got["heard_order"])
        info = {v.name: v for v in coder.plan.infos}["heard_order"]
        assert info.derived and info.storage == "str" and info.value_type == "order"
    assert len(seen_orders) > 1  # really shuffled


def test_order_of_an_item_not_on_the_route_is_routed_past() -> None:
    q = load(MINI)
    engine = Engine(q)
    coder = RowCoder(q, engine=engine)
    state, _ = _drive_recording(engine, {"parent": 2}, seed=3)  # screened out at once
    columns = coder.parse([coder.encode(state)])
    assert columns["heard_order"][0] == ROUTED_PAST
    assert columns["rand_order"][0] == ROUTED_PAST


def test_check_refuses_a_variable_named_like_an_order() -> None:
    from instrument.loader import load_questionnaire_text

    text = (MINI.read_text(encoding="utf-8")).replace("  - id: comment\n", "  - id: heard_order\n")
    assert text != MINI.read_text(encoding="utf-8")
    errors = [str(e) for e in load_questionnaire_text(text, "mini.yaml").errors]
    assert any("'heard_order', which the exports make for the order 'heard'" in e for e in errors)
