"""The supervisor's operations on SQLite and PostgreSQL: reassign, release and correct (each
audited, each once: a change made for an old version of the case changes nothing), the case
list by current outcome (the overview's rule), the audit log paged newest first, the overview,
AAPOR rates from the cases' dispositions, interviewer statistics, the call records CSV without
names, numbers or notes, and the ``instrument fieldwork`` commands.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.callqueue import (
    CALL_RECORD_COLUMNS,
    CallQueue,
    CaseChanged,
    CaseSummary,
    Coded,
    NoCase,
)
from instrument.cli import cli
from instrument.fieldwork import DispositionCounts
from instrument.store import Store, open_store
from tests.callqueue_helpers import (
    NAME,
    NUMBER,
    T0,
    add_case,
    answer_first_page,
    claim,
    dial_and_code,
    queue_on,
    run_all,
)
from tests.staff_passwords import CHEAP
from tests.store_fixtures import *

MINUTE = dt.timedelta(minutes=1)
NOTE = "spoke to Ann Example-Sample's son"


@pytest.fixture
def queue(store: Store) -> CallQueue:
    store.set_password_cost(CHEAP, testing=True)
    store.create_staff_user("olga", "olga's long password", role="interviewer")
    return queue_on(store)


def test_a_case_is_kept_only_for_an_enabled_account_that_takes_cases(
    queue: CallQueue, store: Store
) -> None:
    add_case(store, "c1")
    store.create_staff_user("pat", "pat's long password", role="researcher")
    store.create_staff_user("ida", "ida's long password", role="interviewer")
    store.set_staff_disabled("ida", True)
    for who in ("nobody", "pat", "ida", ""):
        with pytest.raises(ValueError, match="not an enabled interviewer"):
            queue.reassign("c1", who, actor="sue", reason="r", now=T0)
    assert store.queue_row("c1")["window_interviewer"] is None  # type: ignore[index]
    assert queue.reassign("c1", "olga", actor="sue", reason="r", now=T0) is not None


def test_release_reassign_and_change_are_audited(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1")
    claim(queue, "ivan", T0)
    with pytest.raises(ValueError, match="reason"):
        queue.release("c1", actor="sue", reason=" ", now=T0)
    assert queue.release("c1", actor="sue", reason="ivan went home", now=T0 + MINUTE)
    assert not queue.release("c1", actor="sue", reason="again", now=T0 + MINUTE)
    window = queue.reassign("c1", "olga", actor="sue", reason="speaks Welsh", now=T0 + MINUTE)
    assert window is not None and window.interviewer == "olga"
    assert isinstance(queue.next_case("ivan", now=T0 + 20 * MINUTE), NoCase)
    assert claim(queue, "olga", T0 + 20 * MINUTE).case_id == "c1"
    queue.change_outcome(
        "c1", "not_eligible", reason="no child in the household", actor="sue", now=T0 + 21 * MINUTE
    )
    actions = [(e.action, e.actor, e.reason) for e in store.audit_of("c1")]
    assert ("release", "sue", "ivan went home") in actions
    assert ("reassign", "sue", "speaks Welsh") in actions
    assert ("change_disposition", "sue", "no child in the household") in actions
    assert queue.sample_overview(T0 + 22 * MINUTE).by_disposition == {"not_eligible": 1}


def _sample(queue: CallQueue, store: Store) -> None:
    """c1 complete; c2 refused; c3 no answer, then corrected to not eligible (the correction
    stands); c4 corrected to a soft refusal, then called again, no answer (the call wins);
    c5 held by olga; c6 never called."""
    for n in range(1, 7):
        add_case(store, f"c{n}", numbers=(f"+4420712345{n}0",))
    c1 = claim(queue, "ivan", T0)
    interview_id = queue.interview_for(c1.case_id, mode="cati", actor="ivan", now=T0)
    answer_first_page(
        queue.interviews, interview_id, {"parent": "2"}, mode="cati", actor="ivan", now=T0,
        key="k",
    )  # fmt: skip
    coded = queue.code_outcome(c1.attempt_id, disposition="complete", actor="ivan", now=T0)
    assert isinstance(coded, Coded)
    dial_and_code(queue, "ivan", "refusal_hard", T0 + MINUTE)  # c2
    dial_and_code(queue, "olga", "no_answer", T0 + 2 * MINUTE)  # c3
    queue.change_outcome("c3", "not_eligible", reason="a shop", actor="sue", now=T0 + 8 * MINUTE)
    queue.change_outcome("c4", "refusal_soft", reason="letter", actor="sue", now=T0 + 9 * MINUTE)
    dial_and_code(queue, "ivan", "no_answer", T0 + 10 * MINUTE)  # c4, after its correction
    assert claim(queue, "olga", T0 + 20 * MINUTE).case_id == "c5"


def test_the_case_list_gives_each_case_the_outcome_the_overview_counts(
    queue: CallQueue, store: Store
) -> None:
    _sample(queue, store)
    overview = queue.sample_overview(T0 + 21 * MINUTE)
    listing = queue.case_list()
    assert listing.total == 6 and [c.case_id for c in listing.cases] == [
        f"c{n}" for n in range(1, 7)
    ]
    current = {c.case_id: c.disposition for c in listing.cases}
    assert current == {
        "c1": "complete", "c2": "refusal_hard", "c3": "not_eligible", "c4": "no_answer",
        "c5": "not_attempted", "c6": "not_attempted",
    }  # fmt: skip
    assert dict(Counter(current.values())) == overview.by_disposition
    for code, count in overview.by_disposition.items():
        one = queue.case_list(outcome=code)
        assert one.total == count and {c.disposition for c in one.cases} == {code}
    assert queue.case_list(outcome="busy") == queue.case_list(outcome="busy", limit=0)
    assert queue.case_list(outcome="busy").total == 0
    first = queue.case_list(limit=2)
    assert [c.case_id for c in first.cases] == ["c1", "c2"] and first.total == 6
    named = queue.case_list(case_ids=["c5", "c3", "nope"])
    assert [c.case_id for c in named.cases] == ["c3", "c5"]
    held = queue.case_summary("c5")
    assert held is not None and held.held_by == "olga" and held.attempts == 0
    done = queue.case_summary("c1")
    assert done == CaseSummary(
        case_id="c1", questionnaire_id="mini", disposition="complete", final=True, attempts=1,
        held_by=None, window_start=None, window_end=None, window_kind=None,
        window_interviewer=None,
    )  # fmt: skip
    assert queue.case_summary("nope") is None
    window = queue.reassign("c6", "olga", actor="sue", reason="Welsh", now=T0 + 21 * MINUTE)
    kept = queue.case_summary("c6")
    assert window is not None and kept is not None
    assert (kept.window_interviewer, kept.window_start) == ("olga", window.start)
    with pytest.raises(ValueError):
        queue.case_list(limit=-1)


def test_the_case_list_says_and_filters_who_may_take_each_case(
    queue: CallQueue, store: Store
) -> None:
    """``case_queue.taken_by``: interviewers' cases and the automated dialler's, queued as such
    or handed over later, each listed with its taker; a filter keeps one kind, with the others."""
    _sample(queue, store)
    add_case(store, "c7", taken_by="automated")
    assert store.hand_to_dialler("c6", calls=2, spacing=None, dialler="auto", now=T0).handed
    takers = {c.case_id: c.taken_by for c in queue.case_list().cases}
    assert takers == {f"c{n}": "interviewer" for n in range(1, 6)} | {
        "c6": "automated",
        "c7": "automated",
    }
    automated = queue.case_list(taken_by="automated")
    assert [c.case_id for c in automated.cases] == ["c6", "c7"] and automated.total == 2
    interviewers = queue.case_list(taken_by="interviewer", limit=2)
    assert [c.case_id for c in interviewers.cases] == ["c1", "c2"] and interviewers.total == 5
    both = queue.case_list(taken_by="automated", outcome="not_attempted")
    assert [c.case_id for c in both.cases] == ["c6", "c7"]
    assert queue.case_list(taken_by="automated", outcome="complete").total == 0
    summary = queue.case_summary("c7")
    assert summary is not None and summary.taken_by == "automated"
    with pytest.raises(ValueError, match="taken_by is one of interviewer, automated"):
        queue.case_list(taken_by="robot")


def test_the_audit_log_is_paged_newest_first(queue: CallQueue, store: Store) -> None:
    _sample(queue, store)
    for n in range(5):
        queue.change_outcome(
            "c6", "busy", reason=f"check {n}", actor="sue", now=T0 + (30 + n) * MINUTE
        )
    whole = list(reversed(store.audit_of("c6")))
    assert [e.reason for e in whole] == [f"check {n}" for n in (4, 3, 2, 1, 0)]
    pages, before = [], None
    while True:
        page = queue.audit_log("c6", before=before, limit=2)
        pages.append([e.reason for e in page.entries])
        if page.older is None:
            break
        before = page.older
    assert pages == [["check 4", "check 3"], ["check 2", "check 1"], ["check 0"]]
    assert queue.audit_log("c6", limit=5).older is None  # exactly one full page: nothing older
    everything = queue.audit_log(limit=500).entries
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    assert {e.case_id for e in everything} == {"c1", "c2", "c3", "c4", "c6"}
    assert queue.audit_log("c5").entries == () and queue.audit_log("nope").older is None
    for wrong in (0, 501):
        with pytest.raises(ValueError):
            queue.audit_log("c6", limit=wrong)


def test_a_change_made_for_an_old_version_of_the_case_changes_nothing(
    queue: CallQueue, store: Store
) -> None:
    """What a supervisor's form carries: each change applies only at the version it was
    shown, so the second of two copies (a double click, two tabs, two server processes)
    changes nothing; the store checks the version in the change's own transaction."""
    add_case(store, "c1")
    add_case(store, "c2", numbers=("+442071234999",))
    shown = queue.case_version("c1")
    assert queue.case_version("c1") == shown  # reading changes nothing
    held = claim(queue, "ivan", T0)
    assert held.case_id == "c1" and queue.case_version("c1") != shown  # claimed meanwhile
    audited = len(store.audit_of("c1"))
    for change in (
        lambda v: queue.release("c1", actor="sue", reason="r", now=T0, expected=v),
        lambda v: queue.reassign("c1", "olga", actor="sue", reason="r", now=T0, expected=v),
        lambda v: queue.change_outcome("c1", "busy", reason="r", actor="sue", now=T0, expected=v),
    ):
        with pytest.raises(CaseChanged):
            change(shown)
    assert len(store.audit_of("c1")) == audited and store.queue_row("c1")["held_by"] == "ivan"

    for name, change in (
        ("release", lambda v: queue.release("c1", actor="sue", reason="r", now=T0, expected=v)),
        (
            "reassign",
            lambda v: queue.reassign("c1", "olga", actor="sue", reason="r", now=T0, expected=v),
        ),
        (
            "change_disposition",
            lambda v: queue.change_outcome(
                "c1", "busy", reason="r", actor="sue", now=T0, expected=v
            ),
        ),
    ):
        version = queue.case_version("c1")
        change(version)  # the first copy acts...
        assert store.audit_of("c1")[-1].action == name
        count = len(store.audit_of("c1"))
        with pytest.raises(CaseChanged):
            change(version)  # ...the second, made from the same page, does not
        assert len(store.audit_of("c1")) == count, name
    assert store.queue_row("c1")["disposition"] == "busy"

    # The store itself refuses: two writers that both passed the service's check (two
    # processes reading the same version at the same moment) write once.
    version = queue.case_version("c2")
    store.change_disposition("c2", disposition="busy", reason="r", actor="sue", expected=version)
    with pytest.raises(CaseChanged):
        store.change_disposition("c2", disposition="fax", reason="r", actor="amy", expected=version)
    assert [e.actor for e in store.audit_of("c2")] == ["sue"]


