"""Panel waves in the store: opening one, its counts, closing it.

Opening a wave (:meth:`PanelWaves.open_wave`) is one transaction: the wave's
row, one case per eligible member (a fresh pseudonymous case id with the
member's preloads), the hash of each case's personal-link token in
``access_tokens`` and a ``wave_members`` row, written with one statement per
table and chunk as a sample import is (:mod:`instrument.store.case_import`),
and the staff audit entry, so that a wave is opened whole or not at all.

The store decides nothing about the wave's rules: which members are eligible
and what each one's preloads are is the ``choose`` callback's answer (the
expression language and the questionnaire live above the store), and tokens
come as their hashes from ``token_hash`` (the link secret is above the store
too, see ``instrument.panel.links``).

What the fieldwork worker does with a wave's members is in
:mod:`instrument.store.panel_work`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.cases import checked_case, upsert_cases
from instrument.store.nul import refuse_nul
from instrument.store.panel_members import PSEUDONYM_ALPHABET
from instrument.store.plumbing import StoreBase, utc
from instrument.store.records import StoreError
from instrument.store.schema import (
    access_tokens,
    case_queue,
    cases,
    interviews,
    members,
    panel_messages,
    panels,
    wave_members,
    waves,
)
from instrument.store.sms_attempts import SMS_INTERVIEW
from instrument.store.staff_audit import log_staff_action

__all__ = [
    "CHUNK",
    "EligibleMember",
    "WaveAlreadyOpened",
    "WaveOpened",
    "WaveRecord",
    "WaveSpec",
    "WaveStatus",
    "new_case_id",
]

CHUNK: Final = 500
"""Rows per ``executemany`` and per ``IN (...)`` list: well under both backends' limits."""

MESSAGE_KINDS: Final = ("invitation", "reminder")


_CASE_ID_SPACE: Final = len(PSEUDONYM_ALPHABET) ** 12


def new_case_id() -> str:
    """'W' and twelve random characters of the pseudonym alphabet: a case id that says nothing.

    One draw of a number below 31^12 (about 2^59) written in that alphabet:
    uniform, and a fifth of the cost of drawing each character on its own.
    """
    number = secrets.randbelow(_CASE_ID_SPACE)
    characters = []
    for _ in range(12):
        number, digit = divmod(number, len(PSEUDONYM_ALPHABET))
        characters.append(PSEUDONYM_ALPHABET[digit])
    return "W" + "".join(characters)


class WaveAlreadyOpened(StoreError):
    """The wave was opened before (it may be open or closed); nothing was stored."""


@dataclass(frozen=True, slots=True)
class WaveSpec:
    """What the store keeps of a wave file at opening (worked out above the store)."""

    panel: str
    key: str
    label: str
    questionnaire_id: str
    questionnaire_version_id: int
    file_digest: str
    source_text: str
    source_path: str | None
    starts_at: dt.datetime
    closes_at: dt.datetime


@dataclass(frozen=True, slots=True)
class EligibleMember:
    """A panel member as ``open_wave``'s ``choose`` sees it."""

    id: int
    pseudonym: str
    status: str
    language: str | None
    profile: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WaveRecord:
    id: int
    panel_id: int
    panel: str
    key: str
    label: str
    questionnaire_id: str
    questionnaire_version_id: int
    file_digest: str
    source_text: str
    source_path: str | None
    starts_at: dt.datetime
    closes_at: dt.datetime
    opened_at: dt.datetime
    opened_by: str
    closed_at: dt.datetime | None
    closed_by: str | None


@dataclass(frozen=True, slots=True)
class WaveOpened:
    wave: WaveRecord
    considered: int
    """Active members whose eligibility was asked."""
    eligible: int


@dataclass(frozen=True, slots=True)
class WaveStatus:
    """A wave's counts, each computed in SQL (no case is loaded to count it)."""

    wave: WaveRecord
    eligible: int
    invited: int
    reminded: int
    started: int
    finished: int
    moved_to_phone: int
    closed: int
    stopped: int
    due_now: int
    messages: Mapping[tuple[str, str], int]
    """(channel or action kind, state) -> count."""

    @property
    def sending(self) -> int:
        """Messages recorded but never confirmed sent: a worker stopped between the two.

        Not a text interview's first text (``sms_interview``): its try is recorded ``sending``
        while it is under way, and one a stopped worker left is taken up again after the lease
        (:attr:`texts_under_way`)."""
        return sum(
            n
            for (what, state), n in self.messages.items()
            if state == "sending" and what != SMS_INTERVIEW
        )

    @property
    def texts_under_way(self) -> int:
        """Tries of an ``sms_interview`` step under way now, or left by a worker that stopped
        (the next worker takes those up after ``TRY_LEASE``)."""
        return self.messages.get((SMS_INTERVIEW, "sending"), 0)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


