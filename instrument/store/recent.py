"""The store's memory of interviews it saved or read lately (``load_interview(recent=...)``).

This was ``Store._Recent``. The interview service is to keep one cache of
decoded interviews for every mode, after which this one and the ``recent=``
argument of :meth:`Store.load_interview` go; until then they work as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from instrument.store.records import InterviewRecord

__all__ = ["Recent", "Snapshot"]


class Snapshot(NamedTuple):
    """An interview as stored: the record with an empty state, and the state's JSON text."""

    record: InterviewRecord  # with an empty state: the state is ``state_text``
    state_text: str


class Recent:
    """The latest snapshot of the interviews this process saved or read lately.

    Showing the page after a save, and reading the interview again for the
    next answer, would each read the whole row and decode its state. With
    this, a read asks the database only for the interview's revision (one
    integer, no BEGIN/COMMIT) and uses the snapshot when the revision is the
    one remembered. The revision is the interview row's version number: every
    change to the row (a save here, a save by another worker or process, a
    withdrawal) raises it, and rows are never deleted, so an equal revision
    proves the remembered row is the stored one. Anything else is a full read.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, interview_id: str) -> Snapshot | None:
        with self._lock:
            return self._items.get(interview_id)

    def put(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._items[snapshot.record.id] = snapshot
            self._items.move_to_end(snapshot.record.id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, interview_id: str) -> None:
        with self._lock:
            self._items.pop(interview_id, None)
