"""What one CATI page turn costs the server beside a web one, measured in process.

    python benchmarks/cati_turn_cost.py                # CPU time per page turn, best of 7 runs
    python benchmarks/cati_turn_cost.py --callgrind    # also instructions per page turn (valgrind)
    python benchmarks/cati_turn_cost.py --profile P    # also CPU profiles: P.cati, P.web (cProfile)
    python benchmarks/cati_turn_cost.py --callgrind --by-request DIR  # and by kind of request

The console's counterpart of ``benchmarks/web_turn_cost.py`` (read its
docstring): ``benchmarks/phone.py`` compares the console's page turns per
second with the web's under gunicorn and 50 interviewers, whose figures move
by 10% from run to run on a shared 2-core machine. Here one signed-in
interviewer works the flagship through the console as phone.py's
interviewers do (phone.py's own ``Interviewer``: next case, the case screen,
dial by hand, every script page answered, "code as complete and take the next
case"), calling the Flask app's WSGI function directly on a fresh PostgreSQL
database; web respondents (web_turn_cost's, with web_load's answer rules) go
through the same app and database, runs of the two alternating. Only the
app's CPU time is counted. ``--callgrind`` counts instructions instead, the
same on every run: one run under valgrind each for the web, the CATI
interviews and the CATI page turns alone, with counting switched on only
inside the app's WSGI function (callgrind's client request, compiled here with
``cc`` and called through ctypes), so start-up, the sample's import, signing in,
the warm-up and the simulated browsers' work are left out: the server's own
instructions (unlike web_turn_cost's, which count the whole process).

The app runs on a :class:`VirtualClock` moving on ``--request-seconds`` (0.1 s)
with each request, so what it believes for a few seconds (a staff session
found good, a case's hold, a CSRF token) is read again as often per request
as in phone.py, however slowly valgrind runs it. ``--by-request FOLDER`` keeps
one callgrind dump per request (``callgrind_annotate`` reads them) and sums
them by kind of request: where a CATI page turn spends more than the web's.

A page turn is the answer POST and the GET of the next page. The CATI figures
are given twice: every request of the interviews divided by their page turns
(what phone.py's "server CPU per page turn" counts: the claim, the case
screens and the dial are paid by each interview), and the page turns' own
requests alone. The web's counts its open link and start in, as web_load does.
Results go to the "## CATI page turn cost" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phone  # the telephone benchmark: its interviewer, study and sample
import web_load as wl  # the web benchmark: answer rules, report helpers
import web_turn_cost as wtc  # the in-process client and the web's interviews

DOCS = wl.DOCS
SECTION = "## CATI page turn cost"
INTERVIEWER = "costing"


class CountedInterviewer(phone.Interviewer):
    """phone.py's interviewer on the in-process client, keeping its page turns' own CPU apart."""

    def __init__(self, app: Any) -> None:
        super().__init__(0, INTERVIEWER)
        self.client: wtc.AppClient = wtc.AppClient(app)  # type: ignore[assignment]
        self.turn_cpu = 0.0
        self.turns = phone.Timings()
        self.next_attempt: int | None = None  # claimed by the last "code and take the next case"

    def page_turn(self, *args: Any) -> wl.Page:
        before = self.client.cpu
        try:
            return super().page_turn(*args)
        finally:
            self.turn_cpu += self.client.cpu - before

    def interviews(self, count: int, seed: int) -> None:
        """``count`` whole CATI interviews, each coded complete with the next case taken."""
        rng = random.Random(seed)
        for _ in range(count):
            attempt = self.next_attempt or self.next_case(phone.Timings())
            if attempt is None:
                raise RuntimeError("no case to call: import a larger sample (--cases)")
            self.dial_by_hand(attempt)
            log = wl.InterviewLog()
            if not self.interview(attempt, rng, log, self.turns, float("inf")):
                raise RuntimeError("a CATI interview did not finish")
            assert self.finished is not None
            self.next_attempt = self.code_finished_and_next(self.finished)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """The process environment with ``values`` set, put back as it was afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


REQUEST_SECONDS = 0.1
"""How far the app's clocks move on with each request (``--request-seconds``): the time between
two requests of one interviewer in phone.py (50 interviewers turning some 250 pages a second
between them, two requests a page turn), so what the app keeps for a few seconds is read again
as often per request here as there."""

TIMED_MODULES = ("instrument.store.staff_sessions", "instrument.flask_support.csrf_tokens")
"""Modules whose kept values expire on ``time.monotonic()``: given the virtual clock's."""


