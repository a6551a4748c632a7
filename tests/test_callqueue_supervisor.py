"""The supervisor's operations on SQLite and PostgreSQL: reassign, release and correct (each
audited), the overview, AAPOR rates from the cases' dispositions, interviewer statistics, the
call records CSV without names, numbers or notes, and the ``instrument fieldwork`` commands.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.callqueue import CALL_RECORD_COLUMNS, CallQueue, Coded, NoCase
from instrument.cli import cli
from instrument.fieldwork import DispositionCounts
from instrument.store import Store
from tests.callqueue_helpers import (
    NAME,
    NUMBER,
    T0,
    add_case,
    answer_first_page,
    claim,
    dial_and_code,
    queue_on,
)
from tests.store_fixtures import *

MINUTE = dt.timedelta(minutes=1)
NOTE = "spoke to Ann Example-Sample's son"


@pytest.fixture
def queue(store: Store) -> CallQueue:
    return queue_on(store)


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
