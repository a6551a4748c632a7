"""The staff audit log (issue 13): appended by exports and downloads, read by staff, edited by nobody.

On SQLite and PostgreSQL: the store writes and pages the log; the database
itself refuses to update, delete (or truncate) a row of either audit log; an
export from the command line and the supervisor's call-records download each
leave an entry; ``instrument audit`` and the staff page read it, and only
supervisors, researchers and admins may.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from phone_supervisor_helpers import add_staff, make_history
from staff_passwords import CHEAP_PASSWORDS
from test_phone_supervisor import Staff
from test_web_support import FakeClock, close_app, make_app

from instrument.cli import cli
from instrument.server.app import get_host
from instrument.store import Store, open_store
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)


def test_entries_are_appended_and_read_newest_first_a_page_at_a_time(store: Store) -> None:
    for n in range(5):
        store.log_staff_action(
            "rita" if n % 2 else "sam", "export", subject=f"questionnaire:q{n}",
            detail={"cases": n}, at=T0 + dt.timedelta(minutes=n),
        )  # fmt: skip
    first = store.staff_audit_page(limit=2)
    assert [e.subject for e in first.entries] == ["questionnaire:q4", "questionnaire:q3"]
    second = store.staff_audit_page(limit=2, before=first.older)
    assert [e.detail for e in second.entries] == [{"cases": 2}, {"cases": 1}]
    last = store.staff_audit_page(limit=2, before=second.older)
    assert [e.actor for e in last.entries] == ["sam"] and last.older is None
    assert [e.subject for e in store.staff_audit_page(actor="rita").entries] == [
        "questionnaire:q3",
        "questionnaire:q1",
    ]
    since = list(store.staff_audit_entries(since=T0 + dt.timedelta(minutes=3), chunk=1))
    assert [e.detail for e in since] == [{"cases": 3}, {"cases": 4}]  # oldest first, in chunks
    assert since[0].at == T0 + dt.timedelta(minutes=3)
    with pytest.raises(ValueError, match="actor"):
        store.log_staff_action("", "export")


@pytest.mark.parametrize("table", ["staff_audit", "fieldwork_audit"])
def test_the_database_refuses_to_change_or_delete_an_audit_entry(store: Store, table: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            sa.text(f"INSERT INTO {table} (at, actor, action) VALUES (:at, 'sam', 'export')"),
            {"at": T0},
        )
    for statement in (f"UPDATE {table} SET actor = 'someone else'", f"DELETE FROM {table}"):
        with pytest.raises(sa.exc.DBAPIError, match="appended to, never changed"):
            with store.engine.begin() as connection:
                connection.execute(sa.text(statement))
    if store.dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="appended to, never changed"):
            with store.engine.begin() as connection:
                connection.execute(sa.text(f"TRUNCATE {table}"))
    with store.engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT actor FROM {table}")).scalars().all() == ["sam"]


def test_an_export_from_the_command_line_is_logged_and_audit_prints_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    simulated = runner.invoke(
        cli,
        [
            "simulate",
            str(FLAGSHIP),
            "-n",
            "3",
            "--seed",
            "1",
            "--no-partial",
            "--database",
            database_url,
        ],
    )
    assert "Stored 3 test interviews" in simulated.output  # exit 3: a question never reached
    monkeypatch.setenv("INSTRUMENT_ACTOR", "rita.analyst")
    out = tmp_path / "out"
    exported = runner.invoke(
        cli,
        ["export", "--questionnaire", "social_licence", "--format", "csv",
         "--out", str(out), "--database", database_url, "--include-test", "--include-partial"],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    with open_store(database_url) as store:
        [entry] = store.staff_audit_page().entries
    assert (entry.actor, entry.action, entry.subject) == (
        "cli:rita.analyst",
        "export",
        "questionnaire:social_licence",
    )
    assert entry.detail is not None
    assert entry.detail["cases"] == 3 and entry.detail["formats"] == "csv"
    assert entry.detail["out"] == str(out.resolve()) and entry.detail["include_test"] is True

    listed = runner.invoke(cli, ["audit", "--database", database_url, "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    [header, row] = list(csv.reader(io.StringIO(listed.output)))
    assert header == ["id", "at", "actor", "action", "subject", "detail"]
    assert row[2:5] == ["cli:rita.analyst", "export", "questionnaire:social_licence"]
    assert json.loads(row[5])["cases"] == 3
    text = runner.invoke(cli, ["audit", "--database", database_url, "--action", "export"])
    assert "cli:rita.analyst  export  questionnaire:social_licence" in text.output
    none = runner.invoke(cli, ["audit", "--database", database_url, "--actor", "nobody"])
    assert none.exit_code == 0 and "0 entries" in none.output


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    clock = FakeClock(T0)
    app = make_app(database_url, clock, **CHEAP_PASSWORDS)
    add_staff(app)
    make_history(app, T0)
    clock.now = T0 + dt.timedelta(minutes=40)
    yield app
    close_app(app)


def test_staff_read_the_log_on_a_page_and_a_download_is_logged(app: Any) -> None:
    sam = Staff(app, "sam")  # a supervisor
    assert sam.client.get("/cati/supervisor/calls.csv").status_code == 200
    page = sam.get("/staff/audit")
    assert page.status == 200
    cells = [td.text_content() for td in page.tree.xpath("//table[@id='audit-log']/tbody/tr[1]/td")]
    assert cells[1:4] == ["sam", "export_call_records", ""] and cells[4] == "rows=4"
    assert get_host(app).store.staff_audit_page().entries[0].at == T0 + dt.timedelta(minutes=40)
    download = sam.client.get("/staff/audit.csv?action=export_call_records")
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert download.mimetype == "text/csv" and [r[3] for r in rows[1:]] == ["export_call_records"]
    filtered = sam.get("/staff/audit?actor=nobody")
    assert "No entries." in filtered.text("//table[@id='audit-log']")
    assert Staff(app, "rita").get("/staff/audit").status == 200  # a researcher
    assert Staff(app, "ivy").get("/staff/audit").status == 403  # an interviewer
    anonymous = app.test_client().get("/staff/audit")
    assert anonymous.status_code == 303 and "/staff/login" in anonymous.headers["Location"]
