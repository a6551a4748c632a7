"""The email channel's connections: several at once, each to one thread, replaced, closed.

Against a real SMTP server (aiosmtpd) on 127.0.0.1, as tests/test_channels_email.py:
the server itself is slow (so threads really overlap), drops connections (as a
relay restarting or timing out idle clients does) and counts its sessions and
QUITs; the channel is the real one talking over sockets.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from instrument.plugin_types import ChannelSetupError, Receipt
from instrument_channels.email import IDEMPOTENCY_HEADER, EmailChannel, SmtpSettings
from tests.test_channels_email import (
    LoopbackController,
    Mailbox,
    message,
    serving,
    settings_for,
)


@dataclass
class BusyRelay(Mailbox):
    """A relay that takes *delay* seconds over each message, and can drop connections."""

    delay: float = 0.0
    in_data: int = 0
    most_at_once: int = 0
    quits: int = 0
    drop_after: set[str] = field(default_factory=set)
    """Keys after whose reply the server closes the connection (an idle timeout, a restart)."""
    drop_before_reply: set[str] = field(default_factory=set)
    """Keys the server takes and then closes the connection without saying so."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_data += 1
        self.most_at_once = max(self.most_at_once, self.in_data)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            reply = await super().handle_DATA(server, session, envelope)
        finally:
            self.in_data -= 1
        key = self.received[-1].message[IDEMPOTENCY_HEADER]
        if key in self.drop_before_reply:
            server.transport.close()
        elif key in self.drop_after:
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the reply
        return reply

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"

    def keys(self) -> Counter[str]:
        return Counter(str(r.message[IDEMPOTENCY_HEADER]) for r in self.received)


@pytest.fixture
def relay() -> Iterator[tuple[LoopbackController, BusyRelay]]:
    with serving(BusyRelay()) as server:
        yield server


def send_from_threads(channel: EmailChannel, keys: list[str], threads: int) -> list[Receipt]:
    """Send one message per key, *threads* threads taking keys in turn."""
    receipts: list[Receipt] = []
    lock = threading.Lock()
    pending = iter(keys)

    def work() -> None:
        while True:
            with lock:
                key = next(pending, None)
            if key is None:
                return
            receipt = channel.send(message(idempotency_key=key))
            with lock:
                receipts.append(receipt)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    return receipts


