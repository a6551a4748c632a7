"""A panel wave's fieldwork figures, counted by the database: the dashboard's numbers.

Every figure is one ``GROUP BY`` over the wave's rows, joined by indexed
columns (``wave_members``' primary key starts with ``wave_id``; interviews,
access tokens and the call queue are found by ``case_id``; messages by
``(wave_id, member_id)``; a break-off's last answer is kept on its interview's
row), so a wave of 100,000 members costs a few statements whose results are a
few hundred rows, never a read of every case.
What to do with the counts (the AAPOR classes, the rates, the median) is
decided here in plain Python over those few rows.

Web-only cases are given AAPOR dispositions from what the store knows of them
(see :func:`web_disposition` and docs/dashboard.md): a finished interview is a
complete, one started and not finished a partial, a link opened with nothing
answered an implicit refusal, an invitation handed to a channel with no answer
a non-contact, invitations that all failed or bounced "returned undelivered",
no invitation yet "no invitation sent". A case an interviewer has coded takes
its call outcome's class from the study's disposition table, unless the
interview itself says more (complete, screened out, partial).

All figures are read in one transaction that sees one moment (``REPEATABLE
READ`` on PostgreSQL, a read transaction's snapshot on SQLite), so they agree
with each other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from instrument.fieldwork.dispositions import RateClass
from instrument.fieldwork.rates import DispositionCounts, rates
from instrument.names import name_problem
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    access_tokens,
    appointments,
    case_queue,
    interviews,
    members,
    panel_messages,
    panels,
    wave_members,
    wave_subgroups,
    waves,
)

__all__ = [
    "BreakOff",
    "CaseGroup",
    "DispositionRow",
    "LengthByMode",
    "PanelReports",
    "PhoneQueueHealth",
    "SubgroupRow",
    "WaveFigures",
    "WaveListing",
    "aapor_table",
    "case_facts",
    "recounted_case_facts",
    "web_disposition",
]

HANDED: Final = ("queued", "sent", "delivered", "unknown")
"""Message states in which the channel accepted the message: the member was invited."""

UNDELIVERED: Final = ("failed", "bounced")
"""Message states in which the message never reached the member."""

CONTACT_KINDS: Final = ("invitation", "reminder")
"""The message kinds that invite a member to answer."""

_SNAPSHOT_ID: Final = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
"""What ``pg_export_snapshot()`` returns (``00000003-0000001B-1``)."""

REPORT_WORK_MEM: Final = "32MB"
"""PostgreSQL's ``work_mem`` for the figures' transaction (see :meth:`PanelReports._prepare_report`)."""

MAX_PROFILE_VARIABLES: Final = 6
"""Subgroups are counted for at most this many profile variables at once (one GROUP BY over all
of them, split per variable in Python: the groups multiply, so the list is kept short)."""

VALUE_SEPARATOR: Final = "\x1f"
"""Between a member's subgroup values in ``wave_members.profile_values`` (ASCII unit separator)."""


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class WaveListing:
    """A wave for the list of waves: what it is and how far it has got."""

    id: int
    panel: str
    key: str
    label: str
    questionnaire_id: str
    starts_at: dt.datetime
    closes_at: dt.datetime
    closed_at: dt.datetime | None
    members: int
    completes: int
    source_text: str = field(repr=False, default="")
    file_digest: str = ""


@dataclass(frozen=True, slots=True)
class CaseGroup:
    """How many of a wave's cases share one combination of what the store knows of them."""

    stage: int
    """The furthest interview: 0 none, 1 withdrawn, 2 opened (nothing answered), 3 started or
    broken off, 4 screened out, 5 complete."""
    withdrawn: bool
    """The member withdrew from the panel, or the case's interview was withdrawn."""
    reach: int
    """Invitations and reminders: 0 none handed to a channel or failed, 1 all failed or bounced,
    2 at least one handed to a channel."""
    opened: bool
    """The case's personal link was opened."""
    stopped: bool
    """Contact was stopped for this wave (the member's unsubscribe link, a staff action)."""
    phone_disposition: str | None
    """The call queue's outcome for the case (None: never coded, or not in the queue)."""
    count: int

    @classmethod
    def of_row(cls, row: Any, count: int) -> CaseGroup:
        """The group of a row with :func:`case_facts`' columns (by their labels)."""
        return cls.of_facts((row.stage, row.withdrawn, row.reach, row.opened, row.stopped,
                             row.disposition), count)  # fmt: skip

    @classmethod
    def of_facts(cls, facts: Sequence[Any], count: int) -> CaseGroup:
        """The group of :func:`case_facts`' values in their order."""
        stage, withdrawn, reach, opened, stopped, disposition = facts
        return cls(int(stage), bool(withdrawn), int(reach), bool(opened), bool(stopped),
                   disposition, count)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DispositionRow:
    """One line of the wave's AAPOR disposition table."""

    aapor: str
    label: str
    rate_class: RateClass
    count: int


