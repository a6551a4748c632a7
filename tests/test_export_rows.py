"""Export rows: the dataset row stored with every save, and the build that reads them.

The stored row is a cache of what the state gives, and these tests hold it
to that. A build from stored rows equals the reference build (one interview
and one cell at a time, from the states: tests/test_dataset_speed.py); a row
written under another key is ignored and the state coded instead; every save
replaces or clears the row, withdrawal removes it; any text survives the
trip through CSV; the web and phone modes' save path (``Runner.save``) and
test data (``instrument simulate --database``) store rows the build uses.
Store tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dataset_speed import (  # two of these are fixtures, used by name
    SECRET,
    assert_same,
    flagship_items,  # noqa: F401
    mini_versions,  # noqa: F401
    ours,
    reference_build,
)
from test_dataset_support import (
    MINI,
    MINI_CHILDREN,
    START,
    drive,
    load,
    mini_interviews,
    save,
)

from instrument.dataset import Pseudonymiser, RowCoder, build_dataset
from instrument.dataset.coding import light_state
from instrument.dataset.rows import HEAD, csv_line, parse_rows
from instrument.engine import Engine, State
from instrument.interviews import Answers, InterviewService, Rejected, Saved, Seen, Surveys
from instrument.store import Store, migrate, open_store, resolve_url
from instrument.store.engine import create_store_engine
from instrument.values import DK
from tests.store_fixtures import *

ROOT = Path(__file__).resolve().parent.parent


def with_rows(items, coders):
    """``(state, meta)`` items whose meta carries the export row a save would have stored."""
    out = []
    for state, meta in items:
        coder = coders[state["questionnaire_hash"]]
        out.append((state, {**meta, "export_row": coder.encode_stored(state)}))
    return out


# ------------------------------------------------------------------ rows equal the reference


@pytest.mark.parametrize("partial", [True, False])
def test_a_build_from_stored_rows_equals_the_reference(flagship_items, partial, tmp_path):
    q, items = flagship_items
    rowed = with_rows(items, {q.content_hash: RowCoder(q)})
    kw = {"include_partial": partial, "include_test": True}
    assert_same(ours(q, rowed, **kw), reference_build(q, items, **kw), tmp_path)


def test_interleaved_versions_from_rows_and_states_mixed_equal_the_reference(
    mini_versions, tmp_path
):
    v1, v2, items = mini_versions
    coders = {v1.content_hash: RowCoder(v1), v2.content_hash: RowCoder(v2)}
    rowed = with_rows(items, coders)
    # every third interview has no row (saved before rows existed): coded from its state
    mixed = [item if i % 3 else items[i] for i, item in enumerate(rowed)]
    kw = {"include_partial": True, "include_test": True, "versions": {v1.content_hash: v1}}
    assert_same(ours(v2, mixed, **kw), reference_build(v2, items, **kw), tmp_path)


def test_a_row_under_another_key_is_ignored_and_the_state_coded(mini_versions, tmp_path):
    v1, v2, items = mini_versions
    coders = {v1.content_hash: RowCoder(v1), v2.content_hash: RowCoder(v2)}
    stale = []
    for state, meta in with_rows(items, coders):
        key, rest = meta["export_row"].split(",", 1)
        # same length, other key (an older coding): its values must not be used
        wrong = "r0-" + "0" * (len(key) - 3) + "," + rest.replace("-9", "-8")
        stale.append((state, {**meta, "export_row": wrong}))
    kw = {"include_partial": True, "versions": {v1.content_hash: v1}}
    assert_same(ours(v2, stale, **kw), reference_build(v2, items, **kw), tmp_path)


def test_one_interview_coded_alone_equals_the_chunked_coding(mini_versions):
    """``encode`` (a save, from a live State) and ``encode_many`` (the build, from stored JSON) agree."""
    v1, v2, items = mini_versions
    coders = {v1.content_hash: RowCoder(v1), v2.content_hash: RowCoder(v2)}
    for state, _ in items:
        coder = coders[state["questionnaire_hash"]]
        assert coder.encode(State.from_json(state)) == coder.encode_many([light_state(state)])[0]


def test_the_key_changes_with_the_questionnaire_and_has_one_length(mini_versions):
    v1, v2, _ = mini_versions
    assert RowCoder(v1).key != RowCoder(v2).key
    assert RowCoder(v1).key == RowCoder(v1).key
    assert len(RowCoder(v1).key) == len(RowCoder(v2).key)


# ------------------------------------------------------------------ the CSV trip


def _one_text_row(text: str) -> str:
    head = ["r1-k", 1, "en", 1, 1, 0, 0, "2026-03-02T09:00:00", "", ""]
    return csv_line([*head, text, 7])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_survives_the_row(text):
    lines = [_one_text_row(text), _one_text_row("plain"), _one_text_row(text)]
    parsed = parse_rows(lines, ["t", "n"], ["str", "int"], [])
    assert list(parsed["t"]) == [text, "plain", text]
    assert list(parsed["n"]) == [7, 7, 7]
    assert len(HEAD) == 10


@pytest.mark.parametrize(
    "comment",
    [
        "=SUM(A1:A9)",
        'a "quoted", comma',
        "two\nlines\r\nand a CR\r",
        "  spaced  ",
        "NA",
        "null",
        "-9",
        "1e5",
        "ünïcødé ✓ 漢字",
    ],
)
def test_awkward_answers_come_out_as_typed(comment, tmp_path):
    q = load(MINI)
    state, _ = drive(
        Engine(q), {**MINI_CHILDREN, "comment": comment}, case={"region": 1, "profile_kids": 2}
    )
    item = (state.to_json(), {"id": "x"})
    rowed = with_rows([item], {q.content_hash: RowCoder(q)})
    got = ours(q, rowed)
    typed = state.answers["comment"]
    # a text typed as a missing code gets a leading apostrophe (tests/test_export_open_text.py)
    assert got.frame["comment"].tolist() == ["'" + typed if typed == "-9" else typed]
    assert_same(got, ours(q, [item]), tmp_path)


# ------------------------------------------------------------------ the store keeps rows honest


def _saved(store: Store, q, name: str = "web", *, export_row: bool = True) -> str:
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    state, events = mini_interviews(Engine(q))[name]
    return save(store, version.id, state, events, export_row=export_row)


def test_a_save_stores_its_row_and_a_save_without_one_clears_it(store: Store) -> None:
    q = load(MINI)
    key = RowCoder(q).key
    interview_id = _saved(store, q)
    (record,) = store.iter_export_records(q.id, export_keys={key})
    assert record.export_row is not None and record.export_row.startswith(key + ",")
    assert record.state == {}  # the row stands in for the state
    loaded = store.load_interview(interview_id)
    store.save_interview(
        interview_id,
        expected_revision=loaded.revision,
        state=loaded.state,
        status=loaded.status,
        mode=loaded.mode,
    )
    (record,) = store.iter_export_records(q.id, export_keys={key})
    assert record.export_row is None and record.state == loaded.state
    assert record.updated_at is None  # only read when selecting by it
    (record,) = store.iter_export_records(q.id, export_keys={key}, since=loaded.updated_at)
    assert record.updated_at is not None and record.updated_at > loaded.updated_at


def test_only_rows_under_a_given_key_come_without_their_state(store: Store) -> None:
    q = load(MINI)
    key = RowCoder(q).key
    with_row = _saved(store, q, "web")
    without = _saved(store, q, "cati", export_row=False)
    other_key = "r9-" + "f" * (len(key) - 3)
    by_id = {r.id: r for r in store.iter_export_records(q.id, export_keys={other_key})}
    assert by_id[with_row].state and by_id[with_row].export_row.startswith(key)
    assert by_id[without].state and by_id[without].export_row is None
    by_id = {r.id: r for r in store.iter_export_records(q.id, export_keys={key})}
    assert by_id[with_row].state == {} and by_id[without].state
    plain = {r.id: r for r in store.iter_export_records(q.id)}  # no keys: every state
    assert all(r.state for r in plain.values())
    with pytest.raises(ValueError, match="same length"):
        list(store.iter_export_records(q.id, export_keys={key, "short"}))


def test_a_build_through_the_store_is_the_same_with_or_without_rows(store: Store, tmp_path) -> None:
    q = load(MINI)
    version = store.add_questionnaire_version(q.id, q.version, q.source_text)
    for i, (state, events) in enumerate(mini_interviews(Engine(q)).values()):
        save(store, version.id, state, events, export_row=i % 2 == 0)
    kw = {
        "include_partial": True,
        "pseudonymiser": Pseudonymiser(SECRET),
        "exported_at": dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
    }
    from_rows = build_dataset(
        q, store.iter_export_records(q.id, export_keys={RowCoder(q).key}), **kw
    )
    from_states = build_dataset(q, store.iter_interviews(q.id), **kw)  # whole records: states only
    assert_same(from_rows, build_dataset(q, store.iter_export_records(q.id), **kw), tmp_path)
    assert len(from_rows.frame) == 8
    assert_same(from_rows, from_states, tmp_path)


def test_withdrawal_removes_the_row_with_the_answers(store: Store) -> None:
    q = load(MINI)
    interview_id = _saved(store, q)
    store.withdraw_interview(interview_id)
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT export_row, state FROM interviews WHERE id = :i"), {"i": interview_id}
        ).one()
    assert row.export_row is None
    assert build_dataset(
        q, store.iter_export_records(q.id, export_keys={RowCoder(q).key}), include_partial=True
    ).frame.empty


def _service_with_a_started_interview(store: Store, q):
    """The interview service (as the web, telephone and IVR modes use it) and one interview it began."""
    surveys = Surveys.serve(store, [q])
    service = InterviewService(store, surveys)
    started = service.start(
        q.id, mode="web", actor="respondent", now=START, preload={"region": 1, "profile_kids": 2}
    )
    return service, started.interview


def _answer_through(
    service: InterviewService,
    interview_id: str,
    answers,
    *,
    switch_to: str | None = None,
    switch_after: int | None = None,
    back_on: str | None = None,
    interviewer: str = "interviewer:I-9",
) -> list:
    """Answer page by page through the service, as ``drive`` does through the engine; the outcomes."""
    now, mode, pages, went_back, outcomes = START, "web", 0, False, []
    while True:
        if switch_after is not None and pages == switch_after and switch_to:
            mode = switch_to
        actor = interviewer if mode == "cati" else "respondent"
        shown = service.show(interview_id, mode=mode, actor=actor, now=now)
        if shown.interview.finished:
            return outcomes
        step = shown.step
        now += dt.timedelta(seconds=15)
        seen = Seen(revision=shown.interview.revision, token=step.token, key=f"{pages}-{went_back}")
        if back_on is not None and step.page_id == back_on and not went_back and step.can_go_back:
            went_back = True
            outcomes.append(service.back(interview_id, seen, mode=mode, actor=actor, now=now))
            continue
        given = {}
        for view in step.questions:
            for key in view.keys:
                if key in answers:
                    given[key] = answers[key]
                elif mode == "cati" and view.type != "info":
                    given[key] = DK
        outcome = service.answer(
            interview_id, seen, _reading(given),
            mode=mode, actor=actor, now=now,
        )  # fmt: skip
        if isinstance(outcome, Rejected) and outcome.prompts:  # answered as it stands: a skip
            seen = Seen(revision=outcome.interview.revision, token=step.token, key=f"{pages}-p")
            outcome = service.answer(
                interview_id, seen, _reading(given),
                mode=mode, actor=actor, now=now,
            )  # fmt: skip
        assert isinstance(outcome, Saved), outcome
        outcomes.append(outcome)
        pages += 1


def _reading(given):
    """A mode's answer reader that hands over ``given`` and accepts every warning."""
    return lambda _step: Answers(given, confirmed=True)


