"""Panel members: who they are to the panel, their encrypted contact details, consents, history.

The store never sees a contact detail in clear. What it is given and hands
back is a :class:`SealedContact`: the Fernet token of the value and a keyed
HMAC of its normalised form (``lookup_hash``), both made above the store
(:mod:`instrument.panel.crypto`), which alone holds the keys. Two consequences
shape this module: an import can tell an unchanged address or number from a
changed one by its lookup hash, without decrypting anything; and a bounce or an
SMS STOP finds its member by the hash of the address or number it names
(:meth:`PanelMembers.members_with_contact`).

An import (:meth:`PanelMembers.import_members`) is one transaction: all of a
file or none of it. Members are matched by the panel's own ``external_id``;
each gets a random pseudonym once, which is what answers and exports may
carry, in every wave. What an import changes is written to ``member_history``
as before/after of the fields that changed, contact details as fingerprints
(kind, rank, the start of the lookup hash) only.

Nothing here joins ``member_contacts`` to anything: a caller that needs a
member's address asks for it by member, separately (as for ``contacts``, see
docs/store.md, "Where personal data live").
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import sqlalchemy as sa

from instrument.store.fieldwork_records import dialect_insert
from instrument.store.nul import refuse_nul, refuse_nul_in_json
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import StoreError
from instrument.store.schema import (
    CONSENT_SCOPES,
    CONTACT_KINDS,
    MEMBER_STATUSES,
    consents,
    member_contacts,
    member_history,
    members,
    panel_secrets,
    panels,
)
from instrument.store.staff_audit import log_staff_action

__all__ = [
    "PSEUDONYM_ALPHABET",
    "ConsentLike",
    "ConsentRecord",
    "HistoryEntry",
    "MemberLike",
    "MemberImportRefused",
    "MemberImportReport",
    "MemberRecord",
    "PanelMembers",
    "PanelRecord",
    "SealedContactLike",
    "StoredContact",
    "fingerprint",
    "new_pseudonym",
]

_R = TypeVar("_R")

CHUNK: Final = 500
"""Rows per ``IN (...)`` list and per ``executemany``: well under both backends' parameter limits."""

PSEUDONYM_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: a pseudonym read out over the phone or copied by hand survives."""

FINAL_STATUSES: Final = frozenset({"withdrawn", "deceased"})
"""Statuses a file may not move a member out of (a withdrawal is the member's, not the file's)."""


def new_pseudonym() -> str:
    """'P' and ten random characters of :data:`PSEUDONYM_ALPHABET` (about 2^49 of them)."""
    return "P" + "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(10))


def fingerprint(contact: SealedContactLike) -> str:
    """How history names a contact detail: kind, rank and 8 hex digits of its lookup hash.

    Enough to see that "email 1 changed" between two imports, nothing to read
    the address from (the hash is keyed; 32 bits of it say less still).
    """
    return f"{contact.kind}:{contact.rank}:{contact.lookup_hash[:8]}"


class MemberImportRefused(StoreError):
    """An import was refused as a whole; ``problems`` are (external id, what is wrong)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{external_id}: {what}" for external_id, what in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class PanelRecord:
    id: int
    name: str
    created_at: dt.datetime


class SealedContactLike(Protocol):
    """One contact detail as the store keeps it: encrypted, with its keyed lookup hash.

    ``rank`` orders details of one kind (1 is tried first).
    ``instrument.panel.members.SealedContact`` fits.
    """

    @property
    def kind(self) -> str: ...
    @property
    def rank(self) -> int: ...
    @property
    def ciphertext(self) -> str: ...
    @property
    def lookup_hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class StoredContact:
    """A stored contact detail of a member, still encrypted, with what fieldwork learnt of it."""

    member_id: int
    kind: str
    rank: int
    ciphertext: str
    lookup_hash: str
    bounced_at: dt.datetime | None
    opted_out_at: dt.datetime | None
    updated_at: dt.datetime


