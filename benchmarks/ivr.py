"""Automated-call benchmark: simulated calls completing the flagship through gunicorn on PostgreSQL.

    flock -x /tmp/quiet.lock python benchmarks/ivr.py [--calls 100] [--think 1.0] [--processes 4] [--no-write]

What it measures (issue 14, "Benchmark"), and why it is built this way:

* The real app (``instrument.server.wsgi:app``) runs under gunicorn (gthread,
  2 workers x 4 threads by default, as the web and telephone benchmarks) on a
  PostgreSQL database of the run's own (``web_load.fresh_database``: a new
  database named by the process id and random digits, dropped after),
  with Twilio configured (a made-up account and public URL: every request goes
  to 127.0.0.1), so the signed ``/ivr`` webhooks are mounted.
* ``--calls`` callers, each a thread of this process, each with its own case and
  access code, place one inbound call at the same time through the project's
  call simulator (``instrument_phone.ivr.simulator``) over HTTP: every request
  signed over the public URL as Twilio signs it, the TwiML followed verb by
  verb, the final status callback posted. Each caller listens and keys its own
  answers (tests/ivr_respondent.py: a seeded answer sheet per caller, shuffled
  blocks, rows and options recognised from what is said), so every call
  completes the flagship: 45 or so webhook requests a call.
* **Paced phase** (the target): before each request a caller waits a think time
  (``--think`` seconds, +-50%) standing for Twilio saying the prompt and the
  caller keying; a real call spends 5 to 20 s there, so this is a harsher load
  than 100 real calls. **Unpaced phase**: the same number of calls with no
  think time at all, the most the machine serves (calls completed per second).
* Latency is each webhook request's, measured around the HTTP exchange by the
  caller's thread (so it includes the client's own share of the 2 cores). The
  callers run in ``--processes`` processes (default 4, 25 threads each; before
  2026-12-04 21:30 UTC all 100 were threads of the benchmark's own process, which
  ``--processes 1`` still gives but in one child process), so a reply waits less
  for a busy client's GIL before its timer stops. Beside it, the time gunicorn
  itself took over each request (its access log's ``%(D)s``: from the worker
  taking the request to the reply written; not the wait for a free worker
  thread or for the accept), so the two can be told apart; ``--no-access-log``
  leaves the log out (it costs the server a few tens of microseconds a request).
* The server's CPU per request is gunicorn's processes' CPU over the phase; the
  callers' CPU is their processes' own (before 21:30 UTC the callers' figure held
  gunicorn's too: gunicorn is a child of the benchmark's process, which was
  counted with its descendants; "other" was then under-stated).
* No answer lost or doubled: afterwards the store's answer events are read,
  for every call's interview: each variable at most one answer event, every
  variable a caller keyed stored with the value it keyed, nothing else stored
  but the empty answers of questions a keypad does not ask.

Results go to the "## Automated calls (IVR)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import multiprocessing
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _source_root in (ROOT, ROOT / "modes", ROOT / "plugins", ROOT / "benchmarks", ROOT / "tests"):
    if str(_source_root) not in sys.path:
        sys.path.insert(0, str(_source_root))

import at_once  # people at once: their cases, threads, percentiles, CPU rows
import web_load  # gunicorn runner, CPU split, machine and report helpers
from ivr_respondent import KnowingCaller, Question, questions_of

from instrument_phone.ivr.simulator import (
    CallResult,
    CallSimulator,
    HttpTransport,
    Outcome,
    Reply,
    WireRequest,
)

FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
FLAGSHIP_ID = "social_licence"
HEADING = "## Automated calls (IVR)"
TARGET_P99_MS = 50.0
PUBLIC_URL = "https://ivr-benchmark.invalid"
AUTH_TOKEN = "c" * 32
TWILIO_ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "2",
    "INSTRUMENT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": "+441134960998",
    "INSTRUMENT_PUBLIC_URL": PUBLIC_URL,
}


# ---------------------------------------------------------------------------
# The callers


def answer_sheet(questions: Sequence[Question], rng: random.Random) -> dict[str, Any]:
    """A respondent's answers to the flagship: a parent, with 1 to 4 children, the rest drawn."""
    sheet: dict[str, Any] = {}
    n_children = rng.randint(1, 4)
    for question in questions:
        if question.id == "comment":
            continue  # free text: a call skips it
        if question.id == "parent":
            sheet["parent"] = 1
        elif question.id == "n_children":
            sheet["n_children"] = n_children
        elif question.id == "child_age":
            sheet["child_age"] = [rng.randint(0, 15) for _ in range(n_children)]
        elif question.kind == "multi":
            offered = sorted(set(question.labels) - question.exclusive)
            sheet[question.id] = sorted(rng.sample(offered, rng.randint(0, 3)))
        elif question.kind == "grid":
            for row in question.rows.values():
                sheet[row] = rng.choice(sorted(question.labels))
        elif question.kind == "yesno":
            sheet[question.id] = rng.randint(1, 2)
        else:
            sheet[question.id] = rng.choice(sorted(question.labels))
    return sheet


