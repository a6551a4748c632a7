"""The interviewer's console: the browser screens a telephone interviewer works in.

"Next case", the case screen (who to call, on which numbers, what happened
before), dialling through Twilio or by hand, the script read from the same
engine that serves the web (mode ``cati``) and the end-of-call outcome. It is
mounted by the phone mode's blueprint under ``/cati/console`` and works
through two services only: the call queue (:mod:`instrument.callqueue`) and
the interview service; it never touches the store.
"""

from __future__ import annotations

from instrument_phone.console.views import create_console_blueprint

__all__ = ["create_console_blueprint"]
