"""Panel benchmark: a wave's invitations handed to a local SMTP server by the fieldwork worker.

    python benchmarks/panel.py [--quick] [--members 100000] [--workers 2] [--connections N]
                               [--template NAME]

What it measures (issue 13, "Benchmark"), and why it is built this way:

* ``--members`` panel members (an email address each, a language, a profile)
  are imported with ``instrument panel import`` (the command operators run:
  every address encrypted, a lookup hash each), then a wave is opened with
  ``instrument wave open`` (a case, its preloads and a personal link per
  eligible member). Both are timed. With ``--template`` the import is kept in
  a PostgreSQL database of that name and copied for each run.
* The wave's plan is one invitation by email on day 0; the wave opens a
  minute before the run and has no quiet hours, so the run does not depend on
  the hour it is started at. No rate limit: the worker's own speed is measured.
* A real SMTP server (aiosmtpd, in a process of its own) on 127.0.0.1 receives
  every message and writes down its Message-ID (made from the message's
  idempotency key) and when it came.
* ``--workers`` fieldwork workers (``instrument fieldwork run``, each a process
  of its own, as operators run them) send the invitations; the run ends when
  the server has one message per eligible member (or at ``--timeout``).
  Each worker hands a group's messages over on several threads, and its
  email channel talks to the server on up to ``--connections`` connections
  (``INSTRUMENT_SMTP_CONNECTIONS``; the channel's default when not given).
* Measured: messages handed to the SMTP server per second (from the first to
  the last), each worker's resident memory sampled every second (it must stay
  flat as the wave is worked through), and afterwards: every member invited
  once (distinct Message-IDs = messages received = members), the store's
  message records all ``sent``, none twice.

Traffic goes only to 127.0.0.1. Results go to the "## Panel" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
for _source_root in (ROOT, ROOT / "modes", ROOT / "plugins", ROOT / "benchmarks"):
    if str(_source_root) not in sys.path:
        sys.path.insert(0, str(_source_root))

import web_load  # the web benchmark: machine description, fresh databases, docs sections

__all__ = ["PanelResult", "main", "parse_args", "render", "run"]

FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"
TARGET_PER_SECOND = 1000.0
ADMIN_URL = web_load.ADMIN_URL
PANEL = "bench"
SENDER = "panel@panel-bench.invalid"
INSTRUMENT = [
    sys.executable,
    "-c",
    "import sys; from instrument.cli import main; sys.argv[0] = 'instrument'; main()",
]
"""``instrument`` run by this Python, whichever environment it is (no console script needed)."""

WAVE = """\
# The panel benchmark's wave: one invitation by email as soon as the wave opens.
panel: {panel}
wave: bench1
label: "Panel benchmark wave"
questionnaire: social_licence.yaml
fieldwork:
  zone: Europe/London
  open: {opens}
profile:
  n_children: integer
eligibility: status == 'active'
preload:
  n_children: profile_n_children
contact_plan:
  - day: 0
    send: invitation
    channels: [email]
    templates: {{email: invitation}}
  - close: day 28
quiet_hours: none
"""

SINK = r"""
import re, signal, sys, threading, time
from aiosmtpd.controller import Controller

out = open(sys.argv[2], "w", buffering=1)  # a line at a time: the benchmark counts them as they come
lock = threading.Lock()
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        with lock:
            out.write(f"{time.time():.6f} {found.group(1).decode() if found else '-'}\n")
        return "250 OK"

controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
stopped.wait()
controller.stop()
with lock:
    out.close()
"""


# ---------------------------------------------------------------------------
# The panel, the wave


def write_members(path: Path, members: int, seed: int) -> None:
    """A members file: external id, an email address on a reserved domain, language, profile."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "email", "language", "n_children", "region"])
        for i in range(members):
            writer.writerow(
                [f"M{i:07d}", f"member{i}@panel-bench.invalid", "cy" if i % 10 == 0 else "en",
                 rng.randint(1, 4), rng.choice(["north", "midlands", "south", "wales"])]
            )  # fmt: skip


