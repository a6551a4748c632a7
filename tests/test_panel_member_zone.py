"""A panel member's own time zone: the rule (the case import's) and the members file's check.

The worker's use of it, the quiet hours on a frozen clock with members in several zones, is
tests/test_fieldwork_worker_zones.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from instrument.panel.member_zone import member_zone
from instrument.panel.members_csv import MembersFileError
from instrument.store import Store
from tests.store_fixtures import *
from tests.test_panel_waves_store import DAY0, import_panel, member_case, open_flagship, panel_keys

IN_ZONES = """\
external_id,status,language,name,email,phone,n_children,age_band,lone_parent,time_zone,region
F001,active,en,Ann Example,ann@example.org,07911 123456,2,3,1,America/New_York,
F002,active,cy,Bryn Enghraifft,bryn@example.org,07911 123999,1,2,2,,
F005,active,en,Eve Example,eve@example.org,07911 123777,,4,2,,fi
"""
"""The flagship's eligible members, Ann in New York by her zone, Eve in Finland by her region."""


def test_a_time_zone_the_members_file_gives_is_checked_at_import(store: Store) -> None:
    bad = IN_ZONES.replace("America/New_York", "America/Springfield")
    with pytest.raises(MembersFileError) as raised:
        import_panel(store, panel_keys(), bad)
    assert raised.value.problems == [
        "members.csv:2: time_zone: unknown time zone 'America/Springfield' "
        "(an IANA name such as Europe/London)"
    ]
    assert store.get_member("families", external_id="F002") is None  # nothing stored


def test_the_members_zone_follows_the_case_imports_rule() -> None:
    def address(text: str) -> Any:
        return lambda: text

    assert member_zone("Asia/Tokyo", "fi", address("1 Rue\nJE2 3AB")) == "Asia/Tokyo"
    # no zone: the postcode of the address (its last line), before the region
    assert member_zone(None, "fi", address("1 Rue\nJE2 3AB")) == "Europe/Jersey"
    assert member_zone("", "fi", address("Flat 2\nCF10 1AA")) == "Europe/London"
    assert member_zone(None, "fi", address("Hauptstr. 1\n10115 Berlin")) == "Europe/Helsinki"
    assert member_zone(None, "Finland", None) is None  # not in the table: the wave's zone
    assert member_zone(None, "IE", None) == "Europe/Dublin"
    # a stored zone this machine does not know is not fatal: the next rule, then the wave's
    assert member_zone("Mars/Olympus", None, None) is None
    assert member_zone(None, None, None) is None


def test_the_claim_reads_the_two_profile_values_a_zone_follows_from(store: Store) -> None:
    """Out of the JSON of the members row the read already joins (no column, no migration)."""
    panel = import_panel(store, panel_keys(), IN_ZONES)
    open_flagship(panel)
    claimed = store.claim_due_members("w", now=DAY0, limit=10, lease=dt.timedelta(minutes=5))
    assert {m.case_id: (m.time_zone, m.region) for m in claimed} == {
        member_case(store, "F001"): ("America/New_York", None),
        member_case(store, "F002"): (None, None),
        member_case(store, "F005"): (None, "fi"),
    }
