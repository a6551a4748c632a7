"""The wave dashboard's pages through the Flask test client (issue 13), on SQLite and PostgreSQL.

Who may read it (supervisors, researchers, admins; interviewers get 403, the
signed-out the sign-in page); the page is whole without JavaScript: every figure
as an SVG chart labelled for screen readers with its numbers in a table and a CSV
link, and a plain link that reloads it; each CSV equals its table on the page
cell for cell, and the AAPOR table equals the one worked out by hand; the target
line; the fragment the page's script reloads; the staff home's link.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import html as lxml_html
from panel_dashboard_helpers import EXPECTED, NOW, WAVE_TEXT, add_version, make_wave_history
from phone_supervisor_helpers import add_staff
from staff_passwords import CHEAP_PASSWORDS
from test_phone_supervisor import Staff
from test_web_support import FakeClock, close_app, make_app

from instrument.server.app import get_host
from instrument.server.panel_dashboard_figures import FIGURE_NAMES
from instrument.store.schema import waves
from tests.store_fixtures import database_url, postgres_database  # noqa: F401 (fixtures)

WAVE = "/staff/panel/wave/w1"


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    app = make_app(database_url, FakeClock(NOW), **CHEAP_PASSWORDS)
    add_staff(app)
    store = get_host(app).store
    make_wave_history(store, add_version(store))
    yield app
    close_app(app)


def tables_of(page_html: str) -> dict[str, list[list[str]]]:
    """Each figure's table on the page, header row first, as text cells."""
    tree = lxml_html.fromstring(page_html)
    out = {}
    for table in tree.xpath("//table[@data-table]"):
        rows = [
            [" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")]
            for row in table.xpath(".//tr")
        ]
        out[table.get("data-table")] = rows
    return out


def test_who_may_read_the_dashboard(app: Any) -> None:
    anonymous = app.test_client().get(WAVE)
    assert anonymous.status_code == 303 and "/staff/login" in anonymous.headers["Location"]
    ivy = Staff(app, "ivy")  # an interviewer
    for path in ("/staff/panel/", WAVE, f"{WAVE}/figures", f"{WAVE}/funnel.csv"):
        assert ivy.get(path).status == 403, path
    for who in ("sam", "rita"):  # a supervisor, a researcher
        staff = Staff(app, who)
        for path in ("/staff/panel/", WAVE, f"{WAVE}/figures", f"{WAVE}/funnel.csv"):
            assert staff.get(path).status == 200, (who, path)
    sam = Staff(app, "sam")
    assert sam.get("/staff/panel/wave/nope").status == 404
    assert sam.get(f"{WAVE}/nope.csv").status == 404
    assert sam.get(f"{WAVE}?panel=another").status == 404


def test_the_list_of_waves_links_each_dashboard(app: Any) -> None:
    page = Staff(app, "sam").get("/staff/panel/")
    assert page.text("//tr[@data-wave='w1']//*[@data-figure='members']") == "17"
    assert page.text("//tr[@data-wave='w1']//*[@data-figure='completes']") == "4"
    assert page.tree.xpath("//tr[@data-wave='w1']//a/@href") == [WAVE]
    home = Staff(app, "sam").get("/staff/")
    assert home.tree.xpath("//a[@href='/staff/panel/']")
    assert not Staff(app, "ivy").get("/staff/").tree.xpath("//a[@href='/staff/panel/']")


