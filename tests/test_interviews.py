"""The interview service, driven as a mode drives it, on a real store (SQLite and PostgreSQL).

No HTTP here: the web pages, the interviewer screens and the telephone
webhooks are adapters over these operations, so what keeps answers safe is
tested once, for all of them: a resent action records once, an action on a
page that is no longer current writes nothing, two worker processes (two
services with their own caches on one database) never lose an answer, a
withdrawn interview is gone, and a case's preload values reach the interview.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from instrument.engine import EngineError
from instrument.interviews import (
    Answers,
    InterviewService,
    LinkOpened,
    LinkProblem,
    Rejected,
    Replayed,
    Saved,
    Seen,
    Shown,
    SnapshotCache,
    Stale,
    Surveys,
    Unavailable,
)
from instrument.loader import require_questionnaire
from instrument.store import Store, open_store
from tests.store_fixtures import *

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini.yaml"
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
RESPONDENT = "respondent"


def service_on(store: Store, *paths: Path, **kwargs: Any) -> InterviewService:
    questionnaires = [require_questionnaire(p) for p in (paths or (MINI,))]
    return InterviewService(store, Surveys.serve(store, questionnaires), **kwargs)


def given(values: Mapping[str, Any], *, confirmed: Any = ()) -> Any:
    """A mode's answer reader that hands over ``values``."""
    return lambda _step: Answers(values, confirmed=confirmed)


def seen(shown: Shown, key: str | None = "k1") -> Seen:
    return Seen(revision=shown.interview.revision, token=shown.step.token, key=key, shown_at=T0)


def show(service: InterviewService, interview_id: str, mode: str = "web") -> Shown:
    shown = service.show(interview_id, mode=mode, actor=RESPONDENT, now=T0)
    assert isinstance(shown, Shown), shown
    return shown


def answer(
    service: InterviewService, interview_id: str, values: Mapping[str, Any], **kw: Any
) -> Any:
    shown = show(service, interview_id)
    return service.answer(
        interview_id, seen(shown, kw.pop("key", f"k{shown.interview.revision}")), given(values),
        mode=kw.pop("mode", "web"), actor=kw.pop("actor", RESPONDENT), now=T0, **kw,
    )  # fmt: skip


def answer_events(store: Store, interview_id: str) -> list[tuple[str | None, Any]]:
    return [(e.variable, e.value) for e in store.events_for(interview_id) if e.kind == "answer"]


@pytest.fixture
def service(store: Store) -> InterviewService:
    return service_on(store)


def test_start_show_answer_and_the_next_page(service: InterviewService, store: Store) -> None:
    started = service.start("mini", mode="web", actor=RESPONDENT, now=T0, show_next=True)
    assert isinstance(started, Saved) and started.interview.revision == 0
    assert started.step is not None and [q.key for q in started.step.questions] == ["parent"]
    shown = show(service, started.interview.id)
    assert shown.step.token == started.step.token
    saved = service.answer(
        started.interview.id,
        seen(shown),
        given({"parent": "1"}),
        mode="web",
        actor=RESPONDENT,
        now=T0,
    )
    assert isinstance(saved, Saved) and saved.interview.revision == 1
    assert [q.key for q in show(service, started.interview.id).step.questions] == ["n_kids"]
    assert answer_events(store, started.interview.id) == [("parent", 1)]


def test_a_resent_action_is_replayed_not_written_twice(
    service: InterviewService, store: Store
) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    shown = show(service, interview.id)
    first = service.answer(
        interview.id,
        seen(shown, "same"),
        given({"parent": "1"}),
        mode="web",
        actor=RESPONDENT,
        now=T0,
    )
    again = service.answer(
        interview.id,
        seen(shown, "same"),
        given({"parent": "1"}),
        mode="web",
        actor=RESPONDENT,
        now=T0,
    )
    assert isinstance(first, Saved) and isinstance(again, Replayed)
    assert again.interview.revision == 1
    assert answer_events(store, interview.id) == [("parent", 1)]