@dataclass(frozen=True, slots=True)
class BreakOff:
    """The last question answered before stopping, and how many stopped there."""

    variable: str
    count: int


@dataclass(frozen=True, slots=True)
class LengthByMode:
    """Completed interviews of one mode and their median length (opening to finishing)."""

    mode: str
    completes: int
    median_seconds: float


@dataclass(frozen=True, slots=True)
class PhoneQueueHealth:
    """The wave's cases in the call queue, as the supervisor's overview counts them."""

    in_queue: int = 0
    callable_now: int = 0
    held: int = 0
    resting: int = 0
    """Free, not final, and their next window opens later."""
    waiting_for_window: int = 0
    """Free, not final, and their window has ended (or was never set): the queue renews it."""
    final: int = 0
    appointments_today: int = 0


@dataclass(frozen=True, slots=True)
class SubgroupRow:
    """Members of the wave with one value of a profile variable, and how many completed."""

    variable: str
    value: str
    members: int
    completes: int

    @property
    def rate(self) -> float | None:
        return None if self.members == 0 else self.completes / self.members


@dataclass(frozen=True)
class WaveFigures:
    """Every count of the dashboard for one wave at one moment (the time it was read: ``now``)."""

    wave: WaveListing
    now: dt.datetime
    members: int
    groups: tuple[CaseGroup, ...]
    completes_by_bucket: Mapping[tuple[int, int, str], int]
    """(day index, step index, mode) -> completes. Day index -1: before the first day boundary;
    step index -1: before the first step."""
    sent_by_step: Mapping[tuple[str, str], int]
    """(A step's key, a channel) -> messages of that step handed to that channel."""
    breakoffs: tuple[BreakOff, ...]
    lengths: tuple[LengthByMode, ...]
    phone: PhoneQueueHealth
    subgroups: tuple[SubgroupRow, ...]


# ----------------------------------------------------------------------------- AAPOR mapping

PhoneClasses = Mapping[str, tuple[str, str, RateClass]]
"""A study's call outcome code -> (AAPOR code, label, rate class)."""


def web_disposition(group: CaseGroup, phone: PhoneClasses) -> tuple[str, str, RateClass]:
    """The AAPOR disposition (code, label, class) of a case in this group; see docs/dashboard.md.

    The interview speaks first (a complete, a screen-out), then a withdrawal,
    then a started interview, then a stop of contact, then a call outcome that
    tells of contact or eligibility (a refusal, an ineligible number), then the
    web's evidence (a link opened, an invitation handed over), which a vague
    call outcome (no answer, an appointment) only refines, and last what the
    phone alone found. The codes are those of AAPOR's
    table for Internet surveys of specifically named persons.
    """
    if group.stage == 5:
        return ("1.1", "Complete", RateClass.I)
    if group.stage == 4:
        return ("4.10", "Screened out: not eligible", RateClass.NE)
    if group.withdrawn or group.stage == 1:
        return ("2.11", "Refusal: withdrew", RateClass.R)
    if group.stage == 3:
        return ("1.2", "Partial: started, not finished", RateClass.P)
    if group.stopped:
        return ("2.11", "Refusal: asked for no more contact", RateClass.R)
    called = phone.get(group.phone_disposition) if group.phone_disposition else None
    if called is not None and called[2] not in _VAGUE:
        return called  # a refusal, an interview, an ineligible number: the call says more
    if group.stage == 2 or group.opened:
        return ("2.1121", "Opened the link, answered nothing", RateClass.R)
    if group.reach == 2:
        if called is not None and called[2] is RateClass.NC:
            return called  # an appointment, unavailable: a non-contact with its reason
        return ("2.20", "Invited, no response (non-contact)", RateClass.NC)
    if called is not None:
        return called  # never reached on the web: what the phone found is all there is
    if group.reach == 1:
        return ("3.30", "Invitation returned undelivered", RateClass.UO)
    return ("3.11", "No invitation sent yet", RateClass.UO)


_VAGUE: Final = frozenset({RateClass.NC, RateClass.UH, RateClass.UO})
"""Call outcomes that say no more than the web does of a member who was invited (no answer, busy,
an appointment): a panel member is known to be eligible, so the web's evidence stands unless the
web has none."""


