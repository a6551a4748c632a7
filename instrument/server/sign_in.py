"""Checking a staff password so that a flood of sign-ins cannot exhaust the server.

A password check is a deliberately costly scrypt hash (128 MiB of memory,
:mod:`instrument.store.passwords`). Reading the rate limit before the hash
and counting the failure after it let every concurrent guess through the
check while the others were still hashing, each holding its 128 MiB. So:

* the attempt is counted against the address's limit *before* the hash, in
  one step with the check (:meth:`RateLimiter.take`): however many arrive at
  once, at most ``LOGIN_ATTEMPTS`` per window reach the hash. A sign-in that
  succeeds is then uncounted, so colleagues behind one address do not use up
  each other's attempts; every wrong password stays counted;
* at most ``LOGIN_HASH_SLOTS`` hashes run at once in a process. A request
  that gets no slot within ``LOGIN_HASH_WAIT_SECONDS`` is answered "busy"
  (503) and uncounted (its password was never checked). Waiting holds no
  hash memory, and the wait is bounded, so nothing queues without end.

Also here: where a sign-in may send the browser afterwards (:func:`staff_next`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from instrument.server.host import Host
from instrument.store import StaffUser

__all__ = ["Outcome", "SignIn", "check_password", "staff_next"]


class Outcome(enum.Enum):
    SIGNED_IN = "signed in"
    WRONG = "wrong username or password"
    LIMITED = "too many attempts from this address"
    BUSY = "no hashing slot free in time"


@dataclass(frozen=True)
class SignIn:
    """What became of one sign-in attempt, and the account when it succeeded."""

    outcome: Outcome
    user: StaffUser | None = None


def check_password(
    host: Host, username: str, password: str, address: str, *, wait_seconds: float
) -> SignIn:
    """Check a staff sign-in from ``address``, counted first and hashed in a bounded slot."""
    if not host.login_limiter.take(address):
        return SignIn(Outcome.LIMITED)
    if not host.password_slots.acquire(timeout=wait_seconds):
        host.login_limiter.give_back(address)
        return SignIn(Outcome.BUSY)
    try:
        user = host.store.verify_staff_password(username, password)
    finally:
        host.password_slots.release()
    if user is None:
        return SignIn(Outcome.WRONG)
    host.login_limiter.give_back(address)
    return SignIn(Outcome.SIGNED_IN, user)


# A path, optionally with a query: printable ASCII that needs no escaping in a
# Location header, no backslash (browsers read it as a slash), no fragment.
_PLAIN_PATH: Final = re.compile(
    r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?"
)


def staff_next(target: str | None, areas: Iterable[str] = ()) -> str | None:
    """``target`` if it is a plain path inside the staff area (or ``areas``), else None.

    ``areas``: path prefixes of a mode's staff pages (the app's ``STAFF_AREAS``,
    see :func:`instrument.flask_support.staff_session.add_staff_area`).

    Anything else, another site (``//evil.example``), a scheme, CR/LF or
    other control characters, a dot segment leaving ``/staff/``, is ignored
    rather than redirected to or allowed to break the response header.
    """
    if not target or len(target) > 2000 or _PLAIN_PATH.fullmatch(target) is None:
        return None
    path = target.split("?", 1)[0]
    if not any(path.startswith(area) for area in ("/staff/", *areas)):
        return None
    # Browsers read %2e as a dot in a path segment.
    segments = {part.lower().replace("%2e", ".") for part in path.split("/")}
    if "//" in path or "." in segments or ".." in segments:
        return None
    return target
