"""Spam complaints about panel emails: kept on the message, and email to the member stopped.

A member who marks one of our emails as spam must not be emailed again (issue
13). :mod:`instrument.panel.complaints` reads the provider's feedback report;
:mod:`instrument.panelwork.complaint_intake` finds the message it quotes with
:meth:`PanelComplaints.email_message_quoted` and records it with
:meth:`PanelComplaints.record_complaint`, which in one transaction:

- keeps the complaint on the message (``panel_messages.detail["complaint"]``:
  the feedback type, when the provider received the message, who reported it,
  when we recorded it) and moves the message to ``delivered`` if it was not
  further on (a complaint proves it arrived);
- opts out of email every email detail of the member, and the complained-of
  address for any other member who holds it (found by lookup hash, as an SMS
  STOP finds a number): the worker then sends no email to them, while texts,
  letters and calls go on (a complaint is about email, not a withdrawal);
- writes a ``member_history`` entry for each detail opted out (``opted_out``,
  the detail by fingerprint, ``via: spam_complaint``, the message's key for the
  member who complained, the feedback type and dates): the evidence of what
  was done, when, by whom and why.

A complaint already on the message changes nothing (the same report read
twice, two workers on one mailbox): the first transaction did all of it. No
schema change: the message's ``detail`` column holds the complaint, the
contacts' ``opted_out_at`` the stop, as for an SMS STOP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from instrument.store.nul import refuse_nul_in_json
from instrument.store.panel_members import StoredContact, fingerprint
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import member_contacts, member_history, members, panel_messages

__all__ = ["COMPLAINT_VIA", "ComplainedMessage", "ComplaintRecorded", "PanelComplaints"]

COMPLAINT_VIA: Final = "spam_complaint"
"""``via`` of the history entries a complaint writes."""

_BEFORE_DELIVERED: Final = ("sending", "queued", "sent")


@dataclass(frozen=True, slots=True)
class ComplainedMessage:
    """An email of ours a report quotes, as we recorded it (never the address itself)."""

    id: int
    idempotency_key: str
    member_id: int
    pseudonym: str
    contact_kind: str | None
    contact_rank: int | None
    complaint: Mapping[str, Any] | None
    """The complaint recorded on it before, if any."""


@dataclass(frozen=True, slots=True)
class ComplaintRecorded:
    """What recording a complaint did."""

    new: bool
    """The complaint was not on the message before (False: nothing was changed)."""
    opted_out: int = 0
    """Email details newly opted out, the member's own and others' holding the address."""
    members: tuple[int, ...] = ()
    """The members whose details were opted out."""


class PanelComplaints(StoreBase):
    """:meth:`email_message_quoted`, :meth:`record_complaint`."""

    def email_message_quoted(
        self, *, keys: Sequence[str], message_ids: Sequence[str]
    ) -> ComplainedMessage | None:
        """The email of ours whose idempotency key is among ``keys``, else whose Message-ID is.

        With keys given the message must have one of them, and when Message-IDs
        are given too, its own Message-ID (the receipt's provider id) must be
        one of those, unless no receipt was written yet: a report is matched by
        what we wrote in the message, all of it that it quotes.
        """
        pm = panel_messages
        if keys:
            which = pm.c.idempotency_key.in_(list(keys))
            if message_ids:
                which = sa.and_(
                    which, sa.or_(pm.c.provider_id.is_(None), pm.c.provider_id.in_(message_ids))
                )
        elif message_ids:
            which = pm.c.provider_id.in_(list(message_ids))
        else:
            return None
        statement = (
            sa.select(
                pm.c.id, pm.c.idempotency_key, pm.c.member_id, members.c.pseudonym,
                pm.c.contact_kind, pm.c.contact_rank, pm.c.detail,
            )
            .join(members, members.c.id == pm.c.member_id)
            .where(which, pm.c.channel == "email")
            .order_by(pm.c.id)
            .limit(1)
        )  # fmt: skip
        with self._transaction() as connection:
            row = connection.execute(statement).one_or_none()
        if row is None:
            return None
        return ComplainedMessage(
            row.id,
            row.idempotency_key,
            row.member_id,
            row.pseudonym,
            row.contact_kind,
            row.contact_rank,
            (row.detail or {}).get("complaint"),
        )

    def record_complaint(
        self,
        message: ComplainedMessage,
        *,
        complaint: Mapping[str, Any],
        now: dt.datetime,
        actor: str,
    ) -> ComplaintRecorded:
        """Keep ``complaint`` on the message and stop email to the member (the module's docstring).

        :param complaint: what to keep of the report, JSON values without
            personal data (``feedback_type``, ``arrived_at``, ``reported_by``).
        """
        refuse_nul_in_json("complaint", dict(complaint))
        now = utc(now)
        pm, mc = panel_messages, member_contacts
        with self._transaction(write=True) as connection:
            row = connection.execute(
                sa.select(pm.c.detail, pm.c.state).where(pm.c.id == message.id).with_for_update()
            ).one_or_none()
            if row is None:
                raise LookupError(f"no panel message {message.id}")
            detail = dict(row.detail or {})
            if "complaint" in detail:
                return ComplaintRecorded(new=False)
            kept = {**complaint, "recorded_at": now.isoformat(), "recorded_by": actor}
            changes: dict[str, Any] = {"detail": {**detail, "complaint": kept}, "updated_at": now}
            if row.state in _BEFORE_DELIVERED:
                changes |= {"state": "delivered", "sent_at": sa.func.coalesce(pm.c.sent_at, now)}
            connection.execute(pm.update().where(pm.c.id == message.id).values(changes))

            complained = None
            if message.contact_kind == "email" and message.contact_rank is not None:
                complained = connection.execute(
                    sa.select(mc.c.lookup_hash).where(
                        mc.c.member_id == message.member_id,
                        mc.c.kind == "email",
                        mc.c.rank == message.contact_rank,
                    )
                ).scalar_one_or_none()
            whose = mc.c.member_id == message.member_id
            if complained is not None:
                whose = sa.or_(whose, mc.c.lookup_hash == complained)
            stopped = connection.execute(
                sa.select(mc)
                .where(whose, mc.c.kind == "email", mc.c.opted_out_at.is_(None))
                .order_by(mc.c.member_id, mc.c.rank)
                .with_for_update()
            ).all()
            for contact in stopped:
                connection.execute(
                    mc.update()
                    .where(
                        mc.c.member_id == contact.member_id,
                        mc.c.kind == contact.kind,
                        mc.c.rank == contact.rank,
                    )
                    .values(opted_out_at=now, updated_at=now)
                )
                own = contact.member_id == message.member_id
                evidence: dict[str, Any] = {
                    "contact": fingerprint(
                        StoredContact(**{n: getattr(contact, n) for n in StoredContact.__slots__})
                    ),
                    "channel": "email",
                    "via": COMPLAINT_VIA,
                    **complaint,
                }
                if own:
                    evidence["message"] = message.idempotency_key
                else:
                    evidence["address_shared_with_a_complainant"] = True
                connection.execute(
                    member_history.insert().values(
                        member_id=contact.member_id,
                        at=now,
                        actor=actor,
                        action="opted_out",
                        before=None,
                        after=evidence,
                    )
                )
        return ComplaintRecorded(
            new=True,
            opted_out=len(stopped),
            members=tuple(sorted({c.member_id for c in stopped})),
        )