@dataclass
class Timed:
    """Wraps the HTTP transport: waits the caller's think time, then times the exchange."""

    inner: HttpTransport
    think: float
    rng: random.Random
    latencies: list[float] = field(default_factory=list)

    def send(self, request: WireRequest) -> Reply:
        if self.think:
            time.sleep(self.think * self.rng.uniform(0.5, 1.5))
        began = time.perf_counter()
        reply = self.inner.send(request)
        self.latencies.append(time.perf_counter() - began)
        return reply


@dataclass(frozen=True)
class Finished:
    """What the report needs of a finished call (sent back from the callers' processes)."""

    call_sid: str
    outcome: Outcome

    @classmethod
    def of(cls, result: CallResult) -> Finished:
        return cls(result.call_sid, result.outcome)


@dataclass
class Placed:
    """One simulated call: its result, what its caller keyed, its requests' latencies."""

    result: Finished | None
    keyed: dict[str, Any]
    latencies: list[float]
    error: str = ""


@dataclass
class Phase:
    name: str
    think: float
    placed: list[Placed]
    seconds: float
    cpu: dict[str, float]
    server_times: list[float] = field(default_factory=list)  # gunicorn's own, seconds

    @property
    def latencies(self) -> list[float]:
        return [x for p in self.placed for x in p.latencies]

    @property
    def completed(self) -> list[Placed]:
        return [p for p in self.placed if p.result is not None and p.result.outcome.completed]

    def percentile_ms(self, q: float) -> float:
        return at_once.percentile_ms(self.latencies, q)

    def calls_per_second(self) -> float:
        return len(self.completed) / self.seconds if self.seconds else 0.0

    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def slowest(self, q: float = 0.99, opening: int = 3) -> tuple[int, int]:
        """Of the requests slower than the ``q`` quantile: how many were among their call's
        first ``opening`` (the greeting, the language, the access code that starts the
        interview) and how many later."""
        limit = self.percentile_ms(q) / 1000
        first = later = 0
        for placed in self.placed:
            for n, latency in enumerate(placed.latencies):
                if latency > limit:
                    if n < opening:
                        first += 1
                    else:
                        later += 1
        return first, later


def new_cases(database_url: str, secret: str, count: int, tag: str) -> list[str]:
    """``count`` flagship cases, each with the access code of its invitation (returned)."""
    preload = {"profile_n_children": 2}
    return at_once.cases_with_codes(database_url, secret, FLAGSHIP_ID, count, tag, preload)


def place_calls(
    port: int,
    server_pid: int,
    codes: Sequence[str],
    questions: Sequence[Question],
    *,
    name: str,
    think: float,
    seed: int,
    processes: int = 1,
    access_log: Path | None = None,
) -> Phase:
    """Every code's call at once, one thread each, the threads spread over ``processes``
    processes; the phase's wall time, CPU split and, from gunicorn's ``access_log``, the
    server's own time over each of the phase's requests."""

    def caller(index: int, start: Any) -> Placed:
        rng = random.Random(seed * 100_003 + index)
        policy = KnowingCaller(questions, answer_sheet(questions, rng), code=codes[index])
        transport = Timed(HttpTransport(f"http://{web_load.HOST}:{port}"), think, rng)
        simulator = CallSimulator(transport, PUBLIC_URL, AUTH_TOKEN, rng=rng)
        start.wait()
        try:
            result = simulator.call("/ivr/voice", policy, status_callback="/ivr/status")
            return Placed(Finished.of(result), policy.keyed, transport.latencies)
        except Exception as exc:  # a failed call is reported, not allowed to hide the others
            return Placed(None, policy.keyed, transport.latencies, repr(exc))

    logged = access_log.stat().st_size if access_log is not None else 0
    placed, seconds, cpu = in_processes(len(codes), caller, server_pid, processes)
    done = [p if p is not None else Placed(None, {}, [], "thread did not finish") for p in placed]
    times: list[float] = []
    if access_log is not None:
        time.sleep(0.5)  # a worker logs a request just after replying to it
        times = server_times(access_log, logged)
    return Phase(name, think, done, seconds, cpu, times)


