"""The panel keys: contact details encrypted at rest, and the keyed hash that finds them.

Every contact detail is stored as a Fernet token (``cryptography``: AES-128-CBC
with HMAC-SHA256, a random IV, authenticated) made with the newest of the
panel keys. The keys come from the environment, newest first:

- ``INSTRUMENT_PANEL_KEYS``: keys separated by commas, or
- ``INSTRUMENT_PANEL_KEY_FILE``: a file with one key a line (``#`` comments and
  blank lines allowed), so that the keys stay out of the process environment;
  refused when other users may read or change it (as ssh refuses such a key).

With several keys, :class:`~cryptography.fernet.MultiFernet` decrypts with any
of them and encrypts with the first; so rotation is: put a new key first,
restart, run ``instrument panel rotate-key`` (every stored value is encrypted
again with the new key), then drop the old key.

Finding a member by an address or number (a bounce, an SMS STOP) must not
decrypt every row, so each detail also carries a lookup hash: HMAC-SHA256 of
its normalised value under a *lookup key*. That key is not derived from a panel
key, since rotating (and then dropping) keys would change every hash: it is
32 random bytes made the first time the database is used, stored in
``panel_secrets`` encrypted like a contact detail (so re-encrypted by
rotation), and never changed. A database copied without the panel keys gives
neither the details nor a way to test guesses against the hashes.

Nothing here prints or logs a key or a value; every problem is a
:class:`PanelKeyError` saying which variable is wrong and how.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = [
    "KEYS_VARIABLE",
    "KEY_FILE_VARIABLE",
    "LOOKUP_SECRET",
    "ContactSealer",
    "PanelKeyError",
    "PanelKeys",
    "new_key",
    "new_lookup_secret",
    "open_sealer",
]

KEYS_VARIABLE: Final = "INSTRUMENT_PANEL_KEYS"
KEY_FILE_VARIABLE: Final = "INSTRUMENT_PANEL_KEY_FILE"
LOOKUP_SECRET: Final = "contact_lookup"
"""The name of the lookup key's row in ``panel_secrets``."""

_NEW_KEY_HINT: Final = "`instrument panel new-key` prints a new one"


class PanelKeyError(Exception):
    """The panel keys are missing, malformed, or do not open what the database holds."""


def new_key() -> str:
    """A new random panel key (a Fernet key: 32 bytes, URL-safe base64, 44 characters)."""
    return Fernet.generate_key().decode("ascii")