class VirtualClock:
    """The app's time in this benchmark: it moves on by ``step`` seconds with every request.

    What the app keeps for a while and then reads again (a staff session
    believed for ``STAFF_RECHECK_SECONDS``, the hold on a case believed for 30
    seconds, a CSRF token signed once a minute, ``last_seen_at`` touched once
    a minute) is decided by the clock. On the real clock that depends on how
    fast the requests run: under callgrind, some fifty times slower, nearly
    every request read the staff session again (about a million instructions
    through SQLAlchemy) and how many did depended on the machine's load. On
    this clock each request sees the time an interviewer's request would in
    phone.py's run, whatever the speed: the same count on every run. It is
    the app's ``CLOCK`` and the monotonic clock of :data:`TIMED_MODULES`.

    What a server process does once every few seconds for all its
    interviewers (the call queue's sweep for stale holds and ended windows,
    every 5 s) is paid here by the one interviewer's next case each time
    (its case lasts longer than that), where phone.py's fifty share it: the
    CATI count holds more of it than phone.py's CPU does.
    """

    def __init__(self, step: float) -> None:
        self.step = step
        self.seconds = 0.0
        self.begin()

    def begin(self) -> None:
        """Start at the next whole minute: what is stamped to the minute (a respondent's
        activity) then changes after the same requests in every run."""
        self.start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        self.start += dt.timedelta(minutes=1)

    def tick(self) -> None:
        self.seconds += self.step

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """:data:`TIMED_MODULES` read this clock's ``monotonic`` (the rest of ``time`` as it is)."""
        import importlib

        modules = [importlib.import_module(name) for name in TIMED_MODULES]
        for module in modules:
            if getattr(module, "time", None) is not time:
                raise RuntimeError(f"{module.__name__} reads its time otherwise: see VirtualClock")
        timing = _TimeWith(self.monotonic)
        for module in modules:
            module.time = timing  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for module in modules:
                module.time = time  # type: ignore[attr-defined]


class _TimeWith:
    """The ``time`` module with another ``monotonic``."""

    def __init__(self, monotonic: Any) -> None:
        self.monotonic = monotonic

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def console_app(
    database: str | None, cases: int, request_seconds: float = REQUEST_SECONDS
) -> Iterator[Any]:
    """The app serving the flagship's web and console on a fresh database with ``cases`` cases.

    Its clocks are a :class:`VirtualClock` moving on ``request_seconds`` with each request.
    """
    from instrument.server.app import create_app, get_host
    from instrument.store import open_store

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    clock = VirtualClock(request_seconds)
    with (
        tempfile.TemporaryDirectory(prefix="cati_cost_") as tmp,
        wl.fresh_database(database) as url,
        clock.installed(),
    ):
        questionnaire = phone.prepare_study(Path(tmp))
        sample = Path(tmp) / "sample.csv"
        phone.write_sample(sample, cases, seed=1)
        phone.import_sample(url, questionnaire, sample, jobs=1)
        with contextlib.closing(open_store(url)) as store:
            phone.add_staff(store, [INTERVIEWER])
        clock.begin()  # after the import: its cases are due by then
        with _environ(phone.TWILIO_ENV):  # Twilio configured, as phone.py's server is
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "QUESTIONNAIRES": [str(questionnaire)],
                    "SECRET_KEY": "k" * 32,
                    "START_ATTEMPTS": 10**9,  # every web interview starts from the same address
                    "CLOCK": clock.now,
                }
            )
        served = app.wsgi_app

        def ticking(environ: dict[str, Any], start_response: Any) -> Any:
            clock.tick()
            return served(environ, start_response)

        app.wsgi_app = ticking  # type: ignore[method-assign]
        try:
            yield app
        finally:
            get_host(app).store.close()


@contextlib.contextmanager
def _profiled(profiler: cProfile.Profile | None) -> Iterator[None]:
    """Profile the block (CPU time, this process) when a profiler is given."""
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