def in_processes(
    count: int, person: Any, server_pid: int, processes: int
) -> tuple[list[Placed | None], float, dict[str, float]]:
    """Run ``person(index, start)`` for each of ``count`` people, one thread each, in
    ``processes`` forked processes (people ``i``, ``i + processes``, ... in process ``i``).

    Each person calls ``start.wait()`` when ready; the phase begins when every person of every
    process is. The CPU split counts the callers' processes as the callers (not this
    process, whose descendants include gunicorn).
    """
    context = multiprocessing.get_context("fork")
    begin = context.Barrier(processes + 1)
    results: Any = context.Queue()

    def process(number: int) -> None:
        mine = list(range(number, count, processes))
        ready = threading.Barrier(len(mine) + 1)
        go = threading.Event()

        class Start:
            def wait(self) -> None:
                ready.wait()
                go.wait()

        found: dict[int, Placed | None] = dict.fromkeys(mine)

        def run(index: int) -> None:
            found[index] = person(index, Start())

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in mine]
        for thread in threads:
            thread.start()
        ready.wait()
        begin.wait()
        go.set()
        for thread in threads:
            thread.join(timeout=1800)
        results.put(found)

    children = [context.Process(target=process, args=(n,)) for n in range(processes)]
    for child in children:
        child.start()
    before = web_load.cpu_snapshot()
    began = time.perf_counter()
    begin.wait()
    placed: list[Placed | None] = [None] * count
    for _ in children:
        for index, one in results.get(timeout=1900).items():
            placed[index] = one
    seconds = time.perf_counter() - began
    after = web_load.cpu_snapshot()
    for child in children:
        child.join(timeout=60)
    pids = [child.pid for child in children if child.pid is not None]
    cpu = web_load.cpu_split(before, after, server=server_pid, generators=pids)
    return placed, seconds, cpu


ACCESS_LOG_FORMAT = "%(D)s %(s)s %(m)s %(U)s"
"""Gunicorn's access log line: microseconds the worker took, status, method, path."""


def server_times(log: Path, offset: int) -> list[float]:
    """The seconds gunicorn took over each webhook request logged after ``offset`` bytes."""
    with log.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    times = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0].isdigit() and parts[3].startswith("/ivr/"):
            times.append(int(parts[0]) / 1e6)
    return times


# ---------------------------------------------------------------------------
# The store afterwards


@dataclass
class AnswerCheck:
    calls: int = 0
    keyed: int = 0
    lost: int = 0  # keyed but not stored, or stored with another value
    doubled: int = 0  # a variable with more than one answer event
    extra: int = 0  # a value stored that no caller keyed
    incomplete: int = 0  # interviews not complete
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.extra or self.incomplete)


def _same(stored: Any, keyed: Any) -> bool:
    if isinstance(keyed, tuple):  # a multiple choice: all "no" is "none of these" (97)
        return tuple(sorted(stored or ())) == (keyed or (97,))
    return bool(stored == keyed)