def test_concurrent_sends_use_several_connections_and_each_message_arrives_once(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay
    mailbox.delay = 0.02
    channel = EmailChannel(settings_for(controller, connections=3), idle_check_seconds=60)
    keys = [f"k{n}" for n in range(36)]
    try:
        receipts = send_from_threads(channel, keys, threads=8)
        assert [r.status for r in receipts] == ["sent"] * len(keys)
        assert mailbox.keys() == Counter(keys)  # every message once, none twice
        # Eight threads, three connections: never more, and all three used at once.
        assert mailbox.sessions == 3
        assert mailbox.most_at_once == 3
        assert channel.open_connections == 3
        assert sorted(r.provider_id or "" for r in receipts) == sorted(
            {str(r.message["Message-ID"]) for r in mailbox.received}
        )
    finally:
        channel.close()


def test_one_thread_at_a_time_keeps_to_one_connection(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay
    channel = EmailChannel(settings_for(controller, connections=4))
    try:
        for n in range(5):
            assert channel.send(message(idempotency_key=f"k{n}")).status == "sent"
        assert mailbox.sessions == 1 and channel.open_connections == 1
    finally:
        channel.close()


def test_a_connection_the_server_dropped_is_replaced_and_the_message_still_goes_once(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay
    mailbox.delay = 0.01
    mailbox.drop_after = {"k3", "k11", "k17"}  # the server closes three connections mid-run
    # No NOOP before reuse: the dropped connection is found out by the next message's MAIL.
    channel = EmailChannel(settings_for(controller, connections=2), idle_check_seconds=60)
    keys = [f"k{n}" for n in range(24)]
    try:
        receipts = send_from_threads(channel, keys, threads=4)
        assert [r.status for r in receipts] == ["sent"] * len(keys), [r.error for r in receipts]
        assert mailbox.keys() == Counter(keys)
        # Once more, both connections busy at once: a dropped one still kept is found now.
        more = [f"m{n}" for n in range(12)]
        assert [r.status for r in send_from_threads(channel, more, threads=4)] == ["sent"] * 12
        assert mailbox.keys() == Counter(keys + more)
        assert mailbox.sessions == 2 + 3  # each dropped connection replaced once
        assert channel.open_connections == 2
    finally:
        channel.close()


def test_a_connection_lost_after_the_message_went_is_not_tried_again(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay
    mailbox.drop_before_reply = {"k1"}  # taken by the server, the reply never comes
    channel = EmailChannel(settings_for(controller, connections=2), idle_check_seconds=60)
    try:
        lost = channel.send(message(idempotency_key="k1"))
        assert lost.status == "failed" and not lost.permanent
        assert "could not hand the message to 127.0.0.1" in (lost.error or "")
        # Whether it arrived cannot be known by the sender, so it is not sent again here:
        # the worker leaves it to its retry rules, under the same Message-ID.
        assert mailbox.keys() == Counter({"k1": 1})
        assert channel.open_connections == 0  # the broken connection is not kept
        assert channel.send(message(idempotency_key="k2")).status == "sent"
        assert mailbox.keys() == Counter({"k1": 1, "k2": 1})
    finally:
        channel.close()


def test_a_refused_recipient_keeps_its_connection_and_says_why(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay
    mailbox.refuse["gone@example.org"] = "550 5.1.1 <gone@example.org>: mailbox unavailable"
    channel = EmailChannel(settings_for(controller, connections=2))
    try:
        gone = channel.send(message(to="gone@example.org", idempotency_key="k1"))
        assert (gone.status, gone.permanent) == ("failed", True)
        assert gone.error == "recipient refused: 550 5.1.1 <gone@example.org>: mailbox unavailable"
        assert channel.send(message(idempotency_key="k2")).status == "sent"
        assert mailbox.sessions == 1
    finally:
        channel.close()


def test_close_says_quit_on_every_connection_also_one_in_use(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay
    mailbox.delay = 0.02
    channel = EmailChannel(settings_for(controller, connections=3), idle_check_seconds=60)
    send_from_threads(channel, [f"k{n}" for n in range(12)], threads=6)
    assert channel.open_connections == 3

    mailbox.delay = 0.5
    in_flight = threading.Thread(target=channel.send, args=(message(idempotency_key="slow"),))
    in_flight.start()
    while mailbox.in_data == 0 and in_flight.is_alive():
        threading.Event().wait(0.01)
    channel.close()  # the two idle connections at once
    assert mailbox.quits == 2
    in_flight.join(timeout=10)
    assert mailbox.quits == 3  # the third as soon as its message was done
    assert channel.open_connections == 0

    # The channel serves on after close(), on a new connection.
    mailbox.delay = 0
    assert channel.send(message(idempotency_key="after")).status == "sent"
    assert mailbox.sessions == 4
    channel.close()
    assert mailbox.quits == 4
    assert mailbox.keys()["slow"] == 1 and mailbox.keys()["after"] == 1


def test_settings_that_cannot_work_stop_the_channel_and_free_the_place(
    relay: tuple[LoopbackController, BusyRelay],
) -> None:
    controller, mailbox = relay  # a relay without STARTTLS, asked for it
    channel = EmailChannel(settings_for(controller, security="starttls", connections=1))
    errors: list[str] = []

    def send_twice() -> None:
        for _ in range(2):  # the one place is given back, or the second would wait for ever
            try:
                channel.send(message())
            except ChannelSetupError as exc:
                errors.append(str(exc))

    sender = threading.Thread(target=send_twice)
    sender.start()
    sender.join(timeout=10)
    assert not sender.is_alive()
    assert len(errors) == 2 and all("does not offer STARTTLS" in e for e in errors)
    assert channel.open_connections == 0 and mailbox.received == []


def test_the_number_of_connections_is_a_setting() -> None:
    base = {"INSTRUMENT_SMTP_HOST": "smtp.example.ac.uk", "INSTRUMENT_SMTP_FROM": "p@e.org"}
    assert SmtpSettings.from_env(base).connections == 4
    assert SmtpSettings.from_env({**base, "INSTRUMENT_SMTP_CONNECTIONS": "1"}).connections == 1
    for bad, complaint in (("0", "from 1 to 64"), ("65", "from 1 to 64"), ("2.5", "whole")):
        with pytest.raises(ChannelSetupError, match=complaint) as caught:
            SmtpSettings.from_env({**base, "INSTRUMENT_SMTP_CONNECTIONS": bad})
        assert "INSTRUMENT_SMTP_CONNECTIONS" in str(caught.value)


def test_the_pool_is_resized_while_it_serves(relay: tuple[LoopbackController, BusyRelay]) -> None:
    """``use_connections`` (the worker's senders, told after the channel was made): more
    connections at once when larger; idle ones beyond it closed with QUIT when smaller, a lent
    one as it comes back; every message still once."""
    controller, mailbox = relay
    mailbox.delay = 0.05
    channel = EmailChannel(settings_for(controller, connections=2), idle_check_seconds=60)
    try:
        send_from_threads(channel, [f"a{n}" for n in range(12)], threads=5)
        assert (mailbox.sessions, mailbox.most_at_once) == (2, 2)
        channel.use_connections(5)
        mailbox.most_at_once = 0
        send_from_threads(channel, [f"b{n}" for n in range(20)], threads=5)
        assert (mailbox.sessions, mailbox.most_at_once) == (5, 5)
        assert channel.open_connections == 5 and channel.settings.connections == 5

        channel.use_connections(1)
        assert channel.open_connections == 1 and mailbox.quits == 4  # the idle four, at once
        mailbox.most_at_once = 0
        send_from_threads(channel, [f"c{n}" for n in range(6)], threads=3)
        assert mailbox.most_at_once == 1 and mailbox.sessions == 5  # the one kept serves on
        with pytest.raises(ChannelSetupError, match="1 to 64 connections"):
            channel.use_connections(65)
        assert sorted(mailbox.keys().values()) == [1] * 38
    finally:
        channel.close()
