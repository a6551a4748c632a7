"""What honouring one message of the bounce mailbox did: a bounce, a complaint, or neither.

Shared by :mod:`instrument.panelwork.bounce_intake` (delivery reports, and the
mailboxes) and :mod:`instrument.panelwork.complaint_intake` (spam complaints),
which read the same mailbox and count into the same summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BounceOutcome", "Result"]

Result = Literal[
    "bounced",
    "already",
    "transient",
    "delivered",
    "complained",
    "complained_before",
    "feedback",
    "not_bounce",
    "not_ours",
    "unreadable",
]
"""``complained``: a spam complaint recorded now; ``complained_before``: one already on its
message; ``feedback``: a feedback report that is not a complaint (not-spam, auth-failure ...)."""


@dataclass(frozen=True, slots=True)
class BounceOutcome:
    """What honouring one message of the mailbox did."""

    result: Result
    reason: str
    """In words for a person; never an address."""
    member: str | None = None
    """The pseudonym of the member it was about, once found."""
    marked: int = 0
    """Contact details newly marked bounced."""
    message_changed: bool = False
    opted_out: int = 0
    """Email details newly opted out by a complaint."""
