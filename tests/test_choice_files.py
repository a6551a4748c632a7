"""Choice lists read from a CSV file next to the questionnaire.

Codes and labels per language come from the file, other columns become
attributes for choice filters, every bad row is reported at its row and
column, and the file travels with the questionnaire's stored source text so a
stored version reloads without the disk.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from instrument.engine import Engine
from instrument.loader import load_questionnaire, load_questionnaire_text, require_questionnaire
from instrument.scenarios import run_scenarios

DISTRICTS = Path(__file__).parent / "data" / "choices" / "districts.yaml"
NOW = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)

YAML = """
meta: {id: f, version: "1", title: F, languages: [en, cy]}
choices:
  places: {file: places.csv}
items:
  - {id: place, type: single, choices: places, display: search, text: Where?}
"""


def write(tmp_path: Path, csv_text: str, yaml_text: str = YAML) -> Path:
    (tmp_path / "places.csv").write_text(csv_text, encoding="utf-8")
    path = tmp_path / "f.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    return path


def messages(path: Path) -> list[str]:
    return [str(d) for d in load_questionnaire(path).diagnostics]


def test_codes_labels_per_language_and_attributes_come_from_the_file():
    q = require_questionnaire(DISTRICTS)
    districts = q.choices["districts"]
    assert [o.code for o in districts.options] == [101, 102, 103, 104, 196]
    dale = districts.option(104)
    assert dale is not None
    assert dale.label.source("en", "en") == "Dale, North"  # a quoted field with a comma
    assert dale.label.source("cy", "en") == "Dyffryn y Gogledd"  # label::Welsh (cy)
    assert dale.attribute("region") == 2
    assert districts.option(196).attributes == ()  # an empty cell: no attribute
    assert all(r.passed for r in run_scenarios(q))


def test_the_file_is_attached_to_the_stored_source_and_reloads_without_the_disk(tmp_path):
    path = write(tmp_path, "code,label\n1,Aston\n2,Bude\n")
    q = require_questionnaire(path)
    (tmp_path / "places.csv").unlink()
    stored = load_questionnaire_text(q.source_text, "<stored version 1>")
    assert stored.ok, stored.diagnostics
    assert stored.questionnaire.content_hash == q.content_hash
    assert [o.code for o in stored.questionnaire.choices["places"].options] == [1, 2]


def test_a_changed_file_is_another_version(tmp_path):
    first = require_questionnaire(write(tmp_path, "code,label\n1,Aston\n"))
    second = require_questionnaire(write(tmp_path, "code,label\n1,Aston Cross\n"))
    assert first.content_hash != second.content_hash


def test_bad_rows_are_reported_at_their_row_and_column(tmp_path):
    csv_text = (
        "code,label,label::cy,region\n"  # row 1
        "1,Aston,,1\n"  # no Welsh label: the English one is used
        "x,Bude,Bwd,2\n"  # row 3: not a number
        "1,Crewe,Crewe,1\n"  # row 4: twice
        "-1,Dale,Dyffryn,2\n"  # row 5: the don't know code
        "5,,Rhywle,2\n"  # row 6: no label
        "6,Eton\n"  # row 7: too few fields
        "7,{{ name }},Enw,1\n"  # row 8: a fill
    )
    found = messages(write(tmp_path, csv_text))
    where = str(tmp_path / "places.csv")
    assert f"{where}:3:1: error: code 'x' is not a whole number" in found
    assert f"{where}:4:1: error: code 1 is used twice (first at row 2)" in found
    assert any(m.startswith(f"{where}:5:1: error: code -1 collides with") for m in found)
    assert f"{where}:6:2: error: option 5 has no label" in found
    assert f"{where}:7:1: error: this row has 2 fields but the header has 4" in found
    assert any(m.startswith(f"{where}:8:2: error: labels are fixed text") for m in found)


def test_header_problems(tmp_path):
    found = messages(write(tmp_path, "label,label::fr,,region\nAston,Aston,,1\n"))
    where = str(tmp_path / "places.csv")
    assert f"{where}:1:1: error: there is no 'code' column" in found
    assert any(
        m.startswith(f"{where}:1:2: error: column 'label::fr': language 'fr'") for m in found
    )
    assert f"{where}:1:3: error: a column has no name" in found


def test_a_missing_file_and_a_path_outside_the_folder_are_errors(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(YAML, encoding="utf-8")
    found = messages(path)
    assert any("f.yaml:4:12: error: cannot read" in m for m in found)
    assert not any("unknown choice list" in m for m in found)  # no follow-on error
    path.write_text(YAML.replace("places.csv", "../places.csv"), encoding="utf-8")
    assert any("no '..'" in m for m in messages(path))
    path.write_text(YAML.replace("places.csv", "/etc/places.csv"), encoding="utf-8")
    assert any("relative to the questionnaire's folder" in m for m in messages(path))


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("code,label\n1,Secret\n", encoding="utf-8")
    folder = tmp_path / "survey"
    folder.mkdir()
    (folder / "places.csv").symlink_to(outside)
    path = folder / "f.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert any("leads out of the questionnaire's folder" in m for m in messages(path))


def test_text_not_loaded_from_a_file_cannot_read_one():
    result = load_questionnaire_text(YAML, "<questionnaire>")
    assert any("must be loaded from a file" in str(d) for d in result.errors)


def test_many_problems_are_cut_short(tmp_path):
    rows = "".join(f"x{i},Place {i}\n" for i in range(100))
    found = messages(write(tmp_path, "code,label\n" + rows))
    assert len([m for m in found if "is not a whole number" in m]) == 20
    assert any("80 more problems in this file not listed" in m for m in found)


def test_thousands_of_options_load_and_run(tmp_path):
    rows = "".join(f"{code},Place {code},Lle {code},{code % 2 + 1}\n" for code in range(1, 5001))
    yaml_text = (
        YAML.replace(
            "items:\n",
            "  areas: [{code: 1, label: One}, {code: 2, label: Two}]\n"
            "items:\n  - {id: area, type: single, choices: areas, text: Area?}\n",
        )
        .replace("display: search,", "display: search, choice_filter: {region: area},")
        .replace("code,label", "")
    )
    path = write(tmp_path, "code,label,label::cy,region\n" + rows, yaml_text)
    q = require_questionnaire(path)
    assert len(q.choices["places"].options) == 5000
    engine = Engine(q)
    state = engine.start(now=NOW, seed=1, language="cy")
    engine.submit(state, {"area": 2}, now=NOW)
    offered = engine.current_step(state).questions[0].options
    assert len(offered) == 2500  # the odd codes
    assert offered[0].label == "Lle 1"
    assert not engine.submit(state, {"place": 4}, now=NOW).accepted
    assert engine.submit(state, {"place": 9}, now=NOW).accepted


@pytest.mark.parametrize("bad", ["places.txt", "C:/places.csv"])
def test_only_csv_files_in_the_folder(tmp_path, bad):
    path = tmp_path / "f.yaml"
    path.write_text(YAML.replace("places.csv", bad), encoding="utf-8")
    assert any("error: the file of choice list 'places'" in m for m in messages(path))


def test_cati_keys_the_code_of_a_long_list_and_letters_list_the_matches(tmp_path):
    from test_console import interview  # the console session on scripted lines

    rows = "".join(f"{code},Place {code}\n" for code in range(1, 101)) + "500,Aston Cross\n"
    path = write(
        tmp_path,
        "code,label\n" + rows,
        YAML.replace("languages: [en, cy]}", "languages: [en, cy], modes: [web, cati]}"),
    )
    engine, session, out = interview(["cross", "zzz", "500"], mode="cati", path=path)
    assert "(101 answers: type the code of one, or a few letters" in out
    assert "Place 7" not in out  # a long list is not read out line by line
    assert "Answers that match 'cross' (type the code):\n  500) Aston Cross" in out
    assert "No answer matches 'zzz'" in out
    assert session.state.answers["place"] == 500
