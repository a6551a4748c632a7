"""Delivery reports of panel messages (an SMS's status callbacks): a message's state moves forward only.

A provider reports on a message several times (Twilio: queued, sent, then
delivered or undelivered), retries a report it got no answer to, and does not
promise their order. So a report is applied only when it moves the message
forward (:data:`STATE_RANK`): a retry, or a late "sent" after "delivered",
changes nothing, and a final state (delivered, failed, bounced) is never left.

A report finds its message by the provider's id (Twilio's ``MessageSid``),
which the worker stores from the channel's receipt; a report that comes before
that receipt is written (Twilio can call back within milliseconds) finds it by
the idempotency key the channel added to the callback URL, provided the row
has no provider id yet (so a key cannot be used to reach another provider's
message).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import sqlalchemy as sa

from instrument.store.nul import refuse_nul
from instrument.store.plumbing import StoreBase, utc
from instrument.store.schema import panel_messages

__all__ = ["STATE_RANK", "PanelDelivery"]

STATE_RANK: Final = {
    "sending": 0,
    "queued": 1,
    "sent": 2,
    "delivered": 3,
    "failed": 3,
    "bounced": 3,
}
"""How far along each state of a message is; a report moves a message only to a higher rank.
``unknown`` (a crash between recording and sending) and ``done`` (an action) are not messages
a provider reports on, and are left alone."""


class PanelDelivery(StoreBase):
    """:meth:`record_delivery_report`."""

    def record_delivery_report(
        self,
        *,
        provider_id: str,
        state: str,
        now: dt.datetime,
        key: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Move the message to ``state`` if that is forward for it; whether it moved.

        :param provider_id: the provider's id of the message (``SM...``).
        :param key: the idempotency key from the callback URL, for a report
            that comes before the receipt was written.
        """
        if STATE_RANK.get(state, 0) == 0:
            raise ValueError(
                f"a delivery report moves a message to one of {sorted(STATE_RANK)[1:]}"
            )
        for field, text in (("provider id", provider_id), ("key", key), ("error", error)):
            refuse_nul(field, text)
        now = utc(now)
        which = panel_messages.c.provider_id == provider_id
        if key:
            which = sa.or_(
                which,
                sa.and_(
                    panel_messages.c.idempotency_key == key, panel_messages.c.provider_id.is_(None)
                ),
            )
        earlier = [name for name, rank in STATE_RANK.items() if rank < STATE_RANK[state]]
        sent = now if state in ("sent", "delivered") else None
        with self._transaction(write=True) as connection:
            moved = connection.execute(
                panel_messages.update()
                .where(which, panel_messages.c.state.in_(earlier))
                .values(
                    state=state,
                    provider_id=provider_id,
                    error=None if error is None else error[:2000],
                    sent_at=sa.func.coalesce(panel_messages.c.sent_at, sent),
                    updated_at=now,
                )
            ).rowcount
        return bool(moved)