_WAVE_COLUMNS = (*waves.c, panels.c.name.label("panel"))


def _wave(row: sa.Row[Any]) -> WaveRecord:
    return WaveRecord(**{name: getattr(row, name) for name in WaveRecord.__slots__})


class PanelWaves(StoreBase):
    """Opening, reading, counting and closing panel waves."""

    def open_wave(
        self,
        spec: WaveSpec,
        choose: Callable[[Sequence[EligibleMember]], Sequence[tuple[int, Mapping[str, Any]]]],
        token_hash: Callable[[str], str],
        *,
        now: dt.datetime,
        actor: str,
    ) -> WaveOpened:
        """Open a wave: every active member ``choose`` returns preloads for gets a case in it.

        ``choose(members)`` is given every active member of the panel and
        answers (member id, the case's preload values) for the eligible ones,
        checked and typed by the caller; should it raise, nothing is stored. Each case's
        personal link is stored as ``token_hash(case_id)`` (``access_tokens``,
        purpose ``respondent``, expiring when the wave closes). One
        transaction, with the audit entry ``wave_opened``.

        :raises WaveAlreadyOpened: the panel has a wave with this key already.
        :raises LookupError: there is no such panel.
        """
        now = utc(now)
        for what, text in (("wave", spec.key), ("label", spec.label), ("actor", actor)):
            refuse_nul(what, text)
        with self._transaction(write=True) as connection:
            panel_id = connection.execute(
                sa.select(panels.c.id).where(panels.c.name == spec.panel)
            ).scalar_one_or_none()
            if panel_id is None:
                raise LookupError(f"there is no panel {spec.panel!r} (import its members first)")
            self._refuse_opened(connection, panel_id, spec.key)
            wave_id = connection.execute(
                waves.insert()
                .values(
                    panel_id=panel_id,
                    key=spec.key,
                    label=spec.label,
                    questionnaire_id=spec.questionnaire_id,
                    questionnaire_version_id=spec.questionnaire_version_id,
                    file_digest=spec.file_digest,
                    source_text=spec.source_text,
                    source_path=spec.source_path,
                    starts_at=utc(spec.starts_at),
                    closes_at=utc(spec.closes_at),
                    opened_at=now,
                    opened_by=actor,
                )
                .returning(waves.c.id)
            ).scalar_one()
            rows = connection.execute(
                sa.select(
                    members.c.id,
                    members.c.pseudonym,
                    members.c.status,
                    members.c.language,
                    members.c.profile,
                )
                .where(members.c.panel_id == panel_id, members.c.status == "active")
                .order_by(members.c.id)
            ).all()
            chosen = choose([EligibleMember(*row) for row in rows])
            case_ids = _fresh_case_ids(connection, len(chosen))
            self._insert_wave_members(connection, spec, wave_id, chosen, case_ids, token_hash, now)
            log_staff_action(
                connection,
                actor=actor,
                action="wave_opened",
                subject=f"wave:{spec.panel}/{spec.key}",
                detail={
                    "eligible": len(chosen),
                    "considered": len(rows),
                    "digest": spec.file_digest,
                },
                at=now,
            )
            record = self._wave_row(connection, wave_id)
        if self.dialect == "postgresql":  # the worker's first claims plan with the new rows counted
            with self._transaction(write=True) as connection:
                connection.exec_driver_sql("ANALYZE wave_members, cases, access_tokens")
        return WaveOpened(record, considered=len(rows), eligible=len(chosen))

    def _refuse_opened(self, connection: sa.Connection, panel_id: int, key: str) -> None:
        found = connection.execute(
            sa.select(waves.c.opened_at, waves.c.closed_at).where(
                waves.c.panel_id == panel_id, waves.c.key == key
            )
        ).one_or_none()
        if found is None:
            return
        if found.closed_at is None:
            raise WaveAlreadyOpened(
                f"wave {key!r} is already open (since {found.opened_at:%Y-%m-%d %H:%M} UTC): "
                "`instrument wave status` shows how it is going"
            )
        raise WaveAlreadyOpened(
            f"wave {key!r} was opened on {found.opened_at:%Y-%m-%d} and closed on "
            f"{found.closed_at:%Y-%m-%d}; a wave is opened once (give a new wave id)"
        )

    def _insert_wave_members(
        self,
        connection: sa.Connection,
        spec: WaveSpec,
        wave_id: int,
        chosen: Sequence[tuple[int, Mapping[str, Any]]],
        case_ids: Sequence[str],
        token_hash: Callable[[str], str],
        now: dt.datetime,
    ) -> None:
        case_rows: list[dict[str, Any]] = []
        token_rows: list[dict[str, Any]] = []
        member_rows: list[dict[str, Any]] = []
        closes = utc(spec.closes_at)
        starts = utc(spec.starts_at)
        for (member_id, preload), case_id in zip(chosen, case_ids, strict=True):
            values, _ = checked_case(case_id, spec.questionnaire_id, preload)
            case_rows.append(
                {
                    "id": case_id,
                    "questionnaire_id": spec.questionnaire_id,
                    "preload": values,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            token_rows.append(
                {
                    "token_hash": token_hash(case_id),
                    "interview_id": None,
                    "case_id": case_id,
                    "questionnaire_id": spec.questionnaire_id,
                    "purpose": "respondent",
                    "created_at": now,
                    "expires_at": closes,
                    "used_at": None,
                }
            )
            member_rows.append(
                {
                    "wave_id": wave_id,
                    "member_id": member_id,
                    "case_id": case_id,
                    "eligible": True,
                    # the worker works out the member's plan on its first visit
                    "next_due": starts,
                    "claimed_by": None,
                    "claimed_until": None,
                    "started_at": None,
                    "finished_at": None,
                    "moved_to_phone_at": None,
                    "stopped_at": None,
                    "closed_at": None,
                    "updated_at": now,
                }
            )
        for table_rows, statement in (
            (case_rows, upsert_cases(self.dialect)),
            (token_rows, access_tokens.insert()),
            (member_rows, wave_members.insert()),
        ):
            for chunk in _chunks(table_rows):
                connection.execute(statement, list(chunk))

    # ------------------------------------------------------------------ reads

    def _wave_row(self, connection: sa.Connection, wave_id: int) -> WaveRecord:
        row = connection.execute(
            sa.select(*_WAVE_COLUMNS)
            .join(panels, panels.c.id == waves.c.panel_id)
            .where(waves.c.id == wave_id)
        ).one()
        return _wave(row)

    def get_wave(self, panel: str, key: str) -> WaveRecord | None:
        """The wave ``key`` of ``panel``, open or closed; None if it was never opened."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(*_WAVE_COLUMNS)
                .join(panels, panels.c.id == waves.c.panel_id)
                .where(panels.c.name == panel, waves.c.key == key)
            ).one_or_none()
        return None if row is None else _wave(row)

    def wave_by_id(self, wave_id: int) -> WaveRecord:
        with self._transaction() as connection:
            return self._wave_row(connection, wave_id)

    def open_waves(self) -> tuple[WaveRecord, ...]:
        """Every wave not yet closed, oldest first."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(*_WAVE_COLUMNS)
                .join(panels, panels.c.id == waves.c.panel_id)
                .where(waves.c.closed_at.is_(None))
                .order_by(waves.c.id)
            ).all()
        return tuple(_wave(row) for row in rows)

    def wave_status(self, wave_id: int, *, now: dt.datetime) -> WaveStatus:
        """The wave's counts, each one aggregate query."""
        now = utc(now)
        wm = wave_members
        in_wave = wm.c.wave_id == wave_id

        def members_with(kind: str) -> sa.ScalarSelect[Any]:
            return (
                sa.select(sa.func.count(sa.distinct(panel_messages.c.member_id)))
                .where(
                    panel_messages.c.wave_id == wave_id,
                    panel_messages.c.kind == kind,
                    panel_messages.c.state.in_(("sending", "queued", "sent", "delivered")),
                )
                .scalar_subquery()
            )

        started = (
            sa.select(sa.func.count(sa.distinct(wm.c.case_id)))
            .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
            .where(in_wave, interviews.c.is_test.is_(False))
            .scalar_subquery()
        )
        finished = (
            sa.select(sa.func.count(sa.distinct(wm.c.case_id)))
            .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
            .where(
                in_wave,
                interviews.c.is_test.is_(False),
                interviews.c.status.in_(("complete", "screened_out")),
            )
            .scalar_subquery()
        )
        counts = sa.select(
            sa.func.count().filter(wm.c.eligible.is_(True)),
            sa.func.count(wm.c.moved_to_phone_at),
            sa.func.count(wm.c.closed_at),
            sa.func.count(wm.c.stopped_at),
            sa.func.count().filter(wm.c.next_due <= now),
            members_with("invitation"),
            members_with("reminder"),
            started,
            finished,
        ).where(in_wave)
        by_state = (
            sa.select(
                sa.func.coalesce(panel_messages.c.channel, panel_messages.c.kind),
                panel_messages.c.state,
                sa.func.count(),
            )
            .where(panel_messages.c.wave_id == wave_id)
            .group_by(
                sa.func.coalesce(panel_messages.c.channel, panel_messages.c.kind),
                panel_messages.c.state,
            )
        )
        with self._transaction() as connection:
            wave = self._wave_row(connection, wave_id)
            row = connection.execute(counts).one()
            messages = {(str(a), str(b)): int(n) for a, b, n in connection.execute(by_state)}
        eligible, moved, closed, stopped, due, invited, reminded, n_started, n_finished = row
        return WaveStatus(
            wave=wave,
            eligible=eligible,
            invited=invited,
            reminded=reminded,
            started=n_started,
            finished=n_finished,
            moved_to_phone=moved,
            closed=closed,
            stopped=stopped,
            due_now=due,
            messages=dict(sorted(messages.items())),
        )

    # ------------------------------------------------------------------ closing

    def close_wave(self, wave_id: int, *, now: dt.datetime, actor: str) -> int:
        """Close a wave: nothing more is due, unfinished cases are closed; how many were closed.

        Unfinished cases: their ``wave_members`` row is closed, their personal
        link expires now, and a case in the call queue is taken out of it
        (``final``; a case an interviewer holds keeps its hold until coded).
        A finished interview stays as it is. Closing a closed wave is an error.
        """
        now = utc(now)
        refuse_nul("actor", actor)
        wm = wave_members
        with self._transaction(write=True) as connection:
            wave = connection.execute(
                sa.select(waves.c.key, waves.c.closed_at, panels.c.name)
                .join(panels, panels.c.id == waves.c.panel_id)
                .where(waves.c.id == wave_id)
                .with_for_update(of=waves)
            ).one_or_none()
            if wave is None:
                raise LookupError(f"no wave {wave_id}")
            if wave.closed_at is not None:
                raise StoreError(
                    f"wave {wave.key!r} was closed on {wave.closed_at:%Y-%m-%d %H:%M} UTC"
                )
            finished_cases = (
                sa.select(interviews.c.case_id)
                .where(
                    interviews.c.case_id == wm.c.case_id,
                    interviews.c.status.in_(("complete", "screened_out")),
                )
                .exists()
            )
            unfinished = (
                sa.select(wm.c.case_id)
                .where(wm.c.wave_id == wave_id, wm.c.closed_at.is_(None), ~finished_cases)
                .scalar_subquery()
            )
            connection.execute(
                access_tokens.update()
                .where(
                    access_tokens.c.case_id.in_(unfinished),
                    sa.or_(access_tokens.c.expires_at.is_(None), access_tokens.c.expires_at > now),
                )
                .values(expires_at=now)
            )
            connection.execute(
                case_queue.update()
                .where(
                    case_queue.c.case_id.in_(unfinished),
                    case_queue.c.final.is_(False),
                    case_queue.c.held_by.is_(None),
                )
                .values(final=True, updated_at=now)
            )
            closed = connection.execute(
                wm.update()
                .where(wm.c.wave_id == wave_id, wm.c.closed_at.is_(None), ~finished_cases)
                .values(closed_at=now, next_due=None, updated_at=now)
            ).rowcount
            connection.execute(
                wm.update()
                .where(wm.c.wave_id == wave_id, wm.c.next_due.is_not(None))
                .values(next_due=None, updated_at=now)
            )
            connection.execute(
                waves.update().where(waves.c.id == wave_id).values(closed_at=now, closed_by=actor)
            )
            log_staff_action(
                connection,
                actor=actor,
                action="wave_closed",
                subject=f"wave:{wave.name}/{wave.key}",
                detail={"closed_cases": closed},
                at=now,
            )
        return int(closed)


def _fresh_case_ids(connection: sa.Connection, count: int) -> list[str]:
    """``count`` new case ids, different from each other and from every stored case's."""
    chosen: set[str] = set()
    while len(chosen) < count:
        candidates = {new_case_id() for _ in range(count - len(chosen))} - chosen
        for chunk in _chunks(sorted(candidates)):
            candidates -= set(
                connection.execute(sa.select(cases.c.id).where(cases.c.id.in_(chunk))).scalars()
            )
        chosen |= candidates
    return sorted(chosen)
