"""Pseudonymous identifiers for exported files.

Exports never carry the store's interview id, case id, access tokens or an
interviewer's staff id: any of them leads back, through the store, to a
person. Instead each is replaced by a keyed hash (HMAC-SHA-256) under a
secret:

* With a **configured secret** (``--secret-file``, or
  ``INSTRUMENT_EXPORT_SECRET``) the same interview gets the same case id in
  every export, so a corrected re-export or a later wave can be matched to
  an earlier file, while nobody without the secret can go from a case id
  back to the store (or test a guessed interview id against it).
* With **no secret**, a random one is drawn for the export and thrown away:
  case ids are then unlinkable to anything outside this one set of files.

A sequential number was rejected: it depends on which interviews an export
selects (``--since``, ``--include-partial``), so the same person would get
different numbers in two exports, and it leaks the order of interviewing.
Ids are 16 hex digits (64 bits); at a million cases a collision has odds
below one in thirty million, and the builder checks anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

__all__ = ["Pseudonymiser", "SECRET_ENV"]

SECRET_ENV = "INSTRUMENT_EXPORT_SECRET"


class Pseudonymiser:
    """Keyed, one-way identifiers for cases and interviewers."""

    def __init__(self, secret: bytes | str | None = None) -> None:
        if secret is None:
            env = os.environ.get(SECRET_ENV)
            secret = env if env else None
        self.configured = secret is not None
        if secret is None:
            secret = secrets.token_bytes(32)
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if len(secret) < 16:
            raise ValueError("an export secret must be at least 16 bytes long")
        # Keyed once; each id then costs one copy and one update.
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def _digest(self, purpose: str, value: str, length: int) -> str:
        mac = self._keyed.copy()
        mac.update(f"{purpose}\x00{value}".encode())
        return mac.hexdigest()[:length]

    def case_id(self, interview_id: str) -> str:
        """The exported case id of an interview."""
        return "c" + self._digest("case", interview_id, 16)

    def interviewer_id(self, staff_id: str) -> str:
        """The exported id of an interviewer (from an event's ``interviewer:<id>`` actor)."""
        return "i" + self._digest("interviewer", staff_id, 12)
