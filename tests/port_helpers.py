"""Ports for the servers the tests start on 127.0.0.1: not a test module.

The suite runs in parallel (pytest-xdist), so another worker binds ports at
the same moment. A port found free by binding port 0 and closing the socket
could be handed to that worker's next server before ours binds it. Instead a
port is *reserved*: a socket stays bound to it with SO_REUSEADDR and never
listens. The kernel then gives that port to no other ``bind(port 0)``, in any
process, while a server that sets SO_REUSEADDR itself (werkzeug's, aiosmtpd's,
gunicorn's) can still bind and listen on it; and a client that connects to it
while no server listens is refused, because the reserving socket does not
accept connections.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["free_port", "release_port", "reserved_port"]

_HELD: dict[int, socket.socket] = {}
"""The reserving sockets of this process, by port, until released (or the process ends)."""


def free_port() -> int:
    """A port on 127.0.0.1 reserved for this process until :func:`release_port`.

    Used where the app must know its port (SERVER_NAME) before it serves.
    """
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    port = int(holder.getsockname()[1])
    _HELD[port] = holder
    return port


def release_port(port: int) -> None:
    """Give back a port from :func:`free_port` (nothing happens for one not reserved here)."""
    holder = _HELD.pop(port, None)
    if holder is not None:
        holder.close()


@contextmanager
def reserved_port() -> Iterator[int]:
    """A port reserved while the block runs: nothing listens on it unless the block starts a
    server there, and a server stopped in the block can start there again."""
    port = free_port()
    try:
        yield port
    finally:
        release_port(port)
