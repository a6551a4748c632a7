"""After a withdrawal, no export of the wave carries a withdrawn respondent's recording (issue 13).

The study of tests/test_recording_deletions.py (a wave whose members answered by recording on
automated calls, Ann's case also recorded on an interviewer's call) is exported with
``instrument wave export`` and ``instrument export`` before and after Ann withdraws with "delete
contact details and answers" and the fieldwork worker deletes her recordings at the fake Twilio.
Every file written is read as text: before, Ann's reference is there (so the check can fail);
after, none of her recording ids is in any file, while Bryn's, who did not withdraw, still is,
and Ann's row is still in the wave's file (she was eligible), with nothing of hers.
The supervisors' call records keep the call, but not the URL of its recording.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.cli import cli
from instrument.store import open_store
from tests.store_fixtures import *
from tests.test_recording_deletions import (
    WITHDRAWN_AT,
    a_worker,
    phone_plugin_providers,
    set_up_study,
    withdraw_ann,
)


def exported_text(database_url: str, folder: Path, name: str) -> tuple[str, list[dict[str, str]]]:
    """Every file ``instrument wave export`` and ``instrument export`` write, as one text; and the
    wave's CSV rows."""
    runner = CliRunner()
    wave_out, all_out = folder / f"{name}-wave", folder / f"{name}-all"
    wave = runner.invoke(
        cli,
        ["wave", "export", str(folder / "voices.wave1.yaml"), "--out", str(wave_out),
         "--format", "csv,sav,dta", "--database", database_url],
    )  # fmt: skip
    assert wave.exit_code == 0, wave.output
    everything = runner.invoke(
        cli,
        ["export", "--questionnaire", "voices", "--format", "csv,parquet", "--include-partial",
         "--out", str(all_out), "--database", database_url],
    )  # fmt: skip
    assert everything.exit_code == 0, everything.output
    texts = [
        path.read_bytes().decode("latin-1")
        for out in (wave_out, all_out)
        for path in sorted(out.rglob("*"))
        if path.is_file()
    ]
    with (wave_out / "voices_w1.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return "\n".join(texts), rows


def call_records(database_url: str, folder: Path) -> str:
    """The supervisors' call records (``instrument fieldwork calls --csv``), as text."""
    path = folder / "calls.csv"
    records = CliRunner().invoke(
        cli, ["fieldwork", "calls", "--csv", str(path), "--database", database_url]
    )
    assert records.exit_code == 0, records.output
    return path.read_text(encoding="utf-8")


def test_no_file_of_the_wave_carries_a_withdrawn_respondents_recording(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(database_url)
    try:
        study = set_up_study(store, tmp_path)
        ann = store.get_member("families", external_id="F001")
        assert ann is not None
        before, _ = exported_text(database_url, tmp_path, "before")
        before_calls = call_records(database_url, tmp_path)
        assert study.ann_answer in before and study.bryn_answer in before  # the check can fail

        withdraw_ann(study)
        clock = [WITHDRAWN_AT + dt.timedelta(minutes=1)]
        a_worker(study, phone_plugin_providers(monkeypatch, study.twilio), clock).run_round()
        assert {r.state for r in store.recording_deletions()} == {"done"}

        after, rows = exported_text(database_url, tmp_path, "after")
        for sid in study.anns:
            assert sid not in after, sid
        assert study.bryn_answer in after  # Bryn did not withdraw
        assert ann.pseudonym not in after
        # Ann keeps a row (the rates add up): no member id, disposition 2.11, nothing of hers
        (ann_row,) = [row for row in rows if row["member_id"] == ""]
        assert ann_row["disposition"] == "211"
        assert (ann_row["story"], ann_row["more"]) == ("-9", "-9")

        assert "https://api.twilio.com" in before_calls
        assert "https://" not in call_records(database_url, tmp_path)  # the URL went with it
    finally:
        store.close()