def _instrument(*args: str, env: dict[str, str]) -> float:
    """Run ``instrument ARGS``; its seconds (a failure stops the benchmark with its output)."""
    started = time.perf_counter()
    done = subprocess.run([*INSTRUMENT, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"instrument {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def _admin(statement: str, *params: Any) -> Any:
    """Run one statement on the server's admin database; its first row for a SELECT."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        cursor = admin.execute(statement, params or None)
        return cursor.fetchone() if statement.lstrip().upper().startswith("SELECT") else None


def _base_env(keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTRUMENT_")}
    env["INSTRUMENT_PANEL_KEYS"] = keys
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "modes"), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    )
    return env


def imported_panel(url: str, members_file: Path, env: dict[str, str]) -> float:
    return _instrument("panel", "import", str(members_file), "--panel", PANEL, "--database", url,
                       env=env)  # fmt: skip


@contextlib.contextmanager
def panel_database(
    args: argparse.Namespace, folder: Path, keys: str
) -> Iterator[tuple[str, float]]:
    """(database URL, import seconds): a fresh import, or a copy of ``--template``'s."""
    members_file = folder / "members.csv"
    env = _base_env(keys)
    if not args.template:
        with web_load.fresh_database(args.database) as url:
            write_members(members_file, args.members, args.seed)
            yield url, imported_panel(url, members_file, env)
        return
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", args.template):
        raise ValueError(f"--template must be a plain database name, not {args.template!r}")
    wanted = f"panel benchmark: {args.members} members, seed {args.seed}, keys {keys[:8]}"
    found = _admin(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        args.template,
    )
    if found is None:
        _admin(f'CREATE DATABASE "{args.template}"')
        write_members(members_file, args.members, args.seed)
        url = f"postgresql://postgres@127.0.0.1:5432/{args.template}"
        seconds = imported_panel(url, members_file, env)
        _admin(
            f"COMMENT ON DATABASE \"{args.template}\" IS '{wanted}; imported in {seconds:.1f} s'"
        )
    else:
        comment = str(found[0] or "")
        if not comment.startswith(wanted + ";"):
            raise RuntimeError(f"database {args.template} holds another panel ({comment!r})")
        seconds = float(re.search(r"imported in ([0-9.]+) s", comment).group(1))  # type: ignore[union-attr]
    name = f"panel_bench_{os.getpid()}_{secrets.token_hex(3)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{args.template}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}", seconds
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def template_keys(args: argparse.Namespace) -> str:
    """The panel key: kept beside a template database (its data is encrypted with it), else new."""
    from instrument.panel.crypto import new_key

    if not args.template:
        return new_key()
    kept = Path(tempfile.gettempdir()) / f"{args.template}.panel-key"
    if not kept.exists():
        kept.write_text(new_key())
        kept.chmod(0o600)
    return kept.read_text().strip()


def write_wave(folder: Path, opens: dt.datetime) -> Path:
    (folder / FLAGSHIP.name).write_bytes(FLAGSHIP.read_bytes())
    local = opens.astimezone(ZoneInfo("Europe/London"))
    path = folder / "bench.wave1.yaml"
    path.write_text(WAVE.format(panel=PANEL, opens=f"{local:%Y-%m-%d %H:%M}"))
    return path


# ---------------------------------------------------------------------------
# The run


@dataclass
class PanelResult:
    members: int
    workers: int
    import_seconds: float
    open_seconds: float
    received: int = 0
    distinct: int = 0
    first: float = 0.0
    last: float = 0.0
    timed_out: bool = False
    records: dict[str, int] = field(default_factory=dict)
    twice: int = 0
    memory: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # pid -> (t, kB)
    backend: str = "PostgreSQL"
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user + system) of the run: ``workers``, ``smtp`` and ``postgresql`` (the
    run's database backends): a machine shared with other work slows the rate, not these."""
    cpu_messages: int = 0
    """Messages received while ``cpu`` was spent (from the first second with a message on)."""
    fifths: list[float] = field(default_factory=list)
    """Messages per second over each fifth of the messages, in order: a slow start (a freshly
    opened wave's tables without statistics yet) shows apart from the steady rate."""

    @property
    def rate(self) -> float:
        span = self.last - self.first
        return (self.received - 1) / span if span > 0 and self.received > 1 else 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.timed_out
            and self.received == self.distinct == self.members
            and self.records.get("sent", 0) == self.members
            and self.twice == 0
        )


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _received(path: Path) -> list[tuple[float, str]]:
    rows = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            at, _, message_id = line.partition(" ")
            rows.append((float(at), message_id))
    return rows


def _cpu_seconds(pid: int) -> float | None:
    """A process's user + system CPU seconds so far (/proc), None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving the run's database (same machine: 127.0.0.1)."""
    if not url.startswith("postgresql"):
        return []
    name = url.rsplit("/", 1)[1]
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return [int(pid) for (pid,) in rows]


def _cpu_now(workers: Sequence[int], sink: int, url: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each process of the run, by kind and pid."""
    kinds = {"workers": list(workers), "smtp": [sink], "postgresql": _backends(url)}
    return {
        kind: {pid: s for pid in pids if (s := _cpu_seconds(pid)) is not None}
        for kind, pids in kinds.items()
    }


def _cpu_spent(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds each kind spent between two readings (a process started since: all of it)."""
    return {
        kind: sum(s - before.get(kind, {}).get(pid, 0.0) for pid, s in pids.items())
        for kind, pids in after.items()
        if pids
    }


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def run(args: argparse.Namespace) -> PanelResult:
    keys = template_keys(args)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with panel_database(args, folder, keys) as (url, import_seconds):
            env = _base_env(keys)
            wave = write_wave(folder, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
            open_seconds = _instrument("wave", "open", str(wave), "--database", url, env=env)
            result = PanelResult(args.members, args.workers, import_seconds, open_seconds)
            port = web_load._free_port()
            log = folder / "received.log"
            sink = subprocess.Popen(
                [sys.executable, "-c", SINK, str(port), str(log)], stdout=subprocess.PIPE, text=True
            )
            workers: list[subprocess.Popen[bytes]] = []
            try:
                assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
                worker_env = {
                    **env,
                    "INSTRUMENT_SMTP_HOST": "127.0.0.1",
                    "INSTRUMENT_SMTP_PORT": str(port),
                    "INSTRUMENT_SMTP_SECURITY": "none",
                    "INSTRUMENT_SMTP_FROM": SENDER,
                }
                if args.connections:
                    worker_env["INSTRUMENT_SMTP_CONNECTIONS"] = str(args.connections)
                for _ in range(args.workers):
                    workers.append(
                        subprocess.Popen(
                            [
                                *INSTRUMENT,
                                "fieldwork",
                                "run",
                                "--database",
                                url,
                                "--base-url",
                                "https://panel-bench.invalid",
                                "--batch",
                                str(args.batch),
                                "--idle",
                                "0.2",
                            ],
                            env=worker_env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                        )  # fmt: skip
                    )
                    result.memory[workers[-1].pid] = []
                deadline = time.monotonic() + args.timeout
                started_cpu: dict[str, dict[int, float]] | None = None
                while (received := _count_lines(log)) < args.members:
                    if time.monotonic() > deadline:
                        result.timed_out = True
                        break
                    dead = [w for w in workers if w.poll() is not None]
                    if dead:
                        error = dead[0].stderr.read().decode() if dead[0].stderr else ""
                        raise RuntimeError(
                            f"a worker stopped (exit {dead[0].returncode}):\n{error}"
                        )
                    now = time.monotonic()
                    if received and started_cpu is None:  # the workers' start-up left out
                        started_cpu = _cpu_now([w.pid for w in workers], sink.pid, url)
                        result.cpu_messages = -received
                    for w in workers if received else ():  # from the first message: started up
                        kb = _rss_kb(w.pid)
                        if kb is not None:
                            result.memory[w.pid].append((now, kb))
                    time.sleep(1.0)
                time.sleep(1.0)  # the last round's records are written after the last send
                result.cpu = _cpu_spent(
                    started_cpu or {}, _cpu_now([w.pid for w in workers], sink.pid, url)
                )
                result.cpu_messages += _count_lines(log)
            finally:
                for w in workers:
                    w.send_signal(signal.SIGTERM)
                for w in workers:
                    try:
                        w.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        w.kill()
                sink.send_signal(signal.SIGTERM)
                sink.wait(timeout=30)
            received = _received(log)
            result.received = len(received)
            result.distinct = len({message_id for _, message_id in received})
            if received:
                result.first, result.last = received[0][0], received[-1][0]
                result.fifths = rate_by_fifth([at for at, _ in received])
            result.records, result.twice = message_records(url)
    return result


def rate_by_fifth(times: Sequence[float]) -> list[float]:
    """Messages per second over each fifth of *times* (when each message came, in order)."""
    if len(times) < 10:
        return []
    bounds = [round(i * (len(times) - 1) / 5) for i in range(6)]
    return [
        (bounds[i + 1] - bounds[i]) / max(times[bounds[i + 1]] - times[bounds[i]], 1e-9)
        for i in range(5)
    ]


def message_records(url: str) -> tuple[dict[str, int], int]:
    """The store's message records by state, and how many idempotency keys occur more than once."""
    import sqlalchemy as sa

    from instrument.store import open_store
    from instrument.store.schema import panel_messages

    with open_store(url, upgrade=False) as store, store.engine.connect() as connection:
        states = dict(
            connection.execute(
                sa.select(panel_messages.c.state, sa.func.count()).group_by(panel_messages.c.state)
            ).all()
        )
        twice = connection.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(panel_messages.c.idempotency_key)
                .group_by(panel_messages.c.idempotency_key)
                .having(sa.func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    return {str(k): int(v) for k, v in states.items()}, int(twice)


# ---------------------------------------------------------------------------
# The report


def _memory_text(result: PanelResult) -> str:
    parts = []
    for samples in result.memory.values():
        if not samples:
            continue
        kbs = [kb for _, kb in samples]
        third = max(1, len(kbs) // 3)
        parts.append(
            f"{kbs[0] / 1024:.0f} MB at the first message, {max(kbs[:third]) / 1024:.0f} MB at most "
            f"in the first third of the run, {max(kbs[-third:]) / 1024:.0f} MB at most in the last"
        )
    return "; ".join(parts) or "not sampled"


def _cpu_lines(result: PanelResult) -> list[str]:
    """CPU per message by process kind: what the rate needs of the cores, whatever the load."""
    if not result.cpu or result.cpu_messages <= 0:
        return []
    parts = [
        f"{name} {seconds * 1000 / result.cpu_messages:.2f} ms"
        for name, seconds in (("workers", result.cpu.get("workers")),
                              ("SMTP server", result.cpu.get("smtp")),
                              ("PostgreSQL", result.cpu.get("postgresql")))
        if seconds is not None
    ]  # fmt: skip
    total = sum(result.cpu.values()) * 1000 / result.cpu_messages
    return [
        f"- CPU per message (user + system, /proc, from the first message received to the "
        f"last): {', '.join(parts)}; {total:.2f} ms in all, "
        f"so {os.cpu_count() or 1} cores free of other work could take at most "
        f"{(os.cpu_count() or 1) * 1000 / total:,.0f} messages/s.",
    ]


def _fifths_lines(result: PanelResult) -> list[str]:
    if not result.fifths:
        return []
    rates = ", ".join(f"{rate:,.0f}" for rate in result.fifths)
    return [f"- Invitations per second over each fifth of the messages, in order: {rates}."]


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(result: PanelResult, command: str, started: dt.datetime, load: Sequence[float]) -> str:
    m = web_load.machine()
    flat = all(
        max(kb for _, kb in s[-max(1, len(s) // 3) :])
        <= 1.25 * max(kb for _, kb in s[: max(1, len(s) // 3)])
        for s in result.memory.values()
        if s
    )
    lines = [
        "## Panel",
        "",
        (
            f"`{command}`, {started:%Y-%m-%d %H:%M} UTC, on {m['cpu']}, {m['cores']} cores, "
            f"Python {m['python']}, {m['kernel']}; load average at start "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)."
        ),
        "",
        (
            f"{result.members:,} panel members with an email address each, imported with `instrument "
            f"panel import` ({result.import_seconds:.0f} s: every address encrypted and hashed), on "
            f"{result.backend}; a wave opened with `instrument wave open` ({result.open_seconds:.0f} s: "
            "a case, its preloads and a personal link per member), its plan one email invitation at "
            f"once; {result.workers} fieldwork workers (`instrument fieldwork run`, a process each) "
            "handing the messages to a real SMTP server (aiosmtpd, a process of its own) on 127.0.0.1."
        ),
        "",
        "| measure | target | result | met? |",
        "|---|---|---|---|",
        (
            f"| Invitations handed to the SMTP server per second ({result.workers} workers; first to "
            f"last of {result.received:,}) | ≥ {TARGET_PER_SECOND:,.0f}/s | {result.rate:,.0f}/s"
            f"{' (timed out)' if result.timed_out else ''} | {_yes(result.rate >= TARGET_PER_SECOND)} |"
        ),
        (
            f"| Members invited once: messages received / distinct Message-IDs / members | equal | "
            f"{result.received:,} / {result.distinct:,} / {result.members:,} | "
            f"{_yes(result.received == result.distinct == result.members)} |"
        ),
        (
            f"| The store's message records: by state; idempotency keys twice | all sent; 0 | "
            f"{', '.join(f'{k} {v:,}' for k, v in sorted(result.records.items()))}; {result.twice} | "
            f"{_yes(result.records.get('sent', 0) == result.members and result.twice == 0)} |"
        ),
        (
            f"| Each worker's resident memory as the wave is worked through | flat | "
            f"{_memory_text(result)} | {_yes(flat)} |"
        ),
        "",
        *_fifths_lines(result),
        *_cpu_lines(result),
        (
            "- The rate is what the SMTP server saw, from its first message to its last; each message "
            "was first recorded in the store ('sending', under its unique idempotency key), then "
            "rendered from the channel's templates with its personal and stop links, sent, and its "
            "record set to 'sent'. The Message-ID is made from the idempotency key, so a message sent "
            "twice would show as a repeated Message-ID."
        ),
        "- The machine's cores are shared by the workers, PostgreSQL and the SMTP server.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 members: a smoke run")
    parser.add_argument("--members", type=int, help="panel members (default 100,000)")
    parser.add_argument("--workers", type=int, default=2, help="fieldwork workers (default 2)")
    parser.add_argument("--connections", type=int,
                        help="SMTP connections a worker's email channel may open (its default: 4)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=500, help="members a worker claims per round")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before giving up")
    parser.add_argument("--database", help="a PostgreSQL URL to use instead of a fresh database")
    parser.add_argument("--template", metavar="NAME",
                        help="keep the imported panel in this PostgreSQL database and copy it per run")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=web_load.DOCS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.members is None:
        args.members = 2000 if args.quick else 100_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    result = run(args)
    command = "python benchmarks/panel.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(result, command.strip(), started, load)
    print(text)
    if not args.no_write:
        web_load.write_section(text, args.docs, heading="## Panel")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
