"""Fuzzing the loader: hostile files and mutated questionnaires, within bounds of time and memory.

Every file, whether from the hostile corpus (``tests/data/hostile/``) or a real
questionnaire that hypothesis has spliced hostile pieces into, must give
diagnostics with a file and a line (never a traceback), load in bounded time,
and stay within bounded memory; texts of the questionnaires that load are
rendered once, so that fills are bounded when shown too.

The loads run in one worker process with an address-space limit
(``resource.setrlimit``), so a regression ends in a MemoryError reported here
instead of taking the machine's memory; a load that takes too long is killed.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

resource = pytest.importorskip("resource")  # POSIX only

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = sorted((ROOT / "tests" / "data" / "hostile").glob("*.yaml"))
SOURCES = [
    ROOT / "tests" / "data" / "mini.yaml",
    ROOT / "questionnaires" / "school_travel.yaml",
    ROOT / "questionnaires" / "social_licence.yaml",
]
ADDRESS_SPACE = 768 * 2**20  # the worker's whole address space; it needs about 40 MiB
SECONDS_PER_FILE = 10.0  # generous: the machine is shared; a file takes well under a second
PEAK_RSS_KIB = 400 * 1024

WORKER = r"""
import json, resource, sys, time, traceback
resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

def reset_peak():
    # ru_maxrss would not do: Linux carries the parent's peak across fork and exec,
    # so a worker started from a large pytest process reports pytest's memory.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass

def peak_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from instrument.loader import load_questionnaire_text
from instrument.texts import MISSING

def render_all(questionnaire):
    count = 0
    for question in questionnaire.questions.values():
        for text in (question.text, question.read_out, question.ivr, question.instruction, question.hint):
            for template in (text.by_language.values() if text is not None else ()):
                if not template.is_static:
                    values = {name: MISSING for name in template.names}
                    template.render(values, html=True)
                    template.render(values, html=False)
                    count += 1
    return count

for line in sys.stdin:
    job = json.loads(line)
    reset_peak()
    started = time.perf_counter()
    reply = {"name": job["name"]}
    try:
        result = load_questionnaire_text(job["text"], job["name"])
        reply["diagnostics"] = [
            [d.position.file, d.position.line, d.position.col, d.severity, d.message]
            for d in result.diagnostics
        ]
        reply["loaded"] = result.questionnaire is not None
        reply["rendered"] = render_all(result.questionnaire) if result.questionnaire else 0
    except BaseException:
        reply["traceback"] = traceback.format_exc()
    reply["seconds"] = time.perf_counter() - started
    reply["peak_rss_kib"] = peak_kib()
    print(json.dumps(reply), flush=True)
