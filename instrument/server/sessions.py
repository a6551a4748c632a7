"""The signed session cookie, read and written with less work per request.

Flask's own cookie session builds a new signing serializer for every request
and every response, and encodes the data with its tagged JSON, which walks
every value looking for tuples, bytes, dates and markup to tag. Every request
of a page turn opens the session, so both show in the cost of a page turn
(measured in docs/web.md, Performance, and docs/benchmarks.md).

This is the same cookie (same salt, signature, key rotation through
``SECRET_KEY_FALLBACKS``, expiry and flags), with three changes:

* the serializer is built once per secret key (it holds only settings);
* the data is plain compact JSON. Our sessions hold only strings, numbers,
  booleans and dicts of them (interview ids, tokens, flags, a time stamp,
  the CSRF token), which plain JSON and the tagged kind write identically,
  so cookies issued before this change still open. Anything else (a date,
  bytes) is refused when the cookie is written, with a clear error, instead
  of coming back changed;
* a cookie verified once is remembered (its exact text, its JSON and when it
  was signed; the last 4,096 per process), so the same cookie sent again is
  not decoded, decompressed and verified again: a respondent's cookie only
  changes when the session does, so nearly every request sends one seen
  before. Only text that passed verification is remembered, and the expiry
  is checked on every request from the time it was signed, so nothing
  opens that Flask's interface would refuse (what it saves: docs/web.md,
  Performance).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["PlainJSONSessionInterface"]

_VERIFIED_COOKIES = 4096


class _CompactJSON:
    """itsdangerous serializer protocol: ``dumps``/``loads`` of plain JSON."""

    @staticmethod
    def dumps(value: Any) -> str:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the session holds only JSON values (strings, numbers, booleans, lists, dicts): {exc}"
            ) from exc

    @staticmethod
    def loads(value: str | bytes) -> Any:
        return json.loads(value)


class PlainJSONSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session with plain JSON and one serializer per secret key."""

    serializer = _CompactJSON()  # type: ignore[assignment]

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}
        self._lock = threading.Lock()
        # cookie text -> (its JSON payload, when it was signed), for cookies verified before
        self._verified: OrderedDict[tuple[int, str], tuple[str, int]] = OrderedDict()

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        """Flask's ``open_session``, remembering cookies it has verified (see the module docstring)."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        key = (id(serializer), value)
        with self._lock:
            known = self._verified.get(key)
        if known is None:
            try:
                data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            known = (_CompactJSON.dumps(data), int(signed_at.timestamp()))
            with self._lock:
                self._verified[key] = known
                while len(self._verified) > _VERIFIED_COOKIES:
                    self._verified.popitem(last=False)
            return self.session_class(data)
        payload, signed_at = known
        if time.time() - signed_at > max_age:
            return self.session_class()
        return self.session_class(json.loads(payload))

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the app's keys, built once (keys may change in tests)."""
        if not app.secret_key:
            return None
        fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or ()
        keys = (*fallbacks, app.secret_key)
        cached = self._serializers.get(keys)
        if cached is None:
            cached = super().get_signing_serializer(app)
            assert cached is not None
            with self._lock:
                cached = self._serializers.setdefault(keys, cached)
        return cached
