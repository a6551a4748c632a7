"""The fieldwork worker: carries out what a wave's contact plan says is due, and nothing twice.

Each round (:meth:`FieldworkWorker.run_round`):

1. claims a batch of members whose ``next_due`` has come (the store's
   :meth:`~instrument.store.panel_work.PanelWork.claim_due_members`: one
   indexed query, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a lease so that a
   dead worker's members are taken over);
2. builds each member's :class:`~instrument.panel.contact_plan.MemberState` from
   the rows (the interview says started and finished, the contact details say
   which addresses are usable, the recorded messages are what is done) and asks
   :func:`~instrument.panel.contact_plan.due_actions` what is due now;
3. carries each action out: messages are gathered in groups of at most
   ``group``; a group is recorded (``sending``, the members checked again) in
   one transaction and committed before any of its channels is called with the
   address decrypted in memory only, then the group's states are set from the
   receipts in one statement; a move to the phone puts the case in the call
   queue (the sample import's code) with the member's numbers; a close closes;
   an incentive is recorded (a member's pending messages are recorded and sent
   first, so the plan's order holds);
4. stores when each member is next due, worked out from the member as claimed
   and the messages the round recorded (members something else happened to,
   an action or a refusal, are read again first).

The clock is passed in (tests walk a wave on a fake one). Rate limits are the
wave file's, per channel, counted in the database over the last ``per``, so
several workers share one limit (each may overshoot it by what it sends in one
round before it sees the others'). See docs/fieldwork-worker.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import queue
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from instrument.panel.contact_plan import (
    Action,
    Address,
    Done,
    MemberState,
    Tried,
    due_actions,
    next_due,
)
from instrument.panel.crypto import ContactSealer, PanelKeys
from instrument.panel.links import CaseLinks
from instrument.panel.member_links import unsubscribe_path
from instrument.panel.member_zone import member_zone
from instrument.panel.wave_file import load_wave_text
from instrument.panel.waves import BUILTIN_CHANNELS, CHANNEL_ADDRESS, AutomatedCall, Wave
from instrument.plugin_types import ChannelSetupError, ContactChannel, OutgoingMessage, Receipt
from instrument.store import Store
from instrument.store.case_import import ImportedCase
from instrument.store.panel_members import StoredContact
from instrument.store.panel_waves import WaveRecord
from instrument.store.panel_work import (
    MAX_ATTEMPTS,
    ClaimedMember,
    MessageReceipt,
    MessageRow,
    PlannedMessage,
)

from .automated_calls import CALLS_PER_ROUND, AutomatedCalling, Study, questionnaire_source
from .sms_interviews import SmsInterviewing, text_member

__all__ = [
    "RETRY_AFTER",
    "FieldworkWorker",
    "RoundReport",
    "WaveNotLoadable",
    "message_key",
    "start_in_thread",
    "worker_for",
    "worker_name",
]

_log = logging.getLogger(__name__)

RETRY_AFTER: Final = dt.timedelta(minutes=15)
"""How long a message that failed for a passing reason waits before its next try."""

HELD_BACK: Final = dt.timedelta(minutes=1)
"""When an action that is due but could not be done now is looked at again."""

ZONES_KEPT: Final = 100_000
"""Members' zones a worker keeps at most (then it starts again): a wave's worth."""

STOPPED: Final = frozenset({"withdrawn", "deceased"})
"""Member statuses that end every contact at once (nothing more, not even a close)."""

SENDERS: Final = 4
"""Threads that hand a group's messages to the channels at once, by default: a worker waits for
a server's replies on several connections instead of one (each channel is told how many
through ``ContactChannel.expect_senders``: the email channel's pool holds as many connections,
unless ``INSTRUMENT_SMTP_CONNECTIONS`` holds it to fewer)."""

OPEN_WAVES_READ_EVERY: Final = dt.timedelta(minutes=1)
"""How often a worker reads which waves are open, for their automated calls (a wave it has
not seen before, met through a claimed member, has them read at the next round)."""

DONE_STATES: Final = frozenset(
    {"sending", "queued", "sent", "delivered", "bounced", "unknown", "done"}
)


class WaveNotLoadable(RuntimeError):
    """A stored wave file no longer reads (a channel it names is not installed)."""


def worker_name() -> str:
    """``host:pid:thread``: who claimed a member, in the rows and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