def test_the_page_is_whole_without_javascript(app: Any) -> None:
    page = Staff(app, "sam").get(WAVE)
    assert page.status == 200
    tree = page.tree
    for name in FIGURE_NAMES:
        section = tree.xpath(f"//section[@id='figure-{name}']")
        assert section, name
        svg = section[0].xpath(".//*[local-name()='svg']")
        assert len(svg) == 1, name
        assert svg[0].get("role") == "img"
        title_id, desc_id = svg[0].get("aria-labelledby").split()
        assert svg[0].xpath(f".//*[@id='{title_id}']")[0].text
        assert svg[0].xpath(f".//*[@id='{desc_id}']")[0].text
        assert section[0].xpath(".//table/caption"), name
        assert section[0].xpath(f".//a[@href='{WAVE}/{name}.csv']"), name
    assert tree.xpath("//a[text()='Refresh the figures']/@href") == [WAVE]
    scripts = tree.xpath("//script")
    assert [s.get("src", "").split("?")[0] for s in scripts] == ["/static/panel_dashboard.js"]
    assert all(not (s.text or "").strip() for s in scripts)  # nothing inline: the CSP allows none
    assert page.text("//*[@data-figure='members']") == "17"
    assert page.text("//*[@data-figure='completes']") == "4"
    assert page.text("//*[@data-figure='RR1']") == "25.0%"
    assert page.text("//*[@data-figure='CON1']") == "68.8%"  # 11/16
    assert page.text("//*[@data-figure='CUMRR']") == "not known"


def test_every_csv_equals_its_table_and_the_aapor_table_equals_the_hand_computed_one(
    app: Any,
) -> None:
    sam = Staff(app, "sam")
    tables = tables_of(sam.get(WAVE).html)
    assert set(tables) == set(FIGURE_NAMES)
    for name in FIGURE_NAMES:
        response = sam.client.get(f"{WAVE}/{name}.csv")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        page_rows = tables[name]
        if len(page_rows) == 2 and page_rows[1] == ["None yet."]:
            page_rows = page_rows[:1]
        assert rows == page_rows, name
    dispositions = list(
        csv.DictReader(io.StringIO(sam.client.get(f"{WAVE}/dispositions.csv").text))
    )
    assert [
        (r["AAPOR code"], r["Disposition"], r["Rate class"], int(r["Cases"])) for r in dispositions
    ] == [(code, label, cls.value, n) for code, label, cls, n in EXPECTED["dispositions"]]
    rates = {
        r["Rate"]: r["Per cent"]
        for r in csv.DictReader(io.StringIO(sam.client.get(f"{WAVE}/rates.csv").text))
    }
    for name, value in EXPECTED["rates"].items():
        assert rates[name] == f"{100 * value:.1f}", name
    assert rates["COMR"] == f"{100 * 4 / 16:.1f}"  # I / (cases - NE)
    funnel = {
        r["Stage"]: int(r["Members"])
        for r in csv.DictReader(io.StringIO(sam.client.get(f"{WAVE}/funnel.csv").text))
    }
    assert funnel == {
        "In the wave": 17,
        "Invited": 15,
        "Opened the link": 9,
        "Started": 8,
        "Completed": 4,
    }
    by_day = list(csv.reader(io.StringIO(sam.client.get(f"{WAVE}/completes-by-day.csv").text)))
    assert by_day == [
        ["Day", "Date", "cati", "web", "Total", "Cumulative"],
        ["Day 0", "2027-03-02", "0", "1", "1", "1"],
        ["Day 1", "2027-03-03", "0", "1", "1", "2"],
        ["Day 2", "2027-03-04", "0", "0", "0", "2"],
        ["Day 3", "2027-03-05", "0", "1", "1", "3"],
        ["Day 4", "2027-03-06", "1", "0", "1", "4"],
    ]
    after = list(csv.reader(io.StringIO(sam.client.get(f"{WAVE}/after-steps.csv").text)))
    assert [row[0::2] for row in after[:3]] == [
        ["Step", "Sent by email", "Completes after it"],
        ["Invitation (day 0)", "15", "2"],
        ["Reminder 1 (day 3)", "7", "2"],
    ]
    assert [row[3] for row in after[:3]] == ["Sent by sms", "15", "0"]
    assert [row[4] for row in after[1:]] == ["2", "2", "0", "0", "0", "0"]
    phone = dict(csv.reader(io.StringIO(sam.client.get(f"{WAVE}/phone-queue.csv").text)))
    assert phone["Callable now"] == "1" and phone["Appointments today"] == "1"


