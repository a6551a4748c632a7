"""The signed form state every answer form carries (see the web mode's ``views`` docstring).

It says which interview, at which revision and on which page visit the form
was shown, when, and carries a nonce that becomes the save's idempotency key.
It is also the answer form's CSRF token, so it is signed with the app's
secret key and checked before anything is saved.

The text is the five fields joined by ``~`` and signed with itsdangerous'
``Signer`` (HMAC, URL-safe)::

    <interview id>~<revision>~<page visit>~<nonce>~<shown at, µs since 1970>.<signature>

Each page turn writes one and reads one; a JSON payload with itsdangerous'
serializer (base64, a zlib attempt, JSON) cost twice as much CPU for five
plain fields. It is signed, not encrypted: it holds nothing from the answers.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from typing import NamedTuple

from itsdangerous import BadSignature, Signer

__all__ = ["BadFormState", "FormState", "FormStateSigner"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SEPARATOR = "~"
# The salt from when this was the web's alone, so forms in flight stay valid.
_SALT = "instrument-web-form-state"


class BadFormState(ValueError):
    """The form state is missing, forged, altered or malformed."""


class FormState(NamedTuple):
    interview_id: str
    revision: int
    token: str  # the page visit the form was shown for (Step.token)
    nonce: str  # the idempotency key of the save this form makes
    shown_at: dt.datetime

    @classmethod
    def new(cls, interview_id: str, revision: int, token: str, shown_at: dt.datetime) -> FormState:
        """A form state for a page shown now, with a fresh nonce."""
        return cls(interview_id, revision, token, secrets.token_urlsafe(16), shown_at)


class FormStateSigner:
    """Writes and reads form states with one secret key (or a list: sign with the last)."""

    def __init__(self, secret_key: str | bytes | list[str | bytes]) -> None:
        self._signer = Signer(secret_key, salt=_SALT, key_derivation="hmac")

    def dumps(self, state: FormState) -> str:
        for text in (state.interview_id, state.token, state.nonce):
            if _SEPARATOR in text or "." in text:
                raise ValueError(f"a form state field cannot hold {_SEPARATOR!r} or '.': {text!r}")
        delta = state.shown_at - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        fields = (state.interview_id, str(state.revision), state.token, state.nonce, str(micros))
        return self._signer.sign(_SEPARATOR.join(fields)).decode("ascii")

    def loads(self, text: str) -> FormState:
        """The form state in ``text``; :class:`BadFormState` unless it is one we signed."""
        try:
            value = self._signer.unsign(text).decode("ascii")
        except (BadSignature, UnicodeError) as exc:
            raise BadFormState("the form state is not one this server signed") from exc
        parts = value.split(_SEPARATOR)
        if len(parts) != 5:
            raise BadFormState("the form state does not have five fields")
        interview_id, revision, token, nonce, micros = parts
        try:
            shown_at = _EPOCH + dt.timedelta(microseconds=int(micros))
            return FormState(interview_id, int(revision), token, nonce, shown_at)
        except (ValueError, OverflowError) as exc:
            raise BadFormState("the form state holds a malformed number") from exc


@functools.lru_cache(maxsize=8)
def signer_for(secret_key: str | bytes) -> FormStateSigner:
    """The signer for an app's secret key, built once."""
    return FormStateSigner(secret_key)