def test_service_saves_store_the_row_of_the_state(store: Store) -> None:
    """The web, telephone and IVR modes all save through the interview service."""
    q = load(MINI)
    service, started = _service_with_a_started_interview(store, q)
    _answer_through(
        service, started.id, MINI_CHILDREN, switch_to="cati", switch_after=3, back_on="two_on_one"
    )
    stored = service.load(started.id).state
    assert stored.finished and stored.modes_used == ["web", "cati"]
    (record,) = store.iter_export_records(q.id, export_keys={RowCoder(q).key})
    assert record.export_row == RowCoder(q).encode(stored)


def test_a_row_that_cannot_be_coded_never_costs_the_answers(
    store: Store, monkeypatch, caplog
) -> None:
    """The row is a cache: if coding it fails (a bug, an odd value), the save goes through without one."""
    q = load(MINI)
    service, started = _service_with_a_started_interview(store, q)

    def broken(self, state):  # fault injection: the coder itself is tested above
        raise ValueError("cannot code this")

    monkeypatch.setattr(RowCoder, "encode", broken)
    with caplog.at_level("ERROR", logger="instrument.interviews.surveys"):
        outcomes = _answer_through(service, started.id, MINI_CHILDREN)
    assert outcomes[0].interview.revision == started.revision + 1
    assert "saved without one" in caplog.text
    monkeypatch.undo()
    (record,) = store.iter_export_records(q.id, export_keys={RowCoder(q).key})
    assert (
        record.export_row is None and record.state["answers"]
    )  # saved, and exported from its state
    frame = build_dataset(q, [record], pseudonymiser=Pseudonymiser(SECRET)).frame
    assert frame["comment"].tolist() == [MINI_CHILDREN["comment"]]


