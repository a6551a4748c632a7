"""Honouring bounces: a permanent one marks our message ``bounced`` and its address unusable.

:mod:`instrument.panel.bounces` reads a notification; this module finds the
message and the member it is about and records what it says, and reads the
bounce mailbox (a Maildir, or an mbox file) for ``instrument panel bounces``
and, when ``INSTRUMENT_BOUNCE_MAILDIR`` is set, for the fieldwork worker each
round. Spam complaints (ARF feedback reports) come to the same mailbox and are
handed to :mod:`instrument.panelwork.complaint_intake`: the member is not
emailed again.

A notification is trusted only as far as it matches what we sent: the
addresses it names (failed recipients, the original's ``To``) are hashed with
the panel's lookup key, the members holding those details are found by hash
(nothing is decrypted), and among those members' messages the one whose
idempotency key (or the Message-ID derived from it) the notification quotes
is the one it is about. Then, for a permanent failure (5.x.x):

- the message's state becomes ``bounced`` (:meth:`Store.set_message_state`,
  forward only), with the diagnostic, addresses taken out, as its error;
- the member's email details that the notification names are marked bounced
  (:meth:`Store.mark_contact`, by lookup hash, a history entry each): no
  channel uses them again; the member's other details are untouched.

A transient failure or a delay records nothing (the server is still trying,
or will be asked again); a delivery report moves the message to
``delivered``. Everything is idempotent: the same notification again finds
the message already ``bounced`` and the details already marked, and changes
nothing. Addresses are never logged or printed: outcomes name the member by
pseudonym. A run that changed anything writes one ``bounces_processed`` entry
to the staff audit log, with counts (complaints' among them).
"""

from __future__ import annotations

import datetime as dt
import logging
import mailbox
import os
import re
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from instrument.panel.bounces import BounceReport, message_id_digest, read_bounce
from instrument.panel.complaints import read_feedback_report
from instrument.panel.crypto import ContactSealer
from instrument.panel.members import lookup_form
from instrument.panelwork.complaint_intake import ComplaintHonourer
from instrument.panelwork.intake_outcome import BounceOutcome, Result
from instrument.panelwork.worker import message_key
from instrument.store import Store
from instrument.store.panel_work import ClaimedMember

if TYPE_CHECKING:
    from instrument.panelwork.worker import FieldworkWorker

__all__ = [
    "BOUNCE_MAILDIR_ENV",
    "BounceHonourer",
    "BounceOutcome",
    "IntakeSummary",
    "MailboxError",
    "take_in_bounces",
    "take_in_maildir",
    "take_in_mbox",
]

_log = logging.getLogger(__name__)

BOUNCE_MAILDIR_ENV: Final = "INSTRUMENT_BOUNCE_MAILDIR"
"""A Maildir the fieldwork worker reads bounces (and spam complaints) from each round (when set)."""

WORKER_INTERVAL: Final = dt.timedelta(minutes=1)
"""The worker looks at the bounce Maildir at most this often."""

_WAVE_OF_KEY: Final = re.compile(r"w(\d+)\.")


class MailboxError(Exception):
    """The mailbox cannot be read at all (no such Maildir, not an mbox file)."""


@dataclass
class IntakeSummary:
    """A run over a mailbox: how many of each outcome, and why each unreadable file was."""

    results: Counter[str] = field(default_factory=Counter)
    marked: int = 0
    messages_changed: int = 0
    opted_out: int = 0
    outcomes: list[tuple[str, BounceOutcome]] = field(default_factory=list)
    """Each message's outcome, by file name (or mbox entry), in the order read."""

    @property
    def read(self) -> int:
        return sum(self.results.values())

    @property
    def changed(self) -> bool:
        return bool(self.marked or self.messages_changed or self.opted_out)

    def add(self, name: str, outcome: BounceOutcome) -> None:
        self.results[outcome.result] += 1
        self.marked += outcome.marked
        self.messages_changed += outcome.message_changed
        self.opted_out += outcome.opted_out
        self.outcomes.append((name, outcome))

    @property
    def unreadable(self) -> list[tuple[str, str]]:
        """(file or mbox entry, why) of each message that could not be read."""
        return [(name, o.reason) for name, o in self.outcomes if o.result == "unreadable"]

    def counts(self) -> dict[str, int]:
        """The figures for the summary line and the audit entry (never an address)."""
        r = self.results
        return {
            "read": self.read,
            "bounces": r["bounced"] + r["already"],
            "bounces_new": r["bounced"],
            "delayed": r["transient"],
            "delivered": r["delivered"],
            "not_bounces": r["not_bounce"],
            "not_ours": r["not_ours"],
            "unreadable": r["unreadable"],
            "addresses_marked": self.marked,
            "messages_changed": self.messages_changed,
            "complaints": r["complained"] + r["complained_before"],
            "complaints_new": r["complained"],
            "other_feedback": r["feedback"],
            "addresses_opted_out": self.opted_out,
        }

    def __str__(self) -> str:
        c = self.counts()
        line = (
            f"{c['read']} read: {c['bounces']} bounce(s) ({c['bounces_new']} new, "
            f"{c['addresses_marked']} address(es) marked bounced), {c['delayed']} delayed or "
            f"temporary, {c['delivered']} delivery report(s), {c['not_bounces']} not bounces, "
            f"{c['not_ours']} not ours, {c['unreadable']} unreadable"
        )
        if c["complaints"] or c["other_feedback"]:  # a mailbox of bounces alone reads as before
            line += (
                f"; {c['complaints']} spam complaint(s) ({c['complaints_new']} new, "
                f"{c['addresses_opted_out']} address(es) opted out of email), "
                f"{c['other_feedback']} other feedback report(s)"
            )
        return line