def check_answers(database_url: str, placed: Sequence[Placed]) -> AnswerCheck:
    """Each call's interview in the store against what its caller keyed."""
    import sqlalchemy as sa

    from instrument.store import open_store
    from instrument.store.schema import answer_events, interviews, ivr_calls
    from instrument.values import from_json

    check = AnswerCheck()
    store = open_store(database_url, upgrade=False)
    try:
        sids = [p.result.call_sid for p in placed if p.result is not None]
        with store.engine.connect() as connection:
            by_call = dict(
                connection.execute(
                    sa.select(ivr_calls.c.call_sid, ivr_calls.c.interview_id).where(
                        ivr_calls.c.call_sid.in_(sids)
                    )
                ).all()
            )
            ids = [i for i in by_call.values() if i]
            rows = connection.execute(
                sa.select(
                    answer_events.c.interview_id, answer_events.c.variable, answer_events.c.value
                )
                .where(answer_events.c.interview_id.in_(ids), answer_events.c.kind == "answer")
                .order_by(answer_events.c.id)
            ).all()
            status = dict(
                connection.execute(
                    sa.select(interviews.c.id, interviews.c.status).where(interviews.c.id.in_(ids))
                ).all()
            )
    finally:
        store.close()
    events: dict[str, list[tuple[str, Any]]] = collections.defaultdict(list)
    for interview_id, variable, value in rows:
        events[interview_id].append((variable, from_json(value)))
    for call in placed:
        if call.result is None:
            check.incomplete += 1
            continue
        check.calls += 1
        interview_id = by_call.get(call.result.call_sid)
        if interview_id is None or status.get(interview_id) != "complete":
            check.incomplete += 1
            check.examples.append(f"{call.result.call_sid}: {call.result.outcome.name}")
            continue
        stored = events[interview_id]
        counts = collections.Counter(variable for variable, _ in stored)
        values = dict(stored)
        check.doubled += sum(1 for n in counts.values() if n > 1)
        check.keyed += len(call.keyed)
        for variable, meant in call.keyed.items():
            if variable not in values or not _same(values[variable], meant):
                check.lost += 1
                check.examples.append(
                    f"{variable}: keyed {meant!r}, stored {values.get(variable)!r}"
                )
        check.extra += sum(
            1 for v, value in values.items() if v not in call.keyed and value is not None
        )
    return check


# ---------------------------------------------------------------------------
# One run


@dataclass
class RunResult:
    settings: web_load.ServerSettings
    phases: list[Phase]
    checks: dict[str, AnswerCheck]
    webhooks_per_call: float


def run(args: argparse.Namespace) -> RunResult:
    settings = web_load.ServerSettings("gthread", workers=args.workers, threads=args.threads)
    secret = secrets.token_hex(16)
    questions = questions_of(FLAGSHIP, "en")
    with web_load.fresh_database(args.database) as url:
        web_load.prepare_app_database(url, secret)
        env = {
            "INSTRUMENT_QUESTIONNAIRES": str(FLAGSHIP),
            "INSTRUMENT_DATABASE_URL": url,
            "INSTRUMENT_SECRET_KEY": secret,
            **TWILIO_ENV,
        }
        warm = new_cases(url, secret, args.warmup, "warm")
        paced_codes = new_cases(url, secret, args.calls, "paced")
        unpaced_codes = new_cases(url, secret, args.calls, "unpaced")
        with contextlib.ExitStack() as stack:
            log: Path | None = None
            if args.access_log:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr_")))
                log = folder / "access.log"
                log.touch()
                options = f"--access-logfile {log} --access-logformat '{ACCESS_LOG_FORMAT}'"
                given = os.environ.get("GUNICORN_CMD_ARGS", "")  # the caller's, kept
                env["GUNICORN_CMD_ARGS"] = f"{given} {options}".strip()
            port, pid = stack.enter_context(
                web_load.gunicorn("instrument.server.wsgi:app", settings, env)
            )
            every = {"processes": args.processes, "access_log": log}
            place_calls(port, pid, warm, questions, name="warm-up", think=0.0, seed=args.seed, **every)  # fmt: skip
            phases = [
                place_calls(
                    port, pid, paced_codes, questions,
                    name="paced", think=args.think, seed=args.seed + 1, **every,
                ),
                place_calls(
                    port, pid, unpaced_codes, questions,
                    name="unpaced", think=0.0, seed=args.seed + 2, **every,
                ),
            ]  # fmt: skip
        checks = {phase.name: check_answers(url, phase.placed) for phase in phases}
    requests = [len(p.latencies) for phase in phases for p in phase.completed]
    return RunResult(settings, phases, checks, sum(requests) / max(1, len(requests)))