def test_migration_0003_leaves_older_interviews_to_be_coded_from_state(
    database_url: str, tmp_path
) -> None:
    q = load(MINI)
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0002_last_seq")
    finally:
        engine.dispose()
    # an interview saved by the previous release: no export_row column yet
    state, _ = mini_interviews(Engine(q))["web"]
    engine = create_store_engine(resolve_url(database_url))
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO questionnaire_versions (id, questionnaire_id, version, content_hash, source_text, created_at)"
                    " VALUES (1, :qid, :v, :h, :src, :t)"
                ),
                {
                    "qid": q.id,
                    "v": q.version,
                    "h": q.content_hash,
                    "src": q.source_text,
                    "t": state.started_at,
                },
            )
            connection.execute(
                sa.text(
                    "INSERT INTO interviews (id, questionnaire_version_id, mode, language, status, is_test, state,"
                    " revision, started_at, updated_at) VALUES ('old', 1, 'web', 'en', 'complete', :f, :s, 1, :t, :t)"
                ),
                {"f": False, "s": __import__("json").dumps(state.to_json()), "t": state.started_at},
            )
    finally:
        engine.dispose()
    with open_store(database_url) as store:  # migrates to head
        (record,) = store.iter_export_records(q.id, export_keys={RowCoder(q).key})
        assert record.export_row is None and record.state
        frame = build_dataset(q, [record], pseudonymiser=Pseudonymiser(SECRET)).frame
        assert frame["comment"].tolist() == [MINI_CHILDREN["comment"]]


