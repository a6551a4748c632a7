"""Questionnaires written by others, rewritten in our format, run end to end (issue 11).

questionnaires/examples/ holds an ONS eQ runner household roster (list collectors, a section
per person) and an XLSForm field form in Swahili and English (trees with their stems: a loop
inside a loop, choice filters over CSV lists). Each must check clean, pass its scenarios, and
survive a simulate-into-a-store and export round trip whose files hold none of the identifying
answers and whose SPSS syntax GNU PSPP reads without an error.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pyreadstat
import pytest
import yaml
from click.testing import CliRunner
from test_readers import _pspp

from instrument.cli import cli
from instrument.dataset.personal import PersonalKeys, personal_keys
from instrument.loader import load_questionnaire, load_questionnaire_text
from instrument.simulate.hints import text_matching
from instrument.store import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "questionnaires" / "examples"
REAL = ("ons_household", "biomass_plot")
DISTINCT = "^Zq[a-z]{8}$"
"""Made-up names drawn to this pattern cannot be mistaken for any other answer."""


@pytest.mark.parametrize("name", REAL)
def test_checks_clean_and_its_scenarios_pass(name: str) -> None:
    path = EXAMPLES / f"{name}.yaml"
    checked = CliRunner().invoke(cli, ["check", str(path)])
    assert checked.exit_code == 0, checked.output
    assert "0 errors, 0 warnings" in checked.output
    tested = CliRunner().invoke(cli, ["test", str(path)])
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.output


def _with_distinct_names(source: Path, folder: Path) -> Path:
    """A copy of the questionnaire (and the files beside it) whose identifying text questions
    only accept answers of the DISTINCT pattern, so the simulator draws recognisable names."""
    for beside in source.parent.iterdir():
        if beside.name.startswith(source.stem) or beside.suffix == ".csv":
            shutil.copy(beside, folder / beside.name)
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    document.pop("tests", None)

    def mark(items: list[dict]) -> None:
        for item in items:
            if "items" in item:
                mark(item["items"])
            elif item.get("identifying") and item.get("type") == "text":
                check = {"error_if": f"not regex({item['id']}, '{DISTINCT}')", "message": "No."}
                item["checks"] = [*item.get("checks", []), check]

    mark(document["items"])
    copy = folder / source.name
    copy.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return copy


@pytest.mark.parametrize("name", REAL)
def test_simulated_into_a_store_and_exported_without_identifying_answers(
    name: str, tmp_path: Path
) -> None:
    path = _with_distinct_names(EXAMPLES / f"{name}.yaml", tmp_path)
    database = f"sqlite:///{tmp_path / 'interviews.db'}"
    simulated = CliRunner().invoke(
        cli,
        ["simulate", str(path), "-n", "25", "--seed", "2", "--database", database,
         "--now", "2026-03-01T10:00"],
    )  # fmt: skip
    assert simulated.exit_code in (0, 3), simulated.output  # 3: a question nobody reached
    assert "Engine errors: none" in simulated.output
    questionnaire = load_questionnaire(path).questionnaire
    keys = personal_keys(questionnaire)
    with open_store(database) as store:
        records = list(store.iter_interviews(name, include_test=True))
        personal = [store.personal_answers(record.id) for record in records]
        for record in records:  # the saved states hold none of them
            assert not [k for k in record.state["answers"] if k in keys], record.id
    names = {v for answers in personal for k, v in answers.items() if isinstance(v, str)}
    secrets = {v for v in names if v.startswith("Zq") or any(c.isdigit() for c in v)}
    secrets -= {v for v in secrets if len(v) == 10 and v[4] == "-"}  # dates: not distinctive
    assert any(v.startswith("Zq") for v in secrets), "the simulator drew no names"
    out = tmp_path / "out"
    exported = CliRunner().invoke(
        cli,
        ["export", "--questionnaire", name, "--out", str(out), "--database", database,
         "--format", "sav,dta,csv,parquet,ddi", "--include-test", "--include-partial",
         "--long-loops", "--no-progress"],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    identifying = {k for k in questionnaire.variables if k in keys}
    for file in out.iterdir():
        data = file.read_bytes()
        assert not [s for s in secrets if s.encode() in data], file.name
    header = (out / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert not [column for column in header if column in keys or column in identifying]
    frame, meta = pyreadstat.read_sav(str(out / f"{name}.sav"))
    assert len(frame) == len(records) and list(frame.columns) == header
    if name == "ons_household":  # counted from ages computed from identifying dates of birth
        coded, _ = pyreadstat.read_sav(str(out / f"{name}.sav"), user_missing=True)
        asked_sex = (coded.filter(regex=r"^sex_\d+$") != -8).any(axis=1)  # asked of those 16+
        adults = asked_sex & (coded["outcome"] == 1)  # a break-off may not reach n_adults
        assert adults.any() and (coded.loc[adults, "n_adults"] > 0).all()
    for syntax in sorted(out.glob("*.sps")):
        listing = _pspp(out, f'INSERT FILE="{syntax.name}".\nDISPLAY DICTIONARY.\n')
        assert "warning:" not in listing, listing


ROSTER = """\
meta: {id: roster, version: "1", title: Roster, languages: [en]}
items:
  - {id: n_people, type: integer, min: 1, max: 3, text: How many people live here?}
  - loop: people
    count: n_people
    max: 3
    items:
      - {id: first_name, type: text, identifying: true, text: "Person {{ loop.number }}'s name?"}
      - {id: age, type: integer, min: 0, max: 120, text: "How old is {{ first_name }}?"}