def aapor_table(
    groups: Sequence[CaseGroup], phone: PhoneClasses
) -> tuple[list[DispositionRow], DispositionCounts]:
    """The disposition table (AAPOR code order) and the counts by rate class it gives."""
    rows: Counter[tuple[str, str, RateClass]] = Counter()
    for group in groups:
        rows[web_disposition(group, phone)] += group.count
    by_class: Counter[RateClass] = Counter()
    for (_, _, cls), n in rows.items():
        by_class[cls] += n
    table = [
        DispositionRow(code, label, cls, n)
        for (code, label, cls), n in sorted(
            rows.items(), key=lambda item: (_code_key(item[0][0]), item[0][1])
        )
    ]
    return table, DispositionCounts(**{cls.value: by_class[cls] for cls in RateClass})


def _code_key(code: str) -> tuple[int, ...]:
    head, _, tail = code.partition(".")
    return (int(head), *(int(c) for c in tail if c.isdigit()))


def wave_rates(counts: DispositionCounts) -> dict[str, float | None]:
    """RR1, RR3, COOP1, REF1 and CON1 of the wave (e estimated as AAPOR's usual proportion)."""
    every = rates(counts)
    return {name: every[name] for name in ("RR1", "RR3", "COOP1", "REF1", "CON1")}


# ----------------------------------------------------------------------------- SQL


def _bucket(column: Any, boundaries: Sequence[dt.datetime], dialect: str) -> Any:
    """The index of the last boundary at or before ``column`` (-1 before the first, or for no
    time): a CASE over bound parameters, so both backends bucket times the same way in the
    statement; on PostgreSQL, boundaries in order are PostgreSQL's ``width_bucket`` over an
    array of them, the same number found by halving instead of a comparison per boundary
    (a fresh month's days: about 30 comparisons for each of 50,000 completes)."""
    if not boundaries:
        return sa.literal(-1)
    parameters = [sa.bindparam(None, utc(b), type_=column.type) for b in boundaries]
    if dialect == "postgresql" and list(boundaries) == sorted(boundaries):
        return sa.func.coalesce(sa.func.width_bucket(column, postgresql.array(parameters)), 0) - 1
    whens = [
        (column >= parameter, sa.literal(i))
        for i, parameter in reversed(list(enumerate(parameters)))
    ]
    return sa.case(*whens, else_=sa.literal(-1))


def case_facts() -> tuple[tuple[Any, ...], Any]:
    """What is known of each of the wave's cases, as labelled columns, and a join for callers.

    The columns are ``stage``, ``withdrawn``, ``reach``, ``opened``, ``stopped``
    and ``disposition`` (the fields of :class:`CaseGroup`), read from the facts
    kept on each ``wave_members`` row alone (migrations ``0017_wave_case_facts``
    and ``0020_dashboard_facts``: triggers on the tables they come from keep them
    as those change, the member's withdrawal from the panel included); the join
    is ``wave_members`` with ``members``, for callers that show the members'
    columns. The dashboard groups by these columns
    (:meth:`PanelReports.wave_figures`); the wave's dataset reads them per case
    (:mod:`instrument.store.panel_wave_rows`): one definition, so the two cannot
    disagree on a case's disposition. :func:`recounted_case_facts` works the same
    columns out from the raw tables; tests hold the two equal.
    """
    wm = wave_members
    columns = (
        wm.c.iv_stage.label("stage"),
        sa.case((wm.c.member_withdrawn == 1, 1), else_=wm.c.iv_withdrawn).label("withdrawn"),
        wm.c.invitation_reach.label("reach"),
        wm.c.link_opened.label("opened"),
        sa.case((wm.c.stopped_at.is_not(None), 1), else_=0).label("stopped"),
        wm.c.phone_disposition.label("disposition"),
    )
    return columns, wm.join(members, members.c.id == wm.c.member_id)


