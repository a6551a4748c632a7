"""The call queue's :class:`~instrument.callqueue.Dialer`, placed through Twilio's bridge.

The bridge rings the interviewer's own phone first and connects the
respondent from TwiML that reads the number from the store at that moment
(:mod:`instrument_phone.telephony`), so :meth:`TwilioDialer.place` never
sends the respondent's number to Twilio in the REST call: it is given it only
because the protocol is the same for every provider.
"""

from __future__ import annotations

from typing import Any

from instrument_phone.telephony.config import TwilioSettings
from instrument_phone.telephony.dialer import hang_up, make_client, place_bridge_call

__all__ = ["TwilioDialer"]


class TwilioDialer:
    """Rings ``interviewer_number`` (E.164 or a SIP address) and bridges to the respondent."""

    def __init__(
        self, settings: TwilioSettings, interviewer_number: str, http_client: Any = None
    ) -> None:
        self.settings = settings
        self.interviewer_number = interviewer_number
        self.client = make_client(settings, http_client)

    def place(self, to_e164: str, call_id: int) -> str:
        """Ring the interviewer for our call ``call_id``; the bridge's TwiML dials the respondent."""
        return place_bridge_call(
            self.client, self.settings, interviewer_number=self.interviewer_number, call_id=call_id
        )

    def hang_up(self, sid: str) -> None:
        hang_up(self.client, sid)
