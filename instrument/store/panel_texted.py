"""Which open wave cases a number was texted about: a panel member's reply finds its case.

A member invited by SMS who replies to the invitation should be able to answer
by text without keying a code. The reply carries only the sender's number; the
store holds numbers only encrypted, each with a keyed lookup hash (the one a
STOP is matched by, :meth:`PanelMembers.mark_contact`), so the match is made on
that hash and nothing is decrypted: :meth:`PanelTexted.texted_open_cases` lists
the cases still open whose wave texted that very detail (an SMS invitation or
reminder handed to the channel, ``panel_messages`` naming the member's phone by
kind and rank). Which of them a reply is for, and when to ask for a code
instead, is the SMS mode's rule (docs/sms.md); this module only reads.

Open: the member active, the detail not opted out, the wave and the member's
place in it neither closed nor stopped, the case not withdrawn and its
interview (in any mode) not finished.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import (
    cases,
    interviews,
    member_contacts,
    members,
    panel_messages,
    wave_members,
    waves,
)

__all__ = ["HANDED_STATES", "PanelTexted", "TextedCase"]

HANDED_STATES: Final = ("sending", "queued", "sent", "delivered", "unknown")
"""Message states that may have reached the phone: a reply can only answer a text that left
(``sending``/``unknown``: a crash left it not known, and a reply says it did)."""


@dataclass(frozen=True, slots=True)
class TextedCase:
    """An open wave case whose member was texted at the number: when last, and in what wave."""

    case_id: str
    wave_id: int
    member_id: int
    questionnaire_id: str
    language: str | None
    texted_at: dt.datetime


class PanelTexted(StoreBase):
    """:meth:`texted_open_cases`."""

    def texted_open_cases(self, lookup_hash: str) -> tuple[TextedCase, ...]:
        """The open cases whose wave texted the phone detail with ``lookup_hash``, newest text
        first (one row a case: its latest text to that detail)."""
        finished = sa.exists().where(
            interviews.c.case_id == wave_members.c.case_id, interviews.c.finished_at.is_not(None)
        )
        texted_at = sa.func.max(
            sa.func.coalesce(panel_messages.c.sent_at, panel_messages.c.created_at)
        )
        query = (
            sa.select(
                wave_members.c.case_id,
                wave_members.c.wave_id,
                wave_members.c.member_id,
                waves.c.questionnaire_id,
                members.c.language,
                texted_at.label("texted_at"),
            )
            .select_from(
                member_contacts.join(members, members.c.id == member_contacts.c.member_id)
                .join(wave_members, wave_members.c.member_id == member_contacts.c.member_id)
                .join(waves, waves.c.id == wave_members.c.wave_id)
                .join(cases, cases.c.id == wave_members.c.case_id)
                .join(
                    panel_messages,
                    sa.and_(
                        panel_messages.c.wave_id == wave_members.c.wave_id,
                        panel_messages.c.member_id == wave_members.c.member_id,
                        panel_messages.c.contact_kind == member_contacts.c.kind,
                        panel_messages.c.contact_rank == member_contacts.c.rank,
                    ),
                )
            )
            .where(
                member_contacts.c.lookup_hash == lookup_hash,
                member_contacts.c.kind == "phone",
                member_contacts.c.opted_out_at.is_(None),
                members.c.status == "active",
                waves.c.closed_at.is_(None),
                wave_members.c.stopped_at.is_(None),
                wave_members.c.closed_at.is_(None),
                cases.c.withdrawn_at.is_(None),
                panel_messages.c.channel == "sms",
                panel_messages.c.state.in_(HANDED_STATES),
                ~finished,
            )
            .group_by(
                wave_members.c.case_id,
                wave_members.c.wave_id,
                wave_members.c.member_id,
                waves.c.questionnaire_id,
                members.c.language,
            )
            .order_by(texted_at.desc(), wave_members.c.case_id)
        )
        with self._transaction() as connection:
            rows = connection.execute(query).all()
        return tuple(
            TextedCase(
                case_id=str(row.case_id),
                wave_id=int(row.wave_id),
                member_id=int(row.member_id),
                questionnaire_id=str(row.questionnaire_id),
                language=row.language,
                texted_at=utc(row.texted_at),
            )
            for row in rows
        )