@dataclass
class RoundReport:
    """What one round did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    actions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    calls_placed: int = 0
    """Automated calls placed to the due cases of open waves' automated_call steps."""
    calls_not_placed: int = 0
    """Cases taken for an automated call but not dialled (no number, the provider refused)."""
    notes: list[str] = field(default_factory=list)
    """What the fieldwork manager should know, each said once by a worker (automated calls
    that cannot be placed here: Twilio not configured)."""

    @property
    def busy(self) -> bool:
        """Whether the round did or said anything (a quiet one is followed by a rest)."""
        return bool(self.claimed or self.calls_placed or self.calls_not_placed or self.notes)

    def __str__(self) -> str:
        skipped = ", ".join(f"{why}: {n}" for why, n in sorted(self.skipped.items()))
        calls = ""
        if self.calls_placed or self.calls_not_placed:
            calls = f", automated calls placed {self.calls_placed}" + (
                f" (taken but not dialled {self.calls_not_placed})" if self.calls_not_placed else ""
            )
        return (
            f"claimed {self.claimed}, sent {self.sent}, failed {self.failed}, "
            f"actions {self.actions}{calls}"
            + (f"; not sent ({skipped})" if skipped else "")
            + "".join(f"; {note}" for note in self.notes)
        )


@dataclass
class _Budget:
    """A channel's messages left in this round under the wave's rate limit.

    ``spacing`` is the time the limit allows between two messages. Members held
    back are spread out at that spacing (:meth:`hold`), the first one spacing
    after now, so the next rounds find due about as many as the limit lets go,
    rather than every held member at once, each to be read, held back and
    written again (at 5 texts a second, a round of 200 would send 5 and put 195
    back).
    """

    left: int
    spacing: dt.timedelta
    held: int = 0

    def hold(self, now: dt.datetime) -> dt.datetime:
        """When the next member held back by this limit is looked at again."""
        self.held += 1
        return now + self.spacing * self.held


@dataclass(frozen=True)
class _SenderDied:
    """A sending thread stopped by something other than a channel's answer (a BaseException)."""

    exc: BaseException


@dataclass(frozen=True)
class _Pending:
    """A message planned for a member, waiting for its group to be recorded and sent."""

    planned: PlannedMessage
    record: WaveRecord
    wave: Wave
    contact: StoredContact
    budget: _Budget | None


@dataclass
class _Round:
    """What one round keeps between members: its report, budgets, the group being gathered."""

    report: RoundReport
    budgets: dict[tuple[int, str], _Budget] = field(default_factory=dict)
    group: list[_Pending] = field(default_factory=list)
    lost: set[tuple[int, int]] = field(default_factory=set)
    """Members whose claim another worker took over: left alone from then on."""
    stopped: set[tuple[int, int]] = field(default_factory=set)
    """Members the store refused a message for (finished, withdrew, ...): nothing more now."""
    written: dict[tuple[int, int], list[MessageRow]] = field(default_factory=dict)
    """Messages this round recorded for a member, as the store now holds them."""
    reread: set[tuple[int, int]] = field(default_factory=set)
    """Members something else happened to this round (an action, a refusal, a message retried
    or recorded before): read again from the store before they are released."""


