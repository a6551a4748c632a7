"""STOP, START and HELP in a text's reply, read as Twilio reads them.

One rule for the SMS contact channel (its ``read_reply``, used by the
phone mode's SMS webhooks) and the SMS interview mode, which must honour STOP
before it reads a reply as an answer. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["HELP_KEYWORDS", "OPT_IN_KEYWORDS", "OPT_OUT_KEYWORDS", "inbound_keyword"]

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
"""The replies Twilio itself treats as opting out of a long-code sender (its
default list since 2025, with OPTOUT and REVOKE added to the older six).
No Welsh keyword is standard: networks and Twilio honour these words only,
so the shipped Welsh texts also say "Atebwch STOP"."""

OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
"""Replies with which Twilio lets a member who opted out receive texts again."""

HELP_KEYWORDS = frozenset({"HELP", "INFO"})

_TRAILING = re.compile(r"[\s.!,;:]+\Z")


def inbound_keyword(body: str, *, extra_opt_out: Iterable[str] = ()) -> str | None:
    """``"opt_out"``, ``"opt_in"`` or ``"help"`` when a reply is one of those keywords, else None.

    The whole reply must be the keyword, in any case, with surrounding
    spaces and final punctuation ignored: ``"Stop."`` opts out, ``"stop
    sending me these"`` does not. That is the rule Twilio applies, so our
    record of who opted out agrees with the numbers Twilio blocks; a reply
    that asks to stop in other words is for a person to read.

    :param extra_opt_out: a study's own opt-out words (``"DIM"``), added to
        :data:`OPT_OUT_KEYWORDS`.
    """
    word = _TRAILING.sub("", body.strip()).upper()
    if word in OPT_OUT_KEYWORDS or word in {w.strip().upper() for w in extra_opt_out}:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if word in HELP_KEYWORDS:
        return "help"
    return None