def test_simulated_test_data_is_stored_with_rows(tmp_path) -> None:
    from click.testing import CliRunner

    from instrument.cli import cli

    url = f"sqlite:///{tmp_path / 'sim.db'}"
    result = CliRunner().invoke(
        cli, ["simulate", str(MINI), "-n", "40", "--seed", "3", "--database", url]
    )
    assert result.exit_code in (0, 3), result.output
    q = load(MINI)
    with open_store(url) as store:
        records = list(
            store.iter_export_records(q.id, include_test=True, export_keys={RowCoder(q).key})
        )
        assert len(records) == 40 and all(r.export_row and not r.state for r in records)


def test_saving_a_row_loads_no_pandas() -> None:
    """A web worker codes rows as it saves; pandas (tens of MB per worker) stays out of it."""
    code = "import sys, instrument.interviews, instrument_web.views, instrument.dataset.rows\nprint('pandas' in sys.modules, 'numpy' in sys.modules)"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(str(p) for p in (ROOT, ROOT / "modes", ROOT / "plugins")),
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    assert done.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ a tripwire for the row format

# The fingerprint of the code that decides what a stored row holds, per ROW_FORMAT. Rows written by
# an older release are used as they are, so a change to this code that changes any row must raise
# ROW_FORMAT (older rows are then ignored and their states coded afresh). When this test fails:
# decide whether rows change; if they do, raise ROW_FORMAT; then record the new fingerprint here.
# (The engine is not part of it: a row keeps the values the engine gave when the interview was
# saved, which is what the answers meant then.)
# Rows unchanged by the last edit (ruff's rewrites: `kind in (...)`, imports from collections.abc).
# 2: an open text typed as a missing code is escaped with a leading apostrophe (coding.escape_text).
# Rows of format 2 unchanged by the last edit: mode codes and "an interviewer mode was used" now come
# from the modes' policies, which give the standard modes the codes they always had.
# Rows of format 2 unchanged by loops inside loops: a loop's suffixes come from
# model.every_loop_suffix, the same 1..max or option codes for a loop in no other.
# Rows of format 2 unchanged for questionnaires without randomisation; with it, the order
# variables (orders.py) are new columns, so the plan, and with it every row's key, changes.
# Rows of format 2 unchanged by the universe of a list's loops (codebook text, not rows).
# 3: the code above is unchanged but its input is not: rows are coded from the full state, identifying
# answers included (no column of theirs), so values derived from them (an age from a date of birth)
# are the interview's; format 2 rows of questionnaires with identifying questions lacked them.
# 4: an unfinished interview is cut off at the page it is on, loop iterations included (engine.reach):
# a later iteration's computed values are absent and its questions -9 (format 3: values and -8).
ROW_CODE_FINGERPRINTS = {
    1: "cbaa71b4d9108ee1",
    2: "6cb20478783e22f6",
    3: "e16893a42cedcaee",
    4: "0b63f2a912e4c62a",
}


def _row_code_fingerprint() -> str:
    import ast
    import hashlib

    parts = []
    for module in ("coding.py", "rows.py", "plan.py"):
        tree = ast.parse((ROOT / "instrument" / "dataset" / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # docstrings are not code
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        parts.append(ast.dump(tree, annotate_fields=False))
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def test_changing_the_coding_code_is_a_conscious_decision_about_row_format() -> None:
    from instrument.dataset.rows import ROW_FORMAT

    got = _row_code_fingerprint()
    assert ROW_CODE_FINGERPRINTS.get(ROW_FORMAT) == got, (
        f"the code that codes export rows changed (fingerprint {got}). If stored rows would now differ, "
        f"raise ROW_FORMAT in instrument/dataset/rows.py; then set ROW_CODE_FINGERPRINTS[ROW_FORMAT] = {got!r} "
        "in tests/test_export_rows.py."
    )