def test_a_second_tab_that_fell_behind_writes_nothing(
    service: InterviewService, store: Store
) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    tab_one = show(service, interview.id)
    tab_two = show(service, interview.id)
    assert isinstance(
        service.answer(
            interview.id,
            seen(tab_one, "one"),
            given({"parent": "1"}),
            mode="web",
            actor=RESPONDENT,
            now=T0,
        ),
        Saved,
    )
    late = service.answer(
        interview.id,
        seen(tab_two, "two"),
        given({"parent": "2"}),
        mode="web",
        actor=RESPONDENT,
        now=T0,
    )
    assert isinstance(late, Stale) and not late.interview.finished
    assert answer_events(store, interview.id) == [("parent", 1)]
    back = service.back(interview.id, seen(tab_two, "three"), mode="web", actor=RESPONDENT, now=T0)
    assert isinstance(back, Stale)


def test_two_workers_with_their_own_caches_never_lose_an_answer(
    store: Store, database_url: str
) -> None:
    worker_a = service_on(store)
    other_store = open_store(database_url)
    try:
        worker_b = service_on(other_store)
        interview = worker_a.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
        on_b = show(worker_b, interview.id)  # worker B keeps revision 0
        assert isinstance(answer(worker_a, interview.id, {"parent": "1"}), Saved)
        # B's kept copy is out of date: showing checks the revision and reads again
        assert [q.key for q in show(worker_b, interview.id).step.questions] == ["n_kids"]
        # an answer to the page B showed before is refused, not written over A's
        stale = worker_b.answer(
            interview.id,
            seen(on_b, "b"),
            given({"parent": "2"}),
            mode="web",
            actor=RESPONDENT,
            now=T0,
        )
        assert isinstance(stale, Stale)
        assert isinstance(answer(worker_b, interview.id, {"n_kids": "1"}), Saved)
        assert isinstance(answer(worker_a, interview.id, {"kid_age_1": "4"}), Saved)
        assert answer_events(store, interview.id) == [
            ("parent", 1),
            ("n_kids", 1),
            ("kid_age_1", 4),
        ]
    finally:
        other_store.close()


def test_refused_answers_write_nothing_and_leave_the_interview_as_stored(
    service: InterviewService, store: Store
) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    answer(service, interview.id, {"parent": "1"})
    refused = answer(service, interview.id, {"n_kids": "99"})
    assert isinstance(refused, Rejected) and refused.errors and not refused.saved
    assert refused.interview.revision == 1
    assert [q.key for q in refused.step.questions] == ["n_kids"]
    again = show(service, interview.id)
    assert again.interview.revision == 1 and again.step.questions[0].value is None
    mode_problem = service.answer(
        interview.id, seen(again), lambda step: Answers({}, problems=refused.errors),
        mode="web", actor=RESPONDENT, now=T0,
    )  # fmt: skip
    assert isinstance(mode_problem, Rejected) and mode_problem.errors == refused.errors
    assert answer_events(store, interview.id) == [("parent", 1)]


def test_a_skip_prompt_is_saved_once_then_the_skip_is_accepted(
    service: InterviewService, store: Store
) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    answer(service, interview.id, {"parent": "1"})
    prompted = answer(service, interview.id, {})
    assert isinstance(prompted, Rejected) and prompted.prompts and prompted.saved
    assert prompted.interview.revision == 2
    assert isinstance(answer(service, interview.id, {}), Saved)


def test_back_jump_and_a_back_from_the_first_page(service: InterviewService, store: Store) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    first = show(service, interview.id)
    assert isinstance(
        service.back(interview.id, seen(first), mode="web", actor=RESPONDENT, now=T0), Stale
    )
    answer(service, interview.id, {"parent": "1"})
    answer(service, interview.id, {"n_kids": "2"})
    on_kids = show(service, interview.id)
    assert isinstance(
        service.jump(
            interview.id, seen(on_kids, "j"), "parent", mode="web", actor=RESPONDENT, now=T0
        ),
        Saved,
    )
    assert [q.key for q in show(service, interview.id).step.questions] == ["parent"]
    assert [e.kind for e in store.events_for(interview.id) if e.kind in ("jump", "back")] == [
        "jump"
    ]