class ConsentLike(Protocol):
    """A consent to record: ``scope`` one of CONSENT_SCOPES; ``wave`` names the wave for 'wave'.

    ``instrument.panel.members.Consent`` fits.
    """

    @property
    def scope(self) -> str: ...
    @property
    def given(self) -> bool: ...
    @property
    def sheet_version(self) -> str: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def mode(self) -> str: ...
    @property
    def recorded_by(self) -> str: ...
    @property
    def wave(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: int
    member_id: int
    scope: str
    wave: str | None
    sheet_version: str
    given: bool
    at: dt.datetime
    mode: str
    recorded_by: str


class MemberLike(Protocol):
    """One member of a file, checked, its contact details sealed.

    ``None`` in ``status``, ``language`` or ``preferred_mode``: the file does not
    say, so a stored member keeps what it has (a new one is ``active``).
    ``profile`` holds the file's profile columns only; they replace those keys
    and leave the others. ``contacts`` holds the kinds the file has columns
    for: each replaces the member's details of that kind (an empty tuple
    removes them); a kind not in it is left alone. A member who is withdrawn or
    deceased (stored, or in this file) gets no new contact details.
    ``instrument.panel.members.SealedMember`` fits.
    """

    @property
    def external_id(self) -> str: ...
    @property
    def status(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def preferred_mode(self) -> str | None: ...
    @property
    def profile(self) -> Mapping[str, str | None]: ...
    @property
    def contacts(self) -> Mapping[str, Sequence[SealedContactLike]]: ...
    @property
    def consents(self) -> Sequence[ConsentLike]: ...


@dataclass(frozen=True, slots=True)
class MemberImportReport:
    added: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: int
    panel_id: int
    external_id: str
    pseudonym: str
    status: str
    language: str | None
    preferred_mode: str | None
    profile: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    member_id: int
    at: dt.datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _record(cls: type[_R], row: sa.Row[Any]) -> _R:
    """A frozen record of ``cls`` from a row holding (at least) its fields."""
    return cls(**{name: getattr(row, name) for name in cls.__slots__})  # type: ignore[attr-defined]


def _member(row: sa.Row[Any]) -> MemberRecord:
    return _record(MemberRecord, row)


def _check_consent(consent: ConsentLike) -> None:
    if consent.scope not in CONSENT_SCOPES:
        raise ValueError(f"unknown consent {consent.scope!r}: one of {', '.join(CONSENT_SCOPES)}")
    if (consent.scope == "wave") != (consent.wave is not None):
        raise ValueError("a consent to a wave names the wave, and only such a consent does")
    for what, text in (
        ("sheet_version", consent.sheet_version),
        ("mode", consent.mode),
        ("recorded_by", consent.recorded_by),
        ("wave", consent.wave),
    ):
        refuse_nul(what, text)
    utc(consent.at)


def _check_member(entry: MemberLike) -> None:
    if not entry.external_id or len(entry.external_id) > 100:
        raise ValueError(f"external id {entry.external_id!r}: 1 to 100 characters")
    if entry.status is not None and entry.status not in MEMBER_STATUSES:
        raise ValueError(f"unknown status {entry.status!r}: one of {', '.join(MEMBER_STATUSES)}")
    for what, text in (
        ("external_id", entry.external_id),
        ("language", entry.language),
        ("preferred_mode", entry.preferred_mode),
    ):
        refuse_nul(what, text)
    refuse_nul_in_json("profile", dict(entry.profile))
    for kind, details in entry.contacts.items():
        if kind not in CONTACT_KINDS:
            raise ValueError(f"unknown kind of contact {kind!r}")
        if [c.rank for c in details] != list(range(1, len(details) + 1)):
            raise ValueError(f"{entry.external_id}: the {kind} details are not ranked 1, 2, ...")
        if any(c.kind != kind for c in details):
            raise ValueError(f"{entry.external_id}: a detail filed under {kind!r} is another kind")
    for consent in entry.consents:
        _check_consent(consent)


class PanelMembers(StoreBase):
    """Panels, their members, members' sealed contact details, consents and history."""

    # ------------------------------------------------------------------ panels

    def ensure_panel(self, name: str, *, now: dt.datetime) -> PanelRecord:
        """The panel called ``name``, made now if there is none (two callers at once: one panel)."""
        refuse_nul("panel", name)
        if not name or len(name) > 100:
            raise ValueError(f"panel name {name!r}: 1 to 100 characters")
        statement = dialect_insert(self.dialect, panels).on_conflict_do_nothing(
            index_elements=[panels.c.name]
        )
        with self._transaction(write=True) as connection:
            connection.execute(statement, {"name": name, "created_at": utc(now)})
            row = connection.execute(sa.select(panels).where(panels.c.name == name)).one()
        return PanelRecord(row.id, row.name, row.created_at)

    def get_panel(self, name: str) -> PanelRecord | None:
        row = self._read_one(
            sa.select(panels).where(panels.c.name == sa.bindparam("n")), {"n": name}
        )
        return None if row is None else PanelRecord(row.id, row.name, row.created_at)

    # ------------------------------------------------------------------ import

    def import_members(
        self,
        panel: str,
        entries: Sequence[MemberLike],
        *,
        now: dt.datetime,
        actor: str,
    ) -> MemberImportReport:
        """Add or update every member of ``entries`` in one transaction; counts of each.

        :raises ValueError: an external id twice, or a value the tables refuse
            (checked before anything is sent).
        :raises MemberImportRefused: members a file may not change: one stored
            as withdrawn or deceased given another status. Nothing is stored then.

        Two imports of one panel at once (PostgreSQL; SQLite writes one at a
        time) may both find a member new; the one whose insert then fails on
        the unique external id is run again, and updates the member instead.
        """
        now = utc(now)
        refuse_nul("actor", actor)
        ids = [entry.external_id for entry in entries]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"member {twice!r} is given twice")
        for entry in entries:
            _check_member(entry)
        panel_id = self.ensure_panel(panel, now=now).id
        try:
            return self._import(panel, panel_id, entries, now=now, actor=actor)
        except sa.exc.IntegrityError:
            # Another import added some of these members (or drew one of the pseudonyms)
            # after this one looked: once more, and they are found as stored.
            return self._import(panel, panel_id, entries, now=now, actor=actor)

    def _import(
        self,
        panel: str,
        panel_id: int,
        entries: Sequence[MemberLike],
        *,
        now: dt.datetime,
        actor: str,
    ) -> MemberImportReport:
        ids = [entry.external_id for entry in entries]
        with self._transaction(write=True) as connection:
            stored = self._stored_members(connection, panel_id, ids)
            refused = [
                (entry.external_id, f"is {old.status}; a file cannot make them {entry.status}")
                for entry in entries
                if (old := stored.get(entry.external_id)) is not None
                and old.status in FINAL_STATUSES
                and entry.status not in (None, old.status)
            ]
            if refused:
                raise MemberImportRefused(refused)
            fresh = [entry for entry in entries if entry.external_id not in stored]
            known = [member.id for member in stored.values()]
            contacts = self._stored_contacts(connection, known)
            latest = self._latest_consents(connection, known)
            stored.update(self._insert_members(connection, panel_id, fresh, now))
            new_ids = {entry.external_id for entry in fresh}
            changes = _Changes(now=now, actor=actor)
            for entry in entries:
                member = stored[entry.external_id]
                changes.add(
                    entry,
                    member,
                    contacts.get(member.id, {}),
                    latest,
                    new=entry.external_id in new_ids,
                )
            changes.write(connection, self.dialect)
            updated = len(changes.updated)
            report = MemberImportReport(
                added=len(fresh), updated=updated, unchanged=len(entries) - len(fresh) - updated
            )
            log_staff_action(
                connection,
                actor=actor,
                action="members_import",
                subject=f"panel:{panel}",
                detail={"added": report.added, "updated": updated, "unchanged": report.unchanged},
                at=now,
            )
        return report

    def _stored_members(
        self, connection: sa.Connection, panel_id: int, external_ids: Sequence[str]
    ) -> dict[str, MemberRecord]:
        """The stored members of ``external_ids``, locked until the transaction ends."""
        found: dict[str, MemberRecord] = {}
        for chunk in _chunks(sorted(external_ids)):
            rows = connection.execute(
                sa.select(members)
                .where(members.c.panel_id == panel_id, members.c.external_id.in_(chunk))
                .order_by(members.c.id)
                .with_for_update()
            ).all()
            found.update((row.external_id, _member(row)) for row in rows)
        return found

    def _insert_members(
        self,
        connection: sa.Connection,
        panel_id: int,
        entries: Sequence[MemberLike],
        now: dt.datetime,
    ) -> dict[str, MemberRecord]:
        """Insert new members, each with a pseudonym nobody has; their records by external id.

        The records are made from what was inserted and the ids it returned,
        not read back: in the import's transaction PostgreSQL's statistics still
        describe the table before the insert, and a read of thousands of fresh
        rows by external id was planned as a scan per chunk (16 s for 20,000).
        """
        rows = [
            {
                "panel_id": panel_id,
                "external_id": entry.external_id,
                "pseudonym": pseudonym,
                "status": entry.status or "active",
                "language": entry.language,
                "preferred_mode": entry.preferred_mode,
                "profile": dict(entry.profile),
                "created_at": now,
                "updated_at": now,
            }
            for entry, pseudonym in zip(entries, _fresh_pseudonyms(connection, len(entries)))
        ]
        inserted: dict[str, MemberRecord] = {}
        statement = members.insert().returning(
            members.c.id, members.c.external_id, sort_by_parameter_order=True
        )
        for chunk in _chunks(rows):
            for row, (member_id, external_id) in zip(
                chunk, connection.execute(statement, list(chunk))
            ):
                assert row["external_id"] == external_id
                values = {k: v for k, v in row.items() if k in MemberRecord.__slots__}
                inserted[external_id] = MemberRecord(id=member_id, **values)
        return inserted

    def _stored_contacts(
        self, connection: sa.Connection, member_ids: Sequence[int]
    ) -> dict[int, dict[str, list[StoredContact]]]:
        found: dict[int, dict[str, list[StoredContact]]] = {}
        for chunk in _chunks(sorted(member_ids)):
            rows = connection.execute(
                sa.select(member_contacts)
                .where(member_contacts.c.member_id.in_(chunk))
                .order_by(
                    member_contacts.c.member_id, member_contacts.c.kind, member_contacts.c.rank
                )
            ).all()
            for row in rows:
                found.setdefault(row.member_id, {}).setdefault(row.kind, []).append(
                    _record(StoredContact, row)
                )
        return found

    def _latest_consents(
        self, connection: sa.Connection, member_ids: Sequence[int]
    ) -> dict[tuple[int, str, str | None], tuple[bool, str]]:
        """Each member's newest consent per scope and wave: (given, sheet version)."""
        latest: dict[tuple[int, str, str | None], tuple[bool, str]] = {}
        for chunk in _chunks(sorted(member_ids)):
            rows = connection.execute(
                sa.select(consents)
                .where(consents.c.member_id.in_(chunk))
                .order_by(consents.c.at, consents.c.id)
            ).all()
            for row in rows:
                latest[(row.member_id, row.scope, row.wave)] = (row.given, row.sheet_version)
        return latest

    # ------------------------------------------------------------------ reads

    def get_member(
        self, panel: str, *, external_id: str | None = None, pseudonym: str | None = None
    ) -> MemberRecord | None:
        """A panel's member by its external id or its pseudonym (exactly one of them)."""
        if (external_id is None) == (pseudonym is None):
            raise TypeError("give external_id or pseudonym")
        statement = (
            sa.select(members)
            .join(panels, panels.c.id == members.c.panel_id)
            .where(panels.c.name == panel)
        )
        if external_id is not None:
            statement = statement.where(members.c.external_id == external_id)
        else:
            statement = statement.where(members.c.pseudonym == pseudonym)
        with self._transaction() as connection:
            row = connection.execute(statement).one_or_none()
        return None if row is None else _member(row)

    def count_members(self, panel: str) -> dict[str, int]:
        """How many members of the panel have each status (statuses with none left out)."""
        statement = (
            sa.select(members.c.status, sa.func.count())
            .join(panels, panels.c.id == members.c.panel_id)
            .where(panels.c.name == panel)
            .group_by(members.c.status)
        )
        with self._transaction() as connection:
            return dict(connection.execute(statement).all())

    def member_contacts(self, member_id: int) -> tuple[StoredContact, ...]:
        """A member's contact details, still encrypted, by kind and rank.

        Only code that contacts the member or shows an authorised person the
        details should ask; it decrypts them itself (instrument.panel).
        """
        with self._transaction() as connection:
            found = self._stored_contacts(connection, [member_id]).get(member_id, {})
        return tuple(contact for kind in sorted(found) for contact in found[kind])

    def members_with_contact(self, lookup_hash: str) -> tuple[StoredContact, ...]:
        """The contact details whose lookup hash is ``lookup_hash`` (a bounce, a STOP), any member's."""
        statement = (
            sa.select(member_contacts)
            .where(member_contacts.c.lookup_hash == lookup_hash)
            .order_by(member_contacts.c.member_id, member_contacts.c.kind, member_contacts.c.rank)
        )
        return self._records(StoredContact, statement)

    def member_history(self, member_id: int) -> tuple[HistoryEntry, ...]:
        """What happened to a member's record, oldest first."""
        statement = (
            sa.select(member_history)
            .where(member_history.c.member_id == member_id)
            .order_by(member_history.c.at, member_history.c.id)
        )
        return self._records(HistoryEntry, statement)

    def consents_of(self, member_id: int) -> tuple[ConsentRecord, ...]:
        """A member's consent records, oldest first (the newest per scope and wave holds)."""
        statement = (
            sa.select(consents)
            .where(consents.c.member_id == member_id)
            .order_by(consents.c.at, consents.c.id)
        )
        return self._records(ConsentRecord, statement)

    def _records(self, cls: type[_R], statement: sa.Select[Any]) -> tuple[_R, ...]:
        with self._transaction() as connection:
            return tuple(_record(cls, row) for row in connection.execute(statement))

    # ------------------------------------------------------------------ single writes

    def record_consent(self, member_id: int, consent: ConsentLike) -> ConsentRecord:
        """Append a consent record (consents are never changed: a later one supersedes)."""
        _check_consent(consent)
        values = {
            "member_id": member_id,
            "scope": consent.scope,
            "wave": consent.wave,
            "sheet_version": consent.sheet_version,
            "given": consent.given,
            "at": utc(consent.at),
            "mode": consent.mode,
            "recorded_by": consent.recorded_by,
        }
        with self._transaction(write=True) as connection:
            if (
                connection.execute(
                    sa.select(members.c.id).where(members.c.id == member_id)
                ).one_or_none()
                is None
            ):
                raise LookupError(f"no member {member_id}")
            new_id = connection.execute(
                consents.insert().values(values).returning(consents.c.id)
            ).scalar_one()
        return ConsentRecord(id=new_id, **values)

    def view_member_contacts(
        self, member_id: int, *, actor: str, now: dt.datetime
    ) -> tuple[StoredContact, ...]:
        """A member's contact details for a person to see, recorded in the staff audit log.

        The entry (``contacts_viewed``, the member by pseudonym, how many
        details) is written in the transaction that reads the details, so no
        person is shown them without a record of it. Code that only contacts
        the member (the fieldwork worker) reads :meth:`member_contacts`.
        """
        with self._transaction(write=True) as connection:
            pseudonym = connection.execute(
                sa.select(members.c.pseudonym).where(members.c.id == member_id)
            ).scalar_one_or_none()
            if pseudonym is None:
                raise LookupError(f"no member {member_id}")
            found = self._stored_contacts(connection, [member_id]).get(member_id, {})
            contacts = tuple(contact for kind in sorted(found) for contact in found[kind])
            log_staff_action(
                connection,
                actor=actor,
                action="contacts_viewed",
                subject=f"member:{pseudonym}",
                detail={"contacts": len(contacts)},
                at=utc(now),
            )
        return contacts

    def mark_contact(
        self, lookup_hash: str, what: str, *, now: dt.datetime, actor: str
    ) -> tuple[int, ...]:
        """Mark every detail with this lookup hash ``bounced`` or ``opted_out``; the members'.

        A detail already marked keeps its first time. Each member marked gets a
        history entry naming the detail by its fingerprint.
        """
        column = {"bounced": "bounced_at", "opted_out": "opted_out_at"}.get(what)
        if column is None:
            raise ValueError(f"a contact is marked 'bounced' or 'opted_out', not {what!r}")
        now = utc(now)
        with self._transaction(write=True) as connection:
            rows = connection.execute(
                sa.select(member_contacts)
                .where(
                    member_contacts.c.lookup_hash == lookup_hash,
                    member_contacts.c[column].is_(None),
                )
                .order_by(
                    member_contacts.c.member_id, member_contacts.c.kind, member_contacts.c.rank
                )
                .with_for_update()
            ).all()
            for row in rows:
                connection.execute(
                    member_contacts.update()
                    .where(
                        member_contacts.c.member_id == row.member_id,
                        member_contacts.c.kind == row.kind,
                        member_contacts.c.rank == row.rank,
                    )
                    .values({column: now, "updated_at": now})
                )
                connection.execute(
                    member_history.insert().values(
                        member_id=row.member_id,
                        at=now,
                        actor=actor,
                        action=what,
                        before=None,
                        after={"contact": fingerprint(_record(StoredContact, row))},
                    )
                )
        return tuple(sorted({row.member_id for row in rows}))

    # ------------------------------------------------------------------ keys

    def panel_secret(self, name: str, *, create: Callable[[], str], now: dt.datetime) -> str:
        """The stored (encrypted) secret ``name``; made with ``create()`` the first time.

        Two processes asking at once for a secret not yet made store one: the
        second's insert does nothing and both read the first's.
        """
        statement = dialect_insert(self.dialect, panel_secrets).on_conflict_do_nothing(
            index_elements=[panel_secrets.c.name]
        )
        query = sa.select(panel_secrets.c.ciphertext).where(panel_secrets.c.name == name)
        with self._transaction() as connection:
            found = connection.execute(query).scalar_one_or_none()
        if found is not None:
            return str(found)
        now = utc(now)
        with self._transaction(write=True) as connection:
            connection.execute(
                statement,
                {"name": name, "ciphertext": create(), "created_at": now, "updated_at": now},
            )
            return str(connection.execute(query).scalar_one())

    def reseal_panel_data(
        self, reseal: Callable[[str], str], *, now: dt.datetime, actor: str
    ) -> int:
        """Replace every stored ciphertext (contacts and secrets) by ``reseal(ciphertext)``.

        One transaction, with its ``panel_keys_rotated`` entry in the staff
        audit log: should ``reseal`` raise on any row (a token no key opens),
        nothing is changed. Lookup hashes stay as they are. Returns the number
        of values resealed.
        """
        now = utc(now)
        count = 0
        key_columns = (member_contacts.c.member_id, member_contacts.c.kind, member_contacts.c.rank)
        with self._transaction(write=True) as connection:
            secrets_rows = connection.execute(
                sa.select(panel_secrets.c.name, panel_secrets.c.ciphertext).with_for_update()
            ).all()
            for row in secrets_rows:
                connection.execute(
                    panel_secrets.update()
                    .where(panel_secrets.c.name == row.name)
                    .values(ciphertext=reseal(row.ciphertext), updated_at=now)
                )
                count += 1
            update = (
                member_contacts.update()
                .where(
                    member_contacts.c.member_id == sa.bindparam("m"),
                    member_contacts.c.kind == sa.bindparam("k"),
                    member_contacts.c.rank == sa.bindparam("r"),
                )
                .values(ciphertext=sa.bindparam("c"))
            )
            after: tuple[Any, ...] | None = None
            while True:
                statement = (
                    sa.select(*key_columns, member_contacts.c.ciphertext)
                    .order_by(*key_columns)
                    .limit(CHUNK)
                    .with_for_update()
                )
                if after is not None:
                    statement = statement.where(sa.tuple_(*key_columns) > sa.tuple_(*after))
                rows = connection.execute(statement).all()
                if not rows:
                    break
                connection.execute(
                    update,
                    [
                        {"m": r.member_id, "k": r.kind, "r": r.rank, "c": reseal(r.ciphertext)}
                        for r in rows
                    ],
                )
                count += len(rows)
                after = tuple(rows[-1])[:3]
            log_staff_action(
                connection,
                actor=actor,
                action="panel_keys_rotated",
                detail={"values": count},
                at=now,
            )
        return count


def _fresh_pseudonyms(connection: sa.Connection, count: int) -> list[str]:
    """``count`` new pseudonyms, different from each other and from every stored one."""
    chosen: set[str] = set()
    while len(chosen) < count:
        candidates = {new_pseudonym() for _ in range(count - len(chosen))} - chosen
        for chunk in _chunks(sorted(candidates)):
            candidates -= set(
                connection.execute(
                    sa.select(members.c.pseudonym).where(members.c.pseudonym.in_(chunk))
                ).scalars()
            )
        chosen |= candidates
    return list(chosen)


class _Changes:
    """What an import writes, worked out member by member, then written in a few statements."""

    def __init__(self, *, now: dt.datetime, actor: str) -> None:
        self.now = now
        self.actor = actor
        self.updated: set[int] = set()
        self.member_updates: list[dict[str, Any]] = []
        self.contact_deletes: list[dict[str, Any]] = []
        self.contact_inserts: list[dict[str, Any]] = []
        self.consent_inserts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []

    def add(
        self,
        entry: MemberLike,
        member: MemberRecord,
        stored_contacts: Mapping[str, list[StoredContact]],
        latest: Mapping[tuple[int, str, str | None], tuple[bool, str]],
        *,
        new: bool,
    ) -> None:
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        values: dict[str, Any] = {}
        if new:  # inserted as the file gives it: the history holds all of it
            after.update(
                status=member.status,
                language=member.language,
                preferred_mode=member.preferred_mode,
                profile=dict(member.profile),
            )
        else:
            for name in _UPDATED:
                given = getattr(entry, name)
                if given is not None and given != getattr(member, name):
                    before[name], after[name] = getattr(member, name), given
                    values[name] = given
            profile = {**member.profile, **entry.profile}
            if profile != member.profile:
                changed = sorted(k for k in profile if member.profile.get(k, ...) != profile[k])
                before["profile"] = {k: member.profile.get(k) for k in changed}
                after["profile"] = {k: profile[k] for k in changed}
                values["profile"] = profile
        status = values.get("status", member.status)
        if status not in FINAL_STATUSES and member.status not in FINAL_STATUSES:
            self._contacts(entry, member, stored_contacts, before, after)
        for consent in entry.consents:
            key = (member.id, consent.scope, consent.wave)
            if latest.get(key) == (consent.given, consent.sheet_version):
                continue
            self.consent_inserts.append(
                {
                    "member_id": member.id,
                    "scope": consent.scope,
                    "wave": consent.wave,
                    "sheet_version": consent.sheet_version,
                    "given": consent.given,
                    "at": utc(consent.at),
                    "mode": consent.mode,
                    "recorded_by": consent.recorded_by,
                }
            )
            after.setdefault("consents", []).append(
                {"scope": consent.scope, "given": consent.given, "sheet": consent.sheet_version}
            )
        if new:
            self.history.append(self._entry(member.id, "added", None, after))
            return
        if after:
            self.updated.add(member.id)
            self.history.append(self._entry(member.id, "updated", before, after))
        if values:
            self.member_updates.append(
                {
                    "_id": member.id,
                    **{f"_{n}": values.get(n, getattr(member, n)) for n in _UPDATED},
                    "_profile": values.get("profile", member.profile),
                    "_updated_at": self.now,
                }
            )

    def _contacts(
        self,
        entry: MemberLike,
        member: MemberRecord,
        stored_contacts: Mapping[str, list[StoredContact]],
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        for kind, details in entry.contacts.items():
            old = stored_contacts.get(kind, [])
            if [c.lookup_hash for c in old] == [c.lookup_hash for c in details]:
                continue
            # A bounce or an opt-out belongs to the address or number, wherever it moves.
            marks = {c.lookup_hash: (c.bounced_at, c.opted_out_at) for c in old}
            self.contact_deletes.append({"_member": member.id, "_kind": kind})
            for contact in details:
                bounced, opted_out = marks.get(contact.lookup_hash, (None, None))
                self.contact_inserts.append(
                    {
                        "member_id": member.id,
                        "kind": kind,
                        "rank": contact.rank,
                        "ciphertext": contact.ciphertext,
                        "lookup_hash": contact.lookup_hash,
                        "bounced_at": bounced,
                        "opted_out_at": opted_out,
                        "updated_at": self.now,
                    }
                )
            before.setdefault("contacts", []).extend(fingerprint(c) for c in old)
            after.setdefault("contacts", []).extend(fingerprint(c) for c in details)

    def _entry(
        self, member_id: int, action: str, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "member_id": member_id,
            "at": self.now,
            "actor": self.actor,
            "action": action,
            "before": before or None,
            "after": after or None,
        }

    def write(self, connection: sa.Connection, dialect: str) -> None:
        if self.member_updates:
            statement = (
                members.update()
                .where(members.c.id == sa.bindparam("_id"))
                .values({n: sa.bindparam(f"_{n}") for n in (*_UPDATED, "profile", "updated_at")})
            )
            for chunk in _chunks(self.member_updates):
                connection.execute(statement, list(chunk))
        if self.contact_deletes:
            statement = member_contacts.delete().where(
                member_contacts.c.member_id == sa.bindparam("_member"),
                member_contacts.c.kind == sa.bindparam("_kind"),
            )
            for chunk in _chunks(self.contact_deletes):
                connection.execute(statement, list(chunk))
        for table, rows in (
            (member_contacts, self.contact_inserts),
            (consents, self.consent_inserts),
            (member_history, self.history),
        ):
            for chunk in _chunks(rows):
                connection.execute(table.insert(), list(chunk))


_UPDATED: Final = ("status", "language", "preferred_mode")