class BounceHonourer:
    """Finds what a notification is about and records it (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        sealer: ContactSealer,
        *,
        clock: Callable[[], dt.datetime],
        actor: str,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        self.actor = actor
        self._wave_ids: frozenset[int] | None = None
        self.complaints = ComplaintHonourer(store, clock=clock, actor=actor)

    def honour_bytes(self, raw: bytes) -> BounceOutcome:
        """Honour one message of the mailbox: a bounce, a delivery report, a spam complaint."""
        report = read_bounce(raw)
        if report.form == "feedback-report":  # RFC 5965: read again, as a complaint
            return self.complaints.honour(read_feedback_report(raw))
        return self.honour(report)

    def honour(self, report: BounceReport) -> BounceOutcome:
        if report.verdict in ("unreadable", "not_bounce"):
            return BounceOutcome(report.verdict, report.reason)
        if report.verdict == "transient":  # the server goes on trying: nothing is final
            return BounceOutcome("transient", f"{report.reason}; nothing recorded")
        if not report.refers_to_a_message:
            return BounceOutcome(
                "not_ours", "it quotes no idempotency key and no Message-ID: not about our email"
            )
        found = self._find(report)
        if found is None:
            return self._unmatched(report)
        member, key, hashes = found
        who = member.pseudonym
        now = self.clock()
        if report.verdict == "delivered":
            moved = self.store.set_message_state(key, "delivered", now=now)
            result: Result = "delivered" if moved else "already"
            return BounceOutcome(result, report.reason, who, message_changed=moved)
        moved = self.store.set_message_state(key, "bounced", now=now, error=_error(report))
        marked = sum(
            1
            for lookup_hash in sorted(hashes)
            if self.store.mark_contact(lookup_hash, "bounced", now=now, actor=self.actor)
        )
        if not (moved or marked):
            return BounceOutcome("already", "recorded before: nothing changed", who)
        return BounceOutcome("bounced", report.reason, who, marked, moved)

    # ------------------------------------------------------------------ finding

    def _find(self, report: BounceReport) -> tuple[ClaimedMember, str, set[str]] | None:
        """The member, the message's key, and the hashes of the member's details it names."""
        by_member: dict[int, set[str]] = {}
        for address in report.addresses:
            lookup_hash = self.sealer.lookup_hash("email", lookup_form("email", address))
            for contact in self.store.members_with_contact(lookup_hash):
                if contact.kind == "email":
                    by_member.setdefault(contact.member_id, set()).add(lookup_hash)
        if not by_member:
            return None
        wave_ids = {
            int(m.group(1)) for key in report.keys if (m := _WAVE_OF_KEY.match(key)) is not None
        } or self._all_waves()
        digests = {mid[1:].partition("@")[0] for mid in report.message_ids}
        keys = set(report.keys)
        candidates = self.store.read_wave_members(
            [(w, m) for w in sorted(wave_ids) for m in sorted(by_member)]
        )
        for member in candidates:
            for message in member.messages:
                if message.channel is None:
                    continue  # an action, not a message
                key = message_key(member.wave_id, member.case_id, message.step, message.channel)
                if key in keys or message_id_digest(key) in digests:
                    return member, key, by_member[member.member_id]
        return None

    def _all_waves(self) -> frozenset[int]:
        """Every wave's id (a notification that gives only a Message-ID), read once per run."""
        if self._wave_ids is None:
            self._wave_ids = frozenset(w.id for w in self.store.panel_wave_list())
        return self._wave_ids

    def _unmatched(self, report: BounceReport) -> BounceOutcome:
        """A notification whose addresses no member (now) has: the message alone, if it is ours.

        The address may have been changed or deleted since (a re-import, a
        withdrawal), or the report may name none: the message it quotes is
        still marked, by key or by Message-ID (our provider id for email),
        and no detail is.
        """
        state = "bounced" if report.verdict == "bounce" else "delivered"
        now = self.clock()
        error = _error(report) if state == "bounced" else None
        moved = False
        for key in report.keys:
            moved = self.store.set_message_state(key, state, now=now, error=error) or moved
        for mid in report.message_ids:
            moved = (
                self.store.record_delivery_report(
                    provider_id=mid, state=state, now=now, error=error
                )
                or moved
            )
        if moved:
            result: Result = "bounced" if state == "bounced" else "delivered"
            why = "recorded on the message; no member has the address it names (changed since?)"
            return BounceOutcome(result, why, message_changed=True)
        return BounceOutcome(
            "not_ours",
            "no message of ours matches its key, Message-ID and addresses "
            "(or it was recorded before and the address has gone since)",
        )


