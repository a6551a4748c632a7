"""Staff password hashing with :func:`hashlib.scrypt` (no web library below the web layer).

Stored format, one ASCII string::

    scrypt$<n>$<r>$<p>$<salt, base64url>$<hash, base64url>

The cost parameters travel with each hash, so raising :data:`SCRYPT_N` later
strengthens new hashes without breaking old ones. The defaults follow the
OWASP password-storage guidance for scrypt (N=2**17, r=8, p=1: 128 MiB and
roughly half a second per hash on a small server), which is fine for a
login form and ruinous for someone trying guesses offline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

__all__ = ["SCRYPT_N", "SCRYPT_P", "SCRYPT_R", "hash_password", "verify_password"]

SCRYPT_N: Final = 2**17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
# Refuse absurd parameters read from the database rather than let one row
# make a login exhaust memory.
_MAX_N: Final = 2**20


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


def hash_password(password: str) -> str:
    """Hash ``password`` with a fresh random salt, in the format above."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


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
