"""A small pool of SMTP connections, each used by one thread at a time.

Why a pool (issue 13): one connection per process, behind a lock, made a
worker wait for every reply of every message (MAIL, RCPT, DATA, the message:
four round trips) before it could start on the next; with a few connections
the worker's threads compose one message while others wait for the server.

What it promises:

- a connection is lent to one thread at a time (:meth:`ConnectionPool.lease`);
  a thread finding all *size* connections lent waits for one to come back;
- connections are opened only when a thread needs one and none is idle, so a
  caller that sends one message at a time never opens more than one;
- the most recently returned connection is lent first, so the extra ones go
  cold when the load drops, and a connection idle for longer than
  *idle_check_seconds* is asked NOOP before it is lent, and replaced when the
  server dropped it;
- a connection the borrower found broken is discarded (:meth:`Lease.discard`)
  and its place is free for a new one;
- :meth:`ConnectionPool.close` says QUIT on every idle connection at once and
  on each lent one as it comes back; connections opened after it serve on;
- :meth:`ConnectionPool.resize` changes *size* while it serves (the fieldwork
  worker's ``--senders``): a smaller size closes the connections beyond it.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["ConnectionPool", "Lease"]


@dataclass
class Lease:
    """One connection lent to one thread, and what the thread learnt of it."""

    smtp: smtplib.SMTP
    generation: int
    last_used: float
    broken: bool = False
    fresh: bool = False
    """Opened for this lease: a failure on it is not a stale connection's."""

    def discard(self) -> None:
        """The connection cannot be trusted again (a reply lost, a drop): close it on return."""
        self.broken = True


def _close_quietly(smtp: smtplib.SMTP, *, say_quit: bool) -> None:
    try:
        if say_quit:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        try:
            smtp.close()
        except OSError:
            pass


class ConnectionPool:
    """At most *size* SMTP connections made by *connect*, lent one thread at a time."""

    def __init__(
        self,
        connect: Callable[[], smtplib.SMTP],
        size: int,
        *,
        idle_check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError(f"a pool holds at least one connection, not {size}")
        self._connect = connect
        self.size = size
        self.idle_check_seconds = idle_check_seconds
        self._clock = clock
        self._idle: list[Lease] = []  # a stack: the last returned is lent first
        self._open = 0  # idle and lent
        self._generation = 0  # close() moves it on: older connections are not kept
        self._changed = threading.Condition(threading.Lock())

    @property
    def open_connections(self) -> int:
        """Connections now open, idle or lent (for tests and logs)."""
        with self._changed:
            return self._open

    @contextmanager
    def lease(self) -> Iterator[Lease]:
        """A connection for the caller alone until the block ends.

        :raises: whatever *connect* raises when a new connection is needed and
            cannot be opened (its place is given back first).
        """
        lent = self._take()
        try:
            yield lent
        finally:
            self._give_back(lent)

    def resize(self, size: int) -> None:
        """Hold at most *size* connections from now on (the worker's number of senders).

        Larger: more threads talk to the server at once, each connection opened as one
        needs it. Smaller: idle connections beyond *size* are closed now (the coldest
        first), lent ones beyond it as they come back.
        """
        if size < 1:
            raise ValueError(f"a pool holds at least one connection, not {size}")
        with self._changed:
            self.size = size
            extra = max(0, min(len(self._idle), self._open - size))
            closing, self._idle = self._idle[:extra], self._idle[extra:]
            self._open -= extra
            self._changed.notify_all()
        for lent in closing:
            _close_quietly(lent.smtp, say_quit=True)

    def replace(self, lent: Lease) -> None:
        """Close *lent*'s connection and open another in its place, for the same borrower."""
        _close_quietly(lent.smtp, say_quit=False)
        lent.broken = True  # until the new one is open: a failure below frees the place
        lent.smtp = self._connect()
        lent.broken, lent.fresh = False, True
        lent.last_used = self._clock()

    def close(self) -> None:
        """QUIT and close every idle connection; lent ones are closed when they come back."""
        with self._changed:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._generation += 1
            self._changed.notify_all()
        for lent in idle:
            _close_quietly(lent.smtp, say_quit=True)

    # -- inside ---------------------------------------------------------------

    def _take(self) -> Lease:
        with self._changed:
            while not self._idle and self._open >= self.size:
                self._changed.wait()
            if self._idle:
                lent = self._idle.pop()
            else:
                self._open += 1  # the place is taken before connecting, outside the lock
                lent = None
            generation = self._generation
        if lent is None:
            try:
                smtp = self._connect()
            except BaseException:
                self._free_place()
                raise
            return Lease(smtp, generation, self._clock(), fresh=True)
        if self._clock() - lent.last_used > self.idle_check_seconds and not self._answers(lent):
            try:
                self.replace(lent)
            except BaseException:
                self._free_place()
                raise
        return lent

    @staticmethod
    def _answers(lent: Lease) -> bool:
        """Whether an idle connection still answers (the relay may have restarted meanwhile)."""
        try:
            return lent.smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def _give_back(self, lent: Lease) -> None:
        if lent.broken:
            _close_quietly(lent.smtp, say_quit=False)
            self._free_place()
            return
        lent.last_used = self._clock()
        lent.fresh = False
        with self._changed:
            if lent.generation == self._generation and self._open <= self.size:
                self._idle.append(lent)
                self._changed.notify()
                return
            self._open -= 1  # lent before close() or beyond a smaller size: closed now
            self._changed.notify()
        _close_quietly(lent.smtp, say_quit=True)

    def _free_place(self) -> None:
        with self._changed:
            self._open -= 1
            self._changed.notify()
