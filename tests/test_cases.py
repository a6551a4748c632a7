"""``instrument cases import``: a sample file with preload values, checked row by row, stored whole or not at all."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from instrument.cli import cli
from instrument.store import open_store

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["cases", "import", *args])
    return result.exit_code, result.output


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_cases_and_their_links_are_stored(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    sample = write(
        tmp_path / "sample.csv",
        "case_id,profile_n_children,profile_age_band\nm-1,2,3\nm-2,,4\n",
    )
    links = tmp_path / "links.csv"
    code, output = run(
        str(sample), "--questionnaire", str(FLAGSHIP), "--database", db,
        "--links", str(links), "--base-url", "https://survey.example.org/",
    )  # fmt: skip
    assert code == 0, output
    assert "stored 2 case(s) of social_licence" in output
    with links.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == ["m-1", "m-2"]
    assert all(r["link"].startswith("https://survey.example.org/web/t/") for r in rows)
    store = open_store(db)
    try:
        assert store.get_case("m-1").preload == {"profile_n_children": 2, "profile_age_band": 3}
        assert store.get_case("m-2").preload == {"profile_age_band": 4}
        token = rows[0]["link"].rsplit("/", 1)[1]
        assert store.find_token(token).case_id == "m-1"
    finally:
        store.close()
    # by id, once the database holds the questionnaire
    again = write(tmp_path / "more.csv", "case_id,profile_lone_parent\nm-3,1\n")
    code, output = run(str(again), "--questionnaire", "social_licence", "--database", db)
    assert code == 0 and "stored 1 case(s)" in output, output


def test_a_file_with_problems_stores_nothing_and_says_where(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    bad = write(
        tmp_path / "bad.csv",
        "case_id,profile_n_children,profile_age_band\n"
        "m-1,2,3\n"
        "m-2,two,3\n"
        ",1,1\n"
        "m-1,1,1\n"
        "m-4,1,99\n",
    )
    code, output = run(str(bad), "--questionnaire", str(FLAGSHIP), "--database", db)
    assert code == 1
    assert f"{bad}:3: " in output and "profile_n_children" in output
    assert f"{bad}:4: the case id is empty" in output
    assert f"{bad}:5: case 'm-1' is also on line 2" in output
    assert f"{bad}:6: " in output and "profile_age_band" in output
    assert "nothing was stored" in output
    store = open_store(db)
    try:
        assert store.get_case("m-1") is None
    finally:
        store.close()


def test_unknown_and_personal_columns_are_refused_at_the_header(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    bad = write(tmp_path / "bad.csv", "case_id,profile_n_childen,email\nm-1,2,a@b.c\n")
    code, output = run(str(bad), "--questionnaire", str(FLAGSHIP), "--database", db)
    assert code == 1
    assert (
        f"{bad}:1: unknown column 'profile_n_childen'; did you mean 'profile_n_children'?" in output
    )
    assert f"{bad}:1: 'email' is personal data" in output


def test_a_questionnaire_the_database_does_not_hold(tmp_path: Path) -> None:
    sample = write(tmp_path / "s.csv", "case_id\nm-1\n")
    code, output = run(
        str(sample), "--questionnaire", "nope", "--database", f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert code == 1 and "holds no questionnaire 'nope'" in output


def test_withdrawn_cases_and_cases_of_another_questionnaire_are_refused_by_line(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    first = write(tmp_path / "first.csv", "case_id,profile_n_children\nm-1,2\nm-2,1\n")
    links = tmp_path / "links.csv"
    code, output = run(
        str(first), "--questionnaire", str(FLAGSHIP), "--database", db, "--links", str(links)
    )
    assert code == 0, output
    assert links.stat().st_mode & 0o777 == 0o600  # each link opens a person's interview
    store = open_store(db)
    try:
        store.withdraw("m-1")
    finally:
        store.close()
    again = write(tmp_path / "again.csv", "case_id,profile_n_children\nm-2,3\nm-1,2\n")
    code, output = run(str(again), "--questionnaire", str(FLAGSHIP), "--database", db)
    assert code == 1
    assert f"{again}:3: case 'm-1' was withdrawn on " in output and "nothing was stored" in output
    store = open_store(db)
    try:
        assert store.get_case("m-2").preload == {"profile_n_children": 1}  # unchanged
    finally:
        store.close()
    other = ROOT / "questionnaires" / "school_travel.yaml"
    moved = write(tmp_path / "moved.csv", "case_id\nm-2\n")
    code, output = run(str(moved), "--questionnaire", str(other), "--database", db)
    assert (
        code == 1 and f"{moved}:2: case 'm-2' belongs to questionnaire 'social_licence'" in output
    )
