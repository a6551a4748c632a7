"""Staff password hashing with :func:`hashlib.scrypt` (no web library below the web layer).

Stored format, one ASCII string::

    scrypt$<n>$<r>$<p>$<salt, base64url>$<hash, base64url>

The cost parameters travel with each hash, so raising :data:`SCRYPT_N` later
strengthens new hashes without breaking old ones. The defaults follow the
OWASP password-storage guidance for scrypt (N=2**17, r=8, p=1: 128 MiB and
roughly half a second per hash on a small server), which is fine for a
login form and ruinous for someone trying guesses offline.

The cost of new hashes is a :class:`PasswordCost`, :data:`STRONG` unless the
store is told otherwise (``Store.password_cost``, or the app's
``STAFF_PASSWORD_COST``). Test suites give a tiny one: the hash is still a
real salted scrypt hash that verifies as in production, only cheap, so a test
that creates four staff accounts does not spend two seconds hashing. Because
the cost travels with the hash, such accounts verify cheaply too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

__all__ = [
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "STRONG",
    "PasswordCost",
    "hash_password",
    "unmatchable_hash",
    "verify_password",
]

SCRYPT_N: Final = 2**17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
# Refuse absurd parameters read from the database rather than let one row
# make a login exhaust memory.
_MAX_N: Final = 2**20


@dataclass(frozen=True, slots=True)
class PasswordCost:
    """scrypt's cost parameters for new hashes: ``n`` (a power of two), ``r``, ``p`` (1).

    Only values :func:`verify_password` accepts can be made, so every hash
    made with a cost can be checked later.
    """

    n: int
    r: int
    p: int = 1

    def __post_init__(self) -> None:
        if not (1 < self.n <= _MAX_N) or self.n & (self.n - 1):
            raise ValueError(f"scrypt's n must be a power of two from 2 to {_MAX_N}, not {self.n}")
        if not 0 < self.r <= 32:
            raise ValueError(f"scrypt's r must be from 1 to 32, not {self.r}")
        if self.p != 1:
            raise ValueError(f"scrypt's p must be 1, not {self.p}")

    def weaker_than(self, other: PasswordCost) -> bool:
        """True when a guess costs less memory (and so time) than with ``other``."""
        return self.n * self.r * self.p < other.n * other.r * other.p


STRONG: Final = PasswordCost(SCRYPT_N, SCRYPT_R, SCRYPT_P)
"""The production cost (OWASP's for scrypt): what every store uses unless told otherwise."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=128 * r * n * p + 2**20,
        dklen=_KEY_BYTES,
    )


def hash_password(password: str, cost: PasswordCost = STRONG) -> str:
    """Hash ``password`` with a fresh random salt at ``cost``, in the format above."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, cost.n, cost.r, cost.p)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(key)}"


def unmatchable_hash(cost: PasswordCost = STRONG) -> str:
    """A well-formed hash at ``cost`` that no password matches (its key is all zero bits).

    Checked against when a username is unknown, so a failed sign-in takes as
    long as one with a real account hashed at the same cost.
    """
    return f"scrypt${cost.n}${cost.r}${cost.p}${'A' * 22}${'A' * 43}"


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``; False for any malformed hash."""
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, key = _unb64(salt_text), _unb64(key_text)
    except ValueError:
        return False
    if scheme != "scrypt" or not (1 < n <= _MAX_N) or n & (n - 1) or not (0 < r <= 32) or p != 1:
        return False
    candidate = _derive(password, salt, n, r, p)
    return hmac.compare_digest(candidate, key)
