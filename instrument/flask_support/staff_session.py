"""Who the signed-in staff member of this request is, for the staff area and for modes.

The staff area signs people in (:mod:`instrument.server.staff`); the telephone
interviewer's console, a mode's blueprint, must know the same person without
importing the server (modes sit below it). Both read the session cookie's
staff session id here and look it up in the store, so signing out, disabling
an account or the idle timeout end access to both at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from flask import abort, current_app, g, redirect, request, session, url_for

__all__ = [
    "RECHECK_SECONDS",
    "SESSION_KEY",
    "STAFF_AREAS",
    "add_staff_area",
    "require_staff",
    "signed_in_staff",
]

SESSION_KEY = "staff_session"
"""The session cookie's key for the staff session id (never the account id)."""
RECHECK_SECONDS = "STAFF_RECHECK_SECONDS"
"""App config key: how long a staff session found good is believed without reading it again."""
STAFF_AREAS = "STAFF_AREAS"
"""App config key: path prefixes besides ``/staff/`` that signing in may return to."""


def add_staff_area(app: Any, prefix: str) -> None:
    """Let signing in return to ``prefix`` (a mode's staff pages), as it does to ``/staff/``."""
    areas = tuple(app.config.get(STAFF_AREAS, ()))
    if prefix not in areas:
        app.config[STAFF_AREAS] = (*areas, prefix)


def signed_in_staff(store: Any, *, now: dt.datetime, idle_timeout: dt.timedelta) -> Any | None:
    """The :class:`~instrument.store.StaffUser` of this browser's open staff session, or None.

    A session id that is not open any more (signed out, timed out, account
    disabled) is dropped from the cookie, so the next request need not look again.
    A session this process found good less than ``STAFF_RECHECK_SECONDS`` ago
    (app config; 0 reads it every time) is believed without a read: see
    :mod:`instrument.store.staff_sessions` for what that costs and saves.
    """
    session_id = session.get(SESSION_KEY)
    if session_id is None:
        return None
    user = None
    if isinstance(session_id, str):
        recheck = float(current_app.config.get(RECHECK_SECONDS, 0) or 0)
        user = store.staff_session_user(
            session_id, now=now, idle_timeout=idle_timeout,
            reuse_for=dt.timedelta(seconds=recheck) if recheck > 0 else None,
        )  # fmt: skip
    if user is None:
        session.pop(SESSION_KEY, None)
    return user


def require_staff(store: Any, *, now: dt.datetime, roles: Collection[str]) -> Any | None:
    """A mode's staff pages' check, for ``before_request``: sets ``g.staff`` or answers for it.

    Not signed in (or the staff session ended): a redirect to the staff
    sign-in, which comes back here if the page's area was added with
    :func:`add_staff_area`; signed in with a role not in ``roles``: 403; else None (go on).
    """
    idle = dt.timedelta(seconds=int(current_app.config["STAFF_TIMEOUT_SECONDS"]))
    g.staff = signed_in_staff(store, now=now, idle_timeout=idle)
    if g.staff is None:
        here = request.full_path if request.query_string else request.path
        return redirect(url_for("staff.login", next=here), 303)
    if g.staff.role not in roles:
        abort(403)
    return None
