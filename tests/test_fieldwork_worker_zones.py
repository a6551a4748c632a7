"""Quiet hours in each member's own time zone, on a frozen clock (issue 13).

The flagship's wave is on London's clock with quiet hours 21:00-08:00; its
members are in three zones: Ann has ``time_zone`` America/New_York in the
members file, Eve ``region`` fi (Helsinki), Bryn nothing (the wave's London).
The real worker, the real email channel (aiosmtpd on 127.0.0.1) and SMS through
the fake Twilio ``http_client``: whoever is inside the quiet hours where they
live is sent nothing, the claim hands them back due when the hours end there (no
claim in between), and then they get their invitations.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from instrument.store import Store
from instrument.store.schema import wave_members
from tests.store_fixtures import *
from tests.test_channels_email import smtp_server
from tests.test_fieldwork_worker import Channels, a_worker, channels, clock, run_until_idle
from tests.test_panel_member_zone import IN_ZONES
from tests.test_panel_waves_store import (
    MEMBERS,
    QUESTIONNAIRE,
    WAVE_FILE,
    import_panel,
    member_case,
    open_flagship,
    panel_keys,
)
from tests.test_web_support import FakeClock

__all__ = ["channels", "clock", "smtp_server"]  # the fixtures, imported to be found


EMAILS = {"F001": "ann@example.org", "F002": "bryn@example.org", "F005": "eve@example.org"}


def wave_opening_at(folder: Path, local: str) -> Path:
    """The flagship's wave with its day 0 at ``local`` (London's wall clock) on 2 March 2027."""
    text = WAVE_FILE.read_text(encoding="utf-8")
    assert "open: 2027-03-02 10:00" in text and "quiet_hours: 21:00-08:00" in text
    (folder / QUESTIONNAIRE.name).write_text(QUESTIONNAIRE.read_text(encoding="utf-8"))
    path = folder / WAVE_FILE.name
    path.write_text(text.replace("open: 2027-03-02 10:00", f"open: 2027-03-02 {local}"))
    return path


def invited(channels: Channels) -> set[str]:
    return {r.rcpt_tos[0] for r in channels.mailbox.received}


def next_due(store: Store, external_id: str) -> Any:
    case_id = member_case(store, external_id)
    with store.engine.connect() as connection:
        return connection.execute(
            sa.select(wave_members.c.next_due).where(wave_members.c.case_id == case_id)
        ).scalar_one()


@pytest.mark.parametrize(
    ("opens", "held", "until"),
    [
        # 10:00 in London (GMT) is 05:00 in New York (EST): Ann waits for 08:00 there
        ("10:00", "F001", dt.datetime(2027, 3, 2, 13, 0, tzinfo=dt.UTC)),
        # 19:30 in London is 21:30 in Helsinki (EET): Eve waits for 08:00 there, next morning
        ("19:30", "F005", dt.datetime(2027, 3, 3, 6, 0, tzinfo=dt.UTC)),
    ],
)
def test_a_member_inside_the_quiet_hours_of_their_own_zone_waits_until_they_end(
    store: Store,
    channels: Channels,
    clock: FakeClock,
    tmp_path: Path,
    opens: str,
    held: str,
    until: dt.datetime,
) -> None:
    panel = import_panel(store, panel_keys(), IN_ZONES)
    open_flagship(panel, wave_opening_at(tmp_path, opens))
    worker = a_worker(panel, channels, clock)
    hour, minute = map(int, opens.split(":"))
    clock.now = dt.datetime(2027, 3, 2, hour, minute, tzinfo=dt.UTC)  # London is on GMT

    assert run_until_idle(worker) == 3  # all three claimed once, and no more
    others = {e for m, e in EMAILS.items() if m != held}
    assert invited(channels) == others  # in the wave's zone's day and their own
    assert len(channels.texts()) == 2
    assert next_due(store, held) == until  # handed back due when the quiet hours end there

    clock.now = until - dt.timedelta(minutes=1)
    assert run_until_idle(worker) == 0  # not claimed again before then
    assert invited(channels) == others

    clock.now = until
    assert run_until_idle(worker) == 1
    assert invited(channels) == set(EMAILS.values())
    assert len(channels.mailbox.received) == 3 and len(channels.texts()) == 3  # once each


def test_without_a_zone_of_their_own_members_keep_the_waves_quiet_hours(
    store: Store, channels: Channels, clock: FakeClock, tmp_path: Path
) -> None:
    panel = import_panel(store, panel_keys(), MEMBERS)  # no time_zone, no region
    open_flagship(panel, wave_opening_at(tmp_path, "07:00"))
    worker = a_worker(panel, channels, clock)
    clock.now = dt.datetime(2027, 3, 2, 7, 0, tzinfo=dt.UTC)  # quiet in London until 08:00
    assert run_until_idle(worker) == 3
    assert invited(channels) == set()
    clock.now = dt.datetime(2027, 3, 2, 8, 0, tzinfo=dt.UTC)
    assert run_until_idle(worker) == 3
    assert invited(channels) == set(EMAILS.values())
