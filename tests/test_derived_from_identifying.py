"""Values derived from identifying answers are exported as the interview had them.

A date of birth marked ``identifying`` is kept out of the saved state (the store's
``personal_answers``), but the age computed from it and the count of adults over those ages are
the interview's data. The export row is coded at save time from the full state, and a build that
codes the stored state instead (no row, or one written under another key) merges the personal
answers back in memory first: both give the interview's values, and no identifying value reaches
any export file. Interviews saved through the interview service and by ``instrument simulate
--database``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyreadstat
import sqlalchemy as sa
from click.testing import CliRunner
from test_interviews import T0, answer, service_on

from instrument.cli import cli
from instrument.dataset import Pseudonymiser, RowCoder, build_dataset
from instrument.engine import Engine
from instrument.exporting import ExportRequest, run_export
from instrument.interviews import Saved
from instrument.loader import load_questionnaire_text
from instrument.plugins import PluginFacade, get_plugin_manager
from instrument.store import Store, open_store
from instrument.store.schema import interviews
from tests.store_fixtures import *

HOUSEHOLD = """\
meta: {id: household, version: "1", title: Household, languages: [en]}
items:
  - id: household_size
    type: integer
    text: How many people live here?
    min: 1
    max: 4
  - loop: members
    max: 4
    count: household_size
    items:
      - id: date_of_birth
        type: date
        identifying: true
        text: What is the date of birth of person {{ loop.number }}?
      - id: age_years
        type: computed
        expr: age(date_of_birth)
  - id: n_adults
    type: computed
    expr: count_if(age_years >= 16)
  - id: email
    type: text
    identifying: true
    text: What email address can we write to?
  - id: has_email
    type: computed
    expr: answered(email)
"""
BIRTHS = ("1980-05-01", "2015-03-10", "2001-06-02")
EMAIL = "ada@example.org"
SECRET = b"a secret long enough for case ids"
AT_INTERVIEW = {  # interviewed on 2026-06-01 (T0)
    "age_years_1": "46",
    "age_years_2": "11",
    "age_years_3": "24",
    "n_adults": "2",
    "has_email": "1",
}
EXAMPLES = Path(__file__).resolve().parent.parent / "questionnaires" / "examples"


def _interview(store: Store, tmp_path: Path) -> tuple[str, dict]:
    """One household interviewed through the service; its id and the engine's values then."""
    path = tmp_path / "household.yaml"
    path.write_text(HOUSEHOLD, encoding="utf-8")
    service = service_on(store, path)
    started = service.start("household", mode="web", actor="respondent", now=T0)
    interview_id = started.interview.id
    answer(service, interview_id, {"household_size": "3"})
    for i, born in enumerate(BIRTHS, 1):
        answer(service, interview_id, {f"date_of_birth_{i}": born})
    assert isinstance(answer(service, interview_id, {"email": EMAIL}), Saved)
    full = service.load(interview_id)  # the state as the engine has it: personal answers merged
    assert full.state.finished
    return interview_id, Engine(full.questionnaire).values(full.state)


def _export(url: str, out: Path, formats: list[str] | None = None) -> dict[str, str]:
    request = ExportRequest("household", out, formats=formats, database=url, secret=SECRET)
    run_export(request, PluginFacade(get_plugin_manager()))
    with (out / "household.csv").open(encoding="utf-8", newline="") as file:
        (row,) = csv.DictReader(file)
    return row


