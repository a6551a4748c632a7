"""The telephone mode: interviewers read the script on calls placed through Twilio.

Registered as the standard ``cati`` mode (:data:`instrument.modes.CATI`).
Phase 1 holds the telephony layer (:mod:`instrument_phone.telephony`): the
settings, placing and ending bridge calls, and the signed Twilio webhooks.
The interviewer's console will join them in the same blueprint.
"""

MODE_NAME = "cati"
"""The mode's name: its URL prefix and the ``mode`` recorded on answers."""
