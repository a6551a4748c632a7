"""What one web page turn costs the server, measured in process (no HTTP server, no load generator).

    python benchmarks/web_turn_cost.py                 # CPU time per page turn, best of 7 runs
    python benchmarks/web_turn_cost.py --callgrind     # also instructions per page turn (valgrind)

``benchmarks/web_load.py`` measures the real thing (gunicorn, PostgreSQL, a
load generator in another process), but on a shared 2-core machine its
figures move by 10% from run to run, too much to tell whether a change to
the web mode saved 3% of its CPU. This script removes the noise it can:
simulated respondents (the same answer rules as web_load's generator) go
through the flagship by calling the Flask app's WSGI function directly, on a
fresh PostgreSQL database, and only the app's own CPU time is counted (thread
time around each call). ``--callgrind`` also runs the same interviews under
valgrind's callgrind, which counts instructions instead of seconds: the same
count on every run, whatever else the machine is doing. Two runs (few and
many interviews) are subtracted, so start-up and imports cancel out; the count
includes the simulated browser's work (building requests, reading pages),
about an eighth of the process's CPU.

A page turn here is what web_load calls one: the answer POST and the GET of
the next page (the few starts are counted in, as web_load counts them).
Results go to the "## Web page turn cost" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import web_load as wl  # the generator's answer rules and page reader

DOCS = wl.DOCS
SECTION = "## Web page turn cost"


class AppClient:
    """web_load's ``Client`` interface, calling the app's WSGI function instead of a socket."""

    def __init__(self, app: Any) -> None:
        from werkzeug.test import EnvironBuilder

        self._builder = EnvironBuilder
        self.app = app
        self.cookies: dict[str, str] = {}
        self.cpu = 0.0
        self.requests = 0
        self.posts = 0

    def reset(self) -> None:
        self.cookies.clear()

    def close(self) -> None:
        pass

    def get(self, path: str) -> wl.Page:
        return self.request("GET", path)

    def post(self, path: str, fields: Sequence[tuple[str, str]]) -> wl.Page:
        return self.request("POST", path, urllib.parse.urlencode(list(fields)))

    def request(self, method: str, path: str, body: str | None = None) -> wl.Page:
        headers = {"User-Agent": wl.USER_AGENT, "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        builder = self._builder(
            path=path, method=method, headers=headers, data=body,
            content_type="application/x-www-form-urlencoded" if body is not None else None,
            base_url=f"http://{wl.HOST}:5000/", environ_base={"REMOTE_ADDR": wl.HOST},
        )  # fmt: skip
        environ = builder.get_environ()
        builder.close()
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), headers

        started = time.thread_time()
        body_iter = self.app.wsgi_app(environ, start_response)
        data = b"".join(body_iter)
        if hasattr(body_iter, "close"):
            body_iter.close()
        self.cpu += time.thread_time() - started
        self.requests += 1
        self.posts += method == "POST"
        location = None
        for name, value in seen["headers"]:
            if name.lower() == "set-cookie":
                wl.Client._set_cookie(self, value)  # type: ignore[arg-type]
            elif name.lower() == "location":
                parts = urllib.parse.urlsplit(value)
                location = parts.path + ("?" + parts.query if parts.query else "")
        return wl.Page(seen["status"], data.decode("utf-8"), location)


def interviews(app: Any, count: int, seed: int) -> AppClient:
    """``count`` complete flagship interviews; the client holds the server's CPU time and counts."""
    client = AppClient(app)
    rng = random.Random(seed)
    for _ in range(count):
        log, turns = wl.InterviewLog(), wl._Turns()
        wl.flagship_interview(client, rng, log, turns, time.monotonic() + 3600)  # type: ignore[arg-type]
        if not log.complete:
            raise RuntimeError("a simulated interview did not complete")
    return client