def _error(report: BounceReport) -> str:
    return f"bounce: {report.diagnostic or report.reason}"[:2000]


# ---------------------------------------------------------------------------- mailboxes


def take_in_maildir(
    honourer: BounceHonourer, path: Path, *, done: Path | None = None
) -> IntakeSummary:
    """Honour every message in the Maildir ``path`` not yet seen; mark each as it is done.

    Messages in ``new`` and messages in ``cur`` without the seen flag (S) are
    read. A message done moves to ``cur`` with the S flag (where a mail
    client shows it as read), or into ``done`` (a plain directory) when
    given. An unreadable one is flagged (F) too, so a person finds it. A
    message another process took meanwhile is passed over.

    :raises MailboxError: ``path`` is not a Maildir.
    """
    folders = [path / name for name in ("new", "cur", "tmp")]
    if not all(folder.is_dir() for folder in folders):
        raise MailboxError(f"{path} is not a Maildir (it needs new, cur and tmp folders)")
    if done is not None:
        done.mkdir(parents=True, exist_ok=True)
    summary = IntakeSummary()
    for file in _unseen(path):
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            continue  # another worker took it
        except OSError as exc:
            summary.add(file.name, BounceOutcome("unreadable", f"cannot be read: {exc.strerror}"))
            continue
        outcome = honourer.honour_bytes(raw)
        summary.add(file.name, outcome)
        _mark_done(file, path, done, flagged=outcome.result == "unreadable")
    return summary


def _unseen(path: Path) -> Iterator[Path]:
    for folder in ("new", "cur"):
        for file in sorted((path / folder).iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue
            _, _, info = file.name.partition(":2,")
            if folder == "cur" and "S" in info:
                continue
            yield file


def _mark_done(file: Path, path: Path, done: Path | None, *, flagged: bool) -> None:
    base, _, info = file.name.partition(":2,")
    flags = "".join(sorted(set(info) | {"S"} | ({"F"} if flagged else set())))
    target = (done / file.name) if done is not None else path / "cur" / f"{base}:2,{flags}"
    try:
        file.rename(target)
    except FileNotFoundError:
        pass  # another worker moved it first; what it did is the same


def take_in_mbox(honourer: BounceHonourer, path: Path) -> IntakeSummary:
    """Honour every message of the mbox file ``path``; the file is left as it is.

    Reading it again is harmless: each notification already honoured changes
    nothing the second time (the summary counts it as recorded before).

    :raises MailboxError: ``path`` is not a readable file.
    """
    if not path.is_file():
        raise MailboxError(f"{path} is not an mbox file")
    box = mailbox.mbox(path, create=False)
    summary = IntakeSummary()
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            summary.add(f"{path.name} message {number}", honourer.honour_bytes(box.get_bytes(key)))
    finally:
        box.close()
    return summary


def audit(store: Store, summary: IntakeSummary, *, actor: str, now: dt.datetime) -> None:
    """The run's staff audit entry (``bounces_processed``, counts only), when it changed anything."""
    if summary.changed:
        store.log_staff_action(actor, "bounces_processed", detail=summary.counts(), at=now)


# ---------------------------------------------------------------------------- the worker's hook

_last_look: weakref.WeakKeyDictionary[FieldworkWorker, dt.datetime] = weakref.WeakKeyDictionary()


def take_in_bounces(worker: FieldworkWorker) -> IntakeSummary | None:
    """The worker's round: honour the bounce Maildir (``INSTRUMENT_BOUNCE_MAILDIR``) if it is time.

    At most every :data:`WORKER_INTERVAL` of the worker's clock. A mailbox
    that cannot be read is logged and the round goes on: bounces wait for the
    next look, invitations do not wait for bounces.
    """
    folder = os.environ.get(BOUNCE_MAILDIR_ENV, "").strip()
    if not folder:
        return None
    now = worker.clock()
    last = _last_look.get(worker)
    if last is not None and now - last < WORKER_INTERVAL:
        return None
    _last_look[worker] = now
    actor = f"worker:{worker.name}"
    honourer = BounceHonourer(worker.store, worker.sealer, clock=worker.clock, actor=actor)
    try:
        summary = take_in_maildir(honourer, Path(folder))
    except MailboxError as exc:
        _log.error("bounces: %s (%s)", exc, BOUNCE_MAILDIR_ENV)
        return None
    if summary.read:
        _log.info("bounces: %s", summary)
        for name, reason in summary.unreadable:
            _log.warning("bounces: %s is unreadable: %s", name, reason)
    audit(worker.store, summary, actor=actor, now=now)
    return summary
