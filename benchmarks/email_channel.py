"""Email channel micro-benchmark: what one invitation costs the sending worker.

    python benchmarks/email_channel.py [--messages 4000] [--workers 2] [--before REV]

Why it exists (issue 13, "Benchmark"): a profile of the fieldwork worker put
about half of its time in ``EmailChannel.send``; this measures that one call
without the store, the panel or the contact plan around it, so a change to
the channel can be judged on its own.

* ``--messages`` invitations and reminders, in English and Welsh by turns,
  each with its own address and idempotency key, are first only built (the
  bytes that go to the server: ``compose()``, or for a channel of before
  issue 13's speed-up ``build().as_bytes()``, the flattening ``send_message``
  did): milliseconds per message, one process.
* Then ``--workers`` processes (forked, an ``EmailChannel`` and a connection
  each, as fieldwork workers have) send their share to a real SMTP server
  (aiosmtpd, the panel benchmark's sink, in a process of its own) on
  127.0.0.1: messages handed over per second, from the moment all workers
  start to the server having every message.
* With ``--before REV`` the channel as it was at git revision REV
  (``email.py`` and ``rendering.py``) is measured the same way, first.

Prints the figures; nothing is written to the docs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
for _source_root in (ROOT, ROOT / "plugins", ROOT / "benchmarks"):
    if str(_source_root) not in sys.path:
        sys.path.insert(0, str(_source_root))

import panel  # its SMTP sink: one line a message received
import web_load

from instrument.plugin_types import OutgoingMessage

__all__ = ["Figures", "channel_module", "main", "measure", "outgoing"]

SENDER = "Panel Bench <panel@bench.invalid>"
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@dataclass
class Figures:
    label: str
    build_ms: float  # per message, building only
    rate: float  # messages handed to the server per second
    server_ms: float  # the SMTP server's CPU time per message received (Linux; else nan)
    sent: int  # receipts "sent"
    received: int  # messages the server has


def channel_module(revision: str | None, folder: Path) -> ModuleType:
    """The email channel now, or as it was at *revision* (with that revision's renderer)."""
    if revision is None:
        import instrument_channels.email

        return instrument_channels.email
    names = {"rendering": f"rendering_at_{revision}", "email": f"email_at_{revision}"}
    modules = {}
    for part, name in names.items():
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:plugins/instrument_channels/{part}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        source = source.replace("instrument_channels.rendering", names["rendering"])
        path = folder / f"{name.replace('-', '_')}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(names[part], path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[names[part]] = module
        spec.loader.exec_module(module)
        modules[part] = module
    return modules["email"]


def outgoing(count: int) -> list[OutgoingMessage]:
    """Invitations and reminders in English and Welsh by turns, one address and key each."""
    kinds = [("invitation", "en"), ("invitation", "cy"), ("reminder", "en"), ("reminder", "cy")]
    return [
        OutgoingMessage(
            channel="email",
            to=f"member{n:06d}@bench.invalid",
            template=kinds[n % 4][0],
            language=kinds[n % 4][1],
            idempotency_key=f"wave1-contact-{n}",
            personal_link=f"https://panel-bench.invalid/s/{n:08x}Qx7",
            unsubscribe_link=f"https://panel-bench.invalid/u/{n:08x}Qx7",
            salutation="Annwyl Mr Ŵyn" if n % 2 else "Dear Ms Jones",
            access_code=f"K{n % 9973:04d}",
            context={"study": "Wales Life Panel", "closes": "30 March"},
        )
        for n in range(count)
    ]


def _channel(module: ModuleType, port: int) -> object:
    settings = module.SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER)
    return module.EmailChannel(settings, clock=lambda: NOW)


def build_ms(module: ModuleType, messages: Sequence[OutgoingMessage]) -> float:
    channel = _channel(module, 25)
    compose = getattr(channel, "compose", None)
    make = (lambda m: compose(m).data) if compose else (lambda m: channel.build(m).as_bytes())
    make(messages[0])  # templates found and compiled before the clock starts
    started = time.perf_counter()
    for message in messages:
        make(message)
    return (time.perf_counter() - started) * 1000 / len(messages)


def _worker(module: ModuleType, port: int, share: list[OutgoingMessage], start, sent) -> None:
    channel = _channel(module, port)
    channel.check()  # connected before the clock starts
    start.wait()
    ok = sum(channel.send(message).status == "sent" for message in share)
    channel.close()
    with sent.get_lock():
        sent.value += ok


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process *pid* so far (Linux's /proc), or nan."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send_rate(
    module: ModuleType, messages: list[OutgoingMessage], workers: int, folder: Path
) -> tuple[float, float, int, int]:
    """Messages per second handed to a fresh SMTP sink by *workers* processes,
    and the sink's CPU milliseconds per message (how near it is to its own ceiling)."""
    port = web_load._free_port()
    log = folder / f"received-{port}.log"
    sink = subprocess.Popen(
        [sys.executable, "-c", panel.SINK, str(port), str(log)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        fork = multiprocessing.get_context("fork")
        start, sent = fork.Barrier(workers + 1), fork.Value("i", 0)
        procs = [
            fork.Process(target=_worker, args=(module, port, messages[w::workers], start, sent))
            for w in range(workers)
        ]
        for proc in procs:
            proc.start()
        sink_cpu = _cpu_seconds(sink.pid)
        start.wait()
        began = time.perf_counter()
        deadline = time.monotonic() + 300
        while (received := panel._count_lines(log)) < len(messages):
            if time.monotonic() > deadline or not any(p.is_alive() for p in procs):
                if received < len(messages) and not any(p.is_alive() for p in procs):
                    time.sleep(0.5)
                    received = panel._count_lines(log)
                break
            time.sleep(0.005)
        elapsed = time.perf_counter() - began
        server_ms = (_cpu_seconds(sink.pid) - sink_cpu) * 1000 / max(received, 1)
        for proc in procs:
            proc.join(timeout=60)
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    return len(messages) / elapsed, server_ms, sent.value, received


def measure(label: str, module: ModuleType, count: int, workers: int, folder: Path) -> Figures:
    messages = outgoing(count)
    ms = build_ms(module, messages)
    rate, server_ms, sent, received = send_rate(module, messages, workers, folder)
    return Figures(label, ms, rate, server_ms, sent, received)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", metavar="REV", help="also measure the channel at REV")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each channel, taken by turns (default 3)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [(f"at {args.before}", args.before)] if args.before else []
        runs.append(("working tree", None))
        modules = [(label, channel_module(rev, folder)) for label, rev in runs]
        # By turns, so a neighbour's load on the machine falls on both alike.
        results = [
            measure(label, module, args.messages, args.workers, folder)
            for _ in range(args.repeat)
            for label, module in modules
        ]
        results.sort(key=lambda f: f.label != runs[0][0])
    print(
        f"{args.messages} messages, {args.workers} sending processes, aiosmtpd on 127.0.0.1, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(
        f"{'channel':<22} {'build ms/msg':>12} {'sent msgs/s':>12} {'server ms/msg':>14} "
        f"{'sent':>7} {'received':>9}"
    )
    for f in results:
        print(
            f"{f.label:<22} {f.build_ms:>12.3f} {f.rate:>12.0f} {f.server_ms:>14.3f} "
            f"{f.sent:>7} {f.received:>9}"
        )
    for label, _ in runs:
        rates = sorted(f.rate for f in results if f.label == label)
        print(f"{label}: median {rates[len(rates) // 2]:.0f} messages/s")
    return 0 if all(f.sent == f.received == args.messages for f in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
