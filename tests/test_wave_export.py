"""A panel wave's export: one row per eligible member with the dashboard's disposition (issue 13).

The wave with a hand-worked history (tests/panel_dashboard_helpers.py:
seventeen eligible members, each with one story, plus a member found not
eligible, a member of another wave and a test interview) is exported with
``instrument wave export``; the files are read back by pyreadstat (a reader we
did not write), and the file's dispositions must be the dashboard's table
worked out by hand, one row per eligible member, with the members' panel
pseudonyms and nobody else.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pyreadstat
import sqlalchemy as sa
from click.testing import CliRunner
from panel_dashboard_helpers import EXPECTED, WAVE_TEXT, add_version, make_wave_history
from test_dataset_support import need_program

from instrument.cli import cli
from instrument.dataset.wave import disposition_code
from instrument.panel.wave_file import load_wave
from instrument.panelwork.opening import open_wave
from instrument.panelwork.worker import worker_for
from instrument.questionnaires import open_questionnaire
from instrument.server.app import get_host
from instrument.store import Store
from instrument.store.schema import members, wave_members
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)
from tests.test_channels_email import smtp_server  # noqa: F401 (the fixture)
from tests.test_fieldwork_worker import BASE, Channels
from tests.test_panel_waves_store import OPENED, import_panel, panel_keys
from tests.test_panel_whole_wave import Respondents
from tests.test_web_support import FakeClock, close_app, make_app


def link_body(received: Any) -> str:
    return str(received.message.get_body(("plain",)).get_content())


def wave_file(folder: Path) -> Path:
    path = folder / "families.wave1.yaml"
    path.write_text(WAVE_TEXT, encoding="utf-8")
    return path


def export(
    database_url: str, folder: Path, *extra: str, path: Path | None = None
) -> tuple[str, Path]:
    out = folder / "out"
    wave = path or wave_file(folder)
    result = CliRunner().invoke(
        cli,
        ["wave", "export", str(wave), "--out", str(out), "--database", database_url] + list(extra),
    )
    assert result.exit_code == 0, result.output
    return result.output, out


def eligible_pseudonyms(store: Store, wave_id: int) -> set[str]:
    with store.engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(members.c.pseudonym)
                .join(wave_members, wave_members.c.member_id == members.c.id)
                .where(wave_members.c.wave_id == wave_id, wave_members.c.eligible.is_(True))
            ).scalars()
        )


def test_one_row_per_eligible_member_with_the_dashboards_dispositions(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    wave_id = make_wave_history(store, add_version(store))
    output, out = export(database_url, tmp_path, "--format", "sav,csv")
    frame, meta = pyreadstat.read_sav(str(out / "mini_w1.sav"))

    assert len(frame) == EXPECTED["members"]
    assert "17 eligible members" in output
    # the members' panel pseudonyms, each once, and nobody else's
    named = [m for m in frame["member_id"] if m]
    assert len(named) == len(set(named))
    assert set(named) <= eligible_pseudonyms(store, wave_id)
    # every disposition as the dashboard's hand-worked table has it
    labels = meta.variable_value_labels["disposition"]
    got = Counter(labels[code].split(" ")[0] for code in frame["disposition"])
    want: Counter[str] = Counter()
    for aapor, label, _, n in EXPECTED["dispositions"]:
        want[aapor] += n
        assert label in labels[disposition_code(aapor)]
    assert got == want
    assert labels[disposition_code("2.11")] == (
        "2.11 Refusal: asked for no more contact / Refusal: withdrew"
    )
    classes = meta.variable_value_labels["rate_class"]
    by_class = Counter(classes[c].split(":")[0] for c in frame["rate_class"])
    want_classes: Counter[str] = Counter()
    for _, _, cls, n in EXPECTED["dispositions"]:
        want_classes[str(cls)] += n
    assert by_class == want_classes
    # the interviewed have their interview's outcome, the others 0
    outcome = meta.variable_value_labels["outcome"]
    assert outcome[0] == "No interview in this wave"
    assert set(frame["wave"]) == {"w1"}


def test_an_unknown_wave_is_an_error_and_writes_nothing(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "wave",
            "export",
            str(wave_file(tmp_path)),
            "--out",
            str(tmp_path / "out"),
            "--database",
            database_url,
        ],
    )
    assert result.exit_code != 0
    assert "wave w1 of panel families was never opened" in result.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- a questionnaire by others

ONS = Path(__file__).resolve().parent.parent / "questionnaires" / "examples" / "ons_household.yaml"
ONS_WAVE = """\
panel: families
wave: h1
questionnaire: ons_household.yaml
fieldwork: {zone: Europe/London, open: 2027-03-02 10:00}
contact_plan:
  - day: 0
    send: invitation
    channels: [email]
    templates: {email: invitation}
  - close: day 28
