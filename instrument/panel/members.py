"""A member's row made ready for the store: contact details sealed, consents attributed.

The store takes members, contacts and consents by their shape
(``instrument.store.panel_members.MemberLike`` and friends); these frozen
dataclasses are that shape, made here from a checked file row
(:mod:`instrument.panel.members_csv`) and a :class:`ContactSealer`. Pure: the
caller reads the lookup secret from the store and stores the result.

Lookup hashes are of a *normalised* value, so that the address a bounce names
finds the member whatever its case, and a number however it was written once
it is in E.164: emails lower-cased, names and postal addresses case-folded
with their white space collapsed, phone numbers as they are (E.164 already).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from instrument.panel.crypto import ContactSealer
from instrument.panel.members_csv import MemberRow

__all__ = ["Consent", "SealedContact", "SealedMember", "lookup_form", "seal_row"]


@dataclass(frozen=True, slots=True)
class SealedContact:
    kind: str
    rank: int
    ciphertext: str
    lookup_hash: str


@dataclass(frozen=True, slots=True)
class Consent:
    scope: str
    given: bool
    sheet_version: str
    at: dt.datetime
    mode: str
    recorded_by: str
    wave: str | None = None


@dataclass(frozen=True, slots=True)
class SealedMember:
    external_id: str
    status: str | None
    language: str | None
    preferred_mode: str | None
    profile: Mapping[str, str | None]
    contacts: Mapping[str, tuple[SealedContact, ...]]
    consents: Sequence[Consent]


def lookup_form(kind: str, value: str) -> str:
    """The form of a contact detail its lookup hash is made of (see the module's docstring)."""
    if kind == "email":
        return value.strip().lower()
    if kind == "phone":
        return value.strip()
    return " ".join(value.split()).casefold()


def seal_row(row: MemberRow, sealer: ContactSealer, *, recorded_by: str) -> SealedMember:
    """``row`` with its contact details encrypted and hashed, its consents recorded by ``recorded_by``."""
    contacts = {
        kind: tuple(
            SealedContact(
                kind=kind,
                rank=rank,
                ciphertext=sealer.seal(value),
                lookup_hash=sealer.lookup_hash(kind, lookup_form(kind, value)),
            )
            for rank, value in enumerate(values, start=1)
        )
        for kind, values in row.contacts.items()
    }
    consents = tuple(
        Consent(
            scope=c.scope,
            given=c.given,
            sheet_version=c.sheet_version,
            at=c.at,
            mode=c.mode,
            recorded_by=recorded_by,
        )
        for c in row.consents
    )
    return SealedMember(
        external_id=row.external_id,
        status=row.status,
        language=row.language,
        preferred_mode=row.preferred_mode,
        profile=row.profile,
        contacts=contacts,
        consents=consents,
    )