def measure(count: int, repeats: int, database: str | None) -> dict[str, Any]:
    """CPU µs per page turn in each of ``repeats`` runs of ``count`` interviews (after a warm-up)."""
    from instrument.server.app import create_app, get_host

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with wl.fresh_database(database) as url:
        app = create_app(
            {
                "DATABASE_URL": url,
                "QUESTIONNAIRES": [str(wl.FLAGSHIP)],
                "SECRET_KEY": "k" * 32,
                "START_ATTEMPTS": 10**9,  # every interview starts from the test client's address
            }
        )
        try:
            interviews(app, 3, 0)  # warm-up: caches, prepared statements, pool
            per_turn, shares, posts = [], [], 0
            for run in range(repeats):
                before = time.process_time()
                client = interviews(app, count, run + 1)
                whole = time.process_time() - before
                per_turn.append(client.cpu * 1e6 / client.posts)
                shares.append(client.cpu / whole if whole else 0.0)
                posts = client.posts
        finally:
            get_host(app).store.close()
    return {"per_turn": per_turn, "server_share": statistics.median(shares), "posts": posts}


def callgrind(few: int, many: int, database: str | None) -> dict[str, Any]:
    """Instructions per page turn: two runs under callgrind, subtracted (start-up cancels out)."""
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        procs = {}
        for n in (few, many):
            out = Path(tmp) / f"callgrind.{n}"
            cmd = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, __file__, "--child", str(n),
            ] + (["--database", database] if database else [])  # fmt: skip
            procs[n] = (
                out,
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            )
        for n, (out, proc) in procs.items():
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"callgrind run failed:\n{stderr[-2000:]}")
            posts = int(re.search(r"posts=(\d+)", stdout).group(1))  # type: ignore[union-attr]
            total = next(
                int(line.split()[1])
                for line in out.read_text().splitlines()
                if line.startswith(("summary:", "totals:"))
            )
            counts[n] = (total, posts)
    (ia, pa), (ib, pb) = counts[few], counts[many]
    return {"per_turn": (ib - ia) / (pb - pa), "turns": pb - pa}


def render(result: dict[str, Any], instructions: dict[str, Any] | None, argv: Sequence[str]) -> str:
    machine = wl.machine()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    per_turn = result["per_turn"]
    command = " ".join(["python benchmarks/web_turn_cost.py", *argv])
    lines = [
        SECTION,
        "",
        (
            f"`{command}`, {now}, on {machine['cpu']}, {machine['cores']} cores, "
            f"Python {machine['python']}."
        ),
        "",
        "The flagship through the Flask app's WSGI function on PostgreSQL, in one process, counting",
        "only the app's CPU time (no HTTP server, no load generator: see the script's docstring).",
        "A page turn is the answer POST and the GET of the next page.",
        "",
        "| measure | result |",
        "|---|---|",
        (
            f"| server CPU per page turn, best of {len(per_turn)} runs of {result['posts']} page "
            f"turns | {min(per_turn):,.0f} µs (median {statistics.median(per_turn):,.0f} µs) |"
        ),
        f"| the server's share of the process's CPU | {result['server_share']:.0%} |",
    ]
    if instructions is not None:
        lines.append(
            f"| instructions per page turn (callgrind, whole process, {instructions['turns']} turns) "
            f"| {instructions['per_turn'] / 1e6:.2f} million |"
        )
    lines += [
        "",
        "Under gunicorn the same page turn costs about 0.9 ms more (two requests through gunicorn's",
        "HTTP parsing and werkzeug's environ), which the bare-Flask ceiling pays too (see Web above).",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path = DOCS) -> None:
    """Replace this script's section of docs/benchmarks.md (or append it)."""
    wl.write_section(text, path, heading=SECTION)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--interviews", type=int, default=30, help="per run (default 30)")
    parser.add_argument("--repeats", type=int, default=7, help="runs; best and median reported")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    parser.add_argument("--database", help="PostgreSQL URL (default: a fresh database)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # one run under callgrind
        result = measure(args.child, 1, args.database)
        print(f"posts={result['posts']}")
        return 0
    result = measure(args.interviews, args.repeats, args.database)
    print(
        f"server CPU per page turn: best {min(result['per_turn']):,.0f} µs, "
        f"median {statistics.median(result['per_turn']):,.0f} µs "
        f"({result['posts']} page turns per run; server {result['server_share']:.0%} of the process)"
    )
    instructions = None
    if args.callgrind:
        instructions = callgrind(2, 8, args.database)
        print(f"instructions per page turn: {instructions['per_turn'] / 1e6:.2f} million")
    if not args.no_write:
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--no-write"]
        write_section(render(result, instructions, shown))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