def _send_together(queues: list[CallQueue], version: str, round_: int) -> list[str]:
    """Each service sends the same change of c1, made for ``version``, at the same moment."""
    outcomes: list[str] = []

    def send(queue: CallQueue, who: str) -> None:
        try:
            queue.change_outcome("c1", "busy", reason=who, actor=who, now=T0, expected=version)
            outcomes.append("changed")
        except CaseChanged:
            outcomes.append("refused")

    errors = run_all([lambda q=q, w=f"s{round_}{k}": send(q, w) for k, q in enumerate(queues)])
    assert not errors, errors
    return outcomes


def test_the_same_change_sent_at_once_from_two_processes_acts_once(
    store: Store, database_url: str
) -> None:
    """Four call-queue services, each on its own connection pool (as four server processes),
    send the same change with the same version at the same moment: one is written."""
    add_case(store, "c1")
    queues = [queue_on(open_store(database_url)) for _ in range(4)]
    try:
        for round_ in range(5):
            outcomes = _send_together(queues, queue_on(store).case_version("c1"), round_)
            assert sorted(outcomes) == ["changed"] + ["refused"] * 3, round_
        assert len(store.audit_of("c1")) == 5
    finally:
        for queue in queues:
            queue.store.close()


def test_overview_rates_and_interviewer_stats(queue: CallQueue, store: Store) -> None:
    for case_id in ("c1", "c2", "c3", "c4"):
        add_case(store, case_id, numbers=(f"+4420712345{case_id[1]}0",))
    c1 = claim(queue, "ivan", T0)  # a complete, by phone
    interview_id = queue.interview_for(c1.case_id, mode="cati", actor="ivan", now=T0)
    answer_first_page(
        queue.interviews, interview_id, {"parent": "2"}, mode="cati", actor="ivan", now=T0,
        key="k",
    )  # fmt: skip
    done = queue.code_outcome(
        c1.attempt_id, disposition="complete", actor="ivan", now=T0 + 20 * MINUTE
    )
    assert isinstance(done, Coded)
    dial_and_code(queue, "ivan", "refusal_hard", T0 + 21 * MINUTE, note=NOTE)  # c2
    dial_and_code(queue, "olga", "no_answer", T0 + 22 * MINUTE, note=NOTE)  # c3
    now = T0 + 30 * MINUTE
    overview = queue.sample_overview(now)
    assert overview.cases == 4 and overview.final == 2 and overview.held == 0
    assert overview.by_disposition == {
        "complete": 1, "no_answer": 1, "not_attempted": 1, "refusal_hard": 1,
    }  # fmt: skip
    assert overview.callable_now == 1  # c4; c3 rests three hours
    assert overview.attempts_per_case == {0: 1, 1: 3}
    counts = queue.disposition_counts()
    assert counts == DispositionCounts(I=1, R=1, UH=2)
    rates = queue.rates()
    assert rates["RR1"] == pytest.approx(1 / 4)
    assert rates["REF1"] == pytest.approx(1 / 4)
    assert rates["COOP1"] == pytest.approx(1 / 2)
    stats = {s.interviewer: s for s in queue.interviewer_stats(T0, now)}
    assert set(stats) == {"ivan", "olga"}
    assert (stats["ivan"].attempts, stats["ivan"].calls, stats["ivan"].completes) == (2, 1, 1)
    assert stats["ivan"].mean_interview_length == 20 * MINUTE
    assert stats["ivan"].hours == pytest.approx(25 / 60)
    assert stats["ivan"].completes_per_hour == pytest.approx(60 / 25)
    assert stats["olga"].completes == 0 and stats["olga"].mean_interview_length is None