def test_a_target_draws_its_line_and_the_panel_rates_give_the_cumulative_rate(app: Any) -> None:
    app.config["PANEL_RATES"] = {"families": {"recruitment": 0.2, "profile": 0.5}}
    sam = Staff(app, "sam")
    page = sam.get(f"{WAVE}?target=10")
    assert page.text("//*[@data-figure='completes']") == "4 of 10"
    line = page.tree.xpath("//*[@id='chart-cumulative-completes']//*[@class='target']//text()")
    assert "Target 10" in "".join(line)
    assert page.text("//*[@data-figure='CUMRR']") == f"{100 * 0.2 * 0.5 * 4 / 16:.1f}%"
    cumulative = list(
        csv.reader(io.StringIO(sam.client.get(f"{WAVE}/cumulative-completes.csv?target=10").text))
    )
    assert cumulative[0] == ["Day", "Date", "Completes so far", "Target"]
    assert cumulative[-1] == ["Day 4", "2027-03-06", "4", "10"]
    assert page.tree.xpath(f"//a[@href='{WAVE}/funnel.csv?target=10']")
    app.config["PANEL_TARGETS"] = {"families/w1": 20}
    assert sam.get(WAVE).text("//*[@data-figure='completes']") == "4 of 20"


def test_the_wave_files_target_is_drawn(app: Any) -> None:
    """``target:`` in the wave file as opened; ``?target=`` still draws another for the moment."""
    text = WAVE_TEXT + "target: 12\n"
    with get_host(app).store.engine.begin() as connection:
        connection.execute(
            sa.update(waves)
            .where(waves.c.key == "w1")
            .values(source_text=text, file_digest=hashlib.sha256(text.encode()).hexdigest())
        )
    app.config["PANEL_TARGETS"] = {"families/w1": 20}  # the file's own comes first
    sam = Staff(app, "sam")
    assert sam.get(WAVE).text("//*[@data-figure='completes']") == "4 of 12"
    assert sam.get(f"{WAVE}?target=10").text("//*[@data-figure='completes']") == "4 of 10"


def test_the_script_reloads_the_same_figures(app: Any) -> None:
    sam = Staff(app, "sam")
    page = sam.get(WAVE)
    box = page.tree.xpath("//*[@id='panel-figures']")[0]
    assert box.get("data-refresh-url") == f"{WAVE}/figures"
    assert box.get("data-refresh-seconds") == "60"
    fragment = sam.client.get(f"{WAVE}/figures")
    assert fragment.headers["Cache-Control"] == "no-store"
    assert tables_of(fragment.get_data(as_text=True)) == tables_of(page.html)
    assert "<html" not in fragment.get_data(as_text=True)


def test_figures_are_kept_for_a_while_and_read_again_in_the_background() -> None:
    """FiguresCache on a clock of its own: fresh figures are reused; stale ones are shown once
    more while a thread reads new ones; far too old ones (or none) are read by the request."""
    import threading

    from instrument.server.panel_dashboard import FiguresCache

    clock = [100.0]
    cache = FiguresCache(clock=lambda: clock[0])
    reads: list[int] = []
    gate = threading.Event()

    def read() -> Any:
        reads.append(len(reads) + 1)
        if len(reads) == 2:
            gate.wait(5)  # the background read takes its time
        return len(reads)

    assert cache.get("w1", read, 30) == 1  # none yet: read now
    clock[0] += 10
    assert cache.get("w1", read, 30) == 1 and reads == [1]  # fresh: kept
    clock[0] += 25  # 35 s old: stale
    assert cache.get("w1", read, 30) == 1  # shown at once, a read started
    assert cache.get("w1", read, 30) == 1 and len(reads) == 2  # one read at a time
    gate.set()
    for _ in range(100):
        if cache.get("w1", read, 30) == 2:
            break
        threading.Event().wait(0.02)
    assert cache.get("w1", read, 30) == 2
    clock[0] += 1000  # far too old: the request reads
    assert cache.get("w1", read, 30) == 3
    assert cache.get("w1", read, 0) == 4  # 0: always read
    assert cache.get("w2", read, 30) == 5  # each wave its own
