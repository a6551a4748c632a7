"""``instrument panel``: import, show, consent, new-key and rotate-key through click's runner,
on SQLite and PostgreSQL, with the real keys and the real store."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from instrument.cli import cli
from instrument.panel.crypto import new_key
from instrument.store import open_store
from tests.store_fixtures import *

MEMBERS = """\
external_id,status,language,preferred_mode,name,email,phone,phone_2,address_1,postcode,age_band,region,consent_membership,consent_recontact,consent_sheet,consent_mode,consent_at
R001,active,en,web,Ann Example,ann@example.org,020 7946 0123,07911 123456,1 High St,SW1A 1AA,3,London,yes,no,v2,in_person,2026-11-01
R002,,cy,cati,,bob@example.org,+353 1 234 5678,,,,2,Wales,yes,,v2,paper,
"""


def _run(args: list[str], *, keys: str | None = None, key_file: Path | None = None) -> Result:
    env = {"INSTRUMENT_PANEL_KEYS": keys or "", "INSTRUMENT_PANEL_KEY_FILE": ""}
    if key_file is not None:
        env = {"INSTRUMENT_PANEL_KEYS": "", "INSTRUMENT_PANEL_KEY_FILE": str(key_file)}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.fixture
def members_file(tmp_path: Path) -> Path:
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS, encoding="utf-8")
    return path


def _dump(database_url: str) -> str:
    with open_store(database_url) as store, store.engine.connect() as connection:
        return "\n".join(
            repr(tuple(row))
            for table in ("members", "member_contacts", "member_history", "consents")
            for row in connection.execute(sa.text(f"SELECT * FROM {table}"))
        )


def test_new_key_prints_a_key_the_commands_accept(database_url: str, members_file: Path) -> None:
    made = _run(["panel", "new-key"])
    assert made.exit_code == 0
    key = made.output.strip()
    assert len(key) == 44 and key.endswith("=") and key != new_key()
    imported = _run(
        ["panel", "import", str(members_file), "--panel", "np", "--database", database_url],
        keys=key,
    )
    assert imported.exit_code == 0, imported.output
    assert imported.output.strip() == "panel np: 2 added, 0 updated, 0 unchanged"


def test_import_again_then_changed_counts_and_history(
    database_url: str, members_file: Path
) -> None:
    key = new_key()
    args = ["panel", "import", str(members_file), "--panel", "np", "--database", database_url]
    assert _run(args, keys=key).exit_code == 0
    again = _run(args, keys=key)
    assert again.output.strip() == "panel np: 0 added, 0 updated, 2 unchanged"
    members_file.write_text(MEMBERS.replace(",3,London,", ",4,London,"), encoding="utf-8")
    changed = _run(args, keys=key)
    assert changed.output.strip() == "panel np: 0 added, 1 updated, 1 unchanged"
    shown = _run(["panel", "show", "R001", "--panel", "np", "--database", database_url])
    assert shown.exit_code == 0, shown.output
    assert "age_band: 4" in shown.output
    assert "added by cli" in shown.output and "updated by cli" in shown.output
    assert "membership: given, sheet v2, in_person" in shown.output
    assert "recontact: refused" in shown.output
    counted = _run(["panel", "status", "--panel", "np", "--database", database_url])
    assert counted.output.splitlines() == [
        "panel np: 2 member(s)", "  active: 2", "  paused: 0", "  withdrawn: 0",
        "  ineligible: 0", "  deceased: 0",
    ]  # fmt: skip
    missing = _run(["panel", "status", "--panel", "nope", "--database", database_url])
    assert missing.exit_code == 1 and "there is no panel 'nope'" in missing.output


def test_show_prints_contact_details_only_when_asked_and_records_the_view(
    database_url: str, members_file: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "panel.keys"
    key_file.write_text(f"# the panel's keys, newest first\n{new_key()}\n", encoding="utf-8")
    key_file.chmod(0o600)
    args = ["panel", "import", str(members_file), "--panel", "np", "--database", database_url]
    assert _run(args, key_file=key_file).exit_code == 0
    show = ["panel", "show", "R001", "--panel", "np", "--database", database_url]
    plain = _run(show)  # no key needed without --contacts
    assert plain.exit_code == 0, plain.output
    assert "ann@example.org" not in plain.output and "5 stored" in plain.output
    full = _run([*show, "--contacts"], key_file=key_file)
    assert full.exit_code == 0, full.output
    assert "email 1: ann@example.org" in full.output
    assert "phone 2: +447911123456" in full.output
    assert "address 1: 1 High St, SW1A 1AA" in full.output
    audit = _run(["audit", "--database", database_url, "--action", "contacts_viewed"])
    assert audit.exit_code == 0, audit.output
    (line,) = audit.stdout.splitlines()
    assert "cli:" in line and "member:P" in line


def test_a_file_with_errors_stores_nothing_and_says_where(
    database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "external_id,status,email,phone\n"
        "A1,actve,a1@example.org,\n"
        "A2,active,not-an-email,\n"
        "A3,active,,07911 12345\n"
        "A2,active,,\n"
        "A4,active,a4@example.org,\n",
        encoding="utf-8",
    )
    result = _run(
        ["panel", "import", str(bad), "--panel", "np", "--database", database_url],
        keys=new_key(),
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: 4 problem(s); nothing was stored:",
        f"{bad}:2: unknown status 'actve': one of active, paused, withdrawn, ineligible, "
        "deceased; did you mean 'active'?",
        f"{bad}:3: email: 'not-an-email' is not an email address",
        f"{bad}:4: phone: '07911 12345' is not a valid phone number (country code +44: "
        "wrong length or prefix)",
        f"{bad}:5: external_id 'A2' is also on line 3",
    ]
    assert _dump(database_url) == ""


def test_a_refused_member_is_named_by_its_line(database_url: str, members_file: Path) -> None:
    key = new_key()
    args = ["panel", "import", str(members_file), "--panel", "np", "--database", database_url]
    members_file.write_text(MEMBERS.replace("R002,,cy", "R002,deceased,cy"), encoding="utf-8")
    assert _run(args, keys=key).exit_code == 0
    before = _dump(database_url)
    members_file.write_text(MEMBERS.replace("R002,,cy", "R002,active,cy"), encoding="utf-8")
    refused = _run(args, keys=key)
    assert refused.exit_code == 1
    assert f"{members_file}:3: R002 is deceased; a file cannot make them active" in refused.output
    assert _dump(database_url) == before


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("", "no panel key: set INSTRUMENT_PANEL_KEYS"),
        ("not-a-key", "INSTRUMENT_PANEL_KEYS: the key is not a panel key"),
        (f"{'A' * 44},", "INSTRUMENT_PANEL_KEYS: key 1 of 2 is not a panel key"),
    ],
)
def test_a_missing_or_malformed_key_is_a_clear_error(
    database_url: str, members_file: Path, keys: str, message: str
) -> None:
    result = _run(
        ["panel", "import", str(members_file), "--panel", "np", "--database", database_url],
        keys=keys,
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {message}")
    assert "Traceback" not in result.output and "not-a-key" not in result.output.split(":", 2)[2]
    assert _dump(database_url) == ""


def test_a_key_file_that_cannot_be_read(
    database_url: str, members_file: Path, tmp_path: Path
) -> None:
    result = _run(
        ["panel", "import", str(members_file), "--panel", "np", "--database", database_url],
        key_file=tmp_path / "missing.keys",
    )
    assert result.exit_code == 1
    assert "INSTRUMENT_PANEL_KEY_FILE" in result.output and "cannot be read" in result.output


def test_the_wrong_key_is_told_and_the_right_one_still_works(
    database_url: str, members_file: Path
) -> None:
    key = new_key()
    args = ["panel", "import", str(members_file), "--panel", "np", "--database", database_url]
    assert _run(args, keys=key).exit_code == 0
    show = ["panel", "show", "R001", "--panel", "np", "--database", database_url, "--contacts"]
    wrong = _run(show, keys=new_key())
    assert wrong.exit_code == 1
    assert wrong.output.startswith(
        "Error: the contact details in this database do not decrypt with the panel keys in "
        "INSTRUMENT_PANEL_KEYS (1 key given)"
    )
    assert "ann@example.org" not in wrong.output and "pseudonym" not in wrong.output
    assert "ann@example.org" in _run(show, keys=key).output


def test_rotate_key_then_the_old_key_can_go(database_url: str, members_file: Path) -> None:
    old, new = new_key(), new_key()
    args = ["panel", "import", str(members_file), "--panel", "np", "--database", database_url]
    assert _run(args, keys=old).exit_code == 0
    rotated = _run(["panel", "rotate-key", "--database", database_url], keys=f"{new},{old}")
    assert rotated.exit_code == 0, rotated.output
    # 7 contact details (R001 5, R002 2) and the lookup key.
    assert rotated.output.startswith("8 value(s) encrypted again with the newest key")
    show = ["panel", "show", "R002", "--panel", "np", "--database", database_url, "--contacts"]
    assert "email 1: bob@example.org" in _run(show, keys=new).output
    assert _run(show, keys=old).exit_code == 1
    # Importing the same file with only the new key finds every detail unchanged.
    assert _run(args, keys=new).output.strip() == "panel np: 0 added, 0 updated, 2 unchanged"


def test_consent_command_records_and_refuses_a_wave_without_its_name(
    database_url: str, members_file: Path
) -> None:
    assert (
        _run(
            ["panel", "import", str(members_file), "--panel", "np", "--database", database_url],
            keys=new_key(),
        ).exit_code
        == 0
    )
    base = ["panel", "consent", "R002", "--panel", "np", "--database", database_url]
    given = _run([*base, "--what", "data_linkage", "--given", "--sheet", "v3", "--mode", "phone"])
    assert given.exit_code == 0, given.output
    assert given.output.strip() == "member R002: data_linkage given (sheet v3, phone) recorded"
    wave = _run([*base, "--what", "wave", "--refused", "--sheet", "w1", "--mode", "web"])
    assert wave.exit_code == 2 and "--wave goes with --what wave" in wave.output
    named = [*base, "--what", "wave", "--wave", "w1", "--refused", "--sheet", "w1", "--mode", "web"]
    assert _run([*named, "--at", "2026-12-01T10:00+00:00"]).exit_code == 0
    shown = _run(["panel", "show", "R002", "--panel", "np", "--database", database_url]).output
    assert "data_linkage: given, sheet v3, phone" in shown
    assert "2026-12-01 10:00 wave (wave w1): refused, sheet w1, web" in shown
    unknown = _run([*base[:2], "R999", *base[3:], "--what", "recontact", "--given",
                    "--sheet", "v1", "--mode", "web"])  # fmt: skip
    assert unknown.exit_code == 1 and "has no member 'R999'" in unknown.output


def test_a_key_file_others_may_read_is_refused(
    database_url: str, members_file: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "panel.keys"
    key_file.write_text(new_key() + "\n", encoding="utf-8")
    key_file.chmod(0o644)
    args = ["panel", "import", str(members_file), "--panel", "np", "--database", database_url]
    result = _run(args, key_file=key_file)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: INSTRUMENT_PANEL_KEY_FILE ({key_file}): other users may read or change the key "
        f"file (mode 0644); make it its owner's only: chmod 600 {key_file}"
    )
    key_file.chmod(0o400)
    assert _run(args, key_file=key_file).exit_code == 0