class FieldworkWorker:
    """Carries out due contact-plan actions; safe to run several at once (threads, processes, hosts)."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, ContactChannel],
        sealer: ContactSealer,
        links: CaseLinks,
        *,
        unsubscribe_key: bytes,
        clock: Callable[[], dt.datetime],
        base_url: str,
        name: str | None = None,
        batch: int = 200,
        group: int = 50,
        lease: dt.timedelta = dt.timedelta(minutes=10),
        senders: int = SENDERS,
        automated: AutomatedCalling | None = None,
        texting: SmsInterviewing | None = None,
    ) -> None:
        if group < 1:
            raise ValueError(f"a group holds at least one message, not {group}")
        if senders < 1:
            raise ValueError(f"a worker sends on at least one thread, not {senders}")
        for channel in channels.values():  # before anything is sent: pools sized to the threads
            if channel.expect_senders is not None:
                channel.expect_senders(senders)
        self.store = store
        self.channels = dict(channels)
        self.sealer = sealer
        self.links = links
        self.unsubscribe_key = unsubscribe_key
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.name = name or worker_name()
        self.batch = batch
        self.group = group
        """Messages recorded in one transaction and sent before the next group is recorded:
        a crash leaves at most this many ``sending`` (never resent)."""
        self.lease = lease
        self.senders = senders
        """Members of a group whose messages are handed to their channels at the same time,
        each member's own in the plan's order (1: one message after the other)."""
        self._sender_threads: ThreadPoolExecutor | None = None
        self.automated = automated
        """Hands members' cases to the automated dialler and places the due calls (the modes
        that place calls); None: this worker places no automated calls, and says so."""
        self.texting = texting
        """Texts the first question of sms_interview steps; None: this worker starts none."""
        self._zones: dict[tuple[str | None, str | None, str | None], str | None] = {}
        """Each member's zone by what it is worked out from: a member is looked at more than
        once a round (what is due, then when next), and an address is opened only once."""
        self.needs: dict[str, str] = {
            **CHANNEL_ADDRESS,
            **{n: c.needs for n, c in self.channels.items()},
        }
        self._waves: dict[int, tuple[WaveRecord, Wave]] = {}
        self._open_waves: tuple[dt.datetime, tuple[WaveRecord, ...]] | None = None
        """The open waves as last read, and when (for their automated calls)."""
        self._contexts: dict[tuple[int, str], dict[str, Any]] = {}
        """Each wave's template variables by language, worked out once (not per message)."""

    # ------------------------------------------------------------------ rounds

    def run_round(self) -> RoundReport:
        """Claim one batch of due members and carry out what is due for each.

        :raises ChannelSetupError: a channel cannot send with its settings (the
            message being sent is left ``failed``, to be tried again later).
        """
        from .bounce_intake import take_in_bounces  # imports this module
        from .recording_deletions import forget_recordings

        take_in_bounces(self)  # when INSTRUMENT_BOUNCE_MAILDIR is set (docs/bounces.md)
        forget_recordings(self)  # withdrawn respondents' recordings, at the provider
        report = RoundReport()
        # the cases handed to the dialler in earlier rounds first (a round's own are called
        # in the next one): the calls go out whether or not any member is due now
        self._place_calls(report)
        now = self.clock()
        claimed = self.store.claim_due_members(
            self.name, now=now, limit=self.batch, lease=self.lease
        )
        report.claimed = len(claimed)
        if not claimed:
            return report
        round_ = _Round(report)
        waits: dict[tuple[int, int], dt.datetime] = {}
        try:
            for member in claimed:
                record, wave = self._wave(member.wave_id)
                held_back = self._carry_out(record, wave, member, round_)
                if held_back is not None:
                    waits[(member.wave_id, member.member_id)] = held_back
            self._flush(round_)
        finally:
            self._release(claimed, round_, waits)
        return report

    def run(
        self,
        stop: threading.Event,
        *,
        idle: float = 5.0,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        """Rounds until ``stop`` is set; waits ``idle`` seconds whenever a round found nothing."""
        wait = sleep or stop.wait
        while not stop.is_set():
            report = self.run_round()
            if report.busy:
                _log.info("fieldwork round: %s", report)
            else:
                wait(idle)

    # ------------------------------------------------------------------ one member

    def _carry_out(
        self, record: WaveRecord, wave: Wave, member: ClaimedMember, round_: _Round
    ) -> dt.datetime | None:
        """Plan the member's due messages into the round's group, carry out other actions;
        the time a rate limit lets the member go on, or None."""
        now = self.clock()
        who = (member.wave_id, member.member_id)
        state, contacts = self.member_state(wave, member, now)
        held_back: dt.datetime | None = None
        for action in due_actions(wave, state, now, self.needs):
            if who in round_.lost or who in round_.stopped:
                break
            if action.kind in ("invitation", "reminder"):
                assert action.channel is not None
                budget = self._budget(wave, record.id, action.channel, round_.budgets, now)
                if budget is not None and budget.left <= 0:
                    round_.report.skipped["rate limit"] += 1
                    later = budget.hold(now)
                    held_back = later if held_back is None else min(held_back, later)
                    continue
                if self._plan(record, wave, member, action, contacts, budget, round_):
                    if budget is not None:
                        budget.left -= 1
                    if len(round_.group) >= self.group:
                        self._flush(round_)
                continue
            if any(p.planned.member.member_id == member.member_id for p in round_.group):
                self._flush(round_)  # the plan's order: this member's messages go first
                if who in round_.lost or who in round_.stopped:
                    break
            round_.reread.add(who)
            outcome = self._act(record, wave, member, action, now, round_.report)
            if outcome == "claim lost":
                round_.lost.add(who)
            elif outcome == "stop":
                round_.stopped.add(who)
        return held_back

    def member_state(
        self, wave: Wave, member: ClaimedMember, now: dt.datetime
    ) -> tuple[MemberState, dict[str, StoredContact]]:
        """The plan's view of a member, and their stored contact details by address ref."""
        contacts: dict[str, StoredContact] = {}
        addresses: list[Address] = []
        for contact in member.contacts:
            if contact.kind == "name":
                continue
            ref = f"{contact.kind}:{contact.rank}"
            contacts[ref] = contact
            failed = frozenset()
            if contact.opted_out_at is not None:  # an SMS STOP: no channel sends to it again
                failed = frozenset(c for c, need in self.needs.items() if need == contact.kind)
            addresses.append(
                Address(
                    contact.kind,
                    ref,
                    bounced=contact.bounced_at is not None,
                    failed_channels=failed,
                )
            )
        addresses.sort(key=lambda a: (a.kind, int(a.ref.split(":")[1])))
        done = tuple(
            Done(m.step, m.sent_at or m.created_at, m.channel)
            for m in member.messages
            if _counts_as_done(m, now) and not _tried(m)
        )
        tried = tuple(
            Tried(m.step, m.attempts, m.updated_at, going=m.state == "sending")
            for m in member.messages
            if _tried(m)
        )
        opted_out = (
            member.stopped_at is not None
            or member.closed_at is not None
            or member.member_status not in ("active", *STOPPED)
        )
        state = MemberState(
            member=member.case_id,
            addresses=tuple(addresses),
            done=done,
            language=member.language,
            started=member.started_at is not None,
            finished=member.finished_status is not None,
            finished_at=member.finished_at,
            opted_out=opted_out,
            withdrawn=member.member_status in STOPPED or member.case_withdrawn,
            zone=self.zone_of(member),
            tried=tried,
        )
        return state, contacts

    def zone_of(self, member: ClaimedMember) -> str | None:
        """The member's own time zone (None: the wave's), for the quiet hours and the call queue.

        From the profile's ``time_zone``, the postcode of the member's address (opened
        here, in memory only, and only for a member without ``time_zone``) or the
        profile's ``region`` (:func:`~instrument.panel.member_zone.member_zone`).
        """
        addresses = [c for c in member.contacts if c.kind == "address"]
        sealed = addresses[0].ciphertext if addresses and not member.time_zone else None
        key = (member.time_zone, member.region, sealed)
        if key not in self._zones:
            if len(self._zones) >= ZONES_KEPT:
                self._zones.clear()
            address = functools.partial(self.sealer.open, sealed) if sealed else None
            self._zones[key] = member_zone(member.time_zone, member.region, address)
        return self._zones[key]

    def next_due_of(
        self,
        wave: Wave,
        member: ClaimedMember,
        now: dt.datetime,
        held_back: dt.datetime | None = None,
    ) -> dt.datetime | None:
        """When the member next has something due: the plan's next step, or a failed message's retry.

        Something still due now was held back (a rate limit: ``held_back`` says
        until when) or could not be done (a channel not installed): it is
        looked at again then, or after :data:`HELD_BACK`, never in a busy loop.
        """
        state, _ = self.member_state(wave, member, now)
        candidates = [t for t in (next_due(wave, state, now, self.needs),) if t is not None]
        if due_actions(wave, state, now, self.needs):
            candidates.append(held_back or now + HELD_BACK)
        for message in member.messages:  # (a step's tries are the plan's: see _tried)
            if (
                message.state == "failed"
                and message.attempts < MAX_ATTEMPTS
                and not _tried(message)
            ):
                candidates.append(max(now, message.updated_at + RETRY_AFTER))
        return min(candidates, default=None)

    # ------------------------------------------------------------------ messages

    def _plan(
        self,
        record: WaveRecord,
        wave: Wave,
        member: ClaimedMember,
        action: Action,
        contacts: Mapping[str, StoredContact],
        budget: _Budget | None,
        round_: _Round,
    ) -> bool:
        """Add the message of ``action`` to the round's group; False if it cannot be sent here."""
        assert action.channel is not None and action.address is not None
        if action.channel not in self.channels:
            round_.report.skipped[f"channel {action.channel} not installed"] += 1
            return False
        contact = contacts[action.address]
        planned = PlannedMessage(
            member=member,
            kind=action.kind,
            step=action.step,
            channel=action.channel,
            template=action.template or action.kind,
            language=action.language or member.language or wave.default_language,
            contact_kind=contact.kind,
            contact_rank=contact.rank,
            key=message_key(record.id, member.case_id, action.step, action.channel),
        )
        round_.group.append(_Pending(planned, record, wave, contact, budget))
        return True

    def _flush(self, round_: _Round) -> None:
        """Record the gathered group (one transaction), send what may be sent, set the states
        from the receipts (one statement).

        A crash in between leaves the group's messages not yet answered for
        ``sending``: never sent again. A channel whose settings cannot work
        (:class:`ChannelSetupError`) fails its message and gives the rest of
        the group, never handed to a channel, back as ``failed`` with their try
        returned, then stops the round.
        """
        group, round_.group = round_.group, []
        if not group:
            return
        report = round_.report
        recorded_at = self.clock()
        answers = self.store.record_messages(self.name, [p.planned for p in group], now=recorded_at)
        to_send: list[tuple[_Pending, int]] = []
        for pending, answer in zip(group, answers, strict=True):
            who = (pending.planned.member.wave_id, pending.planned.member.member_id)
            if isinstance(answer, int):
                to_send.append((pending, answer))
                if any(m.id == answer for m in pending.planned.member.messages):
                    # a failed message tried again: how many tries it has had is the store's
                    round_.reread.add(who)
                continue
            round_.reread.add(who)
            report.skipped[answer] += 1
            if answer == "claim lost":
                round_.lost.add(who)
            elif answer == "recorded before":
                if pending.budget is not None:  # nothing sent: the rate limit's place is free
                    pending.budget.left += 1
            else:
                round_.stopped.add(who)
        receipts: list[MessageReceipt] = []
        refused: list[StoredContact] = []
        setup_error: ChannelSetupError | None = None
        untried: list[int] = []
        try:
            for pending, message_id, outcome in self._handed_over(to_send):
                key = pending.planned.key
                if outcome is None:  # never handed over: a channel's settings cannot work
                    untried.append(message_id)
                    continue
                if isinstance(outcome, ChannelSetupError):
                    # Settings that cannot work: nothing left; tried again once they are fixed.
                    receipts.append(MessageReceipt(message_id, "failed", error=str(outcome)))
                    setup_error = setup_error or outcome
                    continue
                if isinstance(outcome, Exception):  # a channel's bug: whether it left is not known
                    _log.error(
                        "channel %s raised while sending %s",
                        pending.planned.channel,
                        key,
                        exc_info=outcome,
                    )
                    error = f"the channel raised {type(outcome).__name__}"
                    receipts.append(MessageReceipt(message_id, "unknown", error=error))
                    report.failed += 1
                    continue
                receipts.append(self._receipt(message_id, outcome, report))
                if not outcome.ok and outcome.permanent:
                    refused.append(pending.contact)
                    round_.reread.add(
                        (pending.planned.member.wave_id, pending.planned.member.member_id)
                    )
            if setup_error is not None:
                receipts.extend(
                    MessageReceipt(later, "failed", error=f"not sent: {setup_error}", untried=True)
                    for later in untried
                )
                raise setup_error
        finally:
            # Also when the process is being stopped mid-group (a BaseException): what the
            # channels answered is written; the messages not yet answered stay 'sending'.
            now = self.clock()
            self.store.finish_messages(receipts, now=now)
            for contact in refused:  # the address itself was refused: no channel uses it again
                self.store.mark_contact(
                    contact.lookup_hash, "bounced", now=now, actor=f"worker:{self.name}"
                )
            _note_written(round_, to_send, receipts, recorded_at, now)

    def _handed_over(
        self, to_send: Sequence[tuple[_Pending, int]]
    ) -> Iterator[tuple[_Pending, int, Receipt | Exception | None]]:
        """Each recorded message handed to its channel: (pending, message id, outcome), as the
        channels answer.

        The outcome is the channel's receipt, the exception it raised, or None for a message
        never handed over because a channel's settings cannot work
        (:class:`ChannelSetupError`: nothing more is started once one is raised). Up to
        :attr:`senders` members are sent to at once, each member's messages one after the
        other in the plan's order; a consumer that stops early (the process being stopped)
        starts nothing more, and the messages then in a channel's hands stay ``sending``.
        """
        stop = threading.Event()

        def send_each(messages: list[tuple[_Pending, int]]) -> Iterator[tuple[_Pending, int, Any]]:
            for pending, message_id in messages:
                if stop.is_set():
                    yield pending, message_id, None
                    continue
                try:
                    channel = self.channels[pending.planned.channel]
                    outcome: Receipt | Exception = channel.send(self._outgoing(pending))
                except ChannelSetupError as exc:
                    stop.set()
                    outcome = exc
                except Exception as exc:
                    outcome = exc
                yield pending, message_id, outcome

        by_member: dict[tuple[int, int], list[tuple[_Pending, int]]] = {}
        for pending, message_id in to_send:
            member = pending.planned.member
            by_member.setdefault((member.wave_id, member.member_id), []).append(
                (pending, message_id)
            )
        if self.senders == 1 or len(by_member) == 1:
            yield from send_each(list(to_send))
            return
        if self._sender_threads is None:
            self._sender_threads = ThreadPoolExecutor(
                self.senders, thread_name_prefix=f"fieldwork-send-{self.name}"
            )
        # At most `senders` tasks, each taking members from one queue and putting each outcome
        # on another: cheaper for the worker than a future (and its waiters) per member.
        members = deque(by_member.values())
        outcomes: queue.SimpleQueue[tuple[_Pending, int, Any] | _SenderDied] = queue.SimpleQueue()

        def drain() -> None:
            try:
                while True:
                    try:
                        messages = members.popleft()
                    except IndexError:
                        return
                    for handed in send_each(messages):
                        outcomes.put(handed)
            except BaseException as exc:  # not a channel's refusal: the process is stopping
                outcomes.put(_SenderDied(exc))

        for _ in range(min(self.senders, len(by_member))):
            self._sender_threads.submit(drain)
        try:
            for _ in range(len(to_send)):
                handed = outcomes.get()
                if isinstance(handed, _SenderDied):
                    raise handed.exc
                yield handed
        finally:
            stop.set()  # stopped early: nothing more is handed over

    def _outgoing(self, pending: _Pending) -> OutgoingMessage:
        """The message for the channel, the address decrypted here, in memory only."""
        planned, record, member = pending.planned, pending.record, pending.planned.member
        language = planned.language or pending.wave.default_language
        return OutgoingMessage(
            channel=planned.channel,
            to=self.sealer.open(pending.contact.ciphertext),
            template=planned.template or planned.kind,
            language=language,
            idempotency_key=planned.key,
            personal_link=f"{self.base_url}/web/t/{self.links.token(member.case_id)}",
            unsubscribe_link=self.base_url
            + unsubscribe_path(self.unsubscribe_key, member.member_id, record.id),
            salutation=self._salutation(member),
            context=dict(self._context(record, pending.wave, language)),
        )

    def _context(self, record: WaveRecord, wave: Wave, language: str) -> dict[str, Any]:
        found = self._contexts.get((record.id, language))
        if found is None:
            found = self._contexts[(record.id, language)] = _context(record, wave, language)
            if self.texting is not None:  # SMS templates say a reply answers by text, if so
                found["reply_by_text"] = self.texting.replies_by_text(record.questionnaire_id)
        return found

    @staticmethod
    def _receipt(message_id: int, receipt: Receipt, report: RoundReport) -> MessageReceipt:
        if receipt.ok:
            report.sent += 1
            return MessageReceipt(message_id, receipt.status, receipt.provider_id)
        report.failed += 1
        state = "bounced" if receipt.permanent else "failed"
        return MessageReceipt(message_id, state, receipt.provider_id, receipt.error)

    def _salutation(self, member: ClaimedMember) -> str:
        names = [c for c in member.contacts if c.kind == "name"]
        return self.sealer.open(names[0].ciphertext) if names else ""

    def _budget(
        self,
        wave: Wave,
        wave_id: int,
        channel: str,
        budgets: dict[tuple[int, str], _Budget],
        now: dt.datetime,
    ) -> _Budget | None:
        limit = wave.rate_limits.get(channel)
        if limit is None:
            return None
        budget = budgets.get((wave_id, channel))
        if budget is None:
            recent = self.store.recent_messages(wave_id, channel, now - limit.per)
            budget = _Budget(limit.count - recent, limit.per / limit.count)
            budgets[(wave_id, channel)] = budget
        return budget

    # ------------------------------------------------------------------ actions

    def _act(
        self,
        record: WaveRecord,
        wave: Wave,
        member: ClaimedMember,
        action: Action,
        now: dt.datetime,
        report: RoundReport,
    ) -> str:
        key = message_key(record.id, member.case_id, action.step, None)
        detail: dict[str, Any] | None = None
        if action.kind in ("move_to_phone", "automated_call", "sms_interview"):
            refused = self.store.panel_stop_reason(self.name, member, now=now)
            if refused is not None:
                report.skipped[refused] += 1
                return "claim lost" if refused == "claim lost" else "stop"
        if action.kind == "move_to_phone":
            case = self._queued_case(wave, member)
            self.store.import_cases(record.questionnaire_id, [case], now=now)
            detail = {"numbers": len(case.numbers or ())}
        elif action.kind == "automated_call":
            detail = self._hand_to_dialler(record, wave, member, action, now)
        elif action.kind == "sms_interview":  # recorded by each try (retried by the plan)
            return text_member(
                self.texting,
                self.store,
                self.name,
                record.questionnaire_id,
                wave,
                member,
                action,
                key,
                self.sealer.open,
                now,
                report,
            )
        elif action.kind == "incentive" and wave.incentive is not None:
            earned = member.finished_status == wave.incentive.on
            detail = {"kind": wave.incentive.kind, "value": wave.incentive.value, "earned": earned}
        if self.store.record_action(
            self.name, member, kind=action.kind, step=action.step, key=key, now=now, detail=detail
        ):
            report.actions += 1
        return "done"

    def _queued_case(self, wave: Wave, member: ClaimedMember) -> ImportedCase:
        """The member's case as the call queue takes it: usable numbers and name decrypted here,
        in memory only."""
        numbers = tuple(
            self.sealer.open(c.ciphertext)
            for c in member.contacts
            if c.kind == "phone" and c.bounced_at is None
        )
        names = [c for c in member.contacts if c.kind == "name"]
        return ImportedCase(
            case_id=member.case_id,
            preload=member.preload,
            numbers=numbers,
            name=self.sealer.open(names[0].ciphertext) if names else None,
            zone=self.zone_of(member) or wave.zone,  # calling hours in the member's zone too
            language=member.language,
        )

    def _hand_to_dialler(
        self,
        record: WaveRecord,
        wave: Wave,
        member: ClaimedMember,
        action: Action,
        now: dt.datetime,
    ) -> dict[str, Any]:
        """The automated_call step for one member: the case made the dialler's (its calls are
        placed by :meth:`_place_calls`), or left with the interviewers; the action's detail."""
        (step,) = [s for s in wave.steps if s.key == action.step]
        call = step.call or AutomatedCall()
        if self.automated is None:
            return {"handed": False, "why": "this worker places no automated calls"}
        return self.automated.hand_over(
            (record.questionnaire_id, questionnaire_source(wave)),
            member.case_id,
            call,
            lambda: self._queued_case(wave, member),
            now=now,
        )

    def _place_calls(self, report: RoundReport) -> None:
        """Place the due automated calls of the open waves whose automated_call step has come.

        Before its time no case of the wave can be the dialler's, so a wave still sending
        its invitations costs the round only the read of the open waves.
        """
        if self.automated is None:
            return
        now = self.clock()
        if self._open_waves is None or now - self._open_waves[0] >= OPEN_WAVES_READ_EVERY:
            self._open_waves = (now, self.store.open_waves())
        studies: list[tuple[Study, str | None]] = []
        for record in self._open_waves[1]:
            try:
                _, wave = self._wave(record.id, record)
            except WaveNotLoadable:
                continue  # said when one of its members is claimed
            study = (record.questionnaire_id, questionnaire_source(wave))
            studies.extend(
                (study, step.call.mode if step.call else None)
                for step in wave.steps
                if step.kind == "automated_call" and wave.step_time(step) <= now
            )
        if not studies:
            return
        placing = self.automated.place_due(studies)
        report.calls_placed += placing.placed
        report.calls_not_placed += placing.not_placed
        report.notes.extend(placing.notes)

    # ------------------------------------------------------------------ waves and release

    def _wave(self, wave_id: int, record: WaveRecord | None = None) -> tuple[WaveRecord, Wave]:
        found = self._waves.get(wave_id)
        if found is None:
            if record is None:
                record = self.store.wave_by_id(wave_id)
                self._open_waves = None  # a wave not seen before: read the open ones again
            known = tuple(dict.fromkeys([*BUILTIN_CHANNELS, *self.channels]))
            wave, diagnostics = load_wave_text(
                record.source_text, record.source_path or f"<wave {record.key}>", known
            )
            if wave is None:
                errors = "; ".join(str(d) for d in diagnostics.errors)
                raise WaveNotLoadable(f"wave {record.key!r} as opened no longer reads: {errors}")
            found = self._waves[wave_id] = (record, wave)
        return found

    def _release(
        self,
        claimed: list[ClaimedMember],
        round_: _Round,
        waits: Mapping[tuple[int, int], dt.datetime],
    ) -> None:
        """Hand each member back with when it is next due.

        When is worked out from the member as claimed plus the messages this
        round recorded for them, as the store now holds them (:func:`_note_written`).
        Members something else happened to (an action carried out, an address
        refused, a message the store would not record or took up again) are
        read again from the store first. Reading every member again cost a
        quarter of a worker's time at 100,000 members and told nothing new of
        the rest: what others change meanwhile (the member finishes, opts out)
        is read at the member's next claim, as anything after the release is,
        and the store checks again before any message is recorded.
        """
        keys = [
            (m.wave_id, m.member_id) for m in claimed if (m.wave_id, m.member_id) not in round_.lost
        ]
        again = [k for k in keys if k in round_.reread]
        fresh = {
            (m.wave_id, m.member_id): m
            for m in (self.store.read_wave_members(again) if again else ())
        }
        now = self.clock()
        updates: list[tuple[ClaimedMember, dt.datetime | None]] = []
        for member in claimed:
            who = (member.wave_id, member.member_id)
            if who in round_.lost:
                continue
            if who in round_.reread:
                if who not in fresh:
                    continue
                member = fresh[who]
            elif who in round_.written:
                member = dataclasses.replace(
                    member, messages=(*member.messages, *round_.written[who])
                )
            _, wave = self._wave(member.wave_id)
            updates.append((member, self.next_due_of(wave, member, now, waits.get(who))))
        self.store.release_members(self.name, updates, now=now)


def _note_written(
    round_: _Round,
    sent: list[tuple[_Pending, int]],
    receipts: list[MessageReceipt],
    recorded_at: dt.datetime,
    finished_at: dt.datetime,
) -> None:
    """Keep the group's new message rows as :meth:`PanelWork.record_messages` and
    :meth:`PanelWork.finish_messages` wrote them: ``sending`` with one try, then the receipt's
    state (a message not answered stays ``sending``), for the members' release."""
    by_id = {r.message_id: r for r in receipts}
    for pending, message_id in sent:
        planned = pending.planned
        receipt = by_id.get(message_id)
        state = "sending" if receipt is None else receipt.state
        handed = state in ("sent", "queued", "delivered")
        round_.written.setdefault((planned.member.wave_id, planned.member.member_id), []).append(
            MessageRow(
                id=message_id,
                kind=planned.kind,
                step=planned.step,
                channel=planned.channel,
                state=state,
                attempts=0 if receipt is not None and receipt.untried else 1,
                created_at=recorded_at,
                sent_at=finished_at if handed else None,
                updated_at=recorded_at if receipt is None else finished_at,
            )
        )


def message_key(wave_id: int, case_id: str, step: str, channel: str | None) -> str:
    """The idempotency key of a message or action: the same on every worker, every time."""
    return f"w{wave_id}.{case_id}.{step}.{channel or 'action'}"


def _counts_as_done(message: MessageRow, now: dt.datetime) -> bool:
    """Whether the plan may treat a recorded message as carried out (a failure waits for its retry)."""
    if message.state in DONE_STATES:
        return True
    return message.attempts >= MAX_ATTEMPTS or message.updated_at + RETRY_AFTER > now


def _tried(message: MessageRow) -> bool:
    """Whether a row is an ``sms_interview`` step's tries, not yet carried out: the plan's
    :class:`~instrument.panel.contact_plan.Tried` (when to try again is the step's)."""
    return message.kind == "sms_interview" and message.state in ("sending", "failed")


def _context(record: WaveRecord, wave: Wave, language: str) -> dict[str, Any]:
    """Template variables beyond the links: the study's name and the closing date, as
    ``instrument check`` renders them too (:meth:`Wave.template_context`), for the wave as
    opened (its key is the record's)."""
    return {**wave.template_context(), "wave": record.key}


def worker_for(
    store: Store,
    channels: Mapping[str, ContactChannel],
    keys: PanelKeys,
    *,
    clock: Callable[[], dt.datetime],
    base_url: str,
    name: str | None = None,
    batch: int = 200,
    group: int = 50,
    senders: int = SENDERS,
    plugins: Any = None,
    calls_per_round: int = CALLS_PER_ROUND,
) -> FieldworkWorker:
    """A worker with this database's keys opened: contacts, personal links, stop links.

    ``plugins`` is the plugin host's facade (``instrument.plugins.PluginFacade``): its modes'
    ``place_automated_calls`` place the calls of automated_call steps, and stored questionnaires
    load with what it adds. None: a worker that places no automated calls (each automated_call
    step it carries out says so).

    :raises PanelKeyError: the keys do not open what the database holds.
    """
    from instrument.loader import LoadOptions
    from instrument.panel.crypto import LOOKUP_SECRET, new_lookup_secret, open_sealer

    from .opening import case_links, unsubscribe_key

    automated = texting = None
    if plugins is not None:
        automated = AutomatedCalling(
            store,
            plugins.modes(),
            clock=clock,
            options=LoadOptions.of(plugins),
            limit=calls_per_round,
        )
        texting = SmsInterviewing(
            store, plugins.modes(), channels, clock=clock, options=automated.options
        )
    now = clock()
    secret = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=now)
    return FieldworkWorker(
        store,
        channels,
        open_sealer(keys, secret),
        case_links(store, keys, now=now),
        unsubscribe_key=unsubscribe_key(store, keys, now=now),
        clock=clock,
        base_url=base_url,
        name=name,
        batch=batch,
        group=group,
        senders=senders,
        automated=automated,
        texting=texting,
    )


def start_in_thread(worker: FieldworkWorker, *, idle: float = 5.0) -> threading.Event:
    """Run ``worker`` in a daemon thread (``instrument serve``); set the event returned to stop it.

    A channel that cannot send (its settings) is logged and the thread waits a
    minute before trying again, rather than taking the web server down with it.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                worker.run(stop, idle=idle)
            except ChannelSetupError as exc:
                _log.error("fieldwork worker: a channel cannot send: %s", exc)
                stop.wait(60)
            except Exception:
                _log.exception("fieldwork worker: a round failed; trying again in a minute")
                stop.wait(60)

    threading.Thread(target=loop, name="fieldwork-worker", daemon=True).start()
    return stop
