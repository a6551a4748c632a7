"""A cheap but real staff password hash for tests that make staff accounts.

Not a test module. Staff passwords are hashed with scrypt at the production
cost (128 MiB, about half a second each), which made every supervisor and
console test spend seconds creating its accounts and signing them in. Tests
give the app :data:`CHEAP_PASSWORDS` (``make_app(..., **CHEAP_PASSWORDS)``) or
the store :data:`CHEAP` (``store.set_password_cost(CHEAP, testing=True)``):
the hash is still a salted scrypt hash that verifies as in production, only
at a tiny cost. Nothing is mocked; tests/test_staff_passwords.py holds the
production default to the strong cost.
"""

from __future__ import annotations

from typing import Final

from instrument.store.passwords import PasswordCost

__all__ = ["CHEAP", "CHEAP_PASSWORDS"]

CHEAP: Final = PasswordCost(n=2**4, r=1)
"""scrypt at N=16, r=1: a few kilobytes and well under a millisecond per hash."""

CHEAP_PASSWORDS: Final = {"STAFF_PASSWORD_COST": CHEAP}
"""The app setting that gives a test app's store :data:`CHEAP` (the app must be TESTING)."""