# ---------------------------------------------------------------------------
# Report


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(args: argparse.Namespace, result: RunResult, started: dt.datetime, load: Any) -> str:
    info = web_load.machine()
    paced, unpaced = result.phases
    lines = [
        HEADING,
        "",
        f"`{args.command}`, {started:%Y-%m-%d %H:%M} UTC, on {info['cpu']}, {info['cores']} cores, "
        f"Python {info['python']}, {info['kernel']}; load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min).",
        "",
        f"The flagship (`social_licence`) completed by {args.calls} simulated inbound calls at "
        f"once, through gunicorn ({result.settings.label()}) on PostgreSQL, Twilio configured "
        "(signed `/ivr` webhooks). Each caller is a thread, the callers spread over "
        f"{args.processes} Python process{'es' if args.processes != 1 else ''}, driving the "
        "project's call simulator over HTTP (every request signed over the public URL, the TwiML "
        "followed verb by verb, the final status callback posted), keying the access code of its "
        f"own case and then its own seeded answers; {result.webhooks_per_call:.1f} webhook requests "
        "a call on average. Paced: before each request the caller waits "
        f"{args.think:g} s +-50% (Twilio saying the prompt and the caller keying; a real call "
        "waits 5 to 20 s, so this load is several times a real one). Unpaced: no wait at all, "
        "the most this machine serves.",
        "",
        "| measure | target | result | met? |",
        "|---|---|---|---|",
    ]
    p99 = paced.percentile_ms(0.99)
    lines.append(
        f"| Webhook latency, paced ({len(paced.latencies):,} requests, "
        f"{paced.requests_per_second():.0f}/s): p50 / p99 | p99 <= {TARGET_P99_MS:.0f} ms | "
        f"{paced.percentile_ms(0.5):.1f} / {p99:.1f} ms | {_yes(p99 <= TARGET_P99_MS)} |"
    )
    if paced.server_times:
        lines.append(
            f"| Time in gunicorn per webhook request, paced ({len(paced.server_times):,} logged): "
            f"p50 / p99 | - | {at_once.percentile_ms(paced.server_times, 0.5):.1f} / "
            f"{at_once.percentile_ms(paced.server_times, 0.99):.1f} ms | - |"
        )
    first, later = paced.slowest()
    lines.append(
        f"| Paced requests slower than the p99: among their call's first 3 (greeting, language, "
        f"access code) / later | - | {first} / {later} | - |"
    )
    lines.append(
        f"| Calls completed, paced | {args.calls} | {len(paced.completed)} in {paced.seconds:.1f} s "
        f"({paced.calls_per_second():.2f}/s) | {_yes(len(paced.completed) == args.calls)} |"
    )
    lines.append(
        f"| Webhook latency, unpaced ({len(unpaced.latencies):,} requests, "
        f"{unpaced.requests_per_second():.0f}/s): p50 / p99 | - | "
        f"{unpaced.percentile_ms(0.5):.1f} / {unpaced.percentile_ms(0.99):.1f} ms | - |"
    )
    lines.append(
        f"| Calls completed per second, unpaced | - | {len(unpaced.completed)} in "
        f"{unpaced.seconds:.1f} s: {unpaced.calls_per_second():.2f}/s | - |"
    )
    if unpaced.server_times:
        lines.append(
            f"| Time in gunicorn per webhook request, unpaced: p50 / p99 | - | "
            f"{at_once.percentile_ms(unpaced.server_times, 0.5):.1f} / "
            f"{at_once.percentile_ms(unpaced.server_times, 0.99):.1f} ms | - |"
        )
    lines.extend(at_once.cpu_rows(result.phases, "callers"))
    for name, check in result.checks.items():
        lines.append(
            f"| Answers lost or doubled, {name} ({check.keyed:,} keyed in {check.calls} calls) | 0 | "
            f"{check.lost} lost, {check.doubled} doubled, {check.extra} extra, "
            f"{check.incomplete} interviews not complete | {_yes(check.ok)} |"
        )
    errors = [p.error for phase in result.phases for p in phase.placed if p.error]
    lines.append(
        f"| Calls that failed (error, not 2xx, not ended by the app) | 0 | {len(errors)} | "
        f"{_yes(not errors)} |"
    )
    lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="simulated calls at once")
    parser.add_argument("--think", type=float, default=1.0, help="seconds before each request")
    parser.add_argument("--warmup", type=int, default=4, help="calls before the measured ones")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--processes", type=int, default=4, help="processes the callers' threads are spread over"
    )
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="no gunicorn access log (no server-side times)",
    )
    parser.add_argument("--database", help="database URL (default: a new PostgreSQL database)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the docs")
    args = parser.parse_args(argv)
    args.command = "python benchmarks/ivr.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:]) else ""
    )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    result = run(args)
    text = render(args, result, started, load)
    print(text)
    for name, check in result.checks.items():
        for example in check.examples[:5]:
            print(f"{name}: {example}")
    if not args.no_write:
        web_load.write_section(text, heading=HEADING)
    failed = any(not c.ok for c in result.checks.values()) or any(
        p.error or p.result is None or p.result.outcome is not Outcome.HANGUP
        for phase in result.phases
        for p in phase.placed
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
