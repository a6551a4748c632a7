"""``instrument fieldwork run --senders N``: how many messages go out at once (issue 13).

The command passes N to the worker it builds (``FieldworkWorker.senders``), which tells the
installed email channel (``ContactChannel.expect_senders``): its pool holds N connections,
one per sending thread. A real SMTP server (aiosmtpd, slowed down so that messages overlap
when they can) counts the connections it is opened and how many messages it holds at the
same moment: with ``--senders 1`` never more than one, with ``--senders 3`` the three
members' invitations at once, with ``--senders 6`` six of eight (more than the pool's 4 of
before), unless ``INSTRUMENT_SMTP_CONNECTIONS`` holds the pool to fewer. Each is received
once either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.commands import fieldwork
from instrument.panelwork import worker
from instrument.store import open_store
from tests.test_channels_email import LoopbackController, serving
from tests.test_channels_email_pool import BusyRelay
from tests.test_fieldwork_worker import email_only_wave, set_environment
from tests.test_panel_waves_store import MEMBERS, import_panel, panel_keys

EIGHT = MEMBERS + "".join(
    f"F1{n:02d},active,en,Member {n},m{n}@example.org,,1,2,1\n" for n in range(5)
)
"""Eight members to invite: the flagship's three eligible ones and five more."""


@pytest.fixture
def slow_relay() -> Iterator[tuple[LoopbackController, BusyRelay]]:
    with serving(BusyRelay(delay=0.3)) as server:
        yield server


def run_wave(
    relay: tuple[LoopbackController, BusyRelay],
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *options: str,
    members: str = MEMBERS,
    connections: str | None = None,
) -> str:
    """The members invited by email by ``fieldwork run --once`` with *options*; its output."""
    controller, _ = relay
    keys = panel_keys()
    set_environment(monkeypatch, controller, keys)
    monkeypatch.setenv("INSTRUMENT_PUBLIC_URL", "https://survey.example.ac.uk")
    if connections is None:
        monkeypatch.delenv("INSTRUMENT_SMTP_CONNECTIONS", raising=False)  # sized by --senders
    else:
        monkeypatch.setenv("INSTRUMENT_SMTP_CONNECTIONS", connections)  # the relay's limit
    database = f"sqlite:///{folder / 'panel.db'}"
    store = open_store(database)
    try:
        import_panel(store, keys, members)
    finally:
        store.close()
    runner = CliRunner()
    opened = runner.invoke(
        cli, ["wave", "open", str(email_only_wave(folder)), "--database", database]
    )
    assert opened.exit_code == 0, opened.output
    ran = runner.invoke(cli, ["fieldwork", "run", "--once", "--database", database, *options])
    assert ran.exit_code == 0, ran.output
    return ran.output


@pytest.mark.parametrize("senders", [1, 3])
def test_senders_is_how_many_messages_the_server_holds_at_once(
    senders: int,
    slow_relay: tuple[LoopbackController, BusyRelay],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    output = run_wave(slow_relay, tmp_path, monkeypatch, "--senders", str(senders))
    relay = slow_relay[1]
    assert "sent 3" in output
    assert relay.most_at_once == senders  # three members: three at once when three may go
    assert relay.sessions == senders  # a connection for each thread, opened as it needs one
    assert Counter(r.rcpt_tos[0] for r in relay.received) == {
        "ann@example.org": 1,
        "bryn@example.org": 1,
        "eve@example.org": 1,
    }


@pytest.mark.parametrize(("connections", "expected"), [(None, 6), ("2", 2)])
def test_senders_sizes_the_email_channels_pool_unless_the_relays_limit_is_set(
    connections: str | None,
    expected: int,
    slow_relay: tuple[LoopbackController, BusyRelay],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    output = run_wave(
        slow_relay, tmp_path, monkeypatch, "--senders", "6", members=EIGHT, connections=connections
    )
    relay = slow_relay[1]
    assert "sent 8" in output
    assert relay.sessions == expected  # the connections the server was opened
    assert relay.most_at_once == expected
    assert sorted(Counter(r.rcpt_tos[0] for r in relay.received).values()) == [1] * 8


def test_more_senders_than_the_email_channel_holds_connections_is_a_clear_error() -> None:
    from instrument.plugin_types import ChannelSetupError
    from instrument.questionnaires import facade_from_context

    email = facade_from_context().contact_channels()["email"]
    assert email.expect_senders is not None
    with pytest.raises(ChannelSetupError) as raised:
        email.expect_senders(65)
    assert str(raised.value).startswith(
        "65 senders: the email channel holds at most 64 connections to the SMTP server"
    )


@pytest.mark.parametrize("value", ["0", "65", "-2", "many"])
def test_a_number_of_senders_out_of_range_is_a_usage_error(value: str) -> None:
    ran = CliRunner().invoke(
        cli, ["fieldwork", "run", "--once", "--base-url", "https://x.test", "--senders", value]
    )
    assert ran.exit_code == 2
    assert "Invalid value for '--senders'" in ran.output
    if value != "many":
        assert "1<=x<=64" in ran.output


def test_the_help_says_what_senders_does_and_the_defaults_agree() -> None:
    ran = CliRunner().invoke(cli, ["fieldwork", "run", "--help"])
    assert ran.exit_code == 0
    text = " ".join(ran.output.split())
    assert "--senders N" in text and "Messages handed to the channels at once" in text
    assert "INSTRUMENT_SMTP_CONNECTIONS" in text and "[default: 4; 1<=x<=64]" in text
    assert fieldwork.SENDERS == worker.SENDERS  # the command's default is the worker's