def test_carrying_on_in_another_mode_records_the_switch_and_the_interviewer(
    service: InterviewService, store: Store
) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    answer(service, interview.id, {"parent": "1"})
    shown = service.show(interview.id, mode="cati", actor="interviewer:I-3", now=T0)
    assert isinstance(shown, Shown) and shown.interview.mode == "cati"
    saved = service.answer(
        interview.id,
        seen(shown, "c"),
        given({"n_kids": "1"}),
        mode="cati",
        actor="interviewer:I-3",
        now=T0,
    )
    assert isinstance(saved, Saved)
    events = store.events_for(interview.id)
    assert [e.value for e in events if e.kind == "mode"] == [{"from": "web", "to": "cati"}]
    (n_kids,) = [e for e in events if e.variable == "n_kids"]
    assert (n_kids.mode, n_kids.actor) == ("cati", "interviewer:I-3")


def test_withdrawn_and_unknown_interviews_are_unavailable(
    service: InterviewService, store: Store
) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    shown = show(service, interview.id)  # kept in the cache
    store.withdraw_interview(interview.id)
    assert service.show(interview.id, mode="web", actor=RESPONDENT, now=T0) == Unavailable(
        interview.id, "withdrawn"
    )
    late = service.answer(
        interview.id, seen(shown), given({"parent": "1"}), mode="web", actor=RESPONDENT, now=T0
    )
    assert isinstance(late, Unavailable) and late.reason == "withdrawn"
    assert service.about("no-such-id") == Unavailable("no-such-id", "unknown")
    assert store.events_for(interview.id) == []


def test_language_switch_finish_and_listeners(store: Store) -> None:
    heard: list[tuple[str, str]] = []
    service = service_on(
        store, listener=lambda kind, iid, at, mode, data: heard.append((kind, mode))
    )
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0, language="en").interview
    switched = service.switch_language(interview.id, "cy", mode="web", actor=RESPONDENT, now=T0)
    assert isinstance(switched, Saved) and switched.interview.language == "cy"
    assert isinstance(
        service.switch_language(interview.id, "cy", mode="web", actor=RESPONDENT, now=T0), Shown
    )
    with pytest.raises(EngineError):
        service.switch_language(interview.id, "fr", mode="web", actor=RESPONDENT, now=T0)
    answer(service, interview.id, {"parent": "1"})
    closed = service.finish(interview.id, mode="web", actor="system", now=T0)
    assert isinstance(closed, Saved) and closed.interview.finished
    assert closed.interview.status == "abandoned"
    assert heard == [("started", "web"), ("answered", "web"), ("breakoff", "web")]
    assert isinstance(service.finish(interview.id, mode="web", actor="system", now=T0), Stale)


def test_nul_characters_never_reach_the_store(service: InterviewService, store: Store) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    answer(service, interview.id, {"parent": "1"})
    answer(service, interview.id, {"n_kids": "1"})
    answer(service, interview.id, {"kid_age_1": "7"})
    saved = answer(
        service, interview.id, {"heard": ["96"], "heard_other": "a po\x00ster", "comment": "ok\x00"}
    )
    assert isinstance(saved, Saved), saved
    values = dict(answer_events(store, interview.id))
    assert values["heard_other"] == "a poster" and values["comment"] == "ok"


def test_a_case_preload_reaches_the_interview_whatever_starts_it(store: Store) -> None:
    service = service_on(store, FLAGSHIP)
    service.put_case(
        "social_licence", "case-9", {"profile_n_children": 1, "profile_age_band": 3}, now=T0
    )
    with pytest.raises(EngineError, match="not a preload variable"):
        service.put_case("social_licence", "case-10", {"n_children": 2}, now=T0)
    assert store.get_case("case-10") is None
    direct = service.start(
        "social_licence", mode="cati", actor="interviewer:I-1", now=T0, case_id="case-9"
    )
    assert service.load(direct.interview.id).state.case == {
        "profile_n_children": 1,
        "profile_age_band": 3,
    }
    token = service.issue_link("social_licence", case_id="case-9", now=T0)
    opened = service.open_link(token, mode="web", actor=RESPONDENT, now=T0)
    assert isinstance(opened, LinkOpened) and opened.started
    assert service.load(opened.interview_id).state.case["profile_n_children"] == 1
    resumed = service.open_link(token, mode="web", actor=RESPONDENT, now=T0)
    assert resumed == LinkOpened(opened.interview_id, "social_licence", started=False)


