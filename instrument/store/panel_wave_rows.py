"""What a wave's dataset needs of each eligible member: one row per member, read in SQL.

The wave export (``instrument wave export``) writes one row per eligible
member, interviewed or not, with the member's panel pseudonym (the same in
every wave, so analysts can link waves) and the wave's AAPOR disposition. The
disposition must be the dashboard's, so each member's row carries the same
facts the dashboard groups by (:class:`~instrument.store.panel_reports.CaseGroup`,
here with ``count`` 1), and the exporter classifies them with the dashboard's
own :func:`~instrument.store.panel_reports.web_disposition`. The columns are
built by :func:`~instrument.store.panel_reports.case_facts`, the function
the dashboard's grouping uses, so the two cannot count differently.

Nothing personal is read: no contact details, no external id; the case's
preloads are what the wave gave the questionnaire (emptied by a withdrawal
that deleted answers).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from instrument.store.panel_reports import CaseGroup, case_facts
from instrument.store.plumbing import StoreBase
from instrument.store.schema import cases, interviews, members, wave_members

__all__ = ["PanelWaveRows", "WaveInterview", "WaveMemberRow"]


@dataclass(frozen=True, slots=True)
class WaveInterview:
    """One of a case's interviews (never a test interview)."""

    id: str
    status: str
    updated_at: dt.datetime
    answered: bool
    """Something was answered (a link opened and left has nothing to export)."""


@dataclass(frozen=True, slots=True)
class WaveMemberRow:
    """An eligible member of a wave, as the wave's dataset sees them."""

    case_id: str
    """The store's case id (never exported; the export makes its own pseudonymous id)."""
    pseudonym: str
    """The member's panel pseudonym: the same in every wave of the panel."""
    facts: CaseGroup
    """What the dashboard knows of the case (``count`` 1), for the disposition."""
    preload: Mapping[str, Any]
    """The case's preloads (empty after a withdrawal that deleted answers)."""
    answers_deleted: bool
    """The member withdrew and had their answers deleted."""
    interviews: tuple[WaveInterview, ...]


class PanelWaveRows(StoreBase):
    """:meth:`wave_member_rows`."""

    def wave_member_rows(self, wave_id: int) -> list[WaveMemberRow]:
        """Every eligible member of the wave, ordered by pseudonym, with their case's interviews.

        Two statements in one transaction: the members with the dashboard's facts
        of their cases, and the cases' real interviews.
        """
        wm = wave_members
        in_wave = sa.and_(wm.c.wave_id == wave_id, wm.c.eligible.is_(True))
        real = interviews.c.is_test.is_(False)
        facts, joined = case_facts()
        query = (
            sa.select(
                wm.c.case_id,
                members.c.pseudonym,
                cases.c.preload,
                cases.c.withdrawn_at,
                *facts,
            )
            .select_from(joined.join(cases, cases.c.id == wm.c.case_id))
            .where(in_wave)
            .order_by(members.c.pseudonym)
        )
        found: dict[str, list[WaveInterview]] = defaultdict(list)
        with self._transaction() as connection:
            rows = connection.execute(query).all()
            for case_id, iv_id, status, updated, last_seq in connection.execute(
                sa.select(
                    interviews.c.case_id,
                    interviews.c.id,
                    interviews.c.status,
                    interviews.c.updated_at,
                    interviews.c.last_seq,
                )
                .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
                .where(in_wave, real)
                .order_by(interviews.c.case_id, interviews.c.started_at, interviews.c.id)
            ):
                found[case_id].append(WaveInterview(iv_id, status, updated, bool(last_seq)))
        out = []
        for row in rows:
            ivs = tuple(found.get(row.case_id, ()))
            deleted = row.withdrawn_at is not None or any(i.status == "withdrawn" for i in ivs)
            out.append(
                WaveMemberRow(
                    case_id=row.case_id,
                    pseudonym=row.pseudonym,
                    facts=CaseGroup.of_row(row, 1),
                    preload=dict(row.preload or {}),
                    answers_deleted=deleted,
                    interviews=ivs,
                )
            )
        return out
