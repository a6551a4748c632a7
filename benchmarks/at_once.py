"""What the conversation benchmarks share (``ivr.py``: automated calls, ``sms.py``: texts): many
simulated people at once, each a thread of this process, against gunicorn on PostgreSQL.

Each person needs a case with the access code of its invitation (:func:`cases_with_codes`); they
all start at one barrier (:func:`all_at_once`), which also measures the phase's wall time and how
the cores were shared (server, PostgreSQL, this process, other work); the report's latency
percentiles and CPU rows are worked out the same way for both (:func:`percentile_ms`,
:func:`cpu_rows`).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import web_load

T = TypeVar("T")


def cases_with_codes(
    database_url: str,
    secret: str,
    questionnaire_id: str,
    count: int,
    tag: str,
    preload: Mapping[str, Any] | None = None,
) -> list[str]:
    """``count`` cases of the questionnaire (``<tag>-<n>``), each with its invitation's access code."""
    from instrument.store import open_store
    from instrument.store.ivr_calls import access_code_key

    store = open_store(database_url, upgrade=False)
    key = access_code_key(secret)
    now = dt.datetime.now(dt.UTC)
    try:
        codes = []
        for n in range(count):
            case_id = f"{tag}-{n}"
            store.put_case(case_id, questionnaire_id, dict(preload or {}), now=now)
            codes.append(
                store.issue_access_code(questionnaire_id, case_id=case_id, key=key, now=now)
            )
        return codes
    finally:
        store.close()


def all_at_once(
    count: int, person: Callable[[int, threading.Barrier], T], server_pid: int
) -> tuple[list[T | None], float, dict[str, float]]:
    """Run ``person(index, start)`` for each of ``count`` people, one thread each.

    Each person calls ``start.wait()`` when ready (its own preparation is not timed): the phase
    begins when all are. Returns each person's result (None: the thread did not finish in 30
    minutes), the phase's seconds and the CPU split of the cores over it.
    """
    results: list[T | None] = [None] * count
    start = threading.Barrier(count + 1)

    def run(index: int) -> None:
        results[index] = person(index, start)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    before = web_load.cpu_snapshot()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(timeout=1800)
    seconds = time.perf_counter() - began
    after = web_load.cpu_snapshot()
    cpu = web_load.cpu_split(before, after, server=server_pid, generators=[os.getpid()])
    return results, seconds, cpu


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    """The ``q`` quantile of latencies in seconds, in milliseconds (nan when there are none)."""
    values = sorted(latencies)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def cpu_rows(phases: Sequence[Any], people: str) -> list[str]:
    """The report's "Server CPU per webhook request" row of each phase (``name``, ``cpu``,
    ``seconds``, ``latencies``), naming this process's threads ``people``."""
    lines = []
    for phase in phases:
        cpu = phase.cpu
        requests = len(phase.latencies)
        per = cpu["server"] * phase.seconds * 1000 / requests if requests else float("nan")
        pg = cpu["postgres"] * phase.seconds * 1000 / requests if requests else float("nan")
        lines.append(
            f"| Server CPU per webhook request, {phase.name} | - | {per:.1f} ms "
            f"(PostgreSQL {pg:.1f} ms; cores used: server {cpu['server']:.2f}, PostgreSQL "
            f"{cpu['postgres']:.2f}, {people} {cpu['generator']:.2f}, other "
            f"{cpu['other']:.2f}) | - |"
        )
    return lines
