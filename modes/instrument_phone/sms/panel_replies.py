"""A panel member's reply to an SMS invitation: which case it is for, found by the number alone.

A member the wave texted (the panel's SMS channel, through the fieldwork
worker) may reply to the invitation to answer by text, without an access code,
when the wave's questionnaire lists ``sms``. The sender's number is matched
the way a STOP is: its lookup hash under the panel's lookup key
(:func:`~instrument_phone.telephony.sms_webhooks.open_number_lookup`), never
the number in clear, against the cases the store says were texted at that
detail and are still open (:meth:`Store.texted_open_cases`).

Which case, by :func:`choose_case` (docs/sms.md, "Panel members replying"):

* a reply answers the newest text we sent, so the case is the one whose wave
  texted the number last, and only if its questionnaire lists ``sms``;
* never a guess between people: when the open cases texted at the number are
  more than one member's (a household sharing a phone), or two were texted
  at the same instant, the answer is :data:`SEVERAL` and the reply asks for
  the access code (or the link) instead;
* a conversation whose interview is over is matched again only by a text
  sent after its last turn (a "thanks" after the end is not read as the
  start of another wave's interview).

Why the number is enough here, and not for an automated call: the webhook is
signed by Twilio, whose ``From`` is the number the network delivered the text
from, and everything we answer goes back to that number, so a forged sender
could not read the questions (nor a fill from the member's data), only answer
blind; a call's audio goes to whoever placed it, so caller id never
identifies a respondent on the IVR.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Literal

from instrument.store import Store
from instrument.store.panel_texted import TextedCase

if TYPE_CHECKING:
    from instrument.panel.crypto import ContactSealer

__all__ = ["SEVERAL", "NumberLookup", "choose_case"]

_log = logging.getLogger(__name__)

SEVERAL: Final = "several"
"""More than one person (or case) could be meant: ask for the access code, never guess."""


def choose_case(
    texted: Sequence[TextedCase],
    *,
    lists_sms: Callable[[str], bool],
    since: dt.datetime | None = None,
) -> TextedCase | Literal["several"] | None:
    """The case a reply from the number is for, :data:`SEVERAL`, or None (no match).

    :param texted: the open cases texted at the number, newest text first
        (:meth:`Store.texted_open_cases`).
    :param lists_sms: whether a questionnaire (by id) is served and lists ``sms``.
    :param since: only texts sent after this count (the last turn of a conversation
        whose interview is over); None: every text.
    """
    recent = [t for t in texted if since is None or t.texted_at > since]
    if not recent:
        return None
    newest = max(recent, key=lambda t: t.texted_at)
    tied = [t for t in recent if t.texted_at == newest.texted_at]
    if len({t.member_id for t in recent}) > 1 or len(tied) > 1:
        return SEVERAL
    return newest if lists_sms(newest.questionnaire_id) else None


class NumberLookup:
    """The panel's number lookup (the sealer whose ``lookup_hash`` finds a number's members),
    opened on first use and kept; None while the panel keys are not set."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime]) -> None:
        self._store = store
        self._clock = clock
        self._sealer: ContactSealer | None = None
        self._lock = threading.Lock()

    def sealer(self, why: str) -> ContactSealer | None:
        """The sealer, or None (logged as a warning saying ``why`` it was wanted)."""
        from instrument.panel.crypto import PanelKeyError
        from instrument_phone.telephony.sms_webhooks import open_number_lookup

        with self._lock:
            if self._sealer is None:
                try:
                    self._sealer = open_number_lookup(self._store, self._clock())
                except PanelKeyError as exc:
                    _log.warning("%s: %s", why, exc)
                    return None
            return self._sealer

    def number_hash(self, number: str, why: str) -> str | None:
        """The lookup hash of ``number`` (E.164), or None without the panel keys."""
        from instrument.panel.members import lookup_form

        sealer = self.sealer(why)
        return None if sealer is None else sealer.lookup_hash("phone", lookup_form("phone", number))
