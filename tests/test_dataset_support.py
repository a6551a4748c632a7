"""Shared helpers for the dataset and export tests: real interviews through the real engine.

Nothing here fakes the engine or the store: interviews are driven page by
page with ``Engine.submit`` and saved with ``Store.save_interview``, events
and all, exactly as a mode would.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from instrument.dataset import RowCoder
from instrument.engine import Engine, State
from instrument.loader import load_questionnaire_text, require_questionnaire
from instrument.model import Questionnaire
from instrument.store import NewEvent, Store, open_store
from instrument.values import DK, REFUSED

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PAGE_SECONDS = 7


def need_program(name: str) -> str:
    """The path of an external reader; skip without it, but fail under CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (install it in .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def drive(
    engine: Engine,
    answers: Mapping[str, Any],
    *,
    mode: str = "web",
    language: str | None = None,
    seed: int = 1,
    case: Mapping[str, Any] | None = None,
    now: dt.datetime = START,
    switch_to: str | None = None,
    switch_after: int | None = None,
    stop_after: int | None = None,
    back_on: str | None = None,
    actor: str | None = None,
) -> tuple[State, list[NewEvent]]:
    """Answer page by page from ``answers`` (keyed by variable key; absent = skip).

    On the web a skipped question is prompted once and then left unanswered;
    an interviewer keys don't know instead. ``switch_after`` pages, the
    interview moves to ``switch_to``; after ``stop_after`` pages it breaks
    off. ``back_on`` goes back once from that page before answering it.
    """
    state = engine.start(now=now, seed=seed, mode=mode, language=language, case=case)
    events: list[NewEvent] = []
    went_back = False
    pages = 0
    while not state.finished:
        if stop_after is not None and pages >= stop_after:
            events += _convert(engine.finish(state, now=now), state, actor)
            break
        if switch_after is not None and pages == switch_after and switch_to:
            events += _convert(engine.switch_mode(state, switch_to, now=now), state, actor)
        step = engine.current_step(state, html=False)
        now += dt.timedelta(seconds=PAGE_SECONDS)
        if back_on is not None and step.page_id == back_on and not went_back and step.can_go_back:
            went_back = True
            events += _convert(engine.back(state, now=now), state, actor)
            continue
        given: dict[str, Any] = {}
        for view in step.questions:
            for key in view.keys:
                if key in answers:
                    given[key] = answers[key]
                elif state.mode == "cati" and view.type != "info":
                    given[key] = DK
        result = engine.submit(
            state, given, now=now, token=step.token, confirm=True, actor=_actor(state, actor)
        )
        if not result.accepted and result.errors and all(p.kind == "prompt" for p in result.errors):
            result = engine.submit(
                state, given, now=now, token=step.token, confirm=True, actor=_actor(state, actor)
            )
        assert result.accepted, (step.page_id, [p.message for p in result.problems])
        events += _convert(result.events, state, actor)
        pages += 1
    return state, events


def _actor(state: State, actor: str | None) -> str:
    if actor is not None and state.mode == "cati":
        return actor
    return "respondent"


def _convert(engine_events: list[Any], state: State, actor: str | None) -> list[NewEvent]:
    """Engine events as a mode stores them: answers by variable, the rest with their data as value."""
    out = []
    for e in engine_events:
        who = (e.data or {}).get("actor") or _actor(state, actor)
        value = e.value if e.kind == "answer" else dict(e.data or {})
        out.append(NewEvent(e.key, value, kind=e.kind, actor=who, mode=state.mode, at=e.at))
    return out


_ROW_CODERS: dict[str, RowCoder] = {}


def row_coder(store: Store, version_id: int) -> RowCoder:
    """The export-row coder of a stored version, as the web and phone modes hold it."""
    version = store.get_questionnaire_version(version_id)
    coder = _ROW_CODERS.get(version.content_hash)
    if coder is None:
        result = load_questionnaire_text(version.source_text, f"<stored version {version_id}>")
        assert result.questionnaire is not None
        coder = _ROW_CODERS[version.content_hash] = RowCoder(result.questionnaire)
    return coder


def save(
    store: Store,
    version_id: int,
    state: State,
    events: list[NewEvent],
    *,
    is_test: bool = False,
    interview_id: str | None = None,
    export_row: bool = True,
) -> str:
    """Store a driven interview as a mode would: created, then saved with its export row
    (``export_row=False``: without one, as a store written before export rows)."""
    record = store.create_interview(
        version_id,
        mode=state.modes_used[0],
        language=state.language,
        state={},
        is_test=is_test,
        now=state.started_at,
        interview_id=interview_id,
    )
    status = {"complete": "complete", "screened_out": "screened_out", "partial": "abandoned"}.get(
        state.outcome or "", "active"
    )
    store.save_interview(
        record.id,
        expected_revision=0,
        state=state.to_json(),
        status=status,
        mode=state.mode,
        events=events,
        now=state.finished_at or state.now,
        export_row=row_coder(store, version_id).encode(state) if export_row else None,
    )
    return record.id


def load(path: Path) -> Questionnaire:
    return require_questionnaire(path)


MINI_CHILDREN = {
    "parent": 1,
    "n_kids": 2,
    "kid_age_1": 3,
    "kid_age_2": 12,
    "heard": [1, 96],
    "heard_other": "a poster",
    "comment": "=1+2 and @me",
    "trust_source_1": 1,
    "trust_source_96": DK,
    "b1": 1,
    "b2": 3,
    "g_a": 1,
    "g_b": 2,
    "g_c": 3,
    "born": dt.date(1980, 5, 1),
    "height": 1.7,
}


def open_tmp_store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'instrument.db'}")


def mini_interviews(engine: Engine) -> dict[str, tuple[State, list[NewEvent]]]:
    """A spread of real mini interviews, by name."""
    runs = {
        "web": dict(answers=MINI_CHILDREN, case={"region": 1, "profile_kids": 2}),
        "cati": dict(
            answers=MINI_CHILDREN,
            mode="cati",
            actor="interviewer:I-7",
            case={"region": 1, "profile_kids": 2},
        ),
        "welsh": dict(answers=MINI_CHILDREN, language="cy", case={"region": 1, "profile_kids": 2}),
        "mixed": dict(
            answers=MINI_CHILDREN,
            switch_to="cati",
            switch_after=3,
            actor="interviewer:I-9",
            back_on="two_on_one",
            case={"region": 1, "profile_kids": 2},
        ),
        "screened": dict(answers={"parent": 2}),
        "partial": dict(answers=MINI_CHILDREN, stop_after=3),
        "dk_multi": dict(answers={**MINI_CHILDREN, "heard": DK, "n_kids": REFUSED}),
        "skipper": dict(
            answers={
                "parent": 1,
                "n_kids": 1,
                "kid_age_1": 9,
                "heard": [97],
                "b1": 2,
                "b2": 2,
                "g_a": 1,
                "g_b": 1,
                "born": dt.date(1970, 1, 1),
                "height": 1.5,
            }
        ),
    }
    return {name: drive(engine, **kw) for name, kw in runs.items()}  # type: ignore[arg-type]
