"""Answers that identify a person: kept with the personal data, out of every export.

A household roster asks for first names, and later questions show them. A
question marked ``identifying: true`` keeps its answers in the store's
``personal_answers`` table, not in the interview's state or event log, so no
dataset, export row, export file or paradata holds them; the interview still
shows them in fills; withdrawal deletes them. `check` warns about a text
question that looks identifying and says nothing either way. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from test_interviews import T0, answer, given, seen, service_on, show

from instrument.cli import cli
from instrument.exporting import ExportRequest, run_export
from instrument.interviews import Saved
from instrument.loader import load_questionnaire_text
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import Store, open_store
from instrument.store.schema import interviews
from tests.store_fixtures import *

ROSTER = """\
meta: {id: roster, version: "1", title: Household, languages: [en]}
items:
  - id: n_people
    type: integer
    min: 1
    max: 3
    text: How many people live here?
  - loop: people
    count: n_people
    max: 3
    items:
      - id: first_name
        type: text
        identifying: true
        text: What is the first name of person {{ loop.number }}?
      - id: age
        type: integer
        min: 0
        max: 120
        text: How old is {{ first_name }}?
        checks:
          - warn_if: age > 100
            message: "{{ first_name }} is over 100. Is that right?"
  - id: email
    type: text
    identifying: true
    text: What email address can we write to?
  - id: comment
    type: text
    text: Anything else?
  - id: has_email
    type: computed
    expr: answered(email)
