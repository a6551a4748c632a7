"""The fieldwork worker's side of the store: claiming due members, recording what it does.

Three rules make "never send a message twice" hold below the worker's code:

- **Claims are short.** :meth:`PanelWork.claim_due_members` marks a batch of
  due ``wave_members`` rows as the worker's until a lease ends, in one short
  transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers take
  different rows without waiting for each other; ``BEGIN IMMEDIATE`` on SQLite,
  where writers take turns). No transaction is held open while a channel sends.
- **A message is recorded before it is sent.** :meth:`PanelWork.record_messages`
  inserts a group of messages in state ``sending`` under their unique
  idempotency keys and commits; only the worker whose insert went in sends a
  message. A second worker, or the same one after a restart, finds the key
  taken and sends nothing.
- **The members are checked again under that insert.** The same transaction
  reads, for the whole group in one statement, each member's status, the wave
  row's claim, stop and close marks, the case's withdrawal and its interviews:
  a member who finished, opted out or withdrew a moment ago is sent nothing.

A group is one transaction to record and one statement to set the receipts'
states (:meth:`PanelWork.finish_messages`), whatever its size: the store's cost
per message is what a commit costs divided by the group. A crash between the
insert and the sends leaves at most that group ``sending``: nothing sends it
again on its own (a person looks, see ``instrument wave status``). A message
that failed for a reason that may pass (a server down) is tried again later,
by turning its row back to ``sending`` with a compare-and-set, so again only
one worker does.

States move forward only (:data:`~instrument.store.panel_delivery.STATE_RANK`,
compared in SQL): a receipt written after a delivery report ('sent' after
'delivered') keeps the report's state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from instrument.panel.member_zone import REGION_VARIABLE, ZONE_VARIABLE
from instrument.store.fieldwork_records import dialect_insert
from instrument.store.nul import refuse_nul, refuse_nul_in_json
from instrument.store.panel_delivery import STATE_RANK
from instrument.store.panel_members import StoredContact
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    access_tokens,
    case_queue,
    cases,
    interviews,
    member_contacts,
    members,
    panel_messages,
    wave_members,
    waves,
)

__all__ = [
    "MAX_ATTEMPTS",
    "ClaimedMember",
    "MessageReceipt",
    "MessageRow",
    "PanelWork",
    "PlannedMessage",
]

CHUNK: Final = 500

MAX_ATTEMPTS: Final = 3
"""A message that failed for a passing reason is tried this many times in all."""

FINISHED: Final = ("complete", "screened_out")
"""Interview statuses that end a member's contacts (an abandoned interview may be resumed)."""


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message or action already recorded for a member (what the plan counts as done)."""

    id: int
    kind: str
    step: str
    channel: str | None
    state: str
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ClaimedMember:
    """Everything the worker needs of one member it has claimed, read in a few batched queries."""

    wave_id: int
    member_id: int
    case_id: str
    pseudonym: str
    member_status: str
    language: str | None
    preload: Mapping[str, Any]
    case_withdrawn: bool
    stopped_at: dt.datetime | None
    closed_at: dt.datetime | None
    moved_to_phone_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    finished_status: str | None
    """``complete`` or ``screened_out`` once an interview of the case has ended so."""
    contacts: tuple[StoredContact, ...]
    messages: tuple[MessageRow, ...]
    time_zone: str | None = None
    """The member's profile's ``time_zone`` (an IANA name, checked at import), if any."""
    region: str | None = None
    """The member's profile's ``region``, if any: a zone may follow from it."""


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """A message the worker means to send, to be recorded before it is (one of a group)."""

    member: ClaimedMember
    kind: str
    step: str
    channel: str
    template: str | None
    language: str | None
    contact_kind: str
    contact_rank: int
    key: str
    """The idempotency key: unique in ``panel_messages``, the same on every worker."""


@dataclass(frozen=True, slots=True)
class MessageReceipt:
    """A recorded message's state from its channel's receipt (one of a group's, set together)."""

    message_id: int
    state: str
    provider_id: str | None = None
    error: str | None = None
    untried: bool = False
    """Recorded but never handed to the channel (a channel's settings failed first): the try
    it was recorded as is given back, so it keeps all its tries."""


RECEIPT_RANK: Final = {**STATE_RANK, "unknown": 1}
"""A receipt's order: the delivery reports' (sending < queued < sent < delivered, failed and
bounced final), and ``unknown`` (the channel raised) only over ``sending``."""


def _rank(state: Any) -> Any:
    """A state's :data:`RECEIPT_RANK` in SQL; a state not in it (``done``) ranks above all."""
    return sa.case(RECEIPT_RANK, value=state, else_=len(RECEIPT_RANK) + 1)


def _given(dialect: str, columns: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Each column's value in a statement run for many rows at once.

    On PostgreSQL a column of the rows unnested from one array parameter per
    column (``{prefix}{name}``, a list each): one statement whose text is the
    same whatever the number of rows, so psycopg converts and prepares it
    once. On SQLite a parameter of each of the statement's parameter sets.
    """
    if dialect == "postgresql":
        rows = (
            sa.func.unnest(
                *(sa.cast(sa.bindparam(f"{prefix}{c}"), ARRAY(t)) for c, t in columns.items())
            )
            .table_valued(*columns)
            .render_derived(name="r")
        )
        return {c: rows.c[c] for c in columns}
    return {c: sa.bindparam(f"{prefix}{c}", type_=t) for c, t in columns.items()}


def _finish_statement(dialect: str) -> sa.Update:
    """The receipts' UPDATE: on PostgreSQL one statement for the group, its receipts as arrays
    unnested by the server (``r_id``, ``r_state``, ... each a list); on SQLite one row per
    parameter set."""
    pm = panel_messages
    now = sa.bindparam("r_now", type_=pm.c.updated_at.type)
    columns = {
        "id": pm.c.id.type,
        "state": pm.c.state.type,
        "provider_id": pm.c.provider_id.type,
        "error": pm.c.error.type,
        "untried": sa.Integer(),
    }
    given = _given(dialect, columns, "r_")
    state = given["state"]
    forward = _rank(pm.c.state) < _rank(state)
    sent = sa.case(
        (sa.or_(*(state == left for left in ("sent", "queued", "delivered"))), now),
        else_=sa.null(),
    )
    return (
        pm.update()
        .where(pm.c.id == given["id"])
        .values(
            state=sa.case((forward, state), else_=pm.c.state),
            error=sa.case((forward, given["error"]), else_=pm.c.error),
            provider_id=sa.func.coalesce(given["provider_id"], pm.c.provider_id),
            sent_at=sa.func.coalesce(pm.c.sent_at, sent),
            attempts=pm.c.attempts - given["untried"],
            updated_at=now,
        )
    )


_FINISH: Final = {dialect: _finish_statement(dialect) for dialect in ("postgresql", "sqlite")}


_GROUP_COLUMNS: Final = (
    "wave_id",
    "member_id",
    "case_id",
    "kind",
    "step",
    "channel",
    "template",
    "language",
    "contact_kind",
    "contact_rank",
    "idempotency_key",
)
"""The columns that differ from one message of a group to the next (the rest are the group's)."""


def _record_statement(dialect: str) -> Any:
    """The group's INSERT: a row per message, a taken key skipped, the new ids returned.

    On PostgreSQL the rows go as one array per column, unnested by the server:
    the statement's text is the same for every group, so psycopg converts and
    prepares it once, where a ``VALUES`` list of 50 rows is 1,000 parameters
    in a text of its own that psycopg parsed again for every group (a tenth of
    a worker's time at 100,000 members). SQLite takes the rows as parameter
    sets (SQLAlchemy's "insertmanyvalues").
    """
    pm = panel_messages
    insert = dialect_insert(dialect, pm)
    if dialect == "postgresql":
        rows = _given(dialect, {c: pm.c[c].type for c in _GROUP_COLUMNS}, "a_")
        now = sa.bindparam("now", type_=pm.c.created_at.type)
        insert = insert.from_select(
            [*_GROUP_COLUMNS, "state", "attempts", "claimed_by", "created_at", "updated_at"],
            sa.select(
                *rows.values(),
                sa.literal("sending", pm.c.state.type),
                sa.literal(1, pm.c.attempts.type),
                sa.bindparam("worker", type_=pm.c.claimed_by.type),
                now,
                now,
            ),
        )
    return insert.on_conflict_do_nothing(index_elements=[pm.c.idempotency_key]).returning(
        pm.c.id, pm.c.idempotency_key
    )


_RECORD: Final = {dialect: _record_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _release_statement(dialect: str) -> sa.Update:
    """Members handed back with when each is next due, where the claim is still the worker's:
    on PostgreSQL one statement for a batch (``w``, ``m``, ``due``, ``started``, ``finished``
    each a list), on SQLite one row per parameter set."""
    wm = wave_members
    columns = {
        "w": wm.c.wave_id.type,
        "m": wm.c.member_id.type,
        "due": wm.c.next_due.type,
        "started": wm.c.started_at.type,
        "finished": wm.c.finished_at.type,
    }
    given = _given(dialect, columns)
    return (
        wm.update()
        .where(
            wm.c.wave_id == given["w"],
            wm.c.member_id == given["m"],
            wm.c.claimed_by == sa.bindparam("worker", type_=wm.c.claimed_by.type),
        )
        .values(
            next_due=given["due"],
            claimed_by=None,
            claimed_until=None,
            started_at=sa.func.coalesce(wm.c.started_at, given["started"]),
            finished_at=sa.func.coalesce(wm.c.finished_at, given["finished"]),
            updated_at=sa.bindparam("now", type_=wm.c.updated_at.type),
        )
    )


_RELEASE: Final = {dialect: _release_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _record_parameters(
    dialect: str, worker: str, group: Sequence[PlannedMessage], now: dt.datetime
) -> Any:
    """:data:`_RECORD`'s parameters for ``group``: arrays (PostgreSQL) or a row per message."""
    if dialect != "postgresql":
        return [_message_row(worker, m, now) for m in group]
    rows = [_message_row(worker, m, now) for m in group]
    arrays: dict[str, Any] = {f"a_{c}": [row[c] for row in rows] for c in _GROUP_COLUMNS}
    return {**arrays, "worker": worker, "now": now}


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _by_wave(keys: Sequence[tuple[int, int]]) -> dict[int, list[int]]:
    """Member ids by wave, sorted, each once."""
    by_wave: dict[int, set[int]] = {}
    for wave, member in keys:
        by_wave.setdefault(wave, set()).add(member)
    return {wave: sorted(ids) for wave, ids in sorted(by_wave.items())}


def _ids_in(dialect: str, column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids``: one array parameter on PostgreSQL (a statement text that is the same
    whatever the number of ids, so converted and prepared once), a list on SQLite."""
    if dialect == "postgresql":
        return column == sa.any_(sa.cast(sa.bindparam(None, list(ids)), ARRAY(column.type)))
    return column.in_(list(ids))


def _in_waves(dialect: str, wave_id: Any, member_id: Any, keys: Sequence[tuple[int, int]]) -> Any:
    """``(wave_id, member_id) IN keys`` as ``wave_id = w AND member_id IN (...)`` per wave.

    Why not a row-value ``IN``: PostgreSQL plans ``(a, b) IN ((1, 2), ...)`` as
    one index probe per pair OR-ed together (a 500-member batch: 60 ms to
    plan, then the members and cases tables read whole to join them). Written
    per wave, it is one range of the ``(wave_id, member_id)`` index.
    """
    return sa.or_(
        *(
            sa.and_(wave_id == wave, _ids_in(dialect, member_id, ids))
            for wave, ids in _by_wave(keys).items()
        )
    )


def _member_messages(dialect: str, wave_id: int, member_ids: Sequence[int]) -> sa.Select[Any]:
    """The messages and actions of these members of a wave, oldest first.

    On PostgreSQL each member's rows are looked up on their own (a ``LATERAL``
    subquery that ``OFFSET 0`` keeps from being merged into the join), so the
    ``(wave_id, member_id)`` index is used whatever the table's statistics
    say. Without that, while ``panel_messages`` has not been analysed since
    the wave began (autovacuum off, or not yet come round), PostgreSQL takes
    ``wave_id = w`` for a rare value and reads the wave's whole range of an
    index, filtering out every other member's messages: 300 ms a read at
    100,000 messages, twice a round, growing with every message sent.
    """
    pm = panel_messages
    columns = (pm.c.member_id, *(pm.c[n] for n in MessageRow.__slots__))
    if dialect != "postgresql":
        return (
            sa.select(*columns)
            .where(pm.c.wave_id == wave_id, pm.c.member_id.in_(list(member_ids)))
            .order_by(pm.c.id)
        )
    wanted = (
        sa.func.unnest(sa.cast(sa.bindparam("ids", list(member_ids)), ARRAY(pm.c.member_id.type)))
        .table_valued("member_id")
        .render_derived(name="wanted")
    )
    theirs = (
        sa.select(*columns)
        .where(pm.c.wave_id == wave_id, pm.c.member_id == wanted.c.member_id)
        .offset(0)
        .lateral("theirs")
    )
    return sa.select(theirs).select_from(wanted).join(theirs, sa.true()).order_by(theirs.c.id)


class PanelWork(StoreBase):
    """Claims, message records and actions of the fieldwork worker."""

    def claim_due_members(
        self, worker: str, *, now: dt.datetime, limit: int, lease: dt.timedelta
    ) -> list[ClaimedMember]:
        """Claim up to ``limit`` members whose ``next_due`` has come, in open waves; read them.

        A member another worker holds (its lease not yet over) is skipped; a
        lapsed lease (a worker that died) is taken over.
        """
        now = utc(now)
        refuse_nul("worker", worker)
        wm = wave_members
        due = (
            sa.select(wm.c.wave_id, wm.c.member_id)
            .join(waves, waves.c.id == wm.c.wave_id)
            .where(
                wm.c.next_due <= now,
                waves.c.closed_at.is_(None),
                sa.or_(wm.c.claimed_until.is_(None), wm.c.claimed_until <= now),
            )
            .order_by(wm.c.next_due)
            .limit(limit)
            .with_for_update(skip_locked=True, of=wm)
        )
        with self._transaction(write=True) as connection:
            keys = [(row.wave_id, row.member_id) for row in connection.execute(due)]
            if keys:  # one UPDATE for the batch, the rows locked above
                connection.execute(
                    wm.update()
                    .where(_in_waves(self.dialect, wm.c.wave_id, wm.c.member_id, keys))
                    .values(claimed_by=worker, claimed_until=now + lease)
                )
        return self.read_wave_members(keys) if keys else []

    def read_wave_members(self, keys: Sequence[tuple[int, int]]) -> list[ClaimedMember]:
        """The members of ``keys`` ((wave id, member id)) as the worker sees them, read afresh."""
        wm = wave_members
        found: list[ClaimedMember] = []
        with self._transaction() as connection:
            for chunk in _chunks(list(keys)):
                member_ids = sorted({m for _, m in chunk})
                rows = connection.execute(
                    sa.select(
                        wm,
                        members.c.pseudonym,
                        members.c.status.label("member_status"),
                        members.c.language,
                        # the two profile values a member's zone follows from, not the profile
                        members.c.profile[ZONE_VARIABLE].as_string().label("time_zone"),
                        members.c.profile[REGION_VARIABLE].as_string().label("region"),
                        cases.c.preload,
                        cases.c.withdrawn_at,
                    )
                    .join(members, members.c.id == wm.c.member_id)
                    .join(cases, cases.c.id == wm.c.case_id)
                    .where(_in_waves(self.dialect, wm.c.wave_id, wm.c.member_id, chunk))
                ).all()
                case_ids = [row.case_id for row in rows]
                progress = _interview_progress(connection, case_ids)
                contacts: dict[int, list[StoredContact]] = {}
                mc = member_contacts
                for c in connection.execute(
                    sa.select(*(mc.c[n] for n in StoredContact.__slots__))
                    .where(_ids_in(self.dialect, mc.c.member_id, member_ids))
                    .order_by(mc.c.member_id, mc.c.kind, mc.c.rank)
                ):
                    contacts.setdefault(c[0], []).append(StoredContact(*c))  # columns in order
                done: dict[tuple[int, int], list[MessageRow]] = {}
                for wave_id, ids in _by_wave(chunk).items():
                    for m in connection.execute(_member_messages(self.dialect, wave_id, ids)):
                        done.setdefault((wave_id, m.member_id), []).append(
                            MessageRow(*m[1:])  # member_id, then MessageRow's fields in order
                        )
                for row in rows:
                    started, finished, status = progress.get(row.case_id, (None, None, None))
                    found.append(
                        ClaimedMember(
                            wave_id=row.wave_id,
                            member_id=row.member_id,
                            case_id=row.case_id,
                            pseudonym=row.pseudonym,
                            member_status=row.member_status,
                            language=row.language,
                            preload=dict(row.preload),
                            case_withdrawn=row.withdrawn_at is not None,
                            stopped_at=row.stopped_at,
                            closed_at=row.closed_at,
                            moved_to_phone_at=row.moved_to_phone_at,
                            started_at=started,
                            finished_at=finished,
                            finished_status=status,
                            contacts=tuple(contacts.get(row.member_id, ())),
                            messages=tuple(done.get((row.wave_id, row.member_id), ())),
                            time_zone=row.time_zone,
                            region=row.region,
                        )
                    )
        return found

    # ------------------------------------------------------------------ messages

    def record_message(
        self,
        worker: str,
        member: ClaimedMember,
        *,
        kind: str,
        step: str,
        channel: str,
        template: str | None,
        language: str | None,
        contact_kind: str,
        contact_rank: int,
        key: str,
        now: dt.datetime,
    ) -> int | str:
        """One message as :meth:`record_messages` records a group: its id, or why not to send it."""
        planned = PlannedMessage(
            member, kind, step, channel, template, language, contact_kind, contact_rank, key
        )
        return self.record_messages(worker, [planned], now=now)[0]

    def record_messages(
        self, worker: str, planned: Sequence[PlannedMessage], *, now: dt.datetime
    ) -> list[int | str]:
        """Record a group of messages as ``sending`` and commit: per message, in order, its id
        (the worker's licence to send it) or why it must not be sent.

        One transaction: one statement reads every member of the group again
        (the claim is still ``worker``'s, the member active, the case neither
        withdrawn, stopped, closed nor finished), one inserts the rows of the
        members still eligible (``ON CONFLICT DO NOTHING`` on the idempotency
        key, returning the keys that went in). Reasons: the member stopped
        (``finished``, ``member withdrawn``, ``contact stopped``, ...), ``claim
        lost`` to another worker, or ``recorded before`` (the key is taken:
        sent, being sent, or failed for good). A message that failed for a
        passing reason with tries left is turned back to ``sending`` here (a
        third statement, only when some key was taken), and its id returned.
        """
        now = utc(now)
        refuse_nul("worker", worker)
        for message in planned:
            for what, text in (("step", message.step), ("channel", message.channel)):
                refuse_nul(what, text)
            refuse_nul("key", message.key)
        if not planned:
            return []
        first: dict[str, PlannedMessage] = {}
        for message in planned:  # a key twice in one group is recorded (and sent) once
            first.setdefault(message.key, message)
        pm = panel_messages
        with self._transaction(write=True) as connection:
            refused = _stop_reasons(connection, worker, [m.member for m in first.values()], now)
            eligible = [
                m for m in first.values() if (m.member.wave_id, m.member.member_id) not in refused
            ]
            ids: dict[str, int] = {}
            if eligible:  # one INSERT of the group (see _record_statement), compiled once
                inserted = connection.execute(
                    _RECORD[self.dialect], _record_parameters(self.dialect, worker, eligible, now)
                )
                ids = {key: int(id_) for id_, key in inserted}
            taken = [m.key for m in eligible if m.key not in ids]
            if taken:
                retried = connection.execute(
                    pm.update()
                    .where(
                        pm.c.idempotency_key.in_(taken),
                        pm.c.state == "failed",
                        pm.c.attempts < MAX_ATTEMPTS,
                    )
                    .values(
                        state="sending",
                        attempts=pm.c.attempts + 1,
                        claimed_by=worker,
                        updated_at=now,
                    )
                    .returning(pm.c.id, pm.c.idempotency_key)
                )
                ids.update({key: int(id_) for id_, key in retried})
        answers: list[int | str] = []
        for message in planned:
            why = refused.get((message.member.wave_id, message.member.member_id))
            if first[message.key] is not message:
                answers.append("recorded before")
            elif why is not None:
                answers.append(why)
            else:
                answers.append(ids.get(message.key, "recorded before"))
        return answers

    def finish_message(
        self,
        message_id: int,
        state: str,
        *,
        now: dt.datetime,
        provider_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Set one message's state from its channel's receipt, as :meth:`finish_messages` does."""
        self.finish_messages([MessageReceipt(message_id, state, provider_id, error)], now=now)

    def finish_messages(self, receipts: Sequence[MessageReceipt], *, now: dt.datetime) -> None:
        """Set a group's states from their channels' receipts, in one statement.

        A receipt moves its message forward only (:data:`RECEIPT_RANK`, compared
        in SQL): a delivery report that came first ('delivered' before the
        worker's 'sent') keeps its state and error; the receipt's provider id and
        the time sent are kept either way. One ``UPDATE``, compiled once: on
        PostgreSQL the receipts go as arrays in one statement (fifty statements
        in one pipeline cost the worker as much again in psycopg), on SQLite as
        the statement's parameter sets.
        """
        now = utc(now)
        if not receipts:
            return
        rows = []
        for receipt in receipts:
            if receipt.state not in RECEIPT_RANK:
                raise ValueError(
                    f"a receipt sets one of {sorted(RECEIPT_RANK)}, not {receipt.state!r}"
                )
            refuse_nul("error", receipt.error)
            refuse_nul("provider id", receipt.provider_id)
            rows.append(
                {
                    "r_id": receipt.message_id,
                    "r_state": receipt.state,
                    "r_provider_id": receipt.provider_id,
                    "r_error": None if receipt.error is None else receipt.error[:2000],
                    "r_untried": 1 if receipt.untried else 0,
                    "r_now": now,
                }
            )
        parameters: Any = rows
        if self.dialect == "postgresql":
            parameters = {key: [row[key] for row in rows] for key in rows[0] if key != "r_now"}
            parameters["r_now"] = now
        with self._transaction(write=True) as connection:
            connection.execute(_FINISH[self.dialect], parameters)

    def set_message_state(
        self, key: str, state: str, *, now: dt.datetime, error: str | None = None
    ) -> bool:
        """A delivery report's news of a message, found by its idempotency key (``delivered``, ``bounced``).

        Only moves forward (:data:`RECEIPT_RANK`, compared in SQL): a message
        still ``sending`` (its receipt not yet written) or ``queued``/``sent``
        may become ``delivered``, ``bounced`` or ``failed``; a late ``sent``
        after ``delivered``, or anything after a final state, changes nothing.
        False when nothing moved (no such message, or not forward for it).
        """
        if state not in RECEIPT_RANK:
            raise ValueError(f"a message's state is one of {sorted(RECEIPT_RANK)}, not {state!r}")
        refuse_nul("key", key)
        refuse_nul("error", error)
        now = utc(now)
        pm = panel_messages
        with self._transaction(write=True) as connection:
            changed = connection.execute(
                pm.update()
                .where(
                    pm.c.idempotency_key == key,
                    _rank(pm.c.state) < _rank(sa.literal(state, pm.c.state.type)),
                )
                .values(state=state, error=error, updated_at=now)
            ).rowcount
        return bool(changed)

    def recent_messages(self, wave_id: int, channel: str, since: dt.datetime) -> int:
        """How many messages the wave recorded on ``channel`` after ``since`` (rate limits)."""
        statement = sa.select(sa.func.count()).where(
            panel_messages.c.wave_id == wave_id,
            panel_messages.c.channel == channel,
            panel_messages.c.created_at > utc(since),
        )
        with self._transaction() as connection:
            return int(connection.execute(statement).scalar_one())

    # ------------------------------------------------------------------ actions

    def record_action(
        self,
        worker: str,
        member: ClaimedMember,
        *,
        kind: str,
        step: str,
        key: str,
        now: dt.datetime,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record an action that sends nothing (``done``) and what it changes; False if done before.

        ``close`` closes the member's case in the wave (its link expires, it
        leaves the call queue unless an interviewer holds it); ``move_to_phone``
        dates the move (the caller has put the case in the queue first).
        """
        now = utc(now)
        if detail is not None:
            refuse_nul_in_json("detail", dict(detail))
        insert = action_insert(self.dialect, worker, member, kind, step, key, now, "done", detail)
        wm = wave_members
        this = sa.and_(wm.c.wave_id == member.wave_id, wm.c.member_id == member.member_id)
        with self._transaction(write=True) as connection:
            if connection.execute(insert).scalar_one_or_none() is None:
                return False
            if kind == "close":
                connection.execute(
                    wm.update().where(this).values(closed_at=now, next_due=None, updated_at=now)
                )
                connection.execute(
                    access_tokens.update()
                    .where(
                        access_tokens.c.case_id == member.case_id,
                        sa.or_(
                            access_tokens.c.expires_at.is_(None), access_tokens.c.expires_at > now
                        ),
                    )
                    .values(expires_at=now)
                )
                connection.execute(
                    case_queue.update()
                    .where(
                        case_queue.c.case_id == member.case_id,
                        case_queue.c.final.is_(False),
                        case_queue.c.held_by.is_(None),
                    )
                    .values(final=True, updated_at=now)
                )
            elif kind == "move_to_phone":
                connection.execute(
                    wm.update().where(this).values(moved_to_phone_at=now, updated_at=now)
                )
        return True

    def release_members(
        self,
        worker: str,
        members_due: Sequence[tuple[ClaimedMember, dt.datetime | None]],
        *,
        now: dt.datetime,
    ) -> None:
        """Hand claimed members back, each with when something is next due (None: never).

        One statement for all of them; a member whose claim another worker took
        over meanwhile is left to that worker.
        """
        now = utc(now)
        rows = [
            {
                "w": member.wave_id,
                "m": member.member_id,
                "due": None if due is None else utc(due),
                "started": member.started_at,
                "finished": member.finished_at,
            }
            for member, due in members_due
        ]
        if not rows:
            return
        with self._transaction(write=True) as connection:
            for chunk in _chunks(rows):
                if self.dialect == "postgresql":  # one statement, the rows as arrays
                    arrays = {key: [row[key] for row in chunk] for key in chunk[0]}
                    connection.execute(
                        _RELEASE[self.dialect], {**arrays, "worker": worker, "now": now}
                    )
                else:
                    connection.execute(
                        _RELEASE[self.dialect],
                        [{**row, "worker": worker, "now": now} for row in chunk],
                    )

    def panel_stop_reason(
        self, worker: str, member: ClaimedMember, *, now: dt.datetime
    ) -> str | None:
        """Why nothing may be done for the member now (as :meth:`record_message` checks), or None."""
        with self._transaction() as connection:
            return _why_stop(connection, worker, member, utc(now))

    def stop_wave_member(self, case_id: str, *, now: dt.datetime) -> bool:
        """Stop all contact for this wave's case (the member's stop link): at once, for every worker."""
        now = utc(now)
        with self._transaction(write=True) as connection:
            changed = connection.execute(
                wave_members.update()
                .where(wave_members.c.case_id == case_id, wave_members.c.stopped_at.is_(None))
                .values(stopped_at=now, updated_at=now)
            ).rowcount
        return bool(changed)

    def wave_messages(self, wave_id: int) -> list[dict[str, Any]]:
        """Every message and action of a wave, oldest first (tests, the dashboard's lists)."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(panel_messages)
                .where(panel_messages.c.wave_id == wave_id)
                .order_by(panel_messages.c.id)
            ).all()
        return [dict(row._mapping) for row in rows]


def action_insert(
    dialect: str,
    worker: str,
    member: ClaimedMember,
    kind: str,
    step: str,
    key: str,
    now: dt.datetime,
    state: str,
    detail: Mapping[str, Any] | None = None,
) -> Any:
    """An action's ``panel_messages`` row (no channel, one try), inserted unless its key is
    taken, returning its id and tries: a ``done`` action, or an ``sms_interview`` step's first
    try (``sending``, :mod:`instrument.store.sms_attempts`)."""
    return (
        dialect_insert(dialect, panel_messages)
        .values(
            wave_id=member.wave_id,
            member_id=member.member_id,
            case_id=member.case_id,
            kind=kind,
            step=step,
            channel=None,
            template=None,
            language=None,
            contact_kind=None,
            contact_rank=None,
            idempotency_key=key,
            state=state,
            attempts=1,
            provider_id=None,
            error=None,
            detail=None if detail is None else dict(detail),
            claimed_by=worker,
            created_at=now,
            sent_at=None,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[panel_messages.c.idempotency_key])
        .returning(panel_messages.c.id, panel_messages.c.attempts)
    )


def _interview_progress(
    connection: sa.Connection, case_ids: Sequence[str]
) -> dict[str, tuple[dt.datetime | None, dt.datetime | None, str | None]]:
    """Per case: when its first interview started, and when and how one finished (if it did)."""
    if not case_ids:
        return {}
    finished_at = sa.func.min(interviews.c.finished_at).filter(interviews.c.status.in_(FINISHED))
    complete = sa.func.count().filter(interviews.c.status == "complete")
    screened = sa.func.count().filter(interviews.c.status == "screened_out")
    rows = connection.execute(
        sa.select(
            interviews.c.case_id,
            sa.func.min(interviews.c.started_at),
            finished_at,
            complete,
            screened,
        )
        .where(
            _ids_in(connection.dialect.name, interviews.c.case_id, case_ids),
            interviews.c.is_test.is_(False),
        )
        .group_by(interviews.c.case_id)
    ).all()
    found: dict[str, tuple[dt.datetime | None, dt.datetime | None, str | None]] = {}
    for case_id, started, finished, n_complete, n_screened in rows:
        status = "complete" if n_complete else "screened_out" if n_screened else None
        if status is not None and finished is None:
            finished = started
        found[case_id] = (started, finished if status else None, status)
    return found


def _message_row(worker: str, message: PlannedMessage, now: dt.datetime) -> dict[str, Any]:
    """The ``panel_messages`` row of a message about to be sent: ``sending``, its first try."""
    member = message.member
    return {
        "wave_id": member.wave_id,
        "member_id": member.member_id,
        "case_id": member.case_id,
        "kind": message.kind,
        "step": message.step,
        "channel": message.channel,
        "template": message.template,
        "language": message.language,
        "contact_kind": message.contact_kind,
        "contact_rank": message.contact_rank,
        "idempotency_key": message.key,
        "state": "sending",
        "attempts": 1,
        "provider_id": None,
        "error": None,
        "detail": None,
        "claimed_by": worker,
        "created_at": now,
        "sent_at": None,
        "updated_at": now,
    }


def _check_statement(dialect: str) -> sa.Select[Any]:
    """What :func:`_stop_reasons` reads of members of one wave (``w``, the ids ``ids``): built
    once per process, as it runs for every group."""
    wm = wave_members
    ended = (
        sa.select(interviews.c.id)
        .where(
            interviews.c.case_id == wm.c.case_id,
            interviews.c.status.in_((*FINISHED, "withdrawn")),
            interviews.c.is_test.is_(False),
        )
        .exists()
    )
    ids: Any = sa.bindparam("ids", expanding=dialect != "postgresql")
    if dialect == "postgresql":
        ids = sa.any_(sa.cast(ids, ARRAY(wm.c.member_id.type)))
    return (
        sa.select(
            wm.c.wave_id,
            wm.c.member_id,
            wm.c.claimed_by,
            wm.c.claimed_until,
            wm.c.stopped_at,
            wm.c.closed_at,
            members.c.status,
            cases.c.withdrawn_at,
            ended.label("ended"),
        )
        .join(members, members.c.id == wm.c.member_id)
        .join(cases, cases.c.id == wm.c.case_id)
        .where(
            wm.c.wave_id == sa.bindparam("w", type_=wm.c.wave_id.type),
            wm.c.member_id == ids if dialect == "postgresql" else wm.c.member_id.in_(ids),
        )
    )


_CHECK: Final = {dialect: _check_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _stop_reasons(
    connection: sa.Connection, worker: str, group: Sequence[ClaimedMember], now: dt.datetime
) -> dict[tuple[int, int], str]:
    """Why nothing may be sent to members of ``group`` now, by (wave id, member id): the
    refused ones only, read in one statement (per wave) inside the recording transaction."""
    keys = sorted({(m.wave_id, m.member_id) for m in group})
    refused: dict[tuple[int, int], str] = dict.fromkeys(keys, "claim lost")
    check = _CHECK[connection.dialect.name]
    for chunk in _chunks(keys):
        for wave_id, ids in _by_wave(chunk).items():
            for row in connection.execute(check, {"w": wave_id, "ids": ids}):
                key = (row.wave_id, row.member_id)
                if (
                    row.claimed_by != worker
                    or row.claimed_until is None
                    or row.claimed_until <= now
                ):
                    continue  # stays "claim lost"
                if row.status != "active":
                    refused[key] = f"member {row.status}"
                elif row.withdrawn_at is not None:
                    refused[key] = "case withdrawn"
                elif row.stopped_at is not None:
                    refused[key] = "contact stopped"
                elif row.closed_at is not None:
                    refused[key] = "case closed"
                elif row.ended:
                    refused[key] = "finished"
                else:
                    del refused[key]
    return refused


def _why_stop(
    connection: sa.Connection, worker: str, member: ClaimedMember, now: dt.datetime
) -> str | None:
    """Why nothing may be done for one member now (:func:`_stop_reasons` of a group of one)."""
    return _stop_reasons(connection, worker, [member], now).get((member.wave_id, member.member_id))