"""


def test_names_asked_only_inside_a_loop_are_kept_apart() -> None:
    """Regression: when every identifying question sat in a loop or list (a household roster),
    PersonalKeys counted none, so the names stayed in the saved state and its events."""
    questionnaire = load_questionnaire_text(ROSTER, "roster.yaml").questionnaire
    keys = personal_keys(questionnaire)
    assert keys and "first_name_2" in keys
    state = {"answers": {"n_people": 2, "first_name_1": "Ada", "first_name_2": "Ben", "age_1": 4}}
    kept, personal = keys.split(state)
    assert kept["answers"] == {"n_people": 2, "age_1": 4}
    assert personal == {"first_name_1": "Ada", "first_name_2": "Ben"}
    assert not PersonalKeys((), ())


FILTERED = """\
meta: {id: filtered, version: "1", title: Filtered, languages: [en]}
choices:
  regions: [{code: 1, label: North}, {code: 2, label: South}]
  districts: [{code: 11, label: Aston, attributes: {region: 1}}]
items:
  - {id: region, type: single, choices: regions, required: true, text: Which region?}
  - {id: district, type: single, choices: districts, choice_filter: {region: region},
     text: Which district?}
"""


def test_the_simulator_meets_a_choice_filter_that_offers_nothing(tmp_path: Path) -> None:
    """Regression: a single whose filter left no option made the simulator fail (IndexError)
    on every respondent who got there; a respondent now leaves it unanswered."""
    path = tmp_path / "filtered.yaml"
    path.write_text(FILTERED, encoding="utf-8")
    simulated = CliRunner().invoke(cli, ["simulate", str(path), "-n", "40", "--seed", "1"])
    assert simulated.exit_code in (0, 3), simulated.output
    assert "Engine errors: none" in simulated.output


PHONE = r"^(([0-9]{1})*[- .(]*([0-9]{3})[- .)]*[0-9]{3}[- .]*[0-9]{4})+$"
"""The biomass form's phone number check: repeats inside a repeat."""


def test_the_simulator_draws_a_phone_number_that_fits_the_field() -> None:
    """Regression: nested repeats drawn up to 8 times each gave texts far longer than the
    field's 20 characters, so 15 of 200 draws fitted and 67 of 500 simulated enumerators gave
    up at the phone number; each retry now draws shorter repeats."""
    drawn = [text_matching(PHONE, random.Random(seed), 20) for seed in range(200)]
    assert sum(text is not None for text in drawn) >= 190
    assert all(re.search(PHONE, text) for text in drawn if text is not None)
