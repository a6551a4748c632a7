"""Panel members in the store, on SQLite and PostgreSQL: import, re-import and history,
contact details encrypted (the raw table holds no clear text), lookup by hash, consents,
key rotation, and migration 0012."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
import time

import pytest
import sqlalchemy as sa
from alembic import command

from instrument.interviews.phone_sample import parse_number
from instrument.panel.crypto import (
    LOOKUP_SECRET,
    ContactSealer,
    PanelKeyError,
    PanelKeys,
    new_key,
    new_lookup_secret,
    open_sealer,
)
from instrument.panel.members import Consent, lookup_form, seal_row
from instrument.panel.members_csv import MEMBER_STATUSES, parse_members
from instrument.store import MemberImportRefused, Store, migrate, open_store
from instrument.store.engine import create_store_engine, resolve_url
from instrument.store.panel_members import PSEUDONYM_ALPHABET
from instrument.store.schema import MEMBER_STATUSES as STORED_STATUSES
from tests.store_fixtures import *

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=30)
PANEL = "natpanel"
FILE = """\
external_id,status,language,preferred_mode,name,email,email_2,phone,phone_2,address_1,postcode,age_band,region,consent_membership,consent_sheet,consent_mode
R001,active,en,web,Ann Example,ann@example.org,,020 7946 0123,07911 123456,1 High St,SW1A 1AA,3,London,yes,v2,in_person
R002,,cy,cati,,bob@example.org,Bob@Work.example.com,+353 1 234 5678,,,,2,Wales,yes,v2,paper
R003,paused,,,,,,,,,,,North East,,,
"""


def _keys(*keys: str) -> PanelKeys:
    return PanelKeys.parse(list(keys), source="INSTRUMENT_PANEL_KEYS")


def _sealer(store: Store, keys: PanelKeys) -> ContactSealer:
    secret = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=T0)
    return open_sealer(keys, secret)


def _import(store: Store, sealer: ContactSealer, text: str, *, now: dt.datetime = T0):  # type: ignore[no-untyped-def]
    rows = parse_members(
        text,
        source="members.csv",
        parse_phone=functools.partial(parse_number, region="GB"),
        now=now,
    )
    sealed = [seal_row(row, sealer, recorded_by="tester") for row in rows]
    return store.import_members(PANEL, sealed, now=now, actor="tester")


def _raw(store: Store, table: str) -> str:
    with store.engine.connect() as connection:
        return "\n".join(
            repr(tuple(row)) for row in connection.execute(sa.text(f"SELECT * FROM {table}"))
        )


@pytest.fixture
def keys() -> PanelKeys:
    return _keys(new_key())


def test_the_statuses_the_file_accepts_are_those_the_table_holds() -> None:
    assert MEMBER_STATUSES == STORED_STATUSES


def test_an_import_adds_members_with_random_pseudonyms_and_sealed_contacts(
    store: Store, keys: PanelKeys
) -> None:
    sealer = _sealer(store, keys)
    report = _import(store, sealer, FILE)
    assert (report.added, report.updated, report.unchanged) == (3, 0, 0)
    ann = store.get_member(PANEL, external_id="R001")
    assert ann is not None
    assert ann.status == "active" and ann.language == "en" and ann.preferred_mode == "web"
    assert ann.profile == {"age_band": "3", "region": "London"}
    assert len(ann.pseudonym) == 11 and ann.pseudonym[0] == "P"
    assert set(ann.pseudonym[1:]) <= set(PSEUDONYM_ALPHABET)
    assert store.get_member(PANEL, pseudonym=ann.pseudonym) == ann
    bob = store.get_member(PANEL, external_id="R002")
    assert bob is not None and bob.status == "active" and bob.profile["age_band"] == "2"
    assert store.count_members(PANEL) == {"active": 2, "paused": 1}
    opened = [(c.kind, c.rank, sealer.open(c.ciphertext)) for c in store.member_contacts(ann.id)]
    assert opened == [
        ("address", 1, "1 High St\nSW1A 1AA"),
        ("email", 1, "ann@example.org"),
        ("name", 1, "Ann Example"),
        ("phone", 1, "+442079460123"),
        ("phone", 2, "+447911123456"),
    ]
    (consent,) = store.consents_of(ann.id)
    assert (consent.scope, consent.given, consent.sheet_version, consent.mode) == (
        "membership", True, "v2", "in_person",
    )  # fmt: skip
    (added,) = store.member_history(ann.id)
    assert added.action == "added" and added.actor == "tester"
    assert added.after is not None and added.after["profile"] == ann.profile
    (logged,) = store.staff_audit_entries(action="members_import")
    assert (logged.actor, logged.subject) == ("tester", f"panel:{PANEL}")
    assert logged.detail == {"added": 3, "updated": 0, "unchanged": 0}


def test_the_raw_tables_hold_no_contact_detail_in_clear(store: Store, keys: PanelKeys) -> None:
    _import(store, _sealer(store, keys), FILE)
    raw = "\n".join(
        _raw(store, table)
        for table in ("members", "member_contacts", "member_history", "consents", "panel_secrets")
    )
    for clear in (
        "ann@example.org", "example.org", "Ann Example", "High St", "SW1A", "+4420794",
        "2079460123", "7911123456", "bob@", "work.example", "+35312345678",
    ):  # fmt: skip
        assert clear.lower() not in raw.lower(), clear
    assert "R001" in raw  # the external id is the panel's reference, not a contact detail


def test_a_member_is_found_by_the_hash_of_an_address_or_number(
    store: Store, keys: PanelKeys
) -> None:
    sealer = _sealer(store, keys)
    _import(store, sealer, FILE)
    bob = store.get_member(PANEL, external_id="R002")
    assert bob is not None
    # A bounce names the address in another case; an SMS STOP comes from the number.
    for kind, value in (("email", "BOB@work.EXAMPLE.com"), ("phone", "+35312345678")):
        (found,) = store.members_with_contact(sealer.lookup_hash(kind, lookup_form(kind, value)))
        assert found.member_id == bob.id and found.kind == kind
    assert store.members_with_contact(sealer.lookup_hash("email", "nobody@example.org")) == ()
    # Marking it bounced names the member and records it without the address.
    bounced = sealer.lookup_hash("email", "bob@work.example.com")
    assert store.mark_contact(bounced, "bounced", now=T1, actor="smtp") == (bob.id,)
    assert store.mark_contact(bounced, "bounced", now=T1, actor="smtp") == ()  # once
    details = {(c.kind, c.rank): c for c in store.member_contacts(bob.id)}
    assert details[("email", 2)].bounced_at == T1 and details[("email", 1)].bounced_at is None
    entry = store.member_history(bob.id)[-1]
    assert entry.action == "bounced" and "work" not in repr(entry.after)


def test_reimport_updates_by_external_id_and_keeps_history(store: Store, keys: PanelKeys) -> None:
    sealer = _sealer(store, keys)
    _import(store, sealer, FILE)
    ann_before = store.get_member(PANEL, external_id="R001")
    assert ann_before is not None
    bounced = sealer.lookup_hash("phone", "+447911123456")
    store.mark_contact(bounced, "bounced", now=T0, actor="sms")
    again = _import(store, sealer, FILE, now=T1)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    changed = FILE.replace("1 High St", "2 Low Rd").replace(",3,London,", ",4,London,")
    changed = changed.replace("R002,,cy,cati", "R002,paused,cy,cati")
    changed = changed.replace("020 7946 0123,07911 123456", "07911 123456,")
    changed += "R004,,en,,,new@example.org,,,,,,1,Wales,,,\n"
    report = _import(store, sealer, changed, now=T1)
    assert (report.added, report.updated, report.unchanged) == (1, 2, 1)
    ann = store.get_member(PANEL, external_id="R001")
    assert ann is not None and ann.pseudonym == ann_before.pseudonym  # stable
    assert ann.profile == {"age_band": "4", "region": "London"} and ann.updated_at == T1
    phones = [c for c in store.member_contacts(ann.id) if c.kind == "phone"]
    # The mobile moved to rank 1 and kept its bounce; the landline is gone.
    assert [(sealer.open(c.ciphertext), c.bounced_at) for c in phones] == [("+447911123456", T0)]
    added, bounce, updated = store.member_history(ann.id)
    assert (added.action, bounce.action, updated.action) == ("added", "bounced", "updated")
    assert updated.at == T1 and updated.before is not None and updated.after is not None
    assert updated.before["profile"] == {"age_band": "3"}
    assert updated.after["profile"] == {"age_band": "4"}
    assert sorted(c.split(":")[0] for c in updated.after["contacts"]) == ["address", "phone"]
    assert "Low Rd" not in repr(updated) and "7911" not in repr(updated)
    bob = store.get_member(PANEL, external_id="R002")
    assert bob is not None and bob.status == "paused"
    assert store.member_history(bob.id)[-1].before == {"status": "active"}
    # The same consent again is not recorded twice; a new sheet version is.
    assert len(store.consents_of(ann.id)) == 1
    _import(store, sealer, changed.replace(",v2,", ",v3,"), now=T1)
    assert [c.sheet_version for c in store.consents_of(ann.id)] == ["v2", "v3"]


def test_a_withdrawn_member_is_not_made_active_by_a_file_and_nothing_is_stored(
    store: Store, keys: PanelKeys
) -> None:
    sealer = _sealer(store, keys)
    _import(store, sealer, FILE.replace("R003,paused", "R003,withdrawn"))
    before = _raw(store, "members") + _raw(store, "member_contacts") + _raw(store, "member_history")
    with pytest.raises(MemberImportRefused) as refused:
        _import(store, sealer, FILE.replace("R001,active,en", "R001,paused,cy"), now=T1)
    assert refused.value.problems == (("R003", "is withdrawn; a file cannot make them paused"),)
    after = _raw(store, "members") + _raw(store, "member_contacts") + _raw(store, "member_history")
    assert after == before  # R001's change was not stored either
    # A row that leaves the status alone is fine, and gives a withdrawn member no contact details.
    withdrawn = FILE.replace("R003,paused,,,,,", "R003,,,,,gone@example.org,")
    _import(store, sealer, withdrawn, now=T1)
    member = store.get_member(PANEL, external_id="R003")
    assert member is not None and member.status == "withdrawn"
    assert store.member_contacts(member.id) == ()


def test_an_import_that_fails_half_way_stores_nothing(store: Store, keys: PanelKeys) -> None:
    """A new member is inserted, then an update fails inside the transaction: all rolled back."""
    sealer = _sealer(store, keys)
    _import(store, sealer, FILE)
    before = "".join(_raw(store, t) for t in ("members", "member_contacts", "member_history"))
    rows = parse_members(
        FILE + "R009,,en,,,nine@example.org,,,,,,1,Wales,,,\n",
        source="f",
        parse_phone=functools.partial(parse_number, region="GB"),
        now=T1,
    )
    sealed = [seal_row(row, sealer, recorded_by="t") for row in rows]
    first = sealed[0]
    # A profile value no JSON writer takes: it fails when R001's update is sent, after R009's insert.
    broken = dataclasses.replace(first, profile={"age_band": {3}})
    with pytest.raises((TypeError, sa.exc.StatementError), match="not JSON serializable"):
        store.import_members(PANEL, [broken, *sealed[1:]], now=T1, actor="t")
    after = "".join(_raw(store, t) for t in ("members", "member_contacts", "member_history"))
    assert after == before and store.get_member(PANEL, external_id="R009") is None
    assert len(list(store.staff_audit_entries(action="members_import"))) == 1  # the first
    with pytest.raises(ValueError, match="given twice"):
        store.import_members(PANEL, [sealed[-1], sealed[-1]], now=T1, actor="t")
    assert store.get_member(PANEL, external_id="R009") is None


def test_consents_are_appended_and_a_wave_consent_names_its_wave(
    store: Store, keys: PanelKeys
) -> None:
    _import(store, _sealer(store, keys), FILE)
    ann = store.get_member(PANEL, external_id="R001")
    assert ann is not None
    record = store.record_consent(
        ann.id,
        Consent(
            scope="wave", given=True, sheet_version="w3-1", at=T1, mode="web",
            recorded_by="respondent", wave="w3",
        ),
    )  # fmt: skip
    assert record.wave == "w3" and store.consents_of(ann.id)[-1] == record
    with pytest.raises(ValueError, match="names the wave"):
        store.record_consent(
            ann.id,
            Consent(scope="wave", given=True, sheet_version="1", at=T1, mode="web",
                    recorded_by="r"),
        )  # fmt: skip
    with pytest.raises(LookupError):
        store.record_consent(
            10**9,
            Consent(scope="recontact", given=False, sheet_version="1", at=T1, mode="web",
                    recorded_by="r"),
        )  # fmt: skip


def test_rotation_reencrypts_everything_and_lookups_still_work(store: Store) -> None:
    old = new_key()
    old_keys = _keys(old)
    sealer = _sealer(store, old_keys)
    _import(store, sealer, FILE)
    ann = store.get_member(PANEL, external_id="R001")
    assert ann is not None
    hash_before = sealer.lookup_hash("email", "ann@example.org")
    tokens_before = [c.ciphertext for c in store.member_contacts(ann.id)]
    new = new_key()
    both = _sealer(store, _keys(new, old))
    count = store.reseal_panel_data(both.reseal, now=T1, actor="cli:ops")
    assert count == 1 + sum(1 for _ in _contact_rows(store))
    # Only the new key is needed now, and the lookup hashes did not change.
    only_new = _sealer(store, _keys(new))
    assert [only_new.open(c.ciphertext) for c in store.member_contacts(ann.id)][1] == (
        "ann@example.org"
    )
    assert [c.ciphertext for c in store.member_contacts(ann.id)] != tokens_before
    assert only_new.lookup_hash("email", "ann@example.org") == hash_before
    (found,) = store.members_with_contact(hash_before)
    assert found.member_id == ann.id
    with pytest.raises(PanelKeyError, match="do not decrypt"):
        _sealer(store, old_keys)
    (rotated,) = store.staff_audit_entries(action="panel_keys_rotated")
    assert (rotated.actor, rotated.detail) == ("cli:ops", {"values": count})


def _contact_rows(store: Store) -> list[object]:
    with store.engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT 1 FROM member_contacts")))


def test_rotation_with_a_value_no_key_opens_changes_nothing(store: Store) -> None:
    first, second = new_key(), new_key()
    _import(store, _sealer(store, _keys(first)), FILE)
    ann = store.get_member(PANEL, external_id="R001")
    assert ann is not None
    # A row written with a key the operator has since lost.
    stray = ContactSealer(_keys(second), b"x" * 32).seal("lost@example.org")
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE member_contacts SET ciphertext = :c WHERE kind = 'name'"),
            {"c": stray},
        )
    before = _raw(store, "member_contacts") + _raw(store, "panel_secrets")
    rotating = _sealer(store, _keys(new_key(), first))
    with pytest.raises(PanelKeyError, match="stored contact details do not decrypt"):
        store.reseal_panel_data(rotating.reseal, now=T1, actor="cli:ops")
    assert _raw(store, "member_contacts") + _raw(store, "panel_secrets") == before
    assert list(store.staff_audit_entries(action="panel_keys_rotated")) == []


def test_the_wrong_key_is_told_before_anything_is_written(store: Store) -> None:
    _import(store, _sealer(store, _keys(new_key())), FILE)
    with pytest.raises(PanelKeyError) as wrong:
        _sealer(store, _keys(new_key()))
    assert "INSTRUMENT_PANEL_KEYS (1 key given)" in str(wrong.value)


def test_two_processes_making_the_lookup_secret_at_once_keep_one(store: Store) -> None:
    keys = _keys(new_key())
    first = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=T0)
    second = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=T1)
    assert first == second


def test_migration_0012_from_a_database_at_0011_and_back(database_url: str) -> None:
    engine = create_store_engine(resolve_url(database_url))
    try:
        migrate.upgrade(engine, "0011_recording_status")
        with engine.connect() as connection:
            assert "members" not in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
    with open_store(database_url) as store:  # migrates to head
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        _import(store, _sealer(store, _keys(new_key())), FILE)
        with store.engine.begin() as connection:
            command.downgrade(
                migrate.alembic_config(connection=connection), "0011_recording_status"
            )
        with store.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
        assert not tables & {"panels", "members", "member_contacts", "consents", "panel_secrets"}
        migrate.upgrade(store.engine)
        assert store.get_member(PANEL, external_id="R001") is None


def test_a_person_shown_contact_details_leaves_an_audit_entry(
    store: Store, keys: PanelKeys
) -> None:
    sealer = _sealer(store, keys)
    _import(store, sealer, FILE)
    ann = store.get_member(PANEL, external_id="R001")
    assert ann is not None
    assert store.member_contacts(ann.id) and not list(
        store.staff_audit_entries(action="contacts_viewed")
    )  # the worker's read leaves none
    seen = store.view_member_contacts(ann.id, actor="rita", now=T1)
    assert seen == store.member_contacts(ann.id)
    (entry,) = store.staff_audit_entries(action="contacts_viewed")
    assert (entry.actor, entry.subject, entry.detail, entry.at) == (
        "rita", f"member:{ann.pseudonym}", {"contacts": 5}, T1,
    )  # fmt: skip
    with pytest.raises(LookupError):
        store.view_member_contacts(10**9, actor="rita", now=T1)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_imports_adding_one_member_at_once_store_it_once(database_url: str) -> None:
    """PostgreSQL: an import whose new member another transaction adds first is run again and
    updates that member (SQLite writes one at a time, so only PostgreSQL can meet this)."""
    with open_store(database_url) as store:
        sealer = _sealer(store, _keys(new_key()))
        _import(store, sealer, FILE)
        panel = store.get_panel(PANEL)
        assert panel is not None
        other = store.engine.connect()
        other.begin()
        other.execute(
            sa.text(
                "INSERT INTO members (panel_id, external_id, pseudonym, status, profile,"
                " created_at, updated_at) VALUES (:p, 'R009', 'PTHEOTHER22', 'active', '{}',"
                " :t, :t)"
            ),
            {"p": panel.id, "t": T0},
        )
        outcome: list[object] = []
        late = FILE + "R009,,en,,,nine@example.org,,,,,,1,Wales,,,\n"
        thread = threading.Thread(
            target=lambda: outcome.append(_import(store, sealer, late, now=T1))
        )
        thread.start()
        with store.engine.connect() as watcher:  # wait until the import waits for the other
            for _ in range(500):
                waiting = watcher.execute(
                    sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar_one()
                if waiting:
                    break
                time.sleep(0.01)
        assert waiting
        other.commit()
        other.close()
        thread.join(timeout=30)
        (report,) = outcome
        assert (report.added, report.updated, report.unchanged) == (0, 1, 3)  # type: ignore[attr-defined]
        nine = store.get_member(PANEL, external_id="R009")
        assert nine is not None and nine.pseudonym == "PTHEOTHER22"
        assert [sealer.open(c.ciphertext) for c in store.member_contacts(nine.id)] == [
            "nine@example.org"
        ]