def test_call_records_hold_no_name_number_or_note(queue: CallQueue, store: Store) -> None:
    add_case(store, "c1")
    dial_and_code(queue, "ivan", "no_answer", T0, note=NOTE)
    out = io.StringIO()
    assert queue.write_call_records(out) == 1
    text = out.getvalue()
    assert NAME not in text and NUMBER not in text and NUMBER[1:] not in text and NOTE not in text
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert tuple(row) == CALL_RECORD_COLUMNS
    assert (row["case_id"], row["number_rank"], row["disposition"], row["aapor"]) == (
        "c1", "1", "no_answer", "3.13",
    )  # fmt: skip


def test_call_records_carry_the_recording_decision_when_and_the_recording(
    queue: CallQueue, store: Store
) -> None:
    """The evidence of consent: the decision, when it was keyed, the provider's recording."""
    add_case(store, "c1")
    first = dial_and_code(queue, "ivan", "no_answer", T0)
    (call,) = store.calls_of(first.case_id)
    store.set_call_recording(call.id, True, now=T0 + MINUTE)
    assert store.set_recording_sid(call.id, "RE" + "0" * 32)
    out = io.StringIO()
    queue.write_call_records(out)
    (row,) = [
        r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["call_id"] == str(call.id)
    ]
    assert (row["recording"], row["recording_sid"]) == ("1", "RE" + "0" * 32)
    assert row["recording_at"].startswith("2026-03-02T10:01")


