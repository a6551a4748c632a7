"""Printed letters: each "send" adds a row to the day's mail-merge CSV.

A printing house (or a mail merge in a word processor) turns the file into
letters: one row per letter with the address lines, the salutation, the
personal link and the access code typed in when the link cannot be clicked,
and the language to print in. The file for a day is
``<INSTRUMENT_LETTERS_DIR>/letters-YYYY-MM-DD.csv`` (the UTC date), UTF-8
with a byte-order mark so spreadsheet programs read Welsh letters right.

Rows are written so that a crash or two workers never leave a half row or a
letter twice:

- the file is locked (``flock``) while a row is added, so rows from several
  workers never interleave;
- each row is one ``write`` of a complete line, then ``fsync``; a row torn by
  a crash (the file does not end in a newline) is cut off before the next
  row goes in, so the file only ever holds whole rows;
- every row carries its idempotency key, and a key already in the day's
  file is not added again: sending the same letter twice is recorded once.

The day's file is the channel's only output; it reads nothing else.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from instrument.plugin_types import ChannelSetupError, OutgoingMessage, Receipt

__all__ = ["ADDRESS_LINES", "COLUMNS", "FOLDER_ENV", "LetterChannel", "batch_name", "read_batch"]

FOLDER_ENV = "INSTRUMENT_LETTERS_DIR"
ADDRESS_LINES = 6
COLUMNS = (
    "idempotency_key",
    "template",
    "language",
    "salutation",
    *(f"address_{n}" for n in range(1, ADDRESS_LINES + 1)),
    "personal_link",
    "access_code",
    "unsubscribe_link",
)
_BOM = "\ufeff".encode()


def batch_name(day: dt.date) -> str:
    """The file name of a day's batch."""
    return f"letters-{day.isoformat()}.csv"


def read_batch(path: Path) -> list[dict[str, str]]:
    """The rows of a batch file, as the printer will read them."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _one_line(value: str) -> str:
    return " ".join(value.split())


@dataclass
class _Seen:
    """What this process has read of one batch file: up to *offset*, these keys."""

    offset: int = 0
    keys: set[str] | None = None


class LetterChannel:
    """Appends letters to the day's batch file in *folder*."""

    def __init__(
        self, folder: Path | str, *, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.folder = Path(folder)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()  # flock is per open file; this orders our own threads
        self._seen: dict[Path, _Seen] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LetterChannel:
        folder = environ.get(FOLDER_ENV, "").strip()
        if not folder:
            raise ChannelSetupError(
                f"letters are not configured: set {FOLDER_ENV} to the folder the day's "
                "mail-merge files are written to"
            )
        return cls(folder)

    def check(self) -> str | None:
        """None when the folder exists and can be written, else why not."""
        if not self.folder.is_dir():
            return f"{FOLDER_ENV}: {self.folder} is not a folder"
        if not os.access(self.folder, os.W_OK | os.X_OK):
            return f"{FOLDER_ENV}: {self.folder} cannot be written"
        return None

    def path_for(self, when: dt.datetime) -> Path:
        return self.folder / batch_name(when.astimezone(dt.UTC).date())

    @staticmethod
    def row(message: OutgoingMessage) -> list[str]:
        """The CSV row of *message* (every cell one line).

        :raises ValueError: the address has no line or more than
            :data:`ADDRESS_LINES`.
        """
        lines = [_one_line(line) for line in message.to.splitlines() if line.strip()]
        if not lines or len(lines) > ADDRESS_LINES:
            raise ValueError(
                f"a postal address has 1 to {ADDRESS_LINES} lines, this one has {len(lines)}"
            )
        return [
            message.idempotency_key,
            message.template,
            message.language,
            _one_line(message.salutation),
            *lines,
            *([""] * (ADDRESS_LINES - len(lines))),
            message.personal_link,
            message.access_code,
            message.unsubscribe_link,
        ]

    def send(self, message: OutgoingMessage) -> Receipt:
        """Add *message* to today's batch (once per idempotency key)."""
        try:
            row = self.row(message)
        except ValueError as exc:
            return Receipt("letter", "failed", error=str(exc), permanent=True)
        if self.check() is not None:
            raise ChannelSetupError(str(self.check()))
        path = self.path_for(self.clock())
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(row)
        line = buffer.getvalue().encode("utf-8")
        provider_id = f"{path.name}#{message.idempotency_key}"
        with self._lock, open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                if message.idempotency_key in self._keys(path, handle):
                    return Receipt("letter", "sent", provider_id=provider_id)
                if handle.seek(0, os.SEEK_END) == 0:
                    header = io.StringIO()
                    csv.writer(header, lineterminator="\r\n").writerow(COLUMNS)
                    line = _BOM + header.getvalue().encode("utf-8") + line
                os.write(handle.fileno(), line)
                os.fsync(handle.fileno())
                seen = self._seen[path]
                seen.offset = handle.seek(0, os.SEEK_END)
                assert seen.keys is not None
                seen.keys.add(message.idempotency_key)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return Receipt("letter", "sent", provider_id=provider_id)

    def _keys(self, path: Path, handle: io.BufferedRandom) -> set[str]:
        """The keys already in the file, reading only what was added since last time.

        Called with the file locked. A torn last row is cut off first.
        """
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                handle.seek(0)
                whole = handle.read().rfind(b"\n") + 1
                handle.truncate(whole)
                os.fsync(handle.fileno())
                size = whole
        seen = self._seen.setdefault(path, _Seen())
        if seen.keys is None or size < seen.offset:  # new to us, or cut by another worker
            seen.offset, seen.keys = 0, set()
        if size > seen.offset:
            handle.seek(seen.offset)
            added = handle.read(size - seen.offset).decode("utf-8-sig")
            for cells in csv.reader(io.StringIO(added)):
                if cells and cells[0] != COLUMNS[0]:
                    seen.keys.add(cells[0])
            seen.offset = size
        return seen.keys