def test_links_that_cannot_be_used(service: InterviewService, store: Store) -> None:
    assert service.inspect_link("nonsense", mode="web", now=T0) == LinkProblem("invalid")
    expiring = service.issue_link(
        "mini", case_id="c1", now=T0, expires_at=T0 + dt.timedelta(days=1)
    )
    later = T0 + dt.timedelta(days=2)
    assert service.open_link(expiring, mode="web", actor=RESPONDENT, now=later) == LinkProblem(
        "expired"
    )
    token = service.issue_link("mini", case_id="c2", now=T0)
    opened = service.open_link(token, mode="web", actor=RESPONDENT, now=T0)
    assert isinstance(opened, LinkOpened)
    store.withdraw("c2")
    assert service.open_link(token, mode="web", actor=RESPONDENT, now=T0) == LinkProblem("expired")
    # a mode the questionnaire does not run in cannot open its links
    flagship_only = service_on(store, FLAGSHIP)
    other = flagship_only.issue_link("social_licence", case_id="c3", now=T0)
    assert flagship_only.inspect_link(other, mode="console", now=T0) == LinkProblem("invalid")


def test_a_resume_link_leads_back_to_the_same_interview(service: InterviewService) -> None:
    interview = service.start("mini", mode="web", actor=RESPONDENT, now=T0).interview
    answer(service, interview.id, {"parent": "1"})
    token = service.resume_link(interview.id, now=T0)
    opened = service.open_link(token, mode="web", actor=RESPONDENT, now=T0)
    assert opened == LinkOpened(interview.id, "mini", started=False)


def test_the_cache_never_hands_one_interview_to_two_requests() -> None:
    from instrument.interviews.snapshots import Snapshot

    cache = SnapshotCache(size=2)
    snapshots = [Snapshot(record=_Record(f"i{n}"), state=None, engine=None) for n in range(3)]  # type: ignore[arg-type]
    for snapshot in snapshots:
        cache.put(snapshot)
    assert len(cache) == 2 and cache.take("i0") is None  # the oldest went first
    assert cache.take("i1") is snapshots[1] and cache.take("i1") is None
    cache.put(snapshots[1])
    cache.drop("i1")
    assert cache.take("i1") is None
    assert SnapshotCache(size=0).take("x") is None


class _Record:
    def __init__(self, interview_id: str) -> None:
        self.id = interview_id


def test_a_withdrawn_case_gets_no_new_interview_and_no_link(store: Store) -> None:
    from instrument.store import CaseWithdrawn

    heard: list[str] = []
    service = service_on(store, listener=lambda kind, *rest: heard.append(kind))
    service.put_case("mini", "case-w", {"region": 1}, now=T0)
    token = service.issue_link("mini", case_id="case-w", now=T0)
    opened = service.open_link(token, mode="web", actor=RESPONDENT, now=T0)
    assert isinstance(opened, LinkOpened)
    assert isinstance(service.open_link(token, mode="web", actor=RESPONDENT, now=T0), LinkOpened)
    assert heard == ["started", "resumed"]  # a personal link that resumes is told as such
    store.withdraw("case-w", now=T0)
    with pytest.raises(CaseWithdrawn):
        service.start("mini", mode="cati", actor="interviewer:I-1", now=T0, case_id="case-w")
    with pytest.raises(CaseWithdrawn):
        service.issue_link("mini", case_id="case-w", now=T0)
    with pytest.raises(CaseWithdrawn):
        service.put_case("mini", "case-w", {"region": 2}, now=T0)
    assert service.open_link(token, mode="web", actor=RESPONDENT, now=T0) == LinkProblem("expired")
