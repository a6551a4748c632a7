"""The letters channel: the day's mail-merge CSV, read back as a printer's software would."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from instrument.plugin_types import ChannelSetupError, OutgoingMessage
from instrument_channels.letters import COLUMNS, LetterChannel, batch_name, read_batch

MORNING = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
ADDRESS = "Flat 2\n1 Stryd Fawr\nBangor\nLL57 1AA"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def message(**changes: Any) -> OutgoingMessage:
    fields: dict[str, Any] = dict(
        channel="letter",
        to=ADDRESS,
        template="invitation",
        language="cy",
        idempotency_key="wave3-contact-41",
        personal_link="https://survey.example.ac.uk/s/8fK2qX7a",
        unsubscribe_link="https://survey.example.ac.uk/u/8fK2qX7a",
        salutation="Annwyl Mr Ŵyn",
        access_code="K7Q2-M9",
    )
    fields.update(changes)
    return OutgoingMessage(**fields)


def test_a_letter_is_a_row_of_the_days_batch(tmp_path: Path) -> None:
    letters = LetterChannel(tmp_path, clock=Clock(MORNING))
    receipt = letters.send(message())
    letters.send(
        message(
            idempotency_key="wave3-contact-42",
            to='The "Old" Rectory, Church Lane\nLlan, Gwynedd',
            salutation="Dear Ms Jones",
            language="en",
            template="reminder",
        )
    )

    path = tmp_path / "letters-2026-03-02.csv"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes().startswith(b"\xef\xbb\xbfidempotency_key,")  # BOM for spreadsheets
    rows = read_batch(path)
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0] == {
        "idempotency_key": "wave3-contact-41",
        "template": "invitation",
        "language": "cy",
        "salutation": "Annwyl Mr Ŵyn",
        "address_1": "Flat 2",
        "address_2": "1 Stryd Fawr",
        "address_3": "Bangor",
        "address_4": "LL57 1AA",
        "address_5": "",
        "address_6": "",
        "personal_link": "https://survey.example.ac.uk/s/8fK2qX7a",
        "access_code": "K7Q2-M9",
        "unsubscribe_link": "https://survey.example.ac.uk/u/8fK2qX7a",
    }
    assert rows[1]["address_1"] == 'The "Old" Rectory, Church Lane'  # quoted, read back whole
    assert rows[1]["address_2"] == "Llan, Gwynedd"

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["salutation"].tolist() == ["Annwyl Mr Ŵyn", "Dear Ms Jones"]
    assert frame["language"].tolist() == ["cy", "en"]

    assert receipt.status == "sent"
    assert receipt.provider_id == "letters-2026-03-02.csv#wave3-contact-41"


def test_the_same_letter_twice_is_one_row(tmp_path: Path) -> None:
    letters = LetterChannel(tmp_path, clock=Clock(MORNING))
    first = letters.send(message())
    again = letters.send(message())
    # A second worker, which has not read the file yet, finds it there too.
    other = LetterChannel(tmp_path, clock=Clock(MORNING)).send(message())
    assert first == again == other
    assert len(read_batch(tmp_path / batch_name(MORNING.date()))) == 1


def test_each_utc_day_has_its_own_file(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 3, 2, 23, 59, tzinfo=dt.UTC))
    letters = LetterChannel(tmp_path, clock=clock)
    letters.send(message(idempotency_key="a"))
    clock.now = dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    letters.send(message(idempotency_key="b"))  # 23:30 UTC on the 2nd
    clock.now = dt.datetime(2026, 3, 3, 0, 0, 1, tzinfo=dt.UTC)
    letters.send(message(idempotency_key="c"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "letters-2026-03-02.csv",
        "letters-2026-03-03.csv",
    ]
    keys = [row["idempotency_key"] for row in read_batch(tmp_path / "letters-2026-03-02.csv")]
    assert keys == ["a", "b"]


def test_a_row_torn_by_a_crash_is_cut_off_before_the_next(tmp_path: Path) -> None:
    letters = LetterChannel(tmp_path, clock=Clock(MORNING))
    letters.send(message(idempotency_key="whole"))
    path = tmp_path / batch_name(MORNING.date())
    with path.open("ab") as handle:  # a worker died half-way through its row
        handle.write(b"torn,invitation,cy,Annwyl")
    letters.send(message(idempotency_key="next"))
    assert [row["idempotency_key"] for row in read_batch(path)] == ["whole", "next"]
    assert path.read_bytes().endswith(b"\r\n")


def test_two_workers_never_interleave_or_repeat_rows(tmp_path: Path) -> None:
    workers = [LetterChannel(tmp_path, clock=Clock(MORNING)) for _ in range(2)]
    receipts: list[str] = []

    def run(letters: LetterChannel) -> None:
        for n in range(60):  # both workers try the same 60 letters
            receipts.append(letters.send(message(idempotency_key=f"k{n}")).status)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    rows = read_batch(tmp_path / batch_name(MORNING.date()))
    assert receipts == ["sent"] * 120
    assert sorted(row["idempotency_key"] for row in rows) == sorted(f"k{n}" for n in range(60))
    assert all(row["address_4"] == "LL57 1AA" for row in rows)


def test_every_cell_is_one_line(tmp_path: Path) -> None:
    letters = LetterChannel(tmp_path, clock=Clock(MORNING))
    letters.send(message(salutation="Dear\nMs   Jones", to="  1 High St  \n\n  Cardiff \n"))
    (row,) = read_batch(tmp_path / batch_name(MORNING.date()))
    assert row["salutation"] == "Dear Ms Jones"
    assert (row["address_1"], row["address_2"], row["address_3"]) == ("1 High St", "Cardiff", "")


def test_an_address_the_letter_has_no_room_for_is_a_failed_receipt(tmp_path: Path) -> None:
    letters = LetterChannel(tmp_path, clock=Clock(MORNING))
    receipt = letters.send(message(to="\n".join(f"line {n}" for n in range(7))))
    assert receipt.status == "failed" and receipt.permanent
    assert receipt.error == "a postal address has 1 to 6 lines, this one has 7"
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_stops_the_channel(tmp_path: Path) -> None:
    letters = LetterChannel(tmp_path / "nowhere", clock=Clock(MORNING))
    assert "is not a folder" in (letters.check() or "")
    with pytest.raises(ChannelSetupError, match="INSTRUMENT_LETTERS_DIR: .* is not a folder"):
        letters.send(message())
    with pytest.raises(ChannelSetupError, match="set INSTRUMENT_LETTERS_DIR"):
        LetterChannel.from_env({})
    assert LetterChannel.from_env({"INSTRUMENT_LETTERS_DIR": str(tmp_path)}).check() is None
