"""Deleting recordings at Twilio: the phone plugin's recording provider ``twilio``.

Twilio holds what the phone mode records: an interviewer's call recorded
after the respondent's yes, and an automated call's recorded free-text answer.
When a withdrawal deletes the answers they belong to, the store lists their
sids (:mod:`instrument.store.recording_deletions`), and the fieldwork worker
and ``instrument calls forget-recordings`` delete each through
:func:`delete_recording`: ``DELETE /2010-04-01/Accounts/<AC>/Recordings/<RE>.json``
(the SDK's ``client.recordings(sid).delete()``). Twilio's 404 means it holds no
such recording (deleted before, or never made): ``gone``, as good as deleted,
so asking twice is harmless. Any other refusal, or no answer, is a failed try
with its reason, tried again later by the worker; never an exception.

The settings are the phone mode's (``INSTRUMENT_TWILIO_ACCOUNT_SID`` and the
rest, :class:`~instrument_phone.telephony.config.TwilioSettings`), read on
first use: the provider is registered whatever the machine's settings, and
says through ``check()`` what to set, so the recordings wait rather than fail.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from instrument.plugin_types import RecordingDeletion, RecordingProvider
from instrument_phone.telephony.config import (
    TELEPHONY_VARIABLES,
    TelephonyConfigError,
    TwilioSettings,
)
from instrument_phone.telephony.dialer import make_client, rest_refusal

if TYPE_CHECKING:
    from twilio.rest import Client

__all__ = ["HTTP_CLIENT", "PROVIDER_NAME", "delete_recording", "twilio_recordings"]

PROVIDER_NAME = "twilio"
"""The provider's name, as calls (``calls.provider``) and the list of deletions keep it."""

HTTP_CLIENT: Any = None
"""The twilio SDK's HTTP client the provider's REST client uses; None: Twilio's own over
``requests``. Tests put the fake Twilio API here (tests/twilio_fake.py)."""


def delete_recording(client: Client, recording_sid: str) -> RecordingDeletion:
    """Delete one recording of the client's account: deleted, gone (Twilio's 404) or failed."""
    from twilio.base.exceptions import TwilioRestException

    try:
        client.recordings(recording_sid).delete()
    except Exception as exc:
        if isinstance(exc, TwilioRestException) and exc.status == 404:
            return RecordingDeletion("gone")
        refusal = rest_refusal(exc)
        if refusal is None:
            raise
        return RecordingDeletion("failed", error=refusal[0])
    return RecordingDeletion("deleted")


class _FromEnvironment:
    """The REST client for the environment's settings, made once, on first use (thread-safe)."""

    def __init__(self, settings: TwilioSettings | None, http_client: Any) -> None:
        self._settings = settings
        self._http_client = http_client
        self._client: Client | None = None
        self._lock = threading.Lock()

    def settings(self) -> TwilioSettings | None:
        return self._settings if self._settings is not None else TwilioSettings.from_env(os.environ)

    def check(self) -> str | None:
        try:
            settings = self.settings()
        except TelephonyConfigError as exc:
            return str(exc)
        if settings is None:
            return "recordings are deleted at Twilio: set " + ", ".join(TELEPHONY_VARIABLES)
        return None

    def delete(self, recording_sid: str) -> RecordingDeletion:
        with self._lock:
            if self._client is None:
                settings = self.settings()
                if settings is None:
                    return RecordingDeletion("failed", error="Twilio's settings are not set")
                http_client = self._http_client if self._http_client is not None else HTTP_CLIENT
                self._client = make_client(settings, http_client)
            client = self._client
        return delete_recording(client, recording_sid)


def twilio_recordings(
    settings: TwilioSettings | None = None, *, http_client: Any = None
) -> RecordingProvider:
    """The ``twilio`` provider: with ``settings`` (else the environment's, read on first use)
    and the SDK's ``http_client`` (else :data:`HTTP_CLIENT`, else Twilio's own)."""
    source = _FromEnvironment(settings, http_client)
    return RecordingProvider(
        name=PROVIDER_NAME,
        label="Twilio",
        delete=source.delete,
        check=source.check,
        requires=("twilio",),
    )