@dataclass(frozen=True)
class PanelKeys:
    """The configured keys, newest first, and where they came from (for messages)."""

    keys: tuple[str, ...]
    source: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PanelKeys:
        """The keys from ``INSTRUMENT_PANEL_KEYS`` or ``INSTRUMENT_PANEL_KEY_FILE``.

        :raises PanelKeyError: neither is set, both are, the file cannot be
            read, or a key is not a Fernet key.
        """
        environ = os.environ if environ is None else environ
        listed = environ.get(KEYS_VARIABLE, "").strip()
        file_name = environ.get(KEY_FILE_VARIABLE, "").strip()
        if listed and file_name:
            raise PanelKeyError(
                f"both {KEYS_VARIABLE} and {KEY_FILE_VARIABLE} are set: set only one of them"
            )
        if listed:
            return cls.parse([part.strip() for part in listed.split(",")], source=KEYS_VARIABLE)
        if file_name:
            source = f"{KEY_FILE_VARIABLE} ({file_name})"
            try:
                text = Path(file_name).read_text(encoding="utf-8")
                mode = Path(file_name).stat().st_mode
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise PanelKeyError(f"{source}: the file cannot be read: {reason}") from None
            if os.name == "posix" and mode & 0o077:
                # As ssh refuses a private key others can read: whoever can read it can read
                # every member's contact details from a copy of the database.
                raise PanelKeyError(
                    f"{source}: other users may read or change the key file (mode "
                    f"{stat.S_IMODE(mode):04o}); make it its owner's only: chmod 600 {file_name}"
                )
            lines = [line.strip() for line in text.splitlines()]
            return cls.parse(
                [line for line in lines if line and not line.startswith("#")], source=source
            )
        raise PanelKeyError(
            f"no panel key: set {KEYS_VARIABLE} (keys separated by commas, newest first) or "
            f"{KEY_FILE_VARIABLE} (a file with one key a line, newest first); {_NEW_KEY_HINT}"
        )

    @classmethod
    def parse(cls, keys: list[str], *, source: str) -> PanelKeys:
        """Check each key (never repeating it in a message: a message may end up in a log)."""
        if not keys or not any(keys):
            raise PanelKeyError(f"{source} holds no key; {_NEW_KEY_HINT}")
        for number, key in enumerate(keys, start=1):
            where = f"key {number} of {len(keys)}" if len(keys) > 1 else "the key"
            if not key:
                raise PanelKeyError(f"{source}: {where} is empty (a comma too many?)")
            try:
                Fernet(key.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raise PanelKeyError(
                    f"{source}: {where} is not a panel key (a Fernet key: 32 random bytes in "
                    f"URL-safe base64, 44 characters ending in '='); {_NEW_KEY_HINT}"
                ) from None
        if len(set(keys)) != len(keys):
            raise PanelKeyError(f"{source}: the same key is given twice")
        return cls(keys=tuple(keys), source=source)

    def fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(key.encode("ascii")) for key in self.keys])

    def no_key_opens(self, what: str) -> PanelKeyError:
        count = f"{len(self.keys)} key{'s' if len(self.keys) > 1 else ''}"
        return PanelKeyError(
            f"{what} do not decrypt with the panel keys in {self.source} ({count} given): "
            "the key they were encrypted with is missing. Give it too (the newest key first, "
            "older ones after it)"
        )


class ContactSealer:
    """Encrypts and decrypts contact details, and makes their lookup hashes.

    Get one with :func:`open_sealer`, which also proves the keys open what the
    database already holds. Pure: it knows no database.
    """

    def __init__(self, keys: PanelKeys, lookup_key: bytes) -> None:
        self._keys = keys
        self._fernet = keys.fernet()
        self._lookup_key = lookup_key

    @property
    def keys(self) -> PanelKeys:
        return self._keys

    def seal(self, value: str) -> str:
        """``value`` encrypted with the newest key, as the ASCII Fernet token the store keeps."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        """The value of a stored token; PanelKeyError when no key opens it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise self._keys.no_key_opens("stored contact details") from None

    def reseal(self, token: str) -> str:
        """The same value encrypted again with the newest key (for rotation)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise self._keys.no_key_opens("stored contact details") from None

    def lookup_hash(self, kind: str, normalised: str) -> str:
        """The keyed hash a detail of ``kind`` is found by (``normalised``: see contact_values)."""
        message = f"{kind}\x00{normalised}".encode()
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()


def new_lookup_secret(keys: PanelKeys) -> str:
    """A new random lookup key (32 bytes), encrypted with ``keys``, for ``panel_secrets``."""
    return keys.fernet().encrypt(secrets.token_bytes(32)).decode("ascii")


def open_sealer(keys: PanelKeys, lookup_secret: str) -> ContactSealer:
    """A sealer with the database's lookup key, ``lookup_secret`` as ``panel_secrets`` holds it.

    The caller reads (or makes) it with ``Store.panel_secret(LOOKUP_SECRET,
    create=lambda: new_lookup_secret(keys), now=...)``; opening it here proves
    the keys are the ones this database's contact details were encrypted with.

    :raises PanelKeyError: no key opens it.
    """
    try:
        lookup_key = keys.fernet().decrypt(lookup_secret.encode("ascii"))
    except InvalidToken:
        raise keys.no_key_opens("the contact details in this database") from None
    return ContactSealer(keys, lookup_key)
