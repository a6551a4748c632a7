"""Honouring spam complaints: the member who marked our email as spam is not emailed again.

A feedback-loop report (:mod:`instrument.panel.complaints`) arrives in the
bounce mailbox and is read with the bounces, by ``instrument panel bounces``
and by the worker (:mod:`instrument.panelwork.bounce_intake` hands every
``report-type=feedback-report`` message here). A complaint is trusted only
as far as it quotes what we sent: the message is found by the idempotency key
and Message-ID in the returned copy's headers
(:meth:`~instrument.store.panel_complaints.PanelComplaints.email_message_quoted`),
never by an address or the report's text, so nothing is decrypted and a
report about someone else's email is "not ours". Then
:meth:`~instrument.store.panel_complaints.PanelComplaints.record_complaint`
keeps it on the message and opts the member's email details out, with a
history entry each as evidence, in one transaction.

Feedback that is not a complaint (``not-spam``, an ``auth-failure`` report
about SPF or DKIM, ``virus``, ``other``) records nothing and is counted, with
its reason, for a person to read. Outcomes name the member by pseudonym.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from instrument.panel.complaints import FeedbackReport
from instrument.panelwork.intake_outcome import BounceOutcome
from instrument.store import Store

__all__ = ["ComplaintHonourer"]


class ComplaintHonourer:
    """Finds the message a feedback report quotes and records the complaint (module docstring)."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime], actor: str) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor

    def honour(self, report: FeedbackReport) -> BounceOutcome:
        if report.verdict == "unreadable":
            return BounceOutcome("unreadable", report.reason)
        if report.verdict == "not_complaint":
            return BounceOutcome("feedback", report.reason)
        message = self.store.email_message_quoted(
            keys=report.keys, message_ids=report.our_message_ids
        )
        if message is None:
            return BounceOutcome(
                "not_ours",
                f"{report.reason}: it quotes no email of ours (by our key or Message-ID)",
            )
        recorded = self.store.record_complaint(
            message, complaint=evidence(report), now=self.clock(), actor=self.actor
        )
        if not recorded.new:
            return BounceOutcome(
                "complained_before", "recorded before: nothing changed", message.pseudonym
            )
        return BounceOutcome(
            "complained",
            f"{report.reason}; no more email to the member",
            message.pseudonym,
            message_changed=True,
            opted_out=recorded.opted_out,
        )


def evidence(report: FeedbackReport) -> dict[str, Any]:
    """What is kept of a complaint on the message and in the history: no address, no text."""
    kept: dict[str, Any] = {"feedback_type": report.feedback_type}
    if report.arrived_at is not None:
        kept["arrived_at"] = report.arrived_at.isoformat()
    if report.reported_by:
        kept["reported_by"] = report.reported_by
    return kept
