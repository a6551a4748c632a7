"""The one cache of decoded interviews a worker process keeps between requests.

Reading an interview means reading its row and decoding its state from JSON
into the engine's :class:`~instrument.engine.State` (a large part of a page
turn's work). Most requests touch the interview the same person's previous
request just showed or saved, so the service keeps that interview, decoded,
for the next one.

The rules that make this safe live here and in the service, nowhere else:

* a snapshot is *taken* out of the cache, never shared: a request owns it
  until it puts it back, so two requests never change one ``State`` (a second
  request for the same interview at the same time reads it from the store);
* a snapshot is put back only as stored: after a show (showing never changes a
  state) or after a save that wrote it; a state the engine changed but that
  was not saved (a refused answer, a lost compare-and-set) is dropped;
* whoever takes one proves it current before trusting it: by its revision (one
  small read) or by saving with compare-and-set on that revision, which the
  store refuses if anyone saved in between. Revisions only grow and interview
  rows are never deleted, so an equal revision proves the copy is the stored one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from instrument.engine import Engine, State
from instrument.model import Questionnaire
from instrument.store import InterviewRecord

__all__ = ["DEFAULT_SIZE", "Snapshot", "SnapshotCache"]

DEFAULT_SIZE = 512
"""Interviews per worker process kept decoded between requests."""


@dataclass
class Snapshot:
    """An interview as stored at ``record.revision``, with its live engine state.

    ``record.state`` is the JSON the store returned (or the dict that was
    saved); ``state`` is the same decoded. The service moves ``record`` on
    when it saves. ``personal`` holds the identifying answers stored at that
    revision (kept apart, see :mod:`instrument.dataset.personal`; merged
    into ``state``), so a save writes them only when they changed.
    """

    record: InterviewRecord
    state: State
    engine: Engine
    personal: dict[str, Any] = field(default_factory=dict)

    @property
    def questionnaire(self) -> Questionnaire:
        return self.engine.q

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def revision(self) -> int:
        return self.record.revision


class SnapshotCache:
    """A bounded take/put cache of snapshots by interview id (least recently put goes first)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, interview_id: str) -> Snapshot | None:
        """Remove and return the snapshot of an interview, if one is kept."""
        with self._lock:
            return self._items.pop(interview_id, None)

    def put(self, snapshot: Snapshot) -> None:
        """Keep a snapshot that is the stored state of its revision (see the module docstring)."""
        if self._size <= 0:
            return
        with self._lock:
            self._items[snapshot.record.id] = snapshot
            self._items.move_to_end(snapshot.record.id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, interview_id: str) -> None:
        with self._lock:
            self._items.pop(interview_id, None)

    def __len__(self) -> int:
        return len(self._items)
