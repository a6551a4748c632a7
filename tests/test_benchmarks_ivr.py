"""benchmarks/ivr.py in a small run on SQLite, so that it does not rot.

The figures of such a run mean nothing (no timing is asserted). What is checked
is that the calls really went through gunicorn and the signed webhooks to a
completed interview each, and that the benchmark's own check of the store can
fail: an answer the store holds otherwise than keyed, or twice, is reported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from instrument.store import open_store
from instrument.store.schema import answer_events, ivr_calls

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(ROOT / "benchmarks"))  # as the script itself does, for web_load
import ivr  # the benchmark script


def test_a_small_run_completes_every_call_and_its_check_sees_lost_and_doubled_answers(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    args = ivr.parse_args(
        ["--database", url, "--calls", "3", "--think", "0", "--warmup", "1", "--no-write"]
    )
    result = ivr.run(args)

    for phase in result.phases:
        assert len(phase.completed) == 3, [p.error for p in phase.placed]
        assert len(phase.latencies) >= 3 * 40  # a flagship call is some 50 webhook requests
        # gunicorn's own time over each of the phase's requests, from its access log
        assert len(phase.latencies) * 0.9 <= len(phase.server_times) <= len(phase.latencies)
        check = result.checks[phase.name]
        assert check.ok and check.calls == 3 and check.keyed >= 3 * 30
    assert "| Webhook latency, paced" in ivr.render(args, result, ivr.dt.datetime.now(), (0, 0, 0))

    placed = result.phases[0].placed
    first = placed[0]
    assert first.result is not None
    wrong = dict(first.keyed, parent=2)  # as if the caller had keyed "no"
    changed = [ivr.Placed(first.result, wrong, first.latencies), *placed[1:]]
    assert ivr.check_answers(url, changed).lost == 1

    store = open_store(url, upgrade=False)
    try:
        with store.engine.begin() as connection:
            interview_id = connection.scalar(
                sa.select(ivr_calls.c.interview_id).where(
                    ivr_calls.c.call_sid == first.result.call_sid
                )
            )
            row = connection.execute(
                sa.select(answer_events).where(
                    answer_events.c.interview_id == interview_id,
                    answer_events.c.variable == "parent",
                )
            ).one()
            top = connection.scalar(
                sa.select(sa.func.max(answer_events.c.seq)).where(
                    answer_events.c.interview_id == interview_id
                )
            )
            copy = {**row._mapping, "seq": top + 1}
            del copy["id"]
            connection.execute(answer_events.insert().values(**copy))
    finally:
        store.close()
    assert ivr.check_answers(url, placed).doubled == 1