def recounted_case_facts(wave_id: int, in_wave: Any, real: Any) -> tuple[tuple[Any, ...], Any]:
    """The columns of :func:`case_facts` worked out afresh from the raw tables, and their joins.

    The definition the kept facts must equal: each case's real interviews
    (``real`` leaves out test interviews), its invitations' states, its used
    access tokens, its call queue row. Five joins row by row for every member,
    so the dashboard does not read this (about 600 ms at 100,000 members on
    PostgreSQL); the recount tests compare it with the kept facts. ``in_wave``
    selects the wave's eligible members.
    """
    wm = wave_members
    status = interviews.c.status
    stage = sa.case(
        (status == "complete", 5),
        (status == "screened_out", 4),
        (status == "abandoned", 3),
        (status == "withdrawn", 1),
        (interviews.c.last_seq > 0, 3),
        else_=2,
    )
    per_case = (
        sa.select(
            interviews.c.case_id,
            sa.func.max(stage).label("stage"),
            sa.func.max(sa.case((status == "withdrawn", 1), else_=0)).label("withdrawn"),
        )
        .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
        .where(in_wave, real)
        .group_by(interviews.c.case_id)
        .subquery("iv")
    )
    state = panel_messages.c.state
    reach = (
        sa.select(
            panel_messages.c.member_id,
            sa.func.max(
                sa.case((state.in_(HANDED), 2), (state.in_(UNDELIVERED), 1), else_=0)
            ).label("reach"),
        )
        .where(panel_messages.c.wave_id == wave_id, panel_messages.c.kind == "invitation")
        .group_by(panel_messages.c.member_id)
        .subquery("msg")
    )
    opened = (
        sa.select(access_tokens.c.case_id)
        .select_from(wm.join(access_tokens, access_tokens.c.case_id == wm.c.case_id))
        .where(in_wave, access_tokens.c.used_at.is_not(None))
        .group_by(access_tokens.c.case_id)
        .subquery("tok")
    )
    columns = (
        sa.func.coalesce(per_case.c.stage, 0).label("stage"),
        sa.case(
            (members.c.status == "withdrawn", 1),
            else_=sa.func.coalesce(per_case.c.withdrawn, 0),
        ).label("withdrawn"),
        sa.func.coalesce(reach.c.reach, 0).label("reach"),
        sa.case((opened.c.case_id.is_not(None), 1), else_=0).label("opened"),
        sa.case((wm.c.stopped_at.is_not(None), 1), else_=0).label("stopped"),
        case_queue.c.disposition,
    )
    joined = (
        wm.join(members, members.c.id == wm.c.member_id)
        .outerjoin(per_case, per_case.c.case_id == wm.c.case_id)
        .outerjoin(reach, reach.c.member_id == wm.c.member_id)
        .outerjoin(opened, opened.c.case_id == wm.c.case_id)
        .outerjoin(case_queue, case_queue.c.case_id == wm.c.case_id)
    )
    return columns, joined


STEP_SEPARATOR: Final = "\x1f"
"""Between a handed message's step and channel in ``wave_members.handed_steps``."""
MESSAGE_SEPARATOR: Final = "\x1e"
"""Between the handed messages in ``wave_members.handed_steps``."""


