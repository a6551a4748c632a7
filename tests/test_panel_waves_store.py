"""Opening, counting and closing a panel wave, on SQLite and PostgreSQL (issue 13).

The flagship's wave file (questionnaires/social_licence.wave1.yaml) is opened
for a panel imported as ``instrument panel import`` imports one: eligibility
over the profile and status, a fresh pseudonymous case per eligible member with
its typed preloads, a personal link whose token is derived (only its hash is
stored) and opens the interview, one transaction, an audit entry. Also
``instrument wave open|status|close`` through click's runner.

The helpers at the top are shared with tests/test_fieldwork_worker.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from instrument.cli import cli
from instrument.interviews.phone_sample import parse_number
from instrument.panel.crypto import (
    LOOKUP_SECRET,
    ContactSealer,
    PanelKeys,
    new_key,
    new_lookup_secret,
    open_sealer,
)
from instrument.panel.links import CaseLinks
from instrument.panel.members import seal_row
from instrument.panel.members_csv import parse_members
from instrument.panel.wave_file import load_wave
from instrument.panel.waves import Wave
from instrument.panelwork.opening import PreloadProblems, case_links, open_wave
from instrument.questionnaires import open_questionnaire
from instrument.store import Store, WaveAlreadyOpened, open_store
from instrument.store.panel_waves import WaveOpened
from instrument.store.schema import access_tokens, cases, wave_members, waves
from tests.store_fixtures import *

ROOT = Path(__file__).resolve().parent.parent
WAVE_FILE = ROOT / "questionnaires" / "social_licence.wave1.yaml"
QUESTIONNAIRE = ROOT / "questionnaires" / "social_licence.yaml"
PANEL = "families"
OPENED = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY0 = dt.datetime(2027, 3, 2, 10, 0, tzinfo=dt.UTC)  # 10:00 in London (GMT in March)
# day 28 at 10:00 in London, summer time by then
CLOSES = dt.datetime(2027, 3, 30, 9, 0, tzinfo=dt.UTC)

MEMBERS = """\
external_id,status,language,name,email,phone,n_children,age_band,lone_parent
F001,active,en,Ann Example,ann@example.org,07911 123456,2,3,1
F002,active,cy,Bryn Enghraifft,bryn@example.org,07911 123999,1,2,2
F003,active,en,Cat Example,cat@example.org,,0,2,1
F004,paused,en,Dan Example,dan@example.org,07911 123111,2,2,1
F005,active,en,Eve Example,eve@example.org,07911 123777,,4,2
"""
"""F001, F002 and F005 (whose number of children the panel does not know) are eligible; F003 has
no children under 16, F004 is paused."""

ELIGIBLE = ("F001", "F002", "F005")


@dataclass
class Panel:
    """A panel imported and keyed, ready for a wave."""

    store: Store
    keys: PanelKeys
    sealer: ContactSealer
    links: CaseLinks


def panel_keys() -> PanelKeys:
    return PanelKeys.parse([new_key()], source="INSTRUMENT_PANEL_KEYS")


def import_panel(store: Store, keys: PanelKeys, text: str = MEMBERS) -> Panel:
    """Members imported as ``instrument panel import`` does it (read, sealed, stored)."""
    secret = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=OPENED)
    sealer = open_sealer(keys, secret)
    rows = parse_members(
        text,
        source="members.csv",
        parse_phone=functools.partial(parse_number, region="GB"),
        now=OPENED,
    )
    sealed = [seal_row(row, sealer, recorded_by="tester") for row in rows]
    store.import_members(PANEL, sealed, now=OPENED, actor="tester")
    return Panel(store, keys, sealer, case_links(store, keys, now=OPENED))


def flagship_wave(path: Path = WAVE_FILE) -> Wave:
    wave, diagnostics = load_wave(path)
    assert wave is not None, diagnostics.errors()
    return wave


def open_flagship(panel: Panel, path: Path = WAVE_FILE) -> WaveOpened:
    wave = flagship_wave(path)
    questionnaire = open_questionnaire(QUESTIONNAIRE).questionnaire
    assert questionnaire is not None
    return open_wave(
        panel.store, wave, questionnaire, panel.links, source=path, now=OPENED, actor="cli:tester"
    )


def member_case(store: Store, external_id: str) -> str:
    member = store.get_member(PANEL, external_id=external_id)
    assert member is not None
    with store.engine.connect() as connection:
        return connection.execute(
            sa.select(wave_members.c.case_id).where(wave_members.c.member_id == member.id)
        ).scalar_one()


@pytest.fixture
def panel(store: Store) -> Panel:
    return import_panel(store, panel_keys())


# ---------------------------------------------------------------------------- opening


def test_opening_gives_each_eligible_member_a_fresh_case_with_typed_preloads(panel: Panel) -> None:
    opened = open_flagship(panel)
    assert (opened.considered, opened.eligible) == (4, 3)  # the paused member is not asked
    store = panel.store
    for external_id in ELIGIBLE:
        case_id = member_case(store, external_id)
        member = store.get_member(PANEL, external_id=external_id)
        assert member is not None
        assert external_id not in case_id and member.pseudonym not in case_id
        assert case_id.startswith("W") and len(case_id) == 13
    case = store.get_case(member_case(store, "F001"))
    assert case is not None and case.questionnaire_id == "social_licence"
    assert case.preload == {
        "profile_n_children": 2,
        "profile_age_band": 3,
        "profile_lone_parent": 1,
    }
    unknown = store.get_case(member_case(store, "F005"))
    assert unknown is not None and "profile_n_children" not in unknown.preload
    with store.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(wave_members)).scalar() == 3
        )
        row = connection.execute(sa.select(waves)).one()
    assert row.key == "w1" and row.questionnaire_id == "social_licence"
    assert row.file_digest == hashlib.sha256(WAVE_FILE.read_bytes()).hexdigest()
    assert row.source_text == WAVE_FILE.read_text(encoding="utf-8")
    assert row.starts_at == DAY0 and row.closes_at == CLOSES
    assert row.opened_by == "cli:tester" and row.closed_at is None
    version = store.get_questionnaire_version(row.questionnaire_version_id)
    assert version.source_text == QUESTIONNAIRE.read_text(encoding="utf-8")


def test_a_personal_link_is_derived_and_only_its_hash_is_stored(panel: Panel) -> None:
    open_flagship(panel)
    case_id = member_case(panel.store, "F002")
    token = panel.links.token(case_id)
    found = panel.store.find_token(token)
    assert found is not None and found.case_id == case_id and found.purpose == "respondent"
    assert found.expires_at == CLOSES
    with panel.store.engine.connect() as connection:
        raw = repr(connection.execute(sa.select(access_tokens)).all())
    assert token not in raw
    # derived again (another process, the same keys): the same link
    assert case_links(panel.store, panel.keys, now=OPENED).token(case_id) == token
    # another database's key gives another token for the same case id
    assert CaseLinks(b"k" * 32).token(case_id) != token


def test_opening_twice_is_an_error_and_changes_nothing(panel: Panel) -> None:
    open_flagship(panel)
    with pytest.raises(WaveAlreadyOpened, match="already open"):
        open_flagship(panel)
    record = panel.store.get_wave(PANEL, "w1")
    assert record is not None
    panel.store.close_wave(record.id, now=OPENED, actor="cli:tester")
    with pytest.raises(WaveAlreadyOpened, match="opened once"):
        open_flagship(panel)
    with panel.store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(cases)).scalar() == 3


def test_a_profile_value_the_questionnaire_refuses_stores_nothing(store: Store) -> None:
    bad = MEMBERS.replace("F005,active,en,Eve Example,eve@example.org,07911 123777,,4,2",
                          "F005,active,en,Eve Example,eve@example.org,07911 123777,3,9,2")  # fmt: skip
    panel = import_panel(store, panel_keys(), bad)
    with pytest.raises(PreloadProblems, match="1 member"):
        open_flagship(panel)
    assert store.get_wave(PANEL, "w1") is None
    with store.engine.connect() as connection:
        for table in (cases, access_tokens, wave_members):
            assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_opening_is_audited(panel: Panel) -> None:
    open_flagship(panel)
    page = panel.store.staff_audit_page(action="wave_opened")
    (entry,) = page.entries
    assert entry.actor == "cli:tester" and entry.subject == "wave:families/w1"
    assert entry.detail is not None and entry.detail["eligible"] == 3


# ---------------------------------------------------------------------------- status and close


def test_status_counts_and_closing(panel: Panel) -> None:
    opened = open_flagship(panel)
    store = panel.store
    status = store.wave_status(opened.wave.id, now=DAY0)
    assert (status.eligible, status.invited, status.started, status.finished) == (3, 0, 0, 0)
    assert status.due_now == 3 and status.messages == {}
    closed = store.close_wave(opened.wave.id, now=DAY0, actor="cli:tester")
    assert closed == 3
    status = store.wave_status(opened.wave.id, now=DAY0)
    assert status.closed == 3 and status.due_now == 0 and status.wave.closed_at == DAY0
    found = store.find_token(panel.links.token(member_case(store, "F001")))
    assert found is not None and found.is_expired(DAY0 + dt.timedelta(seconds=1))
    assert not store.claim_due_members("w", now=DAY0, limit=10, lease=dt.timedelta(minutes=1))
    with pytest.raises(Exception, match="was closed"):
        store.close_wave(opened.wave.id, now=DAY0, actor="cli:tester")


# ---------------------------------------------------------------------------- the commands


def test_the_wave_commands(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = panel_keys()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", ",".join(keys.keys))
    monkeypatch.setenv("INSTRUMENT_ACTOR", "fieldwork-manager")
    store = open_store(database_url)
    try:
        import_panel(store, keys)
    finally:
        store.close()
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(QUESTIONNAIRE, folder / QUESTIONNAIRE.name)
    wave_path = folder / WAVE_FILE.name
    shutil.copy(WAVE_FILE, wave_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["wave", "open", str(wave_path), "--database", database_url])
    assert result.exit_code == 0, result.output
    assert "3 eligible of 4 active member(s)" in result.output
    again = runner.invoke(cli, ["wave", "open", str(wave_path), "--database", database_url])
    assert again.exit_code == 1 and "already open" in again.output
    status = runner.invoke(cli, ["wave", "status", str(wave_path), "--database", database_url])
    assert status.exit_code == 0, status.output
    assert "eligible" in status.output and "       3" in status.output
    closed = runner.invoke(cli, ["wave", "close", str(wave_path), "--database", database_url])
    assert closed.exit_code == 0 and "3 unfinished case(s) closed" in closed.output
    store = open_store(database_url)
    try:
        (entry,) = store.staff_audit_page(action="wave_closed").entries
        assert entry.actor == "cli:fieldwork-manager"
    finally:
        store.close()


def test_a_wave_file_with_an_error_is_told_with_file_and_line_and_nothing_is_stored(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", new_key())
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(QUESTIONNAIRE, folder / QUESTIONNAIRE.name)
    wave_path = folder / WAVE_FILE.name
    text = WAVE_FILE.read_text(encoding="utf-8").replace(
        "channels: [email, sms]", "channels: [emial, sms]", 1
    )
    wave_path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    channels: [emial, sms]") + 1
    result = CliRunner().invoke(cli, ["wave", "open", str(wave_path), "--database", database_url])
    assert result.exit_code == 1
    assert f"{wave_path}:{line}:" in result.output and "emial" in result.output
    assert "nothing was stored" in result.output
    store = open_store(database_url)
    try:
        assert store.get_wave(PANEL, "w1") is None
    finally:
        store.close()
