"""The link in every message that lets a member stop contact or withdraw: signed, unguessable.

A member's link is ``/web/unsubscribe/<token>``, the token being the member's
id, the wave's id (0 for none) and an HMAC-SHA256 of both (128 bits of it,
URL-safe base64) under the panel's *link key*: ``1234.7.Qm9...``. Whoever
holds the link may act for the member (as whoever holds the email may), and
nobody can make one for another member without the key. The ids are internal
row numbers, never the member's external id or pseudonym: a mail log that
keeps the link links the address to nothing an analyst's dataset carries.

The link key is 32 random bytes made the first time a link is needed and
stored in ``panel_secrets`` (:data:`LINK_SECRET`) encrypted with the panel
keys, exactly like the contacts' lookup key (:mod:`instrument.panel.crypto`),
and for the same reasons: rotating the panel keys re-encrypts it but never
changes it, so a link in an email sent months ago still works; a copy of the
database without the keys cannot forge one; and it does not depend on the web
server's ``SECRET_KEY``, which ``instrument serve`` draws at random when none
is set (every link already sent would die with a restart). The price is that
whatever checks a link (the web mode's page) needs the panel keys, as the SMS
webhooks already do to find who sent STOP. See docs/withdrawal.md.

Pure: no database, no clock. The fieldwork worker reads the key through the
store (``Store.panel_secret(LINK_SECRET, create=lambda: new_link_secret(keys),
now=...)``), opens it with :func:`open_link_key`, and fills
``OutgoingMessage.unsubscribe_link`` with the public URL +
:func:`unsubscribe_path`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from cryptography.fernet import InvalidToken

from instrument.panel.crypto import PanelKeys

__all__ = [
    "LINK_SECRET",
    "UNSUBSCRIBE_PREFIX",
    "MemberLink",
    "new_link_secret",
    "open_link_key",
    "read_unsubscribe_token",
    "unsubscribe_path",
    "unsubscribe_token",
]

LINK_SECRET: Final = "member_links"
"""The name of the link key's row in ``panel_secrets``."""

UNSUBSCRIBE_PREFIX: Final = "/web/unsubscribe/"
"""Where the web mode serves the page (its blueprint is mounted at ``/web``)."""

_DOMAIN: Final = b"instrument member link v1\x00"
"""Put before what is signed, so the key signs nothing else by accident."""

_MAC_BYTES: Final = 16
_TOKEN: Final = re.compile(r"([1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{22})\Z")
"""Canonical ids only (no leading zeros, no signs), so one link has one spelling."""


@dataclass(frozen=True, slots=True)
class MemberLink:
    """Whom a good token names: the member, and the wave whose message carried it (or None)."""

    member_id: int
    wave_id: int | None


def new_link_secret(keys: PanelKeys) -> str:
    """A new random link key (32 bytes), encrypted with ``keys``, for ``panel_secrets``."""
    return keys.fernet().encrypt(secrets.token_bytes(32)).decode("ascii")


def open_link_key(keys: PanelKeys, stored: str) -> bytes:
    """The link key from its ``panel_secrets`` row; PanelKeyError when no key opens it."""
    try:
        return keys.fernet().decrypt(stored.encode("ascii"))
    except InvalidToken:
        raise keys.no_key_opens("the member links' key in this database") from None


def _mac(key: bytes, member_id: int, wave_id: int) -> str:
    digest = hmac.new(key, _DOMAIN + f"{member_id}.{wave_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode("ascii").rstrip("=")


def unsubscribe_token(key: bytes, member_id: int, wave_id: int | None = None) -> str:
    """The token of ``member_id`` (in ``wave_id``'s messages): ``<member>.<wave or 0>.<mac>``."""
    if member_id < 1 or (wave_id is not None and wave_id < 1):
        raise ValueError("member and wave ids are positive row ids")
    wave = wave_id or 0
    return f"{member_id}.{wave}.{_mac(key, member_id, wave)}"


def unsubscribe_path(key: bytes, member_id: int, wave_id: int | None = None) -> str:
    """The path of the member's page (prefix it with the public URL): GET shows, POST acts."""
    return UNSUBSCRIBE_PREFIX + unsubscribe_token(key, member_id, wave_id)


def read_unsubscribe_token(key: bytes, token: str) -> MemberLink | None:
    """Whom ``token`` names, or None when it is not one this key made (tampered, truncated)."""
    found = _TOKEN.match(token)
    if found is None:
        return None
    member_id, wave_id = int(found[1]), int(found[2])
    if not hmac.compare_digest(found[3], _mac(key, member_id, wave_id)):
        return None
    return MemberLink(member_id, wave_id or None)
