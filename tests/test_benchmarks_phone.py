"""benchmarks/phone.py end to end in its quick mode, on SQLite, so that it does not rot.

The figures of a smoke run mean nothing (no timing is asserted); what is
checked is that every phase really did its work through the real server
(gunicorn, the console, the signed webhooks) and that the benchmark's own
checks look at the store: its "no case handed out twice" check must report
a case given a second attempt behind its back.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from instrument.store import open_store

ROOT = Path(__file__).resolve().parent.parent


sys.path.insert(0, str(ROOT / "benchmarks"))  # as the script itself does, for web_load
import phone  # the benchmark script


def test_quick_run_on_sqlite_does_every_phase_and_checks_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'phone.db'}"
    args = phone.parse_args(["--quick", "--database", url, "--cases", "120", "--no-write"])
    result = phone.run(args)

    assert result.errors == []
    # Next case: pressed in the paced phase and in every burst, each case handed out once.
    assert result.paced.timings.durations
    assert len(result.burst.timings.durations) == args.interviewers * args.bursts
    assert result.handed.ok and result.handed.attempts >= len(result.paced.timings.durations)
    cati_done = [log for p in result.cati for log in p.logs if log.complete]
    if result.console:
        # CATI interviews finished and coded; web interviews beside them; every answer stored once.
        assert len(cati_done) >= args.interviewers and result.cati[0].timings.durations
        assert result.answers.ok and result.answers.answers_sent >= 20 * len(cati_done)
        assert result.web_answers.ok and result.web_answers.interviews >= args.interviewers
    else:  # a server without the interviewer console: next case through the service only
        assert result.cati == [] and result.web == []
    # Callbacks: retried and late ones included, each event stored once, every call completed.
    callbacks = result.callbacks
    assert callbacks.retries > 0 and callbacks.sent == 4 * callbacks.calls + callbacks.retries
    assert callbacks.stored == callbacks.distinct == 4 * callbacks.calls
    assert callbacks.completed == callbacks.calls > 0

    store = open_store(url, upgrade=False)
    try:
        with store.engine.connect() as connection:
            finished = connection.execute(
                sa.text("SELECT COUNT(*) FROM attempts WHERE disposition = 'complete'")
            ).scalar_one()
        assert finished == len(cati_done)
        # The check is not a formality: a second attempt on a handed case is reported.
        handed = _handed(store)
        victim = handed[0]
        claim_time = dt.datetime.now(dt.UTC)
        with store.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO attempts (case_id, interviewer, started_at) VALUES (:c, 'x', :t)"
                ),
                {"c": victim.case_id, "t": claim_time},
            )
        again = phone.check_handed(store, handed)
        assert again.twice == 1 and not again.ok
    finally:
        store.close()

    text = phone.render(
        result, "python benchmarks/phone.py --quick", dt.datetime.now(dt.UTC), (1.0, 1.0, 1.0), args
    )
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n## Web\n\nweb text\n\n## Telephone\n\nold\n\n## Later\n\nkept\n"
    )
    phone.web_load.write_section(text, docs, heading="## Telephone")
    written = docs.read_text()
    assert "old" not in written and "web text" in written and "## Later\n\nkept" in written
    assert "## Telephone\n" in written and "| Next case (" in written


def _handed(store: Any) -> list[Any]:
    """Every attempt in the store as a case handed out (interviewer, attempt, case)."""
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, interviewer, case_id FROM attempts")).all()
    return [phone.Handed(row.interviewer, row.id, row.case_id) for row in rows]
