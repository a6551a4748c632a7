"""``instrument cases import`` with telephone columns: numbers in E.164 in the personal tables, the call queue, errors by line."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from instrument.cli import cli
from instrument.store import open_store
from tests.store_fixtures import *

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = str(ROOT / "questionnaires" / "social_licence.yaml")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["cases", "import", *args])
    return result.exit_code, result.output


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


GOOD = """\
case_id,profile_n_children,phone,phone_2,name,time_zone,postcode,region,language,priority
t-1,2,020 7946 0123,07911 123456,Ann Example,,SW1A 1AA,,en,2
t-2,0,+353 1 234 5678,,,Europe/Dublin,,,,
t-3,1,0131 496 0001,,Bob Example,,,Scotland,en,
t-4,1,,,,,,IE,,
t-5,3,(01534) 123456,,,,JE2 3AB,,,
"""


def _count(store, sql: str) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as connection:
        return int(connection.execute(sa.text(sql)).scalar_one())


def test_numbers_names_and_zones_go_to_the_personal_tables_and_the_queue(
    tmp_path: Path, database_url: str
) -> None:
    sample = write(tmp_path / "sample.csv", GOOD)
    code, output = run(sample, "--questionnaire", FLAGSHIP, "--database", database_url)
    assert code == 0, output
    assert "stored 5 case(s) of social_licence; 4 with a phone number put in the call queue" in (
        output
    )
    with open_store(database_url) as store:
        assert [(n.rank, n.e164, n.working) for n in store.phone_numbers_of("t-1")] == [
            (1, "+442079460123", True),
            (2, "+447911123456", True),
        ]
        assert [n.e164 for n in store.phone_numbers_of("t-2")] == ["+35312345678"]
        assert store.phone_numbers_of("t-4") == [] and store.queue_row("t-4") is None
        assert store.get_contact("t-1").name == "Ann Example"  # type: ignore[union-attr]
        assert store.get_contact("t-2") is None
        case = store.get_case("t-1")
        assert case is not None and case.preload == {"profile_n_children": 2}
        zones = {c: store.queue_row(c)["zone"] for c in ("t-1", "t-2", "t-3", "t-5")}  # type: ignore[index]
        assert zones == {
            "t-1": "Europe/London",
            "t-2": "Europe/Dublin",
            "t-3": "Europe/London",
            "t-5": "Europe/Jersey",
        }
        first = store.queue_row("t-1")
        assert first is not None
        assert (first["priority"], first["language"], first["window_kind"]) == (2, "en", "normal")
        assert first["window_start"] < first["window_end"]  # type: ignore[operator]
        # names and numbers are nowhere but the personal tables
        with store.engine.connect() as connection:
            for table in ("cases", "case_queue", "interviews", "answer_events"):
                rows = repr(connection.execute(sa.text(f"SELECT * FROM {table}")).all())
                assert "Example" not in rows and "7946" not in rows and "+44" not in rows
    # importing again replaces, and does not report the case's own numbers as duplicates
    code, output = run(sample, "--questionnaire", FLAGSHIP, "--database", database_url)
    assert code == 0, output
    with open_store(database_url) as store:
        assert _count(store, "SELECT count(*) FROM phone_numbers") == 5
        assert _count(store, "SELECT count(*) FROM case_queue") == 4


def test_a_wrong_cell_gives_its_line_and_nothing_is_stored(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    bad = write(
        tmp_path / "bad.csv",
        "case_id,phone,phone_2,time_zone,region,language,priority\n"
        "b-1,020 7946 0123,,,,,\n"
        "b-2,12345,,,,,\n"
        "b-3,not a number,,,,,\n"
        "b-4,020 7946 0124,,Europe/Londres,,,\n"
        "b-5,020 7946 0125,,,Atlantis,,\n"
        "b-6,020 7946 0126,,,,fr,\n"
        "b-7,020 7946 0127,,,,,high\n"
        "b-8,020 7946 0128,020 7946 0128,,,,\n",
    )
    code, output = run(bad, "--questionnaire", FLAGSHIP, "--database", db)
    assert code == 1
    assert "7 problem(s); nothing was stored" in output
    for expected in (
        f"{bad}:3: phone: '12345' is not a valid phone number (country code +44",
        f"{bad}:4: phone: 'not a number' is not a phone number",
        f"{bad}:5: unknown time zone 'Europe/Londres'",
        f"{bad}:6: unknown region 'Atlantis'",
        f"{bad}:7: language 'fr' is not one of the questionnaire's: en, cy",
        f"{bad}:8: priority 'high' is not a whole number",
        f"{bad}:9: the number +442079460128 is given twice",
    ):
        assert expected in output, output
    with open_store(db) as store:
        assert store.get_case("b-1") is None
        assert _count(store, "SELECT count(*) FROM phone_numbers") == 0


def test_unknown_columns_and_duplicates_are_reported(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    unknown = write(tmp_path / "unknown.csv", "case_id,phone,phone_10,mobile,zone\nu-1,,,,\n")
    code, output = run(unknown, "--questionnaire", FLAGSHIP, "--database", db)
    assert code == 1
    assert f"{unknown}:1: unknown column 'phone_10'" in output
    assert f"{unknown}:1: 'mobile' is personal data this file does not take" in output
    assert f"{unknown}:1: unknown column 'zone'; did you mean 'time_zone'?" in output
    twice = write(
        tmp_path / "twice.csv",
        "case_id,phone\nd-1,020 7946 0123\nd-2,+44 20 7946 0123\nd-1,020 7946 0999\n",
    )
    code, output = run(twice, "--questionnaire", FLAGSHIP, "--database", db)
    assert code == 1
    assert f"{twice}:3: the number +442079460123 is also on line 2 (case 'd-1')" in output
    assert f"{twice}:4: case 'd-1' is also on line 2" in output
    first = write(tmp_path / "first.csv", "case_id,phone\ne-1,020 7946 0123\n")
    assert run(first, "--questionnaire", FLAGSHIP, "--database", db)[0] == 0
    later = write(tmp_path / "later.csv", "case_id,phone\ne-2,020 7946 0555\ne-3,02079460123\n")
    code, output = run(later, "--questionnaire", FLAGSHIP, "--database", db)
    assert code == 1
    assert f"{later}:3: the number +442079460123 is stored for case 'e-1'" in output
    with open_store(db) as store:
        assert store.get_case("e-2") is None


def test_numbers_without_a_country_code_are_read_in_the_region_given(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    sample = write(tmp_path / "ie.csv", "case_id,phone,region\ni-1,01 234 5678,IE\n")
    code, output = run(sample, "--questionnaire", FLAGSHIP, "--database", db, "--region", "ie")
    assert code == 0, output
    with open_store(db) as store:
        assert [n.e164 for n in store.phone_numbers_of("i-1")] == ["+35312345678"]
        assert store.queue_row("i-1")["zone"] == "Europe/Dublin"  # type: ignore[index]
    code, output = run(sample, "--questionnaire", FLAGSHIP, "--database", db, "--region", "XX")
    assert code == 2 and "unknown country code 'XX'" in output


def test_automated_queues_the_sample_for_the_dialler_not_the_interviewers(
    tmp_path: Path, database_url: str
) -> None:
    sample = write(tmp_path / "sample.csv", GOOD)
    code, output = run(
        sample, "--questionnaire", FLAGSHIP, "--database", database_url, "--automated"
    )
    assert code == 0, output
    assert "4 with a phone number put in the call queue for automated calls" in output
    with open_store(database_url) as store:
        for case_id in ("t-1", "t-2", "t-3", "t-5"):
            row = store.queue_row(case_id)
            assert row is not None and row["taken_by"] == "automated", row
            assert row["automated_calls_left"] is None  # no wave step: the rules alone
    # imported again without the option: the interviewers' again
    code, output = run(sample, "--questionnaire", FLAGSHIP, "--database", database_url)
    assert code == 0, output
    with open_store(database_url) as store:
        assert store.queue_row("t-1")["taken_by"] == "interviewer"  # type: ignore[index]


def test_automated_needs_an_automated_mode(tmp_path: Path) -> None:
    text = Path(FLAGSHIP).read_text(encoding="utf-8")
    assert "modes: [web, cati, ivr]" in text
    questionnaire = write(
        tmp_path / "q.yaml", text.replace("modes: [web, cati, ivr]", "modes: [web, cati]")
    )
    sample = write(tmp_path / "sample.csv", GOOD)
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    code, output = run(
        sample, "--questionnaire", questionnaire, "--database", database, "--automated"
    )
    assert code == 1
    assert "is not fielded by automated call (--automated): add ivr to meta.modes" in output
