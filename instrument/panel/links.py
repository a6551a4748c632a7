"""Personal links of a wave's cases, derived when needed instead of kept.

A member's invitation, and each reminder, carries the same personal link. The
worker that writes a reminder on day 7 must be able to put that link in it,
but the store must not keep the token in clear (a copied database would open
every member's interview). So the token of a case is not random: it is an
HMAC-SHA256 of the case id under a *link key*, 32 random bytes made once per
database and kept in ``panel_secrets`` encrypted with the panel keys (as the
contacts' lookup key is). The store keeps only the token's SHA-256, in
``access_tokens``, like any personal link, so the web mode opens it with no
change. Whoever holds the panel keys (the worker, which needs them anyway to
decrypt addresses) can derive every link again; a database alone gives none.

The link that stops contact is another one, the member's own
(:mod:`instrument.panel.member_links`): it must never open the interview.

Pure: no database. Rotating the panel keys re-encrypts the link key with the
other secrets and changes no link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

from cryptography.fernet import InvalidToken

from .crypto import PanelKeys

__all__ = ["PERSONAL_LINK_SECRET", "CaseLinks", "new_link_secret", "open_links"]

PERSONAL_LINK_SECRET: Final = "personal_links"
"""The name of the link key's row in ``panel_secrets``."""

_TOKEN_LABEL: Final = b"personal-link\x00"


def new_link_secret(keys: PanelKeys) -> str:
    """A new random link key (32 bytes), encrypted with ``keys``, for ``panel_secrets``."""
    return keys.fernet().encrypt(secrets.token_bytes(32)).decode("ascii")


def open_links(keys: PanelKeys, link_secret: str) -> CaseLinks:
    """The links of this database, from its stored (encrypted) link key.

    :raises crypto.PanelKeyError: no panel key opens it.
    """
    try:
        key = keys.fernet().decrypt(link_secret.encode("ascii"))
    except InvalidToken:
        raise keys.no_key_opens("the personal-link key in this database") from None
    return CaseLinks(key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class CaseLinks:
    """Tokens of personal links, derived from a case id under the link key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a link key has at least 32 bytes")
        self._key = key

    def _mac(self, label: bytes, case_id: str) -> bytes:
        return hmac.new(self._key, label + case_id.encode("utf-8"), hashlib.sha256).digest()

    def token(self, case_id: str) -> str:
        """The case's personal-link token (43 URL-safe characters, 256 bits)."""
        return _b64(self._mac(_TOKEN_LABEL, case_id))

    def token_hash(self, case_id: str) -> str:
        """What the store keeps of the token: its SHA-256, as for every personal link."""
        return hashlib.sha256(self.token(case_id).encode("utf-8")).hexdigest()
