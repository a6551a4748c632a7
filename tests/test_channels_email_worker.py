"""The fieldwork worker handing a group to the email channel on several connections at once.

The worker sends a group's members on several threads (``FieldworkWorker.senders``) and the
email channel gives each thread a connection of its own; these tests use the real channel, a
real SMTP server (aiosmtpd, slowed down so that the threads really overlap) and the store on
SQLite and PostgreSQL, and check that nothing is sent twice or left ``sending``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator

import pytest

from instrument.panelwork.worker import RETRY_AFTER
from instrument.plugin_types import ChannelSetupError, OutgoingMessage, Receipt
from tests.store_fixtures import *
from tests.test_channels_email import serving
from tests.test_channels_email_pool import BusyRelay
from tests.test_fieldwork_worker import (
    DAY0,
    Channels,
    Panel,
    a_worker,
    import_panel,
    messages,
    open_flagship,
    panel_keys,
    run_until_idle,
)
from tests.test_web_support import FakeClock


@pytest.fixture
def relay_channels(store: Store) -> Iterator[tuple[Panel, Channels, BusyRelay, FakeClock]]:
    clock = FakeClock(DAY0)
    relay = BusyRelay(delay=0.1)
    with serving(relay) as (controller, _):
        channels = Channels(controller, relay, clock)
        try:
            yield import_panel(store, panel_keys()), channels, relay, clock
        finally:
            channels.close()


def test_a_group_goes_out_on_several_connections_once_each(
    relay_channels: tuple[Panel, Channels, BusyRelay, FakeClock],
) -> None:
    panel, channels, relay, clock = relay_channels
    open_flagship(panel)
    worker = a_worker(panel, channels, clock)
    assert worker.senders > 1

    report = worker.run_round()

    assert report.sent == 6 and report.failed == 0  # three members, an email and a text each
    assert relay.most_at_once == 3  # the three emails were with the server at the same time
    assert relay.sessions == 3
    assert Counter(r.rcpt_tos[0] for r in relay.received) == {
        "ann@example.org": 1,
        "bryn@example.org": 1,
        "eve@example.org": 1,
    }
    assert sorted(m.state for m in messages(panel.store)) == ["queued"] * 3 + ["sent"] * 3


def test_settings_that_stop_one_sender_leave_nothing_sending_and_nothing_twice(
    relay_channels: tuple[Panel, Channels, BusyRelay, FakeClock],
) -> None:
    panel, channels, relay, clock = relay_channels
    open_flagship(panel)
    broken = True

    def refuses_bryn(message: OutgoingMessage) -> Receipt:
        if broken and message.to == "bryn@example.org":
            raise ChannelSetupError("INSTRUMENT_SMTP_HOST is wrong")
        return channels.email.send(message)

    worker = a_worker(panel, channels, clock, email_send=refuses_bryn)
    with pytest.raises(ChannelSetupError, match="INSTRUMENT_SMTP_HOST is wrong"):
        worker.run_round()

    rows = messages(panel.store)
    assert "sending" not in {m.state for m in rows}  # every message answered or given back
    refused = [m for m in rows if m.error == "INSTRUMENT_SMTP_HOST is wrong"]
    assert len(refused) == 1 and refused[0].state == "failed" and refused[0].attempts == 1
    untried = [m for m in rows if (m.error or "").startswith("not sent:")]
    assert all(m.state == "failed" and m.attempts == 0 for m in untried)
    handed = [m for m in rows if m.state in ("sent", "queued")]
    assert len(handed) + len(untried) + 1 == len(rows) == 6
    assert set(Counter(r.rcpt_tos[0] for r in relay.received).values()) <= {1}

    # The settings mended, the failed and untried messages go once, the rest not again.
    broken = False
    clock.now = DAY0 + RETRY_AFTER + dt.timedelta(minutes=1)
    run_until_idle(a_worker(panel, channels, clock, email_send=refuses_bryn))
    assert Counter(r.rcpt_tos[0] for r in relay.received) == {
        "ann@example.org": 1,
        "bryn@example.org": 1,
        "eve@example.org": 1,
    }
    assert len(channels.texts()) == 3 and len({t["To"] for t in channels.texts()}) == 3
    day0 = [m for m in messages(panel.store) if m.step == rows[0].step]
    assert sorted(m.state for m in day0) == ["queued"] * 3 + ["sent"] * 3