def measure(
    count: int,
    repeats: int,
    database: str | None,
    *,
    profile: Path | None = None,
    freeze: bool = False,
    request_seconds: float = REQUEST_SECONDS,
) -> dict[str, Any]:
    """CPU µs per page turn, CATI and web, in ``repeats`` alternating runs of ``count`` interviews."""
    cases = count * (repeats + 1) + 10
    with console_app(database, cases, request_seconds) as app:
        person = CountedInterviewer(app)
        person.sign_in()
        person.interviews(2, 0)  # warm-up: caches, prepared statements, pool
        wtc.interviews(app, 2, 0)
        if freeze:
            settle_heap()
        profilers = {kind: cProfile.Profile(time.process_time) for kind in ("cati", "web")}
        cati_all, cati_turns, web, shares = [], [], [], []
        turns = web_posts = 0
        for run in range(repeats):
            with _profiled(profilers["web"] if profile else None):
                client = wtc.interviews(app, count, run + 1)
            web.append(client.cpu * 1e6 / client.posts)
            web_posts = client.posts
            cpu, own, done = person.client.cpu, person.turn_cpu, len(person.turns.durations)
            before = time.process_time()
            with _profiled(profilers["cati"] if profile else None):
                person.interviews(count, run + 1)
            whole = time.process_time() - before
            turns = len(person.turns.durations) - done
            cati_all.append((person.client.cpu - cpu) * 1e6 / turns)
            cati_turns.append((person.turn_cpu - own) * 1e6 / turns)
            shares.append((person.client.cpu - cpu) / whole if whole else 0.0)
        if profile is not None:
            for kind, profiler in profilers.items():
                profiler.dump_stats(f"{profile}.{kind}")
    return {
        "cati_all": cati_all, "cati_turns": cati_turns, "web": web, "turns": turns,
        "web_posts": web_posts, "server_share": statistics.median(shares), "interviews": count,
        "frozen": freeze, "request_seconds": request_seconds,
    }  # fmt: skip


TOGGLE_C = (
    "#include <valgrind/callgrind.h>\n"
    "void toggle(void) { CALLGRIND_TOGGLE_COLLECT; }\n"
    "void dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }\n"
)
"""Callgrind's client requests, called from Python (ctypes): counting on and off, and a dump of
what was counted since the last one (``--by-request``: one dump per request, named by it)."""
COLLECT = ("web", "cati", "turns")
"""What a callgrind child counts: web requests, every CATI request, CATI page turns' requests."""


class Collected:
    """The app as the in-process client calls it, with callgrind counting only inside the app.

    ``toggle`` is the compiled client request (a no-op outside valgrind);
    while ``on`` is false nothing is toggled, so warm-ups are not counted.
    """

    def __init__(self, app: Any, toggle: Any, dump: Any = None) -> None:
        self.app, self.toggle, self.dump, self.on = app, toggle, dump, False

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        counting = self.on
        if counting:
            self.toggle()
        try:
            body = self.app.wsgi_app(environ, start_response)
            data = b"".join(body)
            if hasattr(body, "close"):
                body.close()
        finally:
            if counting:
                if self.dump is not None:
                    self.dump(request_label(environ).encode())
                self.toggle()
        return [data]


def request_label(environ: dict[str, Any]) -> str:
    """What kind of request this is, for ``--by-request``: its method and path, ids as ``N``."""
    path = re.sub(r"/\d+(?=/|$)", "/N", environ.get("PATH_INFO", ""))
    return f"{environ.get('REQUEST_METHOD', '?')} {path}"


class TurnsCollected(CountedInterviewer):
    """An interviewer whose page turns alone switch counting on (the rest of the interview not)."""

    collected: Collected
    counting = False  # set once the warm-up is over

    def page_turn(self, *args: Any) -> wl.Page:
        self.collected.on = self.counting
        try:
            return super().page_turn(*args)
        finally:
            self.collected.on = False


def settle_heap() -> None:
    """Collect, then freeze what is left, so no full collection of the start-up heap is counted.

    Which request pays for one of the interpreter's rare full collections
    (tens of milliseconds over some 150,000 objects of the app's start-up)
    depends on the allocations of the whole process, the simulated browsers'
    too: a change anywhere moves it into or out of the counted requests, and
    with it a million instructions per page turn (seen: one full collection
    in the counted script pages of one run, none in another's). A worker
    that has served its first requests settles the same way.
    """
    gc.collect()
    gc.freeze()


def child(
    collect: str,
    count: int,
    database: str | None,
    toggle_library: str,
    *,
    freeze: bool = False,
    by_request: bool = False,
    request_seconds: float = REQUEST_SECONDS,
) -> str:
    """One run under callgrind (started with counting off): what it counted, and how many turns."""
    import ctypes

    library = ctypes.CDLL(toggle_library)
    with console_app(database, count + 5, request_seconds) as app:
        collected = Collected(app, library.toggle, library.dump if by_request else None)
        person = (TurnsCollected if collect == "turns" else CountedInterviewer)(collected)
        person.collected = collected  # type: ignore[attr-defined]
        person.sign_in()
        person.interviews(1, 0)  # warm-up, not counted
        wtc.interviews(collected, 1, 0)
        if freeze:
            settle_heap()
        if collect == "web":
            collected.on = True
            turns = wtc.interviews(collected, count, 1).posts
        else:
            collected.on = collect == "cati"
            person.counting = collect == "turns"  # type: ignore[attr-defined]
            done = len(person.turns.durations)
            person.interviews(count, 1)
            turns = len(person.turns.durations) - done
        collected.on = False
    return f"turns={turns}"