class PanelReports(StoreBase):
    """:meth:`panel_wave_list`, :meth:`panel_wave_by_key`, :meth:`wave_figures`."""

    def _length(self, start: Any, end: Any) -> Any:
        """From ``start`` to ``end``: an interval on PostgreSQL, seconds on SQLite."""
        if self.dialect == "postgresql":
            return end - start
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0

    def panel_wave_list(self) -> list[WaveListing]:
        """Every wave, newest first, with its members and completed interviews."""
        completes = (
            sa.select(sa.func.count())
            .where(
                wave_members.c.wave_id == waves.c.id,
                wave_members.c.eligible.is_(True),
                wave_members.c.iv_completes > 0,
            )
            .scalar_subquery()
        )
        counted = (
            sa.select(sa.func.count())
            .select_from(wave_members)
            .where(wave_members.c.wave_id == waves.c.id, wave_members.c.eligible.is_(True))
            .scalar_subquery()
        )
        query = (
            sa.select(waves, panels.c.name.label("panel"), counted.label("n"), completes.label("c"))
            .join(panels, panels.c.id == waves.c.panel_id)
            .order_by(waves.c.starts_at.desc(), waves.c.id.desc())
        )
        with self._transaction() as connection:
            return [_listing(row, row.n, row.c) for row in connection.execute(query)]

    def panel_wave_by_key(self, key: str, panel: str | None = None) -> list[WaveListing]:
        """The waves with this key (in ``panel``, if given): one, none, or one per panel."""
        query = (
            sa.select(waves, panels.c.name.label("panel"))
            .join(panels, panels.c.id == waves.c.panel_id)
            .where(waves.c.key == key)
            .order_by(panels.c.name)
        )
        if panel is not None:
            query = query.where(panels.c.name == panel)
        with self._transaction() as connection:
            return [_listing(row, 0, 0) for row in connection.execute(query)]

    def wave_figures(
        self,
        wave_id: int,
        *,
        now: dt.datetime,
        day_starts: Sequence[dt.datetime] = (),
        step_starts: Sequence[dt.datetime] = (),
        today: tuple[dt.datetime, dt.datetime, dt.date] | None = None,
        stalled_after: dt.timedelta = dt.timedelta(hours=24),
        profile_variables: Sequence[str] = (),
    ) -> WaveFigures:
        """Every count of the wave's dashboard, read in one transaction.

        ``day_starts``: when each fieldwork day begins (UTC instants of the wave's local
        midnights, or of its opening time), for completes by day; ``step_starts``: when each
        step of the contact plan was due, for completes after each step; ``today``: the
        local day's start and end as instants, and its date, for appointments due today; an
        interview left ``active`` with answers and untouched for ``stalled_after`` counts as
        stopped (a break-off), as does every ``abandoned`` one; ``profile_variables``: the
        variables to count subgroups by (variable names; the first
        :data:`MAX_PROFILE_VARIABLES`). The first read of a wave with other subgroup
        variables than it had writes them down first (:meth:`_keep_subgroups`).
        """
        now = utc(now)
        names = list(dict.fromkeys(profile_variables))[:MAX_PROFILE_VARIABLES]
        for name in names:
            if name_problem(name) is not None:
                raise ValueError(f"subgroups: {name_problem(name)}")
        for _ in range(2):
            figures = self._read_figures(
                wave_id, now, day_starts, step_starts, today, now - stalled_after, names
            )
            if figures is not None:
                return figures
            self._keep_subgroups(wave_id, names)
        raise RuntimeError(f"wave {wave_id}: its subgroup variables keep changing")

    def _read_figures(
        self,
        wave_id: int,
        now: dt.datetime,
        day_starts: Sequence[dt.datetime],
        step_starts: Sequence[dt.datetime],
        today: tuple[dt.datetime, dt.datetime, dt.date] | None,
        stalled_before: dt.datetime,
        names: Sequence[str],
    ) -> WaveFigures | None:
        """The figures, or None when the members' kept subgroup values are not of ``names``."""
        wm = wave_members
        in_wave = sa.and_(wm.c.wave_id == wave_id, wm.c.eligible.is_(True))
        real = interviews.c.is_test.is_(False)
        with self._transaction() as connection:
            self._prepare_report(connection)
            wave_row = connection.execute(
                sa.select(
                    waves, panels.c.name.label("panel"), wave_subgroups.c.variables.label("kept")
                )
                .join(panels, panels.c.id == waves.c.panel_id)
                .outerjoin(wave_subgroups, wave_subgroups.c.wave_id == waves.c.id)
                .where(waves.c.id == wave_id)
            ).one()
            if names and wave_row.kept != json.dumps(names):
                return None
            with self._alongside(connection) as beside:
                # The figures that need nothing from the others go beside; the completes and
                # the lengths follow the groups (which say whether a case has several
                # completes) here: about as much work on each side (docs/dashboard.md).
                elsewhere = beside(
                    lambda c: (
                        self._breakoffs(c, in_wave, real, stalled_before),
                        self._phone_queue(c, in_wave, now, today),
                        self._sent_by_step(c, wave_id),
                    )
                )
                groups, several, subgroups = self._case_groups(connection, in_wave, names)
                buckets = self._completes_by_bucket(
                    connection, in_wave, real, day_starts, step_starts, several
                )
                modes = sorted({mode for _, _, mode in buckets})
                lengths = self._lengths(connection, in_wave, real, several, modes)
                breakoffs, phone, sent = elsewhere.result()
        total = sum(g.count for g in groups)
        completes = sum(g.count for g in groups if g.stage == 5)
        return WaveFigures(
            wave=_listing(wave_row, total, completes),
            now=now,
            members=total,
            groups=tuple(groups),
            completes_by_bucket=buckets,
            sent_by_step=sent,
            breakoffs=breakoffs,
            lengths=lengths,
            phone=phone,
            subgroups=subgroups,
        )

    def _keep_subgroups(self, wave_id: int, names: Sequence[str]) -> None:
        """Write down the wave's subgroup variables; the triggers of migration 0020 then work
        out every member's values of them (``wave_members.profile_values``) in the same
        statement, and keep them as members' profiles change. Once a wave (its file's profile
        variables do not change): about a second and a half at 100,000 members."""
        variables = json.dumps(list(names))
        try:
            with self._transaction(write=True) as connection:
                kept = connection.scalar(
                    sa.select(wave_subgroups.c.variables).where(wave_subgroups.c.wave_id == wave_id)
                )
                now = dt.datetime.now(dt.UTC)
                if kept is None:
                    connection.execute(
                        wave_subgroups.insert().values(
                            wave_id=wave_id, variables=variables, updated_at=now
                        )
                    )
                elif kept != variables:
                    connection.execute(
                        wave_subgroups.update()
                        .where(wave_subgroups.c.wave_id == wave_id)
                        .values(variables=variables, updated_at=now)
                    )
        except sa.exc.IntegrityError:
            return  # another server process wrote them first: the caller reads them again

    def _prepare_report(self, connection: sa.Connection, snapshot: str | None = None) -> None:
        """On PostgreSQL, make the figures' transaction one snapshot and give it room to count.

        ``REPEATABLE READ, READ ONLY``: every statement sees the same moment, so
        the figures agree with each other (the store's transactions are ``READ
        COMMITTED``, where each statement sees its own); ``snapshot``, exported
        by another transaction (:meth:`_alongside`), makes it that transaction's
        moment. ``work_mem``: the largest statement groups and joins one row per
        member; at the default 4 MB PostgreSQL sorts 100,000 of them on disk,
        with 32 MB it hashes them in memory (benchmarks/panel_dashboard.py
        measured the difference). ``max_parallel_workers_per_gather = 0``: the
        figures already run on two connections at once (:meth:`_alongside`), one
        per core of a small server; a parallel worker on top (PostgreSQL gave
        the queue's join one) is a third process competing for the same cores,
        and starting it costs a few milliseconds of every read. The settings end
        with the transaction.
        """
        if self.dialect != "postgresql":
            return
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if snapshot is not None:
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(f"not a PostgreSQL snapshot id: {snapshot!r}")
            connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")

    @contextlib.contextmanager
    def _alongside(
        self, connection: sa.Connection
    ) -> Iterator[Callable[[Callable[[sa.Connection], Any]], Future[Any]]]:
        """A way to count some figures beside the figures' transaction, at the same moment.

        On PostgreSQL the work runs on a thread, on a second pooled connection whose
        transaction takes the first one's snapshot (``pg_export_snapshot``, ``SET
        TRANSACTION SNAPSHOT``): the database counts two figures at once, on two cores,
        and every figure still sees one moment. The first transaction stays open until the
        work is done (leaving this block waits for it). On SQLite, where a read is one
        transaction's snapshot and the statements share one file, the work runs at once on
        the same connection.
        """
        if self.dialect != "postgresql":

            def at_once(work: Callable[[sa.Connection], Any]) -> Future[Any]:
                done: Future[Any] = Future()
                done.set_result(work(connection))
                return done

            yield at_once
            return
        snapshot = str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())

        def beside(work: Callable[[sa.Connection], Any]) -> Any:
            with self._transaction() as other:
                self._prepare_report(other, snapshot)
                return work(other)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wave-figures") as pool:
            yield lambda work: pool.submit(beside, work)

    # -- the statements ------------------------------------------------------------

    def _case_groups(
        self, connection: sa.Connection, in_wave: Any, names: Sequence[str]
    ) -> tuple[list[CaseGroup], bool, tuple[SubgroupRow, ...]]:
        """The wave's cases grouped by what is known of each, whether any case has more than
        one complete interview (the completes and lengths then read those cases' interviews),
        and members and completes by each subgroup variable's values.

        One pass over the wave's ``wave_members`` rows, which hold all of it (no other table,
        no JSON): grouped by the facts and the members' subgroup values, one row per
        combination (about two thousand at 100,000 members), added up here by facts (the
        dispositions and the funnel) and by each variable's values (the subgroups) straight
        from the rows, without an object per combination; the members' kept values are split
        into each variable's once per different string (a few dozen), not once per row.
        """
        facts, _ = case_facts()
        columns = (*facts, wave_members.c.profile_values) if names else facts
        query = (
            sa.select(
                *columns,
                sa.func.count().label("n"),
                sa.func.max(wave_members.c.iv_completes).label("most"),
            )
            .where(in_wave)
            .group_by(*columns)
        )
        by_facts: Counter[tuple[Any, ...]] = Counter()
        # Members and completes by the members' kept values (a few dozen different ones),
        # split into each variable's value once per different value, not once per row.
        by_values: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
        several = False
        for *row, n, most in connection.execute(query).all():
            by_facts[tuple(row[:6])] += n
            if most > 1:
                several = True
            if names:
                cell = by_values[row[6]]
                cell[0] += n
                if row[0] == 5:
                    cell[1] += n
        tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for values, (n, complete) in by_values.items():
            for name, value in zip(names, _split_values(values, len(names)), strict=True):
                cell = tally[(name, value or "(not known)")]
                cell[0] += n
                cell[1] += complete
        groups = [CaseGroup.of_facts(key, n) for key, n in by_facts.items()]
        return groups, several, _subgroup_rows(tally, names)

    def _completes_by_bucket(
        self,
        connection: sa.Connection,
        in_wave: Any,
        real: Any,
        day_starts: Sequence[dt.datetime],
        step_starts: Sequence[dt.datetime],
        several: bool,
    ) -> dict[tuple[int, int, str], int]:
        """Completed cases by the day and step their interview finished in, and its mode: the
        kept facts of the cases with one complete interview, and (when there are any:
        ``several``) the interviews themselves of the few with more (each case counted once
        in a bucket, as before: the two sets of cases do not meet, so their counts add up)."""
        wm = wave_members
        one = wm.c.iv_completes == 1
        day = _bucket(wm.c.complete_finished_at, day_starts, self.dialect).label("day")
        step = _bucket(wm.c.complete_finished_at, step_starts, self.dialect).label("step")
        kept = (
            sa.select(day, step, wm.c.complete_mode, sa.func.count())
            .where(in_wave, one)
            .group_by(day, step, wm.c.complete_mode)
        )
        day = _bucket(interviews.c.finished_at, day_starts, self.dialect).label("day")
        step = _bucket(interviews.c.finished_at, step_starts, self.dialect).label("step")
        more = (
            sa.select(
                day, step, interviews.c.mode, sa.func.count(sa.distinct(interviews.c.case_id))
            )
            .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
            .where(in_wave, wm.c.iv_completes > 1, real, interviews.c.status == "complete")
            .group_by(day, step, interviews.c.mode)
        )
        counts: Counter[tuple[int, int, str]] = Counter()
        for query in (kept, more) if several else (kept,):
            for d, s, m, n in connection.execute(query):
                counts[(int(d), int(s), str(m))] += int(n)
        return dict(counts)

    def _sent_by_step(self, connection: sa.Connection, wave_id: int) -> dict[tuple[str, str], int]:
        """Invitations and reminders handed to a channel, by step and channel: the members'
        rows grouped by the list of their handed messages kept on each (``handed_steps``, a
        few dozen different lists in a wave), each list's messages then counted here. Every
        member of the wave, eligible or not, as every message of the wave was counted."""
        wm = wave_members
        query = (
            sa.select(wm.c.handed_steps, sa.func.count())
            .where(wm.c.wave_id == wave_id, wm.c.handed_steps != "")
            .group_by(wm.c.handed_steps)
        )
        counts: Counter[tuple[str, str]] = Counter()
        for handed, n in connection.execute(query):
            for message in str(handed).split(MESSAGE_SEPARATOR):
                step, _, channel = message.partition(STEP_SEPARATOR)
                counts[(step, channel if _ else str(None))] += int(n)
        return dict(counts)

    def _breakoffs(
        self, connection: sa.Connection, in_wave: Any, real: Any, stalled_before: dt.datetime
    ) -> tuple[BreakOff, ...]:
        """Stopped interviews by the last question they answered: ``interviews.last_answered``,
        the variable of the newest ``answer`` event, which every save writes with the events
        (migration 0024_dashboard_reads), so nothing is looked up in the answer log. Only the
        cases whose kept facts say one of their interviews is abandoned or has an answer and
        is still active are looked at (``iv_stoppable``)."""
        wm = wave_members
        stopped = sa.or_(
            interviews.c.status == "abandoned",
            sa.and_(
                interviews.c.status == "active",
                interviews.c.last_seq > 0,
                interviews.c.updated_at < stalled_before,
            ),
        )
        variable = interviews.c.last_answered
        query = (
            sa.select(variable, sa.func.count())
            .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
            .where(in_wave, wm.c.iv_stoppable > 0, real, stopped)
            .group_by(variable)
        )
        rows = [(v or "(none)", int(n)) for v, n in connection.execute(query)]
        rows.sort(key=lambda r: (-r[1], r[0]))
        return tuple(BreakOff(v, n) for v, n in rows)

    def _lengths(
        self, connection: sa.Connection, in_wave: Any, real: Any, several: bool, modes: list[str]
    ) -> tuple[LengthByMode, ...]:
        """The median length of completed interviews per mode (``modes``: those of the
        completes): on PostgreSQL ``percentile_cont(0.5)`` over the lengths as intervals, one
        aggregate per mode with ``FILTER``, so the rows are neither sorted by mode first nor
        turned into seconds one by one (about a third less work than ``GROUP BY mode`` over
        seconds); on SQLite, which has none, the one or two middle rows of each mode's lengths
        in order (window functions), averaged, which is the same number. The lengths are the
        kept facts of the cases with one complete interview and (when there are any:
        ``several``) the interviews themselves of the few with more."""
        wm = wave_members
        kept = sa.select(
            wm.c.complete_mode.label("mode"),
            self._length(wm.c.complete_started_at, wm.c.complete_finished_at).label("s"),
        ).where(in_wave, wm.c.iv_completes == 1, wm.c.complete_finished_at.is_not(None))
        more = (
            sa.select(
                interviews.c.mode.label("mode"),
                self._length(interviews.c.started_at, interviews.c.finished_at).label("s"),
            )
            .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
            .where(
                in_wave,
                wm.c.iv_completes > 1,
                real,
                interviews.c.status == "complete",
                interviews.c.finished_at.is_not(None),
            )
        )
        done = (sa.union_all(kept, more) if several else kept).subquery("done")
        if self.dialect == "postgresql":
            if not modes:
                return ()
            each = [
                aggregate.filter(done.c.mode == mode)
                for mode in modes
                for aggregate in (
                    sa.func.count(),
                    sa.func.percentile_cont(0.5).within_group(done.c.s),
                )
            ]
            row = connection.execute(sa.select(*each)).one()
            return tuple(
                LengthByMode(mode, int(n), median.total_seconds())
                for mode, n, median in zip(modes, row[0::2], row[1::2], strict=True)
                if n
            )
        else:
            ranked = sa.select(
                done.c.mode,
                done.c.s,
                sa.func.row_number().over(partition_by=done.c.mode, order_by=done.c.s).label("rn"),
                sa.func.count().over(partition_by=done.c.mode).label("n"),
            ).subquery("ranked")
            middle = sa.or_(
                ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2
            )
            query = (
                sa.select(ranked.c.mode, ranked.c.n, sa.func.avg(ranked.c.s))
                .where(middle)
                .group_by(ranked.c.mode, ranked.c.n)
                .order_by(ranked.c.mode)
            )
        return tuple(
            LengthByMode(str(mode), int(n), float(median))
            for mode, n, median in connection.execute(query)
        )

    def _phone_queue(
        self,
        connection: sa.Connection,
        in_wave: Any,
        now: dt.datetime,
        today: tuple[dt.datetime, dt.datetime, dt.date] | None,
    ) -> PhoneQueueHealth:
        """The call queue's counts for the wave's cases, by the supervisor overview's definitions
        (callable now: free, not final, inside its window), as sums over one join."""
        wm = wave_members
        q = case_queue.c
        free = sa.and_(q.final.is_(False), q.held_by.is_(None))

        def counted(condition: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        query = (
            sa.select(
                sa.func.count(),
                counted(sa.and_(free, q.window_start <= now, q.window_end > now)),
                counted(q.held_by.is_not(None)),
                counted(sa.and_(free, q.window_start > now)),
                counted(sa.and_(free, sa.or_(q.window_end.is_(None), q.window_end <= now))),
                counted(q.final.is_(True)),
            )
            .select_from(wm.join(case_queue, q.case_id == wm.c.case_id))
            .where(in_wave)
        )
        row = connection.execute(query).one()
        due_today = 0
        if today is not None:
            start, end, date = today
            a = appointments.c
            # The day's appointments (a few hundred), each looked up in the wave by the case
            # id's unique index: a scalar subquery, which PostgreSQL keeps as such, where a
            # join or EXISTS became a hash join over every member of the wave.
            of_wave = sa.select(sa.literal(1)).where(in_wave, wm.c.case_id == a.case_id)
            due_today = int(
                connection.scalar(
                    sa.select(sa.func.count(sa.distinct(a.case_id))).where(
                        of_wave.scalar_subquery().is_not(None),
                        a.cancelled_at.is_(None),
                        sa.or_(
                            sa.and_(a.at >= utc(start), a.at < utc(end)),
                            sa.and_(a.at.is_(None), a.day == date),
                        ),
                    )
                )
                or 0
            )
        n, callable_now, held, resting, waiting, final = (int(v or 0) for v in row)
        return PhoneQueueHealth(n, callable_now, held, resting, waiting, final, due_today)


def _split_values(values: str | None, variables: int) -> list[str]:
    """A member's kept subgroup values (``wave_members.profile_values``), one per variable
    ('' for a value the member lacks, or for every one if none were kept)."""
    if values is None:
        return [""] * variables
    found = values.split(VALUE_SEPARATOR, variables - 1)
    return found + [""] * (variables - len(found))


def _subgroup_rows(
    tally: Mapping[tuple[str, str], list[int]], names: Sequence[str]
) -> tuple[SubgroupRow, ...]:
    """Members and completes by each subgroup variable's values, in the variables' order."""
    order = {name: i for i, name in enumerate(names)}
    return tuple(
        SubgroupRow(name, value, n, c)
        for (name, value), (n, c) in sorted(
            tally.items(), key=lambda item: (order[item[0][0]], _value_key(item[0][1]))
        )
    )


def _value_key(value: str) -> tuple[int, float, str]:
    """Profile values in a natural order: numbers by value, then text, "(not known)" last."""
    if value == "(not known)":
        return (2, 0.0, value)
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _listing(row: Any, members_count: int, completes: int) -> WaveListing:
    return WaveListing(
        id=row.id,
        panel=row.panel,
        key=row.key,
        label=row.label,
        questionnaire_id=row.questionnaire_id,
        starts_at=row.starts_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        members=int(members_count or 0),
        completes=int(completes or 0),
        source_text=row.source_text,
        file_digest=row.file_digest,
    )
