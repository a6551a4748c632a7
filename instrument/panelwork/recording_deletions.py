"""Deleting the recordings a withdrawal listed, at the providers that hold them.

A withdrawal lists its recordings in the store, in its own transaction
(:mod:`instrument.store.recording_deletions`); this module works the list
off. :func:`delete_listed_recordings` claims what is due, asks each
recording's provider to delete it with no transaction open, and records the
answer: ``deleted`` or ``gone`` is done, a failure waits for its next try.
The providers come from the plugin host (hook ``register_recording_providers``:
the phone plugin's ``twilio``), handed in by the command that builds the
worker (:func:`use_recording_providers`), so neither the core nor this package
imports a telephony library or reaches the plugin host. A provider whose ``check()`` names a missing setting is not
asked, and its recordings wait, untried.

Who runs it: the fieldwork worker, every round (:func:`forget_recordings`, at
most every :data:`WORKER_INTERVAL` of its clock; ``instrument fieldwork run``
and the worker inside ``instrument serve``), and ``instrument calls
forget-recordings``, which works off everything due at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from instrument.plugin_types import RecordingDeletion, RecordingProvider
from instrument.store import Store

if TYPE_CHECKING:
    from instrument.panelwork.worker import FieldworkWorker

__all__ = [
    "WORKER_INTERVAL",
    "DeletionRound",
    "delete_listed_recordings",
    "forget_recordings",
    "use_recording_providers",
]

_log = logging.getLogger(__name__)

WORKER_INTERVAL: Final = dt.timedelta(seconds=30)
"""The fieldwork worker looks at the list at most this often (one indexed query when idle)."""

BATCH: Final = 50
"""Deletions one look claims: each is one REST request, so a round is not held up for long."""


@dataclass
class DeletionRound:
    """What one pass over the list did.

    ``waiting``: providers not asked, and why (their ``check()``); ``failures``:
    (recording sid, why) of each failed try, in order.
    """

    deleted: int = 0
    gone: int = 0
    failed: int = 0
    waiting: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return self.deleted + self.gone + self.failed

    def add(self, other: DeletionRound) -> None:
        self.deleted += other.deleted
        self.gone += other.gone
        self.failed += other.failed
        self.waiting.update(other.waiting)
        self.failures.extend(other.failures)

    def __str__(self) -> str:
        text = f"{self.deleted} deleted, {self.gone} already gone, {self.failed} failed"
        return text + "".join(f"; {name} not asked: {why}" for name, why in self.waiting.items())


def _ready(
    providers: Mapping[str, RecordingProvider], report: DeletionRound
) -> dict[str, RecordingProvider]:
    """The providers that can delete with this machine's settings; the others noted as waiting."""
    ready: dict[str, RecordingProvider] = {}
    for name, provider in providers.items():
        missing = provider.missing_requirements()
        problem = f"needs {', '.join(missing)}" if missing else None
        if problem is None and provider.check is not None:
            problem = provider.check()
        if problem:
            report.waiting[name] = problem
        else:
            ready[name] = provider
    return ready


def _ask(provider: RecordingProvider, recording_sid: str) -> RecordingDeletion:
    """The provider's answer; a plugin that raised after all is a failed try, not a dead worker."""
    try:
        return provider.delete(recording_sid)
    except Exception as exc:
        return RecordingDeletion("failed", error=f"{type(exc).__name__}: {exc}"[:300])


def delete_listed_recordings(
    store: Store,
    providers: Mapping[str, RecordingProvider],
    *,
    worker: str,
    clock: Callable[[], dt.datetime],
    limit: int = BATCH,
) -> DeletionRound:
    """Claim up to ``limit`` due deletions of the ready providers, ask each, record the answers."""
    report = DeletionRound()
    ready = _ready(providers, report)
    claimed = store.claim_recording_deletions(
        worker, providers=sorted(ready), now=clock(), limit=limit
    )
    for item in claimed:
        result = _ask(ready[item.provider], item.recording_sid)
        if result.done:
            store.recording_deletion_done(item.id, result.status, now=clock())
            if result.status == "deleted":
                report.deleted += 1
            else:
                report.gone += 1
        else:
            error = result.error or "failed"
            store.recording_deletion_failed(item.id, error, now=clock())
            report.failed += 1
            report.failures.append((item.recording_sid, error))
    return report


_providers: weakref.WeakKeyDictionary[FieldworkWorker, Mapping[str, RecordingProvider]] = (
    weakref.WeakKeyDictionary()
)
_last_look: weakref.WeakKeyDictionary[FieldworkWorker, dt.datetime] = weakref.WeakKeyDictionary()


def use_recording_providers(
    worker: FieldworkWorker, providers: Mapping[str, RecordingProvider]
) -> None:
    """Let ``worker``'s rounds delete recordings through ``providers``.

    The host that builds the worker hands them in (``instrument fieldwork
    run`` and ``instrument serve``: the plugin host's
    ``recording_providers()``); this package may not reach the plugin host
    itself. A worker given none deletes no recordings.
    """
    _providers[worker] = dict(providers)


def forget_recordings(worker: FieldworkWorker) -> DeletionRound | None:
    """The worker's round: delete the listed recordings that are due, if it is time to look.

    At most every :data:`WORKER_INTERVAL` of the worker's clock, one batch. A
    failure of the store here is logged and the round goes on: invitations do
    not wait for recordings, and the list keeps them for the next look.
    """
    now = worker.clock()
    last = _last_look.get(worker)
    if last is not None and now - last < WORKER_INTERVAL:
        return None
    providers = _providers.get(worker)
    if not providers:
        return None
    _last_look[worker] = now
    try:
        report = delete_listed_recordings(
            worker.store, providers, worker=worker.name, clock=worker.clock
        )
    except Exception:
        _log.exception("recordings: the list could not be worked off; trying again later")
        return None
    if report.tried:
        _log.info("recordings at the provider: %s", report)
    for sid, why in report.failures:
        _log.warning("recordings: %s not deleted yet: %s", sid, why)
    return report