def callgrind(
    count: int,
    database: str | None,
    *,
    freeze: bool = False,
    by_request: Path | None = None,
    request_seconds: float = REQUEST_SECONDS,
) -> dict[str, float]:
    """Instructions per page turn inside the app (callgrind, counting toggled around each call).

    One run under valgrind for each of :data:`COLLECT`, side by side; start-up,
    the import of the sample, signing in, the warm-up and the simulated
    browser's work are not counted, so the count is the server's alone.
    ``by_request``: each request is also dumped on its own (named by
    :func:`request_label`), the dumps kept in that folder for
    ``callgrind_annotate`` and summed by kind into ``by_request.md`` there.
    """
    found: dict[str, tuple[int, int]] = {}
    kinds: dict[str, dict[str, list[int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source, library = Path(tmp) / "toggle.c", Path(tmp) / "toggle.so"
        source.write_text(TOGGLE_C)
        subprocess.run(
            ["cc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True
        )
        running = {}
        for collect in COLLECT:
            out = Path(tmp) / f"callgrind.{collect}"
            command = [
                "valgrind", "--tool=callgrind", "--collect-atstart=no",
                f"--callgrind-out-file={out}", sys.executable, __file__,
                "--child", collect, str(count), "--toggle-library", str(library),
                "--request-seconds", repr(request_seconds),
            ] + (["--database", database] if database else []) + (
                ["--freeze-gc"] if freeze else []
            ) + (["--by-request", str(by_request)] if by_request else [])  # fmt: skip
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            running[collect] = (out, process)
        for collect, (_out, process) in running.items():
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"callgrind run {collect} failed:\n{stderr[-2000:]}")
            counted = re.search(r"turns=(\d+)", stdout)
            assert counted is not None
            dumps = sorted(Path(tmp).glob(f"callgrind.{collect}*"))
            per_request = [_dumped(dump) for dump in dumps]
            total = sum(instructions for _label, instructions in per_request)
            found[collect] = (total, int(counted.group(1)))
            if by_request is not None and collect != "turns":
                by_request.mkdir(parents=True, exist_ok=True)
                for dump in dumps:
                    dump.replace(by_request / dump.name)
                for label, instructions in per_request:
                    if label:
                        kinds.setdefault(collect, {}).setdefault(label, []).append(instructions)
    if by_request is not None:
        (by_request / "by_request.md").write_text(_by_request_table(kinds, found))
        print(_by_request_table(kinds, found))
    return {
        **{collect: total / turns for collect, (total, turns) in found.items()},
        **{f"{collect}_turns": turns for collect, (_total, turns) in found.items()},
    }


def _dumped(dump: Path) -> tuple[str, int]:
    """(the request's label, or "" for what was counted outside one, instructions) of a dump."""
    label, total = "", 0
    for line in dump.read_text().splitlines():
        if line.startswith("desc: Trigger: Client Request: "):
            label = line.split(": ", 2)[2].removeprefix("Client Request: ")
        elif line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
            break
    return label, total


def _by_request_table(kinds: dict[str, dict[str, list[int]]], found: dict[str, Any]) -> str:
    """Instructions by kind of request: how many, the mean, and the share of a page turn."""
    lines = ["| run | request | count | million instructions each | per page turn |",
             "|---|---|---:|---:|---:|"]  # fmt: skip
    for collect, labels in kinds.items():
        turns = found[collect][1]
        for label, counts in sorted(labels.items(), key=lambda item: -sum(item[1])):
            lines.append(
                f"| {collect} | `{label}` | {len(counts)} | {statistics.mean(counts) / 1e6:.2f} "
                f"| {sum(counts) / turns / 1e6:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _us(values: Sequence[float]) -> str:
    return f"{min(values):,.0f} µs (median {statistics.median(values):,.0f} µs)"


def render(
    result: dict[str, Any], instructions: dict[str, float] | None, argv: Sequence[str]
) -> str:
    machine = wl.machine()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    command = " ".join(["python benchmarks/cati_turn_cost.py", *argv])
    runs = len(result["web"])
    web, cati = min(result["web"]), min(result["cati_all"])
    lines = [
        SECTION,
        "",
        (
            f"`{command}`, {now}, on {machine['cpu']}, {machine['cores']} cores, "
            f"Python {machine['python']}; load average at the end {load} (1/5/15 min)."
        ),
        "",
        "One interviewer works the flagship through the console (phone.py's interviewer: next case,",
        'case screen, dial by hand, every script page, "code as complete and take the next case")',
        "and web respondents answer it (web_turn_cost's), calling the Flask app's WSGI function on",
        "PostgreSQL in one process, runs of the two alternating; only the app's CPU time is",
        "counted (see the script's docstring). A page turn is the answer POST and the GET of the",
        "next page.",
        "",
        "| measure | CATI | web | web / CATI |",
        "|---|---:|---:|---:|",
        (
            f"| server CPU per page turn, every request counted, best of {runs} runs of "
            f"{result['interviews']} interviews ({result['turns']} CATI page turns, "
            f"{result['web_posts']} web posts) | {_us(result['cati_all'])} | {_us(result['web'])} "
            f"| {web / cati:.0%} |"
        ),
        f"| of which the page turns' own requests (CATI) | {_us(result['cati_turns'])} | - | - |",
    ]
    if instructions is not None:
        lines += [
            (
                f"| instructions per page turn inside the app, every request counted (callgrind; "
                f"{instructions['cati_turns']:.0f} CATI, {instructions['web_turns']:.0f} web turns) "
                f"| {instructions['cati'] / 1e6:.2f} million | {instructions['web'] / 1e6:.2f} million "
                f"| {instructions['web'] / instructions['cati']:.0%} |"
            ),
            (
                f"| of which the page turns' own requests (CATI) "
                f"| {instructions['turns'] / 1e6:.2f} million | - | - |"
            ),
        ]
    lines += [
        "",
        f"The server took {result['server_share']:.0%} of the process's CPU in the CATI runs (the",
        "rest is the simulated browser reading pages).",
        "",
    ]
    if result.get("request_seconds") is not None:
        lines += [
            f"The app's clocks moved on {result['request_seconds']:g} s with each request (a",
            "`VirtualClock`: what it keeps for a few seconds, such as a staff session found good,",
            "is read again as often per request as in phone.py's run, whatever the speed).",
            "",
        ]
    if result.get("frozen"):
        lines += [
            "The heap was collected and frozen after the warm-up (`--freeze-gc`, see",
            "`settle_heap`), so no full collection of the start-up heap falls in a counted request.",
            "",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--interviews", type=int, default=10, help="per run, each mode (10)")
    parser.add_argument("--repeats", type=int, default=7, help="runs; best and median reported")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    parser.add_argument(
        "--callgrind-interviews", type=int, default=4, help="counted per callgrind run (4)"
    )
    parser.add_argument("--profile", type=Path, help="write CPU profiles to P.cati, P.web")
    parser.add_argument("--database", help="database URL (default: a fresh PostgreSQL database)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--freeze-gc",
        action="store_true",
        help="collect and freeze the heap after the warm-up (see settle_heap)",
    )
    parser.add_argument(
        "--by-request",
        type=Path,
        metavar="FOLDER",
        help="with --callgrind: one dump per request kept in FOLDER, summed by kind",
    )
    parser.add_argument(
        "--request-seconds",
        type=float,
        default=REQUEST_SECONDS,
        help=f"how far the app's clocks move on with each request ({REQUEST_SECONDS}; see VirtualClock)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--toggle-library", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # one run under callgrind
        print(
            child(
                args.child[0], int(args.child[1]), args.database, args.toggle_library,
                freeze=args.freeze_gc, by_request=args.by_request is not None,
                request_seconds=args.request_seconds,
            )
        )  # fmt: skip
        return 0
    result = measure(
        args.interviews, args.repeats, args.database, profile=args.profile, freeze=args.freeze_gc,
        request_seconds=args.request_seconds,
    )  # fmt: skip
    print(
        f"server CPU per page turn: CATI best {min(result['cati_all']):,.0f} µs "
        f"(page turns alone {min(result['cati_turns']):,.0f} µs), "
        f"web best {min(result['web']):,.0f} µs; "
        f"server {result['server_share']:.0%} of the process"
    )
    instructions = None
    if args.callgrind:
        instructions = callgrind(
            args.callgrind_interviews, args.database, freeze=args.freeze_gc,
            by_request=args.by_request, request_seconds=args.request_seconds,
        )  # fmt: skip
        print(
            f"instructions per page turn in the app: CATI {instructions['cati'] / 1e6:.2f} million "
            f"(page turns alone {instructions['turns'] / 1e6:.2f} million), "
            f"web {instructions['web'] / 1e6:.2f} million"
        )
    if not args.no_write:
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--no-write"]
        wl.write_section(render(result, instructions, shown), DOCS, heading=SECTION)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
