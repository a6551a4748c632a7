"""What the respondent's browser holds in its signed session cookie, and nothing more.

The interview a browser is answering is found only through the session
cookie (signed with the app's secret key), never through the URL, so nobody
can reach someone else's interview by changing an address. Per questionnaire
the cookie holds the interview id (``iv``) and, when the interview came from
a personal link, that link's token (``tok``: "save and continue later" shows
the link the person already has rather than a new one).

Nothing else about the interview is kept in the cookie: a signed cookie is
readable by anyone at that browser, so a resume link is shown once, in the
response that made it, and never stored here.
"""

from __future__ import annotations

from typing import Any

from flask import session

from instrument.flask_support import ACTIVITY_STEP_SECONDS

__all__ = [
    "forget",
    "interview_id",
    "link_token",
    "remember",
    "track_activity",
]


def interview_id(qid: str) -> str | None:
    """The interview of ``qid`` this browser is answering, if any."""
    return (session.get("iv") or {}).get(qid)


def link_token(qid: str) -> str | None:
    """The personal link this browser's interview of ``qid`` came from, if any."""
    return (session.get("tok") or {}).get(qid)


def remember(qid: str, interview: str, token: str | None = None) -> None:
    """This browser now answers ``interview`` of ``qid`` (from the personal link ``token``)."""
    session.permanent = True
    session["iv"] = {**(session.get("iv") or {}), qid: interview}
    tokens = dict(session.get("tok") or {})
    if token is not None:
        tokens[qid] = token
    else:
        tokens.pop(qid, None)
    session["tok"] = tokens


def forget(qid: str) -> None:
    """Sign this browser out of its interview of ``qid`` (the answers stay stored)."""
    session["iv"] = {k: v for k, v in (session.get("iv") or {}).items() if k != qid}
    session["tok"] = {k: v for k, v in (session.get("tok") or {}).items() if k != qid}


def track_activity(now: int, timeout: int) -> None:
    """Sign a respondent out after ``timeout`` seconds without a request.

    The cookie itself also expires then; this server-side check holds even if
    a browser keeps an old cookie. Activity is recorded to the minute
    (``ACTIVITY_STEP_SECONDS``): a session cookie is re-signed and re-sent only
    when something in it changes, and stamping every request would change it
    on every request. The timeout counts from the stamp plus that step, so
    nobody is signed out early.
    """
    seen: Any = session.get("seen")
    if seen is not None and now - int(seen) > timeout + ACTIVITY_STEP_SECONDS and session.get("iv"):
        session.pop("iv", None)
        session.pop("tok", None)
        session["timed_out"] = True
    if seen is None or now - int(seen) >= ACTIVITY_STEP_SECONDS:
        session["seen"] = now