"""
NAMES = ("Ada", "Grace")
EMAIL = "ada@example.org"


def test_check_warns_about_a_question_that_looks_identifying() -> None:
    marked = load_questionnaire_text(ROSTER, "roster.yaml")
    assert marked.questionnaire is not None and marked.diagnostics == []
    assert marked.questionnaire.questions["first_name"].identifying
    unmarked = ROSTER.replace("        identifying: true\n", "")
    (warning,) = load_questionnaire_text(unmarked, "roster.yaml").diagnostics
    assert str(warning).startswith("roster.yaml:12:9: warning: question 'first_name' looks as if")
    assert "asks for a name" in warning.message and "identifying: true" in warning.message
    said_no = unmarked.replace("type: text\n", "type: text\n        identifying: false\n", 1)
    assert load_questionnaire_text(said_no, "roster.yaml").diagnostics == []


def _interview(store: Store, tmp_path: Path, case_id: str | None = None) -> str:
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER, encoding="utf-8")
    service = service_on(store, path)
    started = service.start("roster", mode="web", actor="respondent", now=T0, case_id=case_id)
    interview_id = started.interview.id
    answer(service, interview_id, {"n_people": "2"})
    answer(service, interview_id, {"first_name_1": NAMES[0]})
    # the fill shows the name, read back from the personal side by a new service (no cache)
    fresh = service_on(store, path)
    assert show(fresh, interview_id).step.questions[0].text == "How old is Ada?"
    shown = show(fresh, interview_id)
    confirmed = fresh.answer(
        interview_id, seen(shown, "age_1"), given({"age_1": "101"}, confirmed=True),
        mode="web", actor="respondent", now=T0,
    )  # fmt: skip
    assert isinstance(confirmed, Saved)  # a soft check whose message shows the name
    answer(fresh, interview_id, {"first_name_2": NAMES[1]})
    answer(fresh, interview_id, {"age_2": "41"})
    answer(fresh, interview_id, {"email": EMAIL})
    assert isinstance(answer(fresh, interview_id, {"comment": "fine"}), Saved)
    return interview_id


def test_identifying_answers_live_apart_and_reach_no_export(store: Store, tmp_path) -> None:
    interview_id = _interview(store, tmp_path)
    assert store.personal_answers(interview_id) == {
        "first_name_1": "Ada",
        "first_name_2": "Grace",
        "email": EMAIL,
    }
    record = store.load_interview(interview_id)
    assert record.status == "complete"
    assert set(record.state["answers"]) == {"n_people", "age_1", "age_2", "comment"}
    stored = [(e.variable, e.value) for e in store.events_for(interview_id) if e.kind == "answer"]
    confirmations = [
        e.value for e in store.events_for(interview_id) if e.kind == "warning_confirmed"
    ]
    assert confirmations and all("message" not in value for value in confirmations)
    assert ("first_name_1", None) in stored and ("email", None) in stored
    with store.engine.connect() as connection:
        row = connection.scalar(
            sa.select(interviews.c.export_row).where(interviews.c.id == interview_id)
        )
    assert row and "Ada" not in row and EMAIL not in row
    everything = json.dumps([record.state, [e.value for e in store.events_for(interview_id)], row])
    assert not any(secret in everything for secret in (*NAMES, EMAIL))

    out = tmp_path / "out"
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli,
        ["export", "--questionnaire", "roster", "--out", str(out), "--database", url,
         "--long-loops", "--no-progress", "--secret-file", str(_secret(tmp_path))],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for path in out.iterdir():
        data = path.read_bytes()
        for secret in (*NAMES, EMAIL):
            assert secret.encode() not in data, (path.name, secret)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "identify a person (kept with the personal data): email, first_name" in readme
    # the stored export row and the stored state give the same file: both lack the personal side
    with store.engine.begin() as connection:
        connection.execute(interviews.update().values(export_row=None))
    again = tmp_path / "again"
    facade = PluginFacade(get_plugin_manager())
    request = ExportRequest(
        "roster", again, formats=["csv"], database=url, secret=_secret(tmp_path).read_bytes()
    )
    run_export(request, facade)
    assert (again / "roster.csv").read_text() == (out / "roster.csv").read_text()
    header = (out / "roster.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "age_1" in header and not any(n.startswith(("first_name", "email")) for n in header)


def _secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text("a secret long enough for case ids", encoding="utf-8")
    return path


def test_withdrawal_deletes_the_personal_answers(store: Store, tmp_path) -> None:
    interview_id = _interview(store, tmp_path)
    report = store.withdraw_interview(interview_id, now=T0)
    assert report.personal_answers_deleted == 3
    assert store.personal_answers(interview_id) == {}


def test_withdrawing_a_case_deletes_its_personal_answers(store: Store, tmp_path) -> None:
    interview_id = _interview(store, tmp_path, case_id="case-7")
    other = _interview(store, tmp_path)
    report = store.withdraw("case-7", now=T0)
    assert report.interview_ids == (interview_id,) and report.personal_answers_deleted == 3
    assert store.personal_answers(interview_id) == {}
    assert len(store.personal_answers(other)) == 3  # another respondent's stay


def test_simulated_interviews_keep_identifying_answers_apart(database_url: str, tmp_path) -> None:
    """`instrument simulate --database` splits made-up names off as the interview service does."""
    path = tmp_path / "roster.yaml"
    # distinctive made-up names and emails (the simulator draws from these patterns)
    distinct = ROSTER.replace(
        "    text: What email address can we write to?\n",
        "    text: What email address can we write to?\n"
        "    checks:\n      - error_if: \"not regex(email, '^Zq[a-z]{8}@example[.]org$')\"\n"
        "        message: Not an email address.\n",
    ).replace(
        "        text: What is the first name of person {{ loop.number }}?\n",
        "        text: What is the first name of person {{ loop.number }}?\n"
        "        checks:\n          - error_if: \"not regex(first_name, '^Zq[a-z]{8}$')\"\n"
        "            message: Not a name.\n",
    )
    assert distinct.count("regex") == 2
    path.write_text(distinct, encoding="utf-8")
    simulated = CliRunner().invoke(
        cli,
        ["simulate", str(path), "-n", "12", "--seed", "3", "--database", database_url,
         "--now", "2026-03-01T10:00"],
    )  # fmt: skip
    assert simulated.exit_code in (0, 3), simulated.output
    with open_store(database_url) as store:
        records = list(store.iter_interviews("roster", include_test=True))
        personal = {record.id: store.personal_answers(record.id) for record in records}
        secrets = {v for answers in personal.values() for v in answers.values() if v}
        assert any("email" in answers for answers in personal.values()) and secrets
        assert all(secret.startswith("Zq") for secret in secrets)
        for record in records:
            assert not any(k.startswith(("first_name", "email")) for k in record.state["answers"])
            events = store.events_for(record.id)
            assert all(
                e.value is None for e in events if e.variable and e.variable in personal[record.id]
            )
            assert not any(secret in json.dumps([e.value for e in events]) for secret in secrets)
        out = tmp_path / "out"
        exported = CliRunner().invoke(
            cli,
            ["export", "--questionnaire", "roster", "--out", str(out), "--database", database_url,
             "--include-test", "--long-loops", "--no-progress",
             "--secret-file", str(_secret(tmp_path))],
        )  # fmt: skip
        assert exported.exit_code == 0, exported.output
        for file in out.iterdir():
            data = file.read_text(encoding="utf-8", errors="replace")
            assert not any(secret in data for secret in secrets), file.name
        withdrawn = records[0].id
        count = len(personal[withdrawn])
        assert store.withdraw_interview(withdrawn, now=T0).personal_answers_deleted == count
        assert store.personal_answers(withdrawn) == {}
