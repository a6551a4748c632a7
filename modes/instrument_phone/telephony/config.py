"""Twilio settings, read once from the environment when the server starts.

Telephony is optional: with none of the variables set the phone mode runs
"dialled by hand" (the interviewer dials on their own phone and codes the
call), so :meth:`TwilioSettings.from_env` returns None. With only some of
them set, or one that cannot work, it raises :class:`TelephonyConfigError`
naming the variable: a typo in a deployment should stop the server at
start-up, not surface as a failed call in front of an interviewer.

The public URL is kept because Twilio signs each webhook request over the URL
*it* requested; behind a TLS-terminating proxy the app sees
``http://internal:8000/...``, so signatures are checked against this URL
instead (see :mod:`instrument_phone.telephony.webhooks`).

Standard library only: the plugin imports this when the host starts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from instrument.plugin_types import ModeSetupError

__all__ = [
    "ACCOUNT_SID_ENV",
    "AUTH_TOKEN_ENV",
    "CALLER_ID_ENV",
    "PUBLIC_URL_ENV",
    "TELEPHONY_VARIABLES",
    "TelephonyConfigError",
    "TwilioSettings",
]

ACCOUNT_SID_ENV = "INSTRUMENT_TWILIO_ACCOUNT_SID"
AUTH_TOKEN_ENV = "INSTRUMENT_TWILIO_AUTH_TOKEN"
CALLER_ID_ENV = "INSTRUMENT_TWILIO_CALLER_ID"
PUBLIC_URL_ENV = "INSTRUMENT_PUBLIC_URL"
TELEPHONY_VARIABLES = (ACCOUNT_SID_ENV, AUTH_TOKEN_ENV, CALLER_ID_ENV, PUBLIC_URL_ENV)

_ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}\Z")
_AUTH_TOKEN = re.compile(r"[0-9a-f]{32}\Z")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")


class TelephonyConfigError(ModeSetupError):
    """The telephony settings are partial or invalid; the message names the variable."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_public_url(value: str) -> str:
    """The base URL Twilio reaches the app at, without a trailing slash.

    HTTPS is required (Twilio sends the auth-token-signed requests and, with
    the bridge, respondents' numbers travel in the TwiML), except on a
    loopback address, where a developer runs the call simulator against a
    real local server.
    """
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TelephonyConfigError(
            f"{PUBLIC_URL_ENV} must be the https:// address Twilio reaches this server at, "
            f"got {value!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise TelephonyConfigError(
            f"{PUBLIC_URL_ENV} must use https:// (plain http only on localhost), got {value!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise TelephonyConfigError(
            f"{PUBLIC_URL_ENV} must be a plain base address (no query, fragment or "
            f"user name), got {value!r}"
        )
    return value.rstrip("/")


@dataclass(frozen=True)
class TwilioSettings:
    """What placing a bridge call and checking Twilio's signatures need.

    :param account_sid: the Twilio account (``AC`` + 32 hex digits).
    :param auth_token: signs webhooks and authenticates REST calls; never
        shown in a ``repr`` or an error message.
    :param caller_id: the organisation's number in E.164, shown to
        respondents (it must be a number verified in or bought from Twilio).
        A study may have its own (its fieldwork file's ``telephony: numbers:``):
        its automated calls show that one, and inbound calls to it are the
        study's alone; this one serves every study, as the default.
    :param public_url: ``https://host[/prefix]``, the app's root as Twilio
        reaches it, without a trailing slash.
    """

    account_sid: str
    auth_token: str = field(repr=False)
    caller_id: str
    public_url: str

    def __post_init__(self) -> None:
        if not _ACCOUNT_SID.match(self.account_sid):
            raise TelephonyConfigError(
                f"{ACCOUNT_SID_ENV} must be AC followed by 32 hexadecimal digits "
                f"(Twilio console, Account Info), got {self.account_sid!r}"
            )
        if not _AUTH_TOKEN.match(self.auth_token):
            # The token itself is a secret: say what is wrong, not what it is.
            raise TelephonyConfigError(
                f"{AUTH_TOKEN_ENV} must be the account's auth token (32 hexadecimal digits); "
                f"the value set has {len(self.auth_token)} characters"
            )
        if not _E164.match(self.caller_id):
            raise TelephonyConfigError(
                f"{CALLER_ID_ENV} must be a phone number in E.164 form such as +442071234567, "
                f"got {self.caller_id!r}"
            )
        object.__setattr__(self, "public_url", _check_public_url(self.public_url))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TwilioSettings | None:
        """The settings in *environ*, or None when no telephony variable is set.

        :raises TelephonyConfigError: some variables are set and others are
            missing, or one of them is malformed; the message names it.
        """
        values = {name: environ.get(name, "").strip() for name in TELEPHONY_VARIABLES}
        if not any(values.values()):
            return None
        missing = [name for name, value in values.items() if not value]
        if missing:
            present = [name for name in TELEPHONY_VARIABLES if name not in missing]
            raise TelephonyConfigError(
                f"telephony is half configured: {', '.join(present)} "
                f"{'is' if len(present) == 1 else 'are'} set but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not; set all of "
                f"{', '.join(TELEPHONY_VARIABLES)}, or none to dial by hand"
            )
        return cls(
            account_sid=values[ACCOUNT_SID_ENV],
            auth_token=values[AUTH_TOKEN_ENV],
            caller_id=values[CALLER_ID_ENV],
            public_url=values[PUBLIC_URL_ENV],
        )