def test_derived_values_are_exported_as_at_the_interview_on_both_build_paths(
    store: Store, tmp_path: Path
) -> None:
    interview_id, values = _interview(store, tmp_path)
    assert values["n_adults"] == 2 and values["age_years_1"] == 46 and values["has_email"]
    assert set(store.personal_answers(interview_id)) == {
        "date_of_birth_1", "date_of_birth_2", "date_of_birth_3", "email",
    }  # fmt: skip
    assert set(store.load_interview(interview_id).state["answers"]) == {"household_size"}
    url = store.engine.url.render_as_string(hide_password=False)

    from_rows = _export(url, tmp_path / "rows")  # every default format
    assert {k: from_rows[k] for k in AT_INTERVIEW} == AT_INTERVIEW
    secrets = [*BIRTHS, EMAIL, *(b.replace("-", "") for b in BIRTHS)]
    for file in (tmp_path / "rows").iterdir():
        data = file.read_bytes()
        assert not [s for s in secrets if s.encode() in data], file.name
    frame, _ = pyreadstat.read_sav(str(tmp_path / "rows" / "household.sav"))
    assert frame["n_adults"].tolist() == [2] and frame["age_years_3"].tolist() == [24]
    assert not [c for c in frame.columns if c.startswith(("date_of_birth", "email"))]

    # a row written under another key (an older release's format): the state is coded afresh
    with store.engine.begin() as connection:
        stored = connection.scalar(sa.select(interviews.c.export_row))
        key = stored.split(",", 1)[0]
        connection.execute(
            interviews.update().values(export_row="r2-" + "0" * (len(key) - 3) + stored[len(key) :])
        )
    assert _export(url, tmp_path / "old_key", ["csv"]) == from_rows
    with store.engine.begin() as connection:  # no row at all
        connection.execute(interviews.update().values(export_row=None))
    assert _export(url, tmp_path / "states", ["csv"]) == from_rows
    assert (tmp_path / "states" / "household.csv").read_bytes() == (
        tmp_path / "rows" / "household.csv"
    ).read_bytes()


def test_a_build_from_stored_states_reads_the_personal_answers_in_bulk(
    store: Store, tmp_path: Path
) -> None:
    ids = [_interview(store, tmp_path)[0] for _ in range(3)]
    asked: list[list[str]] = []

    def personal(interview_ids):
        asked.append(sorted(interview_ids))
        return store.personal_answers_of(interview_ids)

    q = load_questionnaire_text(HOUSEHOLD, "household.yaml").questionnaire
    assert q is not None
    kw = {"pseudonymiser": Pseudonymiser(SECRET), "personal": personal}
    from_states = build_dataset(q, store.iter_interviews("household"), **kw)
    assert asked == [sorted(ids)]  # one read for the chunk, not one per interview
    assert from_states.frame["n_adults"].tolist() == [2, 2, 2]
    from_rows = build_dataset(
        q, store.iter_export_records("household", export_keys={RowCoder(q).key}), **kw
    )
    assert asked == [sorted(ids)]  # usable rows: nothing read
    assert from_rows.frame.equals(from_states.frame)
    assert store.personal_answers_of([*ids, "nobody"]) == {
        i: store.personal_answers(i) for i in ids
    }
    assert store.personal_answers_of([]) == {}


def test_simulated_households_export_their_adults(database_url: str, tmp_path: Path) -> None:
    """ons_household: n_adults counted from ages computed from identifying dates of birth."""
    simulated = CliRunner().invoke(
        cli,
        ["simulate", str(EXAMPLES / "ons_household.yaml"), "-n", "30", "--seed", "5",
         "--database", database_url, "--now", "2026-03-01T10:00"],
    )  # fmt: skip
    assert simulated.exit_code in (0, 3), simulated.output

    def export(out: Path) -> list[dict[str, str]]:
        exported = CliRunner().invoke(
            cli,
            ["export", "--questionnaire", "ons_household", "--out", str(out), "--database",
             database_url, "--format", "csv", "--include-test", "--include-partial",
             "--no-progress", "--secret-file", str(secret)],
        )  # fmt: skip
        assert exported.exit_code == 0, exported.output
        with (out / "ons_household.csv").open(encoding="utf-8", newline="") as file:
            return list(csv.DictReader(file))

    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    from_rows = export(tmp_path / "rows")
    adults_asked = [  # sex is asked of those 16 or over; a break-off may not reach n_adults
        row
        for row in from_rows
        if row["outcome"] == "1" and any(v != "-8" for k, v in row.items() if k.startswith("sex_"))
    ]
    assert adults_asked, "no simulated household had an adult"
    assert all(int(row["n_adults"]) > 0 for row in adults_asked)
    assert any(row["age_years_1"] not in ("-8", "-9") for row in from_rows)
    with open_store(database_url) as store, store.engine.begin() as connection:
        connection.execute(interviews.update().values(export_row=None))
    assert export(tmp_path / "states") == from_rows