""".replace("ADDRESS_SPACE", str(ADDRESS_SPACE))


class Worker:
    """One process that loads what it is sent, one file at a time."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )

    def load(self, name: str, text: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"name": name, "text": text}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], SECONDS_PER_FILE + 20)
        if not ready:
            self.process.kill()
            pytest.fail(f"loading {name} took more than {SECONDS_PER_FILE + 20:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"the worker died loading {name} (exit code {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    started = Worker()
    yield started
    started.close()


def assert_bounded(reply: dict, text: str) -> None:
    name = reply["name"]
    assert "traceback" not in reply, reply["traceback"]
    assert reply["seconds"] < SECONDS_PER_FILE, f"{name}: {reply['seconds']:.1f} s"
    assert reply["peak_rss_kib"] < PEAK_RSS_KIB, f"{name}: {reply['peak_rss_kib']:,} KiB"
    lines = text.count("\n") + 1
    for file, line, col, severity, message in reply["diagnostics"]:
        assert file == name and 1 <= line <= lines + 1 and col >= 1, (line, col, message)
        assert severity in ("error", "warning") and message
    errors = [d for d in reply["diagnostics"] if d[3] == "error"]
    assert reply["loaded"] == (not errors)


def test_the_worker_really_is_limited() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", WORKER.split("from instrument")[0] + "b = bytearray(2**31)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0 and "MemoryError" in probe.stderr


def test_the_peak_is_the_workers_own_not_its_parents() -> None:
    """A worker started by a process holding 450 MiB reports its own peak, not its parent's."""
    job = json.dumps({"name": "mini.yaml", "text": SOURCES[0].read_text(encoding="utf-8")})
    parent = (
        "import subprocess, sys\n"
        "held = bytearray(450 * 2**20)\n"
        "for i in range(0, len(held), 4096): held[i] = 1\n"
        "done = subprocess.run([sys.executable, '-c', sys.argv[1]], input=sys.argv[2] + '\\n',"
        " capture_output=True, text=True)\n"
        "print(done.stdout, end=''); print(done.stderr, file=sys.stderr, end='')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", parent, WORKER, job],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert ran.returncode == 0, ran.stderr
    reply = json.loads(ran.stdout)
    assert reply["loaded"], reply
    assert reply["peak_rss_kib"] < 200 * 1024, f"{reply['peak_rss_kib']:,} KiB"


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_files_are_bounded(worker: Worker, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    reply = worker.load(path.name, text)
    assert_bounded(reply, text)
    assert reply["diagnostics"], "a hostile file must be answered with at least one diagnostic"


# --- hypothesis: real questionnaires with hostile pieces spliced in ------------------------

BOMB = ["b0: &b0 [x, x, x, x, x, x, x, x, x, x]"] + [
    f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 10) + "]" for i in range(1, 9)
]
ANCHORS = BOMB[:3]  # b2 repeats 1,111 nodes: within the bound, until used a hundred times
PIECES = [  # lines spliced in anywhere
    BOMB,
    ["deep: " + "[" * 400 + "]" * 400],
    ["deep: " + "{a: " * 150 + "1" + "}" * 150],
    ["- &loop [*loop]"],
    ["self: &me {a: *me}"],
    ["x: &dup 1", "y: &dup 2"],
    ["<<: 5"],
    ["<<: *nowhere"],
    ["---", "again: 1"],
]
VALUES = [  # values put in place of an existing one
    "\"{{ 'x' * 10**9 }}\"",
    '"Hi {{ ' + "(" * 300 + "1" + ")" * 300 + ' }}"',
    '"Hi {{ ' + "not " * 2000 + '1 }}"',
    '"Hi {{ 2 ** 10 ** 9 }}"',
    "\"Hi {% for a in 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{{ a * 100000 }}{% endfor %}\"",
    "\"Hi {% for a in 'xxxxxxxxxxxxxxxx' %}{% for b in 'xxxxxxxxxxxxxxxxxxxxx' %}"
    "{% for c in 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% endfor %}{% endfor %}{% endfor %}\"",
    "\"Hi {{ '%0999999999d' % 1 }} {{ 'x'|center(999999999) }}\"",
    '"' + "(" * 500 + "1 == 1" + ")" * 500 + '"',
    '"' + " or ".join(["1 == 1"] * 500) + '"',
    "!!timestamp 'nope'",
    "!!bool 'perhaps'",
    "9" * 6000,
    "*b2",
    "[" + ", ".join(["*b2"] * 100) + "]",
    "[" * 300 + "]" * 300,
]


KEYED = re.compile(r" *(- )?[a-z_]+: [^{\[]")  # a key and its plain value, not a flow mapping
WORDED = ("text", "read_out", "ivr", "hint", "instruction", "label", "title", "when", "message")


@st.composite
def spliced(draw: st.DrawFn) -> str:
    """A real questionnaire with hostile lines spliced in and hostile values put in."""
    lines = draw(st.sampled_from(SOURCES)).read_text(encoding="utf-8").splitlines()
    if draw(st.sampled_from([False, False, False, True])):  # mostly files that can load
        lines = ANCHORS + lines  # anchors for the aliases among VALUES
    for _ in range(draw(st.integers(1, 2))):
        keyed = [i for i, line in enumerate(lines) if KEYED.match(line)]
        worded = [i for i in keyed if lines[i].split(":")[0].strip(" -") in WORDED]
        how = draw(st.sampled_from(["worded", "worded", "keyed", "splice"]))
        if how != "splice" and keyed:
            at = draw(st.sampled_from(worded if how == "worded" and worded else keyed))
            key = lines[at].split(": ", 1)[0]
            lines[at] = key + ": " + draw(st.sampled_from(VALUES))
            continue
        at = draw(st.integers(0, len(lines)))
        near = lines[min(at, len(lines) - 1)]
        indent = " " * (len(near) - len(near.lstrip(" "))) if draw(st.booleans()) else ""
        lines[at:at] = [indent + line for line in draw(st.sampled_from(PIECES))]
    return "\n".join(lines) + "\n"


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=spliced())
def test_spliced_questionnaires_are_bounded(worker: Worker, text: str) -> None:
    started = time.perf_counter()
    reply = worker.load("spliced.yaml", text)
    assert_bounded(reply, text)
    assert time.perf_counter() - started < SECONDS_PER_FILE + 5