def test_the_fieldwork_commands(queue: CallQueue, store: Store, tmp_path: Path) -> None:
    add_case(store, "c1")
    dial_and_code(queue, "ivan", "refusal_hard", T0, note=NOTE)
    url = store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    status = runner.invoke(cli, ["fieldwork", "status", "--database", url])
    assert status.exit_code == 0, status.output
    assert "refusal_hard" in status.output and "REF1" in status.output
    assert "100.0%" in status.output  # REF1: the one case refused
    target = tmp_path / "calls.csv"
    calls = runner.invoke(cli, ["fieldwork", "calls", "--database", url, "--csv", str(target)])
    assert calls.exit_code == 0, calls.output
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(CALL_RECORD_COLUMNS)
    assert NUMBER not in text and NAME not in text and len(text.splitlines()) == 2


def test_the_fieldwork_commands_name_the_errors_of_a_fieldwork_file(
    store: Store, tmp_path: Path
) -> None:
    """A wrong fieldwork file is a message with its file and line, never a traceback."""
    source = Path(__file__).parent.parent / "questionnaires" / "social_licence.yaml"
    questionnaire = tmp_path / "social_licence.yaml"
    questionnaire.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "social_licence.fieldwork.yaml").write_text(
        "calling:\n  max_attempts_per_cas: 3\n", encoding="utf-8"
    )
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["fieldwork", "status", "--database", url, "--questionnaire", str(questionnaire)]
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "the fieldwork settings have errors" in result.output
    assert "social_licence.fieldwork.yaml:2:" in result.output