"""
ONS_MEMBERS = """\
external_id,status,language,name,email,phone
H1,active,en,Hana Example,h1@example.org,
H2,active,en,Huw Example,h2@example.org,
H3,active,en,Hal Example,h3@example.org,
H4,paused,en,Hew Example,h4@example.org,
"""


def test_a_wave_of_a_questionnaire_written_by_others(
    database_url: str,
    smtp_server: Any,
    tmp_path: Path,
) -> None:
    """The ONS household roster (questionnaires/examples, after the ONS eQ runner's schema) run
    as a panel wave: invited by email through aiosmtpd, two members answer by their email's
    link, and the wave's file has a row for each of the three active members."""
    shutil.copy(ONS, tmp_path / "ons_household.yaml")
    path = tmp_path / "households.wave.yaml"
    path.write_text(ONS_WAVE, encoding="utf-8")
    clock = FakeClock(OPENED)
    app = make_app(database_url, clock, tmp_path / "ons_household.yaml")
    store = get_host(app).store
    try:
        keys = panel_keys()
        panel = import_panel(store, keys, ONS_MEMBERS)
        wave, diagnostics = load_wave(path)
        assert wave is not None, diagnostics.errors()
        questionnaire = open_questionnaire(tmp_path / "ons_household.yaml").questionnaire
        assert questionnaire is not None
        opened = open_wave(
            store, wave, questionnaire, panel.links, source=path, now=OPENED, actor="cli:tester"
        )
        assert opened.eligible == 3
        channels = Channels(*smtp_server, clock)
        worker = worker_for(
            store, channels.contact_channels(), keys, clock=clock, base_url=BASE, name="w"
        )
        clock.now = OPENED + dt.timedelta(days=1)
        while worker.run_round().claimed:
            pass
        channels.close()
        received = {r.rcpt_tos[0]: r for r in channels.mailbox.received}
        assert set(received) == {"h1@example.org", "h2@example.org", "h3@example.org"}
        people = Respondents(get_host(app).service, random.Random(7), ONS)
        statuses = {}
        for address in ("h1@example.org", "h2@example.org"):
            token = re.search(r"/web/t/([A-Za-z0-9_-]+)", link_body(received[address]))
            assert token is not None
            opened_link = get_host(app).service.open_link(
                token.group(1), mode="web", actor="respondent", now=clock.now
            )
            statuses[address] = people.answer(
                opened_link.interview_id, mode="web", actor="respondent", now=clock.now
            )
        assert set(statuses.values()) == {"complete"}
    finally:
        close_app(app)

    output, out = export(database_url, tmp_path, path=path)
    frame, meta = pyreadstat.read_sav(str(out / "ons_household_h1.sav"))
    assert len(frame) == 3 and "3 eligible members (2 with an interview)" in output
    assert sorted(frame["outcome"]) == [0, 1, 1]
    assert set(frame.loc[frame["outcome"] == 1, "mode"]) == {1}
    labels = meta.variable_value_labels["disposition"]
    assert sorted(labels[c] for c in frame["disposition"]) == [
        "1.1 Complete",
        "1.1 Complete",
        "2.20 Invited, no response (non-contact)",
    ]
    assert "anyone_else" in frame.columns  # the roster's own questions


R_WAVE = r"""
library(haven)
sav <- read_sav("mini_w1.sav", user_na = TRUE)
dta <- read_dta("mini_w1.dta")
source("mini_w1.R")  # the CSV with the script's labels and missing values
cat(nrow(sav), nrow(dta), nrow(data), "\n")
cat(paste(names(attr(sav$disposition, "labels")), collapse = "|"), "\n")
cat(paste(sort(as.character(as_factor(sav$disposition))), collapse = "|"), "\n")
cat(identical(as.character(sav$member_id), as.character(dta$member_id)), "\n")
"""


def test_the_wave_file_is_read_by_pspp_and_r(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    make_wave_history(store, add_version(store))
    _, out = export(database_url, tmp_path)
    pspp = need_program("pspp")
    script = out / "check.sps"
    script.write_text(
        'GET FILE="mini_w1.sav".\nDISPLAY DICTIONARY /VARIABLES=member_id disposition rate_class.\n'
        "FREQUENCIES VARIABLES=disposition rate_class.\n",
        encoding="utf-8",
    )
    listing = subprocess.run(
        [pspp, "-O", "format=csv", str(script)], cwd=out, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    text = listing.stdout + listing.stderr
    assert "error" not in text.lower() and "warning" not in text.lower(), text
    assert "2.20 Invited, no response (non-contact)" in text and "R: Refusal and break-off" in text
    rscript = need_program("Rscript")
    result = subprocess.run(
        [rscript, "-e", R_WAVE], cwd=out, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    counts, codes, values, same = result.stdout.strip().splitlines()
    assert counts.split() == ["17", "17", "17"]
    assert "1.1 Complete" in codes and "3.30 Invitation returned undelivered" in codes
    assert values.count("1.1 Complete") == 4
    assert same.strip() == "TRUE"
