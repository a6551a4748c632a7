"""Telephone benchmark: the call queue, the interviewer console and Twilio's callbacks under load.

    python benchmarks/phone.py [--quick] [--cases 10000] [--interviewers 50] [--database URL]

What it measures (issue 12, "Benchmark"), and why it is built this way:

* A sample of ``--cases`` flagship cases is imported with ``instrument cases
  import`` (the command operators run: numbers read with phonenumbers, names
  and numbers stored in the personal tables, each case queued with its first
  window). The numbers are Ofcom's drama ranges (020 7946 0xxx, 0113 496 0xxx,
  ...): valid UK numbers that are never assigned to anyone.
* The real app (``instrument.server.wsgi:app``) runs under gunicorn (gthread,
  2 workers x 4 threads, as the web benchmark) on PostgreSQL, with Twilio
  configured (a made-up account: no request ever leaves 127.0.0.1, calls are
  dialled by hand) so that the signed webhooks are mounted.
* ``--interviewers`` simulated interviewers, each a thread with its own
  keep-alive connection and signed-in staff session (role ``interviewer``),
  work the console as a browser without JavaScript would:
  - **next case**: press "next case" (POST, 303) and read the case screen; its
    latency is from the POST to the case screen read. Each then "dials by
    hand", opens the end-of-call page and codes "no answer", and waits a
    think time before the next case: a paced load. A **burst** (every
    interviewer pressing at the same instant) is measured apart: the worst
    case, in which 2 cores serve 50 requests at once.
  - **CATI page turns**: take a case, dial, read the script and answer every
    page (answers chosen from the page's own inputs), code the call
    "complete" and take the next case with the finished page's one button,
    as an interviewer does. A page turn is answer POST + 303 + GET of the next script page,
    as the web benchmark's is. The web mode's flagship interviews run through
    the same server right before, with as many respondents as interviewers,
    and the two rates are compared.
  - No case handed out twice: afterwards the store's attempts are read: no
    case may have two attempts (no answer rests a case 3 hours, a complete is
    final), and every attempt a client was handed must be the store's.
* **Status callbacks**: calls are opened through the store as a Twilio dialer
  would leave them (an attempt, a call and its sid), then Twilio's four
  callbacks per call are posted to ``/cati/phone/status/<call>``, signed with
  ``RequestValidator`` as Twilio signs them, a third of them sent twice (a
  retry of the same event) and some late ("ringing" after "completed").
  Afterwards the store must hold each event once and every call completed.

The study's fieldwork file used here calls every day round the clock, so the
run does not depend on the hour it is started at. Traffic goes only to
127.0.0.1; every loop is bounded. Results go to the "## Telephone" section of
docs/benchmarks.md. ``--database sqlite:///FILE`` runs the same on SQLite (the
smoke test does, with ``--quick``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import datetime as dt
import http.client
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _source_root in (ROOT, ROOT / "modes", ROOT / "plugins", ROOT / "benchmarks"):
    if str(_source_root) not in sys.path:
        sys.path.insert(0, str(_source_root))

import web_load  # the web benchmark: its client, gunicorn runner and report helpers
from web_load import Client, Form, InterviewLog, Page, UnexpectedPage

__all__ = ["PhoneResult", "check_handed", "main", "parse_args", "render", "run"]

FLAGSHIP = web_load.FLAGSHIP
QID = web_load.FLAGSHIP_ID
HOST = web_load.HOST
CONSOLE = "/cati/console"
PASSWORD = "phone-benchmark-password"
TARGETS = {"next_p99_ms": 50.0, "cati_share": 0.8, "callback_p99_ms": 50.0}
MAX_PAGES = web_load.MAX_PAGES_PER_INTERVIEW
MAX_ERRORS = 200

# Ofcom's numbers for drama (never assigned): area code + local prefix, then 3 digits.
DRAMA_RANGES = (
    "2079460", "1134960", "1144960", "1164960", "1174960", "1184960", "1214960",
    "1314960", "1414960", "1514960", "1614960", "1914980", "2896490", "2920180",
)  # fmt: skip

FIELDWORK = """\
# The phone benchmark's rules: calls at any hour, so that a run does not depend on the clock.
calling:
  hours:
    mon-sun: 00:00-24:00
  parts_of_day:
    day: 00:00-24:00
"""

TWILIO_ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "1",
    "INSTRUMENT_TWILIO_AUTH_TOKEN": "b" * 32,
    "INSTRUMENT_TWILIO_CALLER_ID": "+441134960999",
    "INSTRUMENT_PUBLIC_URL": "https://phone-benchmark.invalid",
}
"""A made-up account: the webhooks are mounted and check signatures; nothing calls Twilio."""

OTHER_CODE = "96"
NOTE_PREFIX = "note-"  # a question's note on the script screen
CALLBACK_STATUSES = ("initiated", "ringing", "in-progress", "completed")


# ---------------------------------------------------------------------------
# The study, the sample, the staff


def prepare_study(folder: Path) -> Path:
    """The flagship beside a fieldwork file of our own (the same questionnaire id)."""
    path = folder / FLAGSHIP.name
    shutil.copyfile(FLAGSHIP, path)
    (folder / f"{FLAGSHIP.stem}.fieldwork.yaml").write_text(FIELDWORK)
    return path


def fake_number(index: int) -> str:
    """The ``index``-th made-up UK number, in national form (the import reads it in GB)."""
    block, line = divmod(index, 1000)
    if block >= len(DRAMA_RANGES):
        raise ValueError(f"at most {len(DRAMA_RANGES) * 1000} made-up numbers")
    return f"0{DRAMA_RANGES[block]}{line:03d}"


def write_sample(path: Path, cases: int, seed: int) -> None:
    """A case file: id, number, name, zone, language, priority and the flagship's preloads."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["case_id", "phone", "name", "time_zone", "language", "priority",
             "profile_n_children", "profile_age_band", "profile_lone_parent"]
        )  # fmt: skip
        for i in range(cases):
            writer.writerow(
                [f"P{i:05d}", fake_number(i), f"Bench Respondent {i:05d}", "Europe/London", "en",
                 rng.choice((0, 0, 0, 1)), rng.randint(1, 3), rng.randint(1, 5), rng.randint(1, 2)]
            )  # fmt: skip


def import_sample(database_url: str, questionnaire: Path, sample: Path, jobs: int) -> float:
    """Import the case file with ``instrument cases import``; the seconds it took.

    One import stores its whole file in one transaction, so one job is what
    an operator runs; ``jobs`` above 1 splits the file and runs that many
    imports side by side (each checks its own rows; the numbers never overlap).
    """
    rows = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = rows[0], rows[1:]
    jobs = max(1, min(jobs, len(body)))
    parts = []
    for index in range(jobs):
        part = sample.with_name(f"{sample.stem}.{index}.csv")
        part.write_text(header + "".join(body[index::jobs]), encoding="utf-8")
        parts.append(part)
    started = time.monotonic()
    command = [sys.executable, "-c", "from instrument.cli import main; main()", "cases", "import"]
    path = os.pathsep.join(str(p) for p in (ROOT, ROOT / "modes", ROOT / "plugins"))
    running = [
        subprocess.Popen(
            [
                *command,
                str(part),
                "--questionnaire",
                str(questionnaire),
                "--database",
                database_url,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path},  # this tree's code, not the installed one's
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for part in parts
    ]
    failed = []
    for process in running:
        output, _ = process.communicate(timeout=3600)
        if process.returncode != 0:
            failed.append(output)
    if failed:
        raise RuntimeError(f"instrument cases import failed: {failed[0]}")
    return time.monotonic() - started


def _admin(statement: str, *params: Any) -> Any:
    """Run one statement on the local PostgreSQL server's ``postgres`` database; its first row."""
    import psycopg

    with psycopg.connect(web_load.ADMIN_URL, autocommit=True) as admin:
        cursor = admin.execute(statement, params or None)
        return cursor.fetchone() if cursor.description else None


def kept_sample(
    template: str, args: argparse.Namespace, questionnaire: Path, sample: Path
) -> float:
    """The sample imported into the PostgreSQL database ``template`` once; the import's seconds.

    The import runs when ``template`` does not exist yet; its time and size
    are kept as the database's comment, and a template of another size or
    seed is refused rather than measured.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", template):
        raise ValueError(f"--template must be a plain database name, not {template!r}")
    wanted = f"phone benchmark sample: {args.cases} cases, seed {args.seed}"
    found = _admin(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        template,
    )
    if found is None:
        _admin(f'CREATE DATABASE "{template}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{template}"
        seconds = import_sample(url, questionnaire, sample, args.import_jobs)
        comment = f"{wanted}; imported in {seconds:.1f} s by {args.import_jobs} jobs"
        _admin(f"COMMENT ON DATABASE \"{template}\" IS '{comment}'")
        return seconds
    comment = str(found[0] or "")
    if not comment.startswith(wanted + ";"):
        raise RuntimeError(f"database {template} holds another sample ({comment!r}); name another")
    return float(re.search(r"imported in ([0-9.]+) s", comment).group(1))  # type: ignore[union-attr]


@contextlib.contextmanager
def copy_of(template: str) -> Iterator[str]:
    """A new database copied from ``template`` (PostgreSQL's CREATE DATABASE ... TEMPLATE), dropped after."""
    name = f"phone_bench_{os.getpid()}_{secrets.token_hex(3)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def interviewer_names(count: int) -> list[str]:
    return [f"bench{i:03d}" for i in range(count)]


def add_staff(store: Any, names: Sequence[str]) -> None:
    """Interviewer accounts, all with one password.

    The first is made through the store; the others get a copy of its row's
    password hash, as a scrypt hash costs 128 MiB and a noticeable moment of
    CPU each: fifty of them took minutes on a busy machine, before anything
    was measured. Signing in still checks each one's password in the server.
    """
    import sqlalchemy as sa

    from instrument.store.schema import staff_users

    first = store.create_staff_user(names[0], PASSWORD, role="interviewer")
    with store.engine.begin() as connection:
        digest = connection.execute(
            sa.select(staff_users.c.password_hash).where(staff_users.c.id == first.id)
        ).scalar_one()
        now = dt.datetime.now(dt.UTC)
        for name in names[1:]:
            connection.execute(
                staff_users.insert().values(
                    username=name,
                    password_hash=digest,
                    role="interviewer",
                    created_at=now,
                    disabled=False,
                )  # fmt: skip
            )


# ---------------------------------------------------------------------------
# An interviewer at the console


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ATTEMPT = re.compile(r"/cati/console/attempt/(\d+)/")
_CASE_ID = re.compile(r"\bP\d{5}\b")


def _expect(page: Page, status: int, what: str) -> Page:
    if page.status != status:
        raise UnexpectedPage(f"{what}: HTTP {page.status} (expected {status})")
    return page


@dataclass
class Handed:
    """One case the console handed an interviewer."""

    interviewer: str
    attempt_id: int
    case_id: str


@dataclass
class Timings:
    starts: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def add(self, started: float, seconds: float) -> None:
        self.starts.append(started)
        self.durations.append(seconds)

    def within(self, start: float, end: float) -> list[float]:
        return [d for s, d in zip(self.starts, self.durations, strict=True) if start <= s < end]


class Interviewer:
    """One signed-in interviewer's browser: a keep-alive connection and its cookies."""

    def __init__(self, port: int, name: str) -> None:
        self.name = name
        self.client = Client(HOST, port)
        self.csrf = ""
        self.handed: list[Handed] = []
        self.finished: Page | None = None  # the last finished script page

    def sign_in(self) -> None:
        page = _expect(self.client.get("/staff/login"), 200, "sign-in page")
        self.csrf = _CSRF.search(page.body).group(1)  # type: ignore[union-attr]
        fields = [("csrf_token", self.csrf), ("username", self.name), ("password", PASSWORD)]
        for _ in range(20):  # at most LOGIN_HASH_SLOTS hashes at once: 503 means try again
            response = self.client.post("/staff/login", fields)
            if response.status != 503:
                break
            time.sleep(0.5)
        _expect(response, 303, f"sign-in of {self.name}")
        home = _expect(self.client.get(f"{CONSOLE}/"), 200, "console home")
        self.csrf = _CSRF.search(home.body).group(1)  # type: ignore[union-attr]

    def post(self, path: str, fields: Sequence[tuple[str, str]] = ()) -> Page:
        return self.client.post(path, [("csrf_token", self.csrf), *fields])

    def next_case(self, timings: Timings, posts: Timings | None = None) -> int | None:
        """Press "next case" and read the case screen; the attempt id, None when no case."""
        started = time.monotonic()
        t0 = time.perf_counter()
        response = self.post(f"{CONSOLE}/next")
        posted = time.perf_counter() - t0
        _expect(response, 303, "next case")
        attempt = self._shown_case(response)
        if attempt is None:
            return None  # back at the console's home: no case to call now
        timings.add(started, time.perf_counter() - t0)
        if posts is not None:
            posts.add(started, posted)
        return attempt

    def _shown_case(self, response: Page) -> int | None:
        """Follow a claim's redirect: the attempt whose case screen it shows (None: home)."""
        page = _expect(self.client.get(response.location or f"{CONSOLE}/"), 200, "case screen")
        found = _ATTEMPT.match(response.location or "")
        if found is None:
            return None
        attempt = int(found.group(1))
        case = _CASE_ID.search(page.body)
        self.handed.append(Handed(self.name, attempt, case.group(0) if case else "?"))
        return attempt

    def code_finished_and_next(self, finished: Page) -> int | None:
        """On the finished script page: "code as complete and take the next case" (one press).

        What an interviewer does at the end of a complete interview: the
        outcome is saved and the next case claimed in one request, whose
        redirect leads to the next case screen (None: no case to call now).
        """
        form = finished.form("finished-form")
        if form is None or ("outcome", "complete") not in form.hidden():
            raise UnexpectedPage("the finished page does not offer to code 'complete'")
        response = self.client.post(form.action, [*form.hidden(), ("then", "next")])
        _expect(response, 303, "coding complete and taking the next case")
        return self._shown_case(response)

    def dial_by_hand(self, attempt: int) -> None:
        response = self.post(f"{CONSOLE}/attempt/{attempt}/dial", [("rank", "1")])
        _expect(response, 303, "dial")
        _expect(self.client.get(response.location or "/"), 200, "case screen after dialling")

    def code(self, attempt: int, outcome: str) -> None:
        """Open the end-of-call page and save ``outcome``; back at the console's home."""
        end = f"{CONSOLE}/attempt/{attempt}/end"
        page = _expect(self.client.get(end), 200, "end-of-call page")
        if f'value="{outcome}"' not in page.body:
            raise UnexpectedPage(f"the end-of-call page does not offer {outcome}")
        response = self.post(end, [("outcome", outcome), ("appt_kind", "hard")])
        _expect(response, 303, f"coding {outcome}")
        _expect(self.client.get(response.location or f"{CONSOLE}/"), 200, "home after coding")

    def interview(
        self, attempt: int, rng: random.Random, log: InterviewLog, turns: Timings, stop_at: float
    ) -> bool:
        """Read the script and answer every page; True when the interview was finished."""
        script = f"{CONSOLE}/attempt/{attempt}/script"
        page = _expect(self.client.get(script), 200, "first script page")
        for _ in range(MAX_PAGES):
            if "script-form" not in page.body:
                if 'id="code-outcome"' in page.body:
                    log.complete = True
                    self.finished = page
                    return True
                raise UnexpectedPage("a script page without its form")
            form = page.form("script-form")
            assert form is not None
            if log.interview_id is None:
                log.interview_id = str(web_load.form_state_payload(dict(form.hidden())["form_state"])["i"])  # fmt: skip
            if time.monotonic() >= stop_at:
                return False
            page = self.page_turn(script, form, rng, log, turns)
        raise UnexpectedPage(f"no end of the script after {MAX_PAGES} pages")

    def page_turn(
        self, script: str, form: Form, rng: random.Random, log: InterviewLog, turns: Timings
    ) -> Page:
        fields, sent = cati_answers(form, rng)
        started = time.monotonic()
        t0 = time.perf_counter()
        response = self.client.post(script, fields)
        if response.status == 422 and 'name="warned"' in response.body:
            again = response.form("script-form")
            if again is None:
                raise UnexpectedPage("soft check page without its form")
            hidden = dict(again.hidden())
            fields = [(n, v) for n, v in fields if n not in ("action", "form_state", "warned")]
            fields += [("form_state", hidden["form_state"]), ("warned", hidden["warned"]),
                       ("action", "confirm")]  # fmt: skip
            log.warnings_confirmed += 1
            response = self.client.post(script, fields)
        if response.status != 303:
            raise UnexpectedPage(f"script answer: HTTP {response.status} (expected 303)")
        log.answers.extend(sent.items())
        log.pages += 1
        page = _expect(self.client.get(response.location or script), 200, "next script page")
        turns.add(started, time.perf_counter() - t0)
        return page


def cati_answers(form: Form, rng: random.Random) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Valid answers to a script page, chosen as the web benchmark chooses them.

    The notes under each question are left empty (an interviewer rarely
    writes one). The web marks an "other, please specify" option with the box
    it reveals, which the script screen does not (it has no JavaScript to
    reveal it with); the flagship's other options are code 96 beside a
    ``<name>_other`` box, and are marked so here, so that neither mode picks them.
    """
    names = {i.get("name") for i in form.inputs}
    inputs = []
    for item in form.inputs:
        other = f"{item.get('name')}_other"
        if item.get("value") == OTHER_CODE and other in names:
            item = {**item, "data-reveals": f"reveal-{other}"}
        inputs.append(item)
    fields, sent = web_load.choose_answers(Form(form.attrs, inputs), rng, web_load.FLAGSHIP_FIXED)
    for name in [n for n, _v in fields if n.startswith(NOTE_PREFIX)]:
        sent.pop(name, None)
    fields = [(n, "" if n.startswith(NOTE_PREFIX) else v) for n, v in fields]
    return fields, sent


# ---------------------------------------------------------------------------
# The phases: interviewers as threads


@dataclass
class Phase:
    """What one phase observed (latencies in seconds on the monotonic clock)."""

    name: str
    measure_from: float = 0.0
    measure_to: float = 0.0
    timings: Timings = field(default_factory=Timings)
    posts: Timings = field(default_factory=Timings)
    errors: list[str] = field(default_factory=list)
    logs: list[InterviewLog] = field(default_factory=list)
    no_case: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # server, postgres: whole phase
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def window(cls, name: str, *, warmup: float, seconds: float) -> Phase:
        """A phase measured from ``warmup`` seconds from now, for ``seconds``."""
        start = time.monotonic() + warmup
        return cls(name, start, start + seconds)

    def keep(self, timings: Timings, posts: Timings | None = None) -> None:
        """Add one interviewer's timings (called from its thread)."""
        with self.lock:
            self.timings.starts += timings.starts
            self.timings.durations += timings.durations
            if posts is not None:
                self.posts.starts += posts.starts
                self.posts.durations += posts.durations

    def cpu_ms_per_turn(self, who: str) -> float:
        """CPU milliseconds ``who`` spent over the whole phase per timed turn of the phase."""
        turns = len(self.timings.durations)
        return self.cpu_seconds.get(who, 0.0) * 1000 / turns if turns else float("nan")

    def measured(self) -> list[float]:
        return self.timings.within(self.measure_from, self.measure_to)

    def rate(self) -> float:
        window = self.measure_to - self.measure_from
        return len(self.measured()) / window if window > 0 else 0.0

    def ms(self, q: float, values: Sequence[float] | None = None) -> float:
        return percentile_ms(self.measured() if values is None else values, q)


def percentile_ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, -(-int(q * len(ordered) * 1000) // 1000) - 1))
    return ordered[index] * 1000


_ERRORS = (UnexpectedPage, OSError, http.client.HTTPException, KeyError, ValueError)


def _run_threads(phase: Phase, people: Sequence[Any], work: Any, limit: float) -> None:
    """Run ``work(person, index)`` on a thread per person; errors are collected, bounded."""
    lock = threading.Lock()

    def body(index: int, person: Any) -> None:
        try:
            work(person, index)
        except _ERRORS as exc:
            with lock:
                phase.errors.append(f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=body, args=(i, p), daemon=True) for i, p in enumerate(people)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, limit - time.monotonic()) + 120)
    if any(t.is_alive() for t in threads):
        phase.errors.append("interviewer threads did not stop in time")


def paced_next_case(
    people: Sequence[Interviewer], *, seconds: float, warmup: float, think: float, seed: int
) -> Phase:
    """Each interviewer: next case, dial by hand, code "no answer", think; until the time is up."""
    phase = Phase.window("next case, paced", warmup=warmup, seconds=seconds)
    stop_at = phase.measure_to

    def work(person: Interviewer, index: int) -> None:
        rng = random.Random(seed * 7919 + index)
        timings, posts, empty = Timings(), Timings(), 0
        time.sleep(rng.uniform(0, think))  # interviewers do not all start at one instant
        try:
            while time.monotonic() < stop_at and len(phase.errors) < MAX_ERRORS:
                attempt = person.next_case(timings, posts)
                if attempt is None:
                    empty += 1
                else:
                    person.dial_by_hand(attempt)
                    person.code(attempt, "no_answer")
                time.sleep(rng.uniform(0.5, 1.5) * think)
        finally:
            phase.keep(timings, posts)
            with phase.lock:
                phase.no_case += empty

    _run_threads(phase, people, work, stop_at)
    return phase


def burst_next_case(people: Sequence[Interviewer], *, rounds: int) -> Phase:
    """Every interviewer presses "next case" at the same instant, ``rounds`` times."""
    phase = Phase("next case, burst", time.monotonic())
    barrier = threading.Barrier(len(people), timeout=120)

    def work(person: Interviewer, _index: int) -> None:
        timings, posts = Timings(), Timings()
        try:
            for _ in range(rounds):
                barrier.wait()
                attempt = person.next_case(timings, posts)
                if attempt is not None:
                    person.dial_by_hand(attempt)
                    person.code(attempt, "no_answer")
        except threading.BrokenBarrierError:
            pass  # another interviewer failed; its error is reported
        except _ERRORS:
            barrier.abort()
            raise
        finally:
            phase.keep(timings, posts)

    _run_threads(phase, people, work, time.monotonic() + 60 * rounds)
    phase.measure_to = time.monotonic() + 1
    return phase


def cati_interviews(
    people: Sequence[Interviewer], *, seconds: float, warmup: float, seed: int, finish: bool = False
) -> Phase:
    """Each interviewer: next case, dial, the whole script, code "complete"; until time is up.

    With ``finish`` an interview under way when the time is up is finished
    and coded (its later page turns are not measured).
    """
    phase = Phase.window("cati", warmup=warmup, seconds=seconds)
    stop_at = phase.measure_to

    def work(person: Interviewer, index: int) -> None:
        rng = random.Random(seed * 104729 + index)
        turns, logs = Timings(), []
        attempt: int | None = None  # the case the last coding took, if any
        try:
            while time.monotonic() < stop_at and len(phase.errors) < MAX_ERRORS:
                if attempt is None:
                    attempt = person.next_case(Timings())
                if attempt is None:
                    with phase.lock:
                        phase.no_case += 1
                    time.sleep(0.5)
                    continue
                person.dial_by_hand(attempt)
                log = InterviewLog()
                logs.append(log)
                until = float("inf") if finish else stop_at
                if not person.interview(attempt, rng, log, turns, until):
                    break  # time is up mid-interview: the case stays held, as a real shift's end
                assert person.finished is not None
                if time.monotonic() < stop_at:
                    attempt = person.code_finished_and_next(person.finished)
                else:  # time is up: code it and take nothing more
                    person.code(attempt, "complete")
        finally:
            phase.keep(turns)
            with phase.lock:
                phase.logs += logs

    _run_threads(phase, people, work, stop_at)
    return phase


def web_interviews(
    port: int,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    seed: int,
    interviews: int | None = None,
) -> Phase:
    """The web benchmark's flagship respondents, through the same server (see web_load.run_load).

    With ``interviews``, that many are completed however long it takes (a smoke run).
    """
    result = web_load.run_load(
        port, flow="flagship", seconds=seconds, concurrency=concurrency, warmup=warmup,
        seed=seed, interviews=interviews,
    )  # fmt: skip
    phase = Phase("web", result.measure_from, result.measure_to)
    phase.timings = Timings(list(result.turn_starts), list(result.turn_durations))
    phase.errors = list(result.errors)
    phase.logs = list(result.interviews)
    return phase


# ---------------------------------------------------------------------------
# Twilio's status callbacks


@dataclass
class CallbackRun:
    phase: Phase
    calls: int = 0
    sent: int = 0
    retries: int = 0
    late: int = 0
    distinct: int = 0
    stored: int = 0
    completed: int = 0
    sids: list[str] = field(default_factory=list)


def open_twilio_calls(store: Any, count: int) -> list[tuple[int, str]]:
    """``count`` calls as the console leaves them after Twilio accepted a bridge: (call id, sid)."""
    now = dt.datetime.now(dt.UTC)
    opened = []
    for index in range(count):
        claim = store.claim_next_case(f"twilio{index:04d}", now=now)
        if claim is None:
            break
        call_id = store.start_call(claim.attempt_id, number_rank=1, provider="twilio", now=now)
        sid = "CA" + secrets.token_hex(16)
        store.set_call_sid(call_id, sid)
        opened.append((call_id, sid))
    return opened


def callback_plan(
    calls: Sequence[tuple[int, str]], seed: int
) -> tuple[list[tuple[int, dict[str, str]]], int, int]:
    """Each call's four callbacks in Twilio's order; a third sent again, some "ringing" late.

    Returns the requests (call id, form), how many are retries and how many late.
    """
    rng = random.Random(seed)
    plan: list[tuple[int, dict[str, str]]] = []
    retries = late = 0
    base = dt.datetime.now(dt.UTC)
    for call_id, sid in calls:
        forms = []
        for sequence, status in enumerate(CALLBACK_STATUSES):
            at = base + dt.timedelta(seconds=sequence * 5)
            form = {
                "AccountSid": TWILIO_ENV["INSTRUMENT_TWILIO_ACCOUNT_SID"], "ApiVersion": "2010-04-01",
                "CallSid": sid, "CallStatus": status, "Direction": "outbound-api",
                "From": TWILIO_ENV["INSTRUMENT_TWILIO_CALLER_ID"], "To": "+441134960998",
                "SequenceNumber": str(sequence), "CallbackSource": "call-progress-events",
                "Timestamp": at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            }  # fmt: skip
            if status == "completed":
                form["CallDuration"] = form["Duration"] = "42"
            forms.append(form)
        if rng.random() < 0.25:  # "ringing" arrives after "completed"
            forms.append(forms.pop(1))
            late += 1
        for form in list(forms):
            if rng.random() < 1 / 3:  # Twilio did not get our answer in time: the same event again
                forms.insert(rng.randint(forms.index(form) + 1, len(forms)), form)
                retries += 1
        plan += [(call_id, form) for form in forms]
    return plan, retries, late


def send_callbacks(port: int, plan: Sequence[tuple[int, dict[str, str]]], *, senders: int) -> Phase:
    """Post the plan with ``senders`` connections, each request signed as Twilio signs it."""
    from twilio.request_validator import RequestValidator

    from instrument_phone.telephony.dialer import status_path

    validator = RequestValidator(TWILIO_ENV["INSTRUMENT_TWILIO_AUTH_TOKEN"])
    public = TWILIO_ENV["INSTRUMENT_PUBLIC_URL"]
    phase = Phase("status callbacks", time.monotonic())
    # Calls are dealt to senders whole, so one call's callbacks keep their planned order.
    by_call: dict[int, list[dict[str, str]]] = collections.defaultdict(list)
    for call_id, form in plan:
        by_call[call_id].append(form)
    shares: list[list[tuple[int, dict[str, str]]]] = [[] for _ in range(senders)]
    for index, (call_id, forms) in enumerate(by_call.items()):
        shares[index % senders] += [(call_id, f) for f in forms]

    def work(share: list[tuple[int, dict[str, str]]], _index: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        timings = Timings()
        try:
            for call_id, form in share:
                path = status_path(call_id)  # /cati/phone/status/<call>
                body = urllib.parse.urlencode(form)
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": validator.compute_signature(public + path, form),
                    "User-Agent": "TwilioProxy/1.1 (phone benchmark)",
                }
                started = time.monotonic()
                t0 = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                timings.add(started, time.perf_counter() - t0)
                if response.status != 204:
                    raise UnexpectedPage(f"status callback: HTTP {response.status} (expected 204)")
        finally:
            conn.close()
            phase.keep(timings)

    _run_threads(phase, shares, work, time.monotonic() + 600)
    phase.measure_to = time.monotonic() + 1
    return phase


def check_callbacks(
    store: Any, run: CallbackRun, plan: Sequence[tuple[int, dict[str, str]]]
) -> None:
    import sqlalchemy as sa

    run.distinct = len({(f["CallSid"], f["CallStatus"], f["SequenceNumber"]) for _c, f in plan})
    with store.engine.connect() as connection:
        run.stored = connection.execute(
            sa.text("SELECT COUNT(*) FROM call_events WHERE provider_sid LIKE 'CA%'")
        ).scalar_one()
        run.completed = connection.execute(
            sa.text("SELECT COUNT(*) FROM calls WHERE provider = 'twilio' AND status = 'completed'")
        ).scalar_one()


# ---------------------------------------------------------------------------
# No case handed out twice


@dataclass
class HandedCheck:
    attempts: int = 0
    cases: int = 0
    twice: int = 0  # cases with more than one attempt
    overlapping: int = 0  # cases held by two attempts at one time
    unknown: int = 0  # attempts a client was handed that the store does not have for them
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.twice or self.overlapping or self.unknown)


def check_handed(store: Any, handed: Sequence[Handed]) -> HandedCheck:
    """Every case's attempts from the store, against what the clients were handed."""
    import sqlalchemy as sa

    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, case_id, interviewer, started_at, ended_at FROM attempts")
        ).all()
    check = HandedCheck(attempts=len(rows))
    by_case: dict[str, list[Any]] = collections.defaultdict(list)
    for row in rows:
        by_case[row.case_id].append(row)
    check.cases = len(by_case)
    for case_id, found in by_case.items():
        if len(found) > 1:
            check.twice += 1
            spans = sorted((r.started_at, r.ended_at or dt.datetime.max) for r in found)
            if any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1)):
                check.overlapping += 1
            if len(check.problems) < 5:
                check.problems.append(f"{case_id}: attempts {[r.id for r in found]}")
    by_id = {row.id: row for row in rows}
    for item in {(h.attempt_id, h.interviewer, h.case_id) for h in handed}:
        row = by_id.get(item[0])
        if row is None or row.interviewer != item[1] or row.case_id != item[2]:
            check.unknown += 1
    return check


# ---------------------------------------------------------------------------
# What each request costs, one at a time


def request_costs(url: str, questionnaire: Path, cycles: int) -> dict[str, dict[str, float]]:
    """Median time, SQL statements and transactions of each kind of console and web request.

    The app runs in this process on the same database (Flask's test client,
    one request at a time, no HTTP server), after the load phases: the
    figures say what a request asks of the database, which the load
    phases' latencies cannot separate from queueing on a busy machine.
    """
    import statistics

    import sqlalchemy as sa
    from werkzeug.datastructures import MultiDict

    from instrument.server.app import create_app, get_host

    app = create_app({"DATABASE_URL": url, "QUESTIONNAIRES": [str(questionnaire)],
                      "SECRET_KEY": secrets.token_hex(32), "START_ATTEMPTS": 10**9})  # fmt: skip
    store = get_host(app).store
    counts: collections.Counter[str] = collections.Counter()
    sa.event.listen(store.engine, "before_cursor_execute", lambda *_a: counts.update(["sql"]))
    sa.event.listen(store.engine.pool, "checkout", lambda *_a: counts.update(["tx"]))
    seen: dict[str, list[tuple[float, int, int]]] = collections.defaultdict(list)
    rng = random.Random(5)
    browser: list[Any] = [None]  # the test client the next request goes through

    def timed(kind: str, method: str, path: str, fields: Any = None) -> Page:
        counts.clear()
        t0 = time.perf_counter()
        response = browser[0].open(path, method=method, data=MultiDict(fields or []))
        seen[kind].append(((time.perf_counter() - t0) * 1000, counts["sql"], counts["tx"]))
        body = response.get_data(as_text=True)
        return Page(response.status_code, body, response.headers.get("Location"))

    try:
        store.create_staff_user("profiler", PASSWORD, role="interviewer")
        client = app.test_client()
        browser[0] = client
        login = client.get("/staff/login").get_data(as_text=True)
        csrf = _CSRF.search(login).group(1)  # type: ignore[union-attr]
        fields = {"csrf_token": csrf, "username": "profiler", "password": PASSWORD}
        client.post("/staff/login", data=fields)
        for _ in range(cycles):
            taken = timed(
                "console: next case (POST)", "POST", f"{CONSOLE}/next", [("csrf_token", csrf)]
            )
            case = taken.location or ""
            if _ATTEMPT.match(case) is None:
                break  # no case left to call
            timed("console: case screen (GET)", "GET", case)
            timed(
                "console: dial by hand (POST)",
                "POST",
                f"{case}dial",
                [("csrf_token", csrf), ("rank", "1")],
            )
            page = timed("console: script page (GET)", "GET", f"{case}script")
            for _turn in range(3):
                form = page.form("script-form")
                if form is None:
                    break
                answers, _sent = cati_answers(form, rng)
                posted = timed("console: script answer (POST)", "POST", f"{case}script", answers)
                if posted.status != 303:
                    break
                page = timed("console: script page (GET)", "GET", f"{case}script")
            end = timed("console: end-of-call page (GET)", "GET", f"{case}end")
            outcome = "break_off" if 'value="break_off"' in end.body else "no_answer"
            timed("console: code the outcome (POST)", "POST", f"{case}end",
                  [("csrf_token", csrf), ("outcome", outcome)])  # fmt: skip
        for _ in range(cycles):
            browser[0] = app.test_client()  # a new respondent's browser
            opening = timed("web: open link (GET)", "GET", f"/web/{QID}/")
            start = next(f for f in opening.forms if f.action.endswith("/start"))
            started = timed("web: start (POST)", "POST", start.action, start.hidden())
            page = timed("web: question page (GET)", "GET", started.location or f"/web/{QID}/")
            for _turn in range(3):
                form = page.form("question-form")
                if form is None:
                    break
                answers, _sent = web_load.choose_answers(form, rng, web_load.FLAGSHIP_FIXED)
                posted = timed("web: answer (POST)", "POST", form.action, answers)
                if posted.status != 303:
                    break
                page = timed("web: question page (GET)", "GET", posted.location or "/")
    finally:
        store.close()
    return {
        kind: {
            "ms": statistics.median(v[0] for v in values),
            "sql": statistics.mean(v[1] for v in values),
            "tx": statistics.mean(v[2] for v in values),
            "n": len(values),
        }
        for kind, values in seen.items()
    }


# ---------------------------------------------------------------------------
# The run


def with_cpu(server_pid: int, measure: Any) -> Phase:
    """Run ``measure()`` and record the CPU seconds the server and PostgreSQL spent meanwhile.

    Unlike rates and latencies, CPU per page turn hardly changes with other
    work on a shared machine, so the two modes can be compared by it too.
    """
    before = web_load.cpu_snapshot()
    phase: Phase = measure()
    after = web_load.cpu_snapshot()
    split = web_load.cpu_split(before, after, server=server_pid, generators=[])
    window = after.at - before.at
    phase.cpu_seconds = {who: split[who] * window for who in ("server", "postgres")}
    return phase


@dataclass
class PhoneResult:
    """Everything one run observed, for the report."""

    database: str
    cases: int
    interviewers: int
    import_seconds: float
    think: float
    paced: Phase
    burst: Phase
    web: list[Phase]
    cati: list[Phase]
    callbacks: CallbackRun
    handed: HandedCheck
    answers: web_load.AnswerCheck
    web_answers: web_load.AnswerCheck
    backend: str = "PostgreSQL"
    console: bool = True
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    renewed: int = 0  # windows that had ended since the import, renewed before the phases

    @property
    def errors(self) -> list[str]:
        phases = [self.paced, self.burst, *self.web, *self.cati, self.callbacks.phase]
        return [e for p in phases for e in p.errors]

    def turns(self, phases: Sequence[Phase]) -> tuple[float, list[float]]:
        """(page turns per second over all rounds, the measured turn latencies)."""
        measured = [d for p in phases for d in p.measured()]
        window = sum(p.measure_to - p.measure_from for p in phases)
        return (len(measured) / window if window > 0 else 0.0), measured


def console_served(port: int) -> bool:
    """Whether the server has the interviewer console (it sends a stranger to sign in)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", f"{CONSOLE}/")
        return conn.getresponse().status in (302, 303)
    finally:
        conn.close()


class ServiceInterviewer:
    """An interviewer calling the call-queue service in this process (no console to press).

    Used only when the server has no interviewer console: "next case" is then
    timed as :meth:`CallQueue.next_case` on the same database, without HTTP.
    """

    def __init__(self, queue: Any, name: str) -> None:
        self.queue, self.name = queue, name
        self.handed: list[Handed] = []

    def next_case(self, timings: Timings, posts: Timings | None = None) -> int | None:
        from instrument.callqueue import Claimed

        started = time.monotonic()
        t0 = time.perf_counter()
        taken = self.queue.next_case(self.name, now=dt.datetime.now(dt.UTC))
        elapsed = time.perf_counter() - t0
        if not isinstance(taken, Claimed):
            return None
        timings.add(started, elapsed)
        if posts is not None:
            posts.add(started, elapsed)
        self.handed.append(Handed(self.name, taken.attempt_id, taken.case_id))
        return int(taken.attempt_id)

    def dial_by_hand(self, attempt: int) -> None:
        self.queue.place_call(attempt, 1, dialer=None, now=dt.datetime.now(dt.UTC))

    def code(self, attempt: int, outcome: str) -> None:
        self.queue.code_outcome(
            attempt, disposition=outcome, actor=self.name, now=dt.datetime.now(dt.UTC)
        )


def service_queue(store: Any, questionnaire: Path) -> Any:
    """The call-queue service over ``store``, as the console builds it."""
    from instrument.callqueue import CallQueue
    from instrument.fieldwork.settings import settings_for
    from instrument.interviews import InterviewService, Surveys
    from instrument.questionnaires import require

    surveys = Surveys.serve(store, [require(questionnaire)])
    fieldwork, _diagnostics = settings_for(questionnaire)
    return CallQueue(store, InterviewService(store, surveys), lambda _qid: fieldwork)


def catch_up_windows(store: Any, questionnaire: Path) -> int:
    """Renew every window that ended since the sample was imported; how many were renewed.

    The fieldwork file calls round the clock, so each case's first window ends
    at the next midnight. A template imported before midnight and copied after
    it would otherwise have all its windows renewed by the server's sweeps
    during the measured phases (in batches, on the request path), which a
    study's fieldwork worker does overnight: measured once, that moved the
    paced p99 from 24 to 158 ms. The renewals are the call queue's own.
    """
    from instrument.callqueue.scheduling import RENEW_BATCH

    queue = service_queue(store, questionnaire)
    now = dt.datetime.now(dt.UTC)
    total = 0
    while True:
        renewed = len(queue.renew_ended_windows(now))
        total += renewed
        if renewed < RENEW_BATCH:
            break
    if total and store.dialect == "postgresql":
        import psycopg

        # Every queue row was just rewritten: vacuum and analyse now, as autovacuum would
        # soon, rather than have it run during the measured phases.
        url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE case_queue")
    return total


def run(args: argparse.Namespace) -> PhoneResult:
    """Set everything up, run the phases in order, check the store; nothing is written to docs."""
    from instrument.store import open_store

    secret = secrets.token_hex(32)
    names = interviewer_names(args.interviewers)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="phone_bench_")))
        questionnaire = prepare_study(folder)
        sample = folder / "sample.csv"
        write_sample(sample, args.cases, args.seed)
        print(f"importing {args.cases:,} cases ...", flush=True)
        if args.template:
            import_seconds = kept_sample(args.template, args, questionnaire, sample)
            url = stack.enter_context(copy_of(args.template))
        else:
            url = args.database or stack.enter_context(web_load.fresh_database(None))
            jobs = 1 if url.startswith("sqlite") else args.import_jobs
            import_seconds = import_sample(url, questionnaire, sample, jobs)
        print(f"database: {url}; the import took {import_seconds:.1f} s", flush=True)
        # migrated: a template kept from an earlier version of the schema is brought up to date
        store = stack.enter_context(contextlib.closing(open_store(url)))
        add_staff(store, names)
        renewed = catch_up_windows(store, questionnaire)
        if renewed:
            print(
                f"{renewed:,} windows that ended since the sample was imported renewed", flush=True
            )
        env = {
            "INSTRUMENT_QUESTIONNAIRES": str(questionnaire),
            "INSTRUMENT_DATABASE_URL": url,
            "INSTRUMENT_SECRET_KEY": secret,
            "INSTRUMENT_START_ATTEMPTS": str(10**9),  # every web respondent is this machine
            **TWILIO_ENV,
        }
        settings = web_load.ServerSettings("gthread", workers=args.workers, threads=args.threads)
        port, pid = stack.enter_context(
            web_load.gunicorn("instrument.server.wsgi:app", settings, env)
        )
        console = console_served(port) and not args.service
        people: list[Any]
        if console:
            people = [Interviewer(port, name) for name in names]
            signing = Phase("sign-in")
            slots = threading.Semaphore(2 * args.workers)  # the server hashes 2 at once a worker

            def sign_in(person: Interviewer, _index: int) -> None:
                with slots:  # more at once only queue in the server, past the client's timeout
                    person.sign_in()

            _run_threads(signing, people, sign_in, time.monotonic() + 600)
            if signing.errors:
                raise RuntimeError(f"interviewers could not sign in: {signing.errors[0]}")
            print(f"{len(people)} interviewers signed in", flush=True)
        else:
            queue = service_queue(store, questionnaire)
            people = [ServiceInterviewer(queue, name) for name in names]
            print("no interviewer console: next case through the call-queue service", flush=True)
        paced = with_cpu(pid, lambda: paced_next_case(
            people, seconds=args.seconds, warmup=args.warmup, think=args.think, seed=args.seed))  # fmt: skip
        print(_line(paced), flush=True)
        burst = burst_next_case(people, rounds=args.bursts)
        print(_line(burst), flush=True)
        web: list[Phase] = []
        cati: list[Phase] = []
        for round_ in range(args.rounds if console else 0):
            seed = args.seed * 10 + round_
            web.append(with_cpu(pid, lambda seed=seed: web_interviews(
                port, concurrency=len(people), seconds=args.seconds, warmup=args.warmup, seed=seed,
                interviews=len(people) if args.quick else None)))  # fmt: skip
            print(_line(web[-1]), flush=True)
            cati.append(with_cpu(pid, lambda seed=seed: cati_interviews(
                people, seconds=args.seconds, warmup=args.warmup, seed=seed,
                finish=args.quick)))  # fmt: skip
            print(_line(cati[-1]), flush=True)
        calls = open_twilio_calls(store, args.calls)
        plan, retries, late = callback_plan(calls, args.seed)
        phase = with_cpu(pid, lambda: send_callbacks(port, plan, senders=args.senders))
        callbacks = CallbackRun(phase, len(calls), len(plan), retries, late)
        print(_line(phase), flush=True)
        for person in people:
            if isinstance(person, Interviewer):
                person.client.close()
        check_callbacks(store, callbacks, plan)
        handed = check_handed(store, [h for p in people for h in p.handed])
        answers = web_load.check_store_answers(store, [log for p in cati for log in p.logs])
        web_answers = web_load.check_store_answers(store, [log for p in web for log in p.logs])
        costs = request_costs(url, questionnaire, args.cost_cycles) if console else {}
        return PhoneResult(
            url if args.database else "a fresh PostgreSQL database (dropped afterwards)",
            args.cases, len(people), import_seconds, args.think, paced, burst, web, cati,
            callbacks, handed, answers, web_answers,
            "SQLite" if url.startswith("sqlite") else "PostgreSQL", console, costs, renewed,
        )  # fmt: skip


def _line(phase: Phase) -> str:
    return (
        f"{phase.name:18} {len(phase.measured()):6} measured  {phase.rate():7.1f}/s  "
        f"p50 {phase.ms(0.5):6.1f} ms  p99 {phase.ms(0.99):6.1f} ms  errors {len(phase.errors)}"
        + (f"  first: {phase.errors[0]}" if phase.errors else "")
    )


# ---------------------------------------------------------------------------
# Report


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(
    result: PhoneResult,
    command: str,
    started: dt.datetime,
    load: Sequence[float],
    args: argparse.Namespace,
) -> str:
    """The "## Telephone" section of docs/benchmarks.md."""
    m = web_load.machine()
    who = (
        f"{result.interviewers} interviewers signed in to the console, each a thread with its own "
        "keep-alive connection and staff session"
        if result.console
        else f"{result.interviewers} interviewers as threads calling the call-queue service "
        "(`CallQueue`) in the benchmark's process: the interviewer console is not served yet"
    )
    lines = [
        "## Telephone",
        "",
        (
            f"`{command}`, {started:%Y-%m-%d %H:%M} UTC, on {m['cpu']}, {m['cores']} cores, "
            f"Python {m['python']}, {m['kernel']}; load average at start "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)."
        ),
        "",
        (
            f"{result.cases:,} flagship cases imported with `instrument cases import` "
            f"({result.import_seconds:.0f} s{_import_how(args)}; made-up numbers from Ofcom's drama "
            f"ranges); {who}; "
            f"gunicorn (gthread, {args.workers} workers x {args.threads} threads) on {result.backend}, "
            "Twilio configured (signed webhooks; calls dialled by hand). Phases run one after another "
            f"on the same server; {args.seconds:g} s measured after {args.warmup:g} s warm-up each."
        ),
        "",
        "| measure | target | result | met? |",
        "|---|---|---|---|",
        *_next_case_rows(result, args),
        *_page_turn_rows(result, args),
        *_callback_rows(result, args),
        f"| Errors (unexpected status or page) | 0 | {len(result.errors)} | {_yes(not result.errors)} |",
        "",
        *_notes(result),
        *_cost_table(result),
    ]
    return "\n".join(lines) + "\n"


def _cost_table(result: PhoneResult) -> list[str]:
    if not result.costs:
        return []
    cycles = int(result.costs.get("console: next case (POST)", {}).get("n", 0))
    lines = [
        "",
        (
            f"What each kind of request asks of the database, measured afterwards on the same "
            f"database with the app in the benchmark's process, one request at a time ({cycles} cases "
            "taken, dialled, three script pages answered and coded; as many web interviews started "
            "and three pages answered). Times are medians and include the machine's other load; "
            "statements and transactions (connection check-outs) do not depend on it"
            + (
                ". Statements are counted as SQLAlchemy sends them: on PostgreSQL the web's page "
                "show and answer send their one statement each through psycopg itself "
                "(instrument/store/pg_direct.py), seen here only as a transaction:"
                if result.backend == "PostgreSQL"
                else ":"
            )
        ),
        "",
        "| request | median | SQL statements | transactions |",
        "|---|---:|---:|---:|",
    ]
    for kind, cost in result.costs.items():
        lines.append(f"| {kind} | {cost['ms']:.1f} ms | {cost['sql']:.1f} | {cost['tx']:.1f} |")
    return lines


def _import_how(args: argparse.Namespace) -> str:
    if args.database and args.database.startswith("sqlite"):
        return ""
    how = (
        ", one import of the whole file"
        if args.import_jobs == 1
        else f", {args.import_jobs} imports of a part each side by side"
    )
    if args.template:
        how += f"; imported once into database `{args.template}`, which the run copied"
    return how


def _next_case_rows(result: PhoneResult, args: argparse.Namespace) -> list[str]:
    paced, burst, handed = result.paced, result.burst, result.handed
    window = paced.measure_to - paced.measure_from
    rate = len(paced.measured()) / window if window else 0.0
    p99, burst_p99 = paced.ms(0.99), burst.ms(0.99)
    how = "POST, 303, case screen read" if result.console else "`CallQueue.next_case`, no HTTP"
    rows = [
        (
            f"| Next case ({how}), paced: {result.interviewers} interviewers, each next case, dial, "
            f"code the outcome, think {args.think:g} s ± 50%; {rate:.1f} next cases/s: p50 / p99 "
            f"| p99 ≤ 50 ms | {paced.ms(0.5):.1f} / {p99:.1f} ms | {_yes(p99 <= TARGETS['next_p99_ms'])} |"
        )
    ]
    if result.console:
        posts = paced.posts.within(paced.measure_from, paced.measure_to)
        post_p99 = percentile_ms(posts, 0.99)
        rows.append(
            f"| of which the POST alone (the claim, answered with a redirect to the case screen): "
            f"p50 / p99 | (p99 ≤ 50 ms) | {percentile_ms(posts, 0.5):.1f} / {post_p99:.1f} ms | "
            f"{_yes(post_p99 <= TARGETS['next_p99_ms'])} |"
        )
    if result.console:
        rows.append(
            f"| Server CPU per interviewer's case in the paced phase (next case, case screen, dial, "
            f"end-of-call page, coding: 5 requests and 3 redirects read) | - | "
            f"{paced.cpu_ms_per_turn('server'):.1f} ms{_pg(result, paced)} | - |"
        )
    rows += [
        (
            f"| Next case, burst: all {result.interviewers} press at the same instant, {args.bursts} "
            f"rounds ({len(burst.measured())} presses): p50 / p99 | (p99 ≤ 50 ms) | "
            f"{burst.ms(0.5):.1f} / {burst_p99:.1f} ms | {_yes(burst_p99 <= TARGETS['next_p99_ms'])} |"
        ),
        (
            f"| No case handed out twice (store afterwards: {handed.attempts:,} attempts on "
            f"{handed.cases:,} cases) | 0 | {handed.twice} cases with two attempts, "
            f"{handed.overlapping} held twice at once, {handed.unknown} handed attempts the store "
            f"does not match | {_yes(handed.ok)} |"
        ),
    ]
    return rows


def _page_turn_rows(result: PhoneResult, args: argparse.Namespace) -> list[str]:
    if not result.console:
        return [
            "| CATI page turns per second beside the web's | ≥ 80% of web | not measured: no console | - |"
        ]
    web_rate, web_turns = result.turns(result.web)
    cati_rate, cati_turns = result.turns(result.cati)
    share = cati_rate / web_rate if web_rate else 0.0
    a, w = result.answers, result.web_answers
    return [
        (
            f"| CATI page turns per second ({result.interviewers} interviewers) beside the web's "
            f"({result.interviewers} respondents), {args.rounds} round(s) each | ≥ 80% of web | "
            f"{cati_rate:,.1f}/s vs {web_rate:,.1f}/s: {share:.0%} | {_yes(share >= TARGETS['cati_share'])} |"
        ),
        (
            f"| Server CPU per page turn, every request of the phase counted (CATI; web; load on the "
            f"machine barely moves it) | - | {_cpu(result.cati, 'server'):.1f} ms; "
            f"{_cpu(result.web, 'server'):.1f} ms; web / CATI "
            f"{_cpu(result.web, 'server') / _cpu(result.cati, 'server'):.0%} | - |"
        ),
        (
            f"| Page turn latency p50 / p99: CATI; web | - | {percentile_ms(cati_turns, 0.5):.1f} / "
            f"{percentile_ms(cati_turns, 0.99):.1f} ms; {percentile_ms(web_turns, 0.5):.1f} / "
            f"{percentile_ms(web_turns, 0.99):.1f} ms | - |"
        ),
        (
            f"| Answers lost or doubled (CATI: {a.answers_sent:,} sent in {a.interviews:,} interviews; "
            f"web: {w.answers_sent:,} in {w.interviews:,}) | 0 | CATI {a.lost} lost, {a.extra} extra; "
            f"web {w.lost} lost, {w.extra} extra | {_yes(a.ok and w.ok)} |"
        ),
    ]


def _pg(result: PhoneResult, phase: Phase) -> str:
    """PostgreSQL's CPU beside the server's (every postgres process: other databases too)."""
    if result.backend != "PostgreSQL":
        return ""
    return f" (all PostgreSQL processes: {phase.cpu_ms_per_turn('postgres'):.1f} ms)"


def _cpu(phases: Sequence[Phase], who: str) -> float:
    """CPU ms of ``who`` per page turn over all rounds of a mode."""
    turns = sum(len(p.timings.durations) for p in phases)
    seconds = sum(p.cpu_seconds.get(who, 0.0) for p in phases)
    return seconds * 1000 / turns if turns else float("nan")


def _callback_rows(result: PhoneResult, args: argparse.Namespace) -> list[str]:
    cb = result.callbacks
    p99 = cb.phase.ms(0.99)
    once = cb.stored == cb.distinct and cb.completed == cb.calls
    return [
        (
            f"| Signed status callback ({cb.sent:,} posts for {cb.calls:,} calls by {args.senders} "
            f"senders, {cb.retries:,} of them retries of an event, {cb.late} late 'ringing'): p50 / p99 "
            f"| p99 ≤ 50 ms | {cb.phase.ms(0.5):.1f} / {p99:.1f} ms | {_yes(p99 <= TARGETS['callback_p99_ms'])} |"
        ),
        (
            f"| Server CPU per status callback | - | "
            f"{cb.phase.cpu_ms_per_turn('server'):.1f} ms{_pg(result, cb.phase)} | - |"
        ),
        (
            f"| Callbacks stored once each, calls completed | {cb.distinct:,} events, {cb.calls:,} calls "
            f"| {cb.stored:,} events, {cb.completed:,} calls | {_yes(once)} |"
        ),
    ]


def _notes(result: PhoneResult) -> list[str]:
    paced = result.paced
    notes = [
        (
            f"- Paced next case: {len(paced.measured()):,} presses measured, {paced.no_case} found no "
            "case; each interviewer then dials by hand and codes 'no answer' "
            + (
                "(the dial POST and case screen, the end-of-call page and its POST)"
                if result.console
                else "(`place_call` and `code_outcome`)"
            )
            + ", which rests the case 3 hours."
            + (
                f" Before the phases, {result.renewed:,} windows that had ended since the sample "
                "was imported were renewed through the call queue, as a study's fieldwork worker "
                "does overnight (otherwise the server's sweeps renew them during the phases), and "
                "the queue's table vacuumed and analysed (as autovacuum would soon after)."
                if result.renewed
                else ""
            )
        )
    ]
    if result.console:
        done = [log.pages for p in result.cati for log in p.logs if log.complete]
        taken = sum(len(p.logs) for p in result.cati)
        notes.append(
            f"- CATI: {taken:,} cases taken for an interview, {len(done):,} of them finished in the time "
            f"and coded 'complete'"
            + (f" ({sum(done) / len(done):.1f} page turns each)" if done else "")
            + "; besides its page turns an interview "
            "costs a claim and its case screen, a dial and the case screen again, which the web's "
            "interviews do not (they cost an open link and a start). A finished interview is coded "
            'as an interviewer codes one: "code as complete and take the next case" on the '
            "finished page (one POST that codes the call and claims the next case; the end-of-call "
            "page is for other outcomes, appointments and notes). Answers are chosen from each "
            "page's inputs as the web benchmark chooses them (never don't know, refused or other)."
        )
    else:
        notes.append(
            "- Not measured: next case through the console's HTTP routes, and CATI page turns beside "
            "the web's (the console's routes were not in git when this ran)."
        )
    notes += [
        (
            "- The check of cases handed out reads every attempt from the store: no answer rests a case "
            "for hours and a complete is final, so a case met twice in this run would have been handed "
            "out twice; each attempt a client was handed must be the store's, for that interviewer and case."
        ),
        (
            "- Status callbacks: calls opened through the store as the console leaves them once Twilio "
            "has accepted a bridge (attempt, call, sid); per call Twilio's initiated, ringing, in-progress "
            "and completed, form-encoded and signed with `RequestValidator.compute_signature` over the "
            "public URL; one connection per sender, each call's callbacks sent by one sender in order."
        ),
        (
            "- The machine's cores are shared by gunicorn, PostgreSQL and the load generator (all "
            "interviewers are threads of one Python process), and with other work on the machine "
            "(the load average above)."
        ),
    ]
    if result.errors:
        notes.append(f"- First errors: {'; '.join(result.errors[:3])}")
    return notes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, with the full run's or the quick run's defaults filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 200 cases, 4 interviewers, 3 s phases")  # fmt: skip
    parser.add_argument(
        "--database", help="database URL (default: a fresh PostgreSQL database, dropped after)"
    )
    parser.add_argument("--cases", type=int, help="cases imported (default 10,000)")
    parser.add_argument("--interviewers", type=int, help="simulated interviewers (default 50)")
    parser.add_argument("--seconds", type=float, help="measured seconds per phase (default 20)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds first (default 3)")
    parser.add_argument("--think", type=float, default=2.0,
                        help="seconds between an interviewer's cases in the paced phase (default 2)")  # fmt: skip
    parser.add_argument(
        "--bursts", type=int, help="rounds of everyone pressing at once (default 5)"
    )
    parser.add_argument("--rounds", type=int, help="web then CATI rounds (default 2)")
    parser.add_argument("--calls", type=int, help="calls whose callbacks are posted (default 500)")
    parser.add_argument("--senders", type=int, default=8, help="callback connections (default 8)")
    parser.add_argument("--template", metavar="NAME",
                        help="PostgreSQL database holding the imported sample, made on first use; "
                        "each run works on a copy of it instead of importing again")  # fmt: skip
    parser.add_argument("--import-jobs", type=int, default=1,
                        help="imports run side by side on PostgreSQL (default 1: the whole file at once)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cost-cycles", type=int, default=None,
                        help="cases taken one at a time afterwards to count each request's SQL (default 20)")  # fmt: skip
    parser.add_argument("--service", action="store_true",
                        help="time next case through the call-queue service, not the console")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=web_load.DOCS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.template and args.database:
        parser.error("--template makes its own copy: give --database or --template, not both")
    quick = {"cases": 200, "interviewers": 4, "seconds": 3.0, "warmup": 0.0, "bursts": 2,
             "cost_cycles": 2,
             "rounds": 1, "calls": 20}  # fmt: skip
    full = {"cases": 10_000, "interviewers": 50, "seconds": 20.0, "warmup": 3.0, "bursts": 5,
            "cost_cycles": 20,
            "rounds": 2, "calls": 500}  # fmt: skip
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.cases = min(max(args.cases, 10), len(DRAMA_RANGES) * 1000)
    args.interviewers = min(max(args.interviewers, 1), 200)
    args.seconds = min(max(args.seconds, 1.0), 600.0)
    args.senders = min(max(args.senders, 1), 64)
    args.calls = min(max(args.calls, 1), args.cases // 2)
    if args.quick:
        args.think = min(args.think, 0.2)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    given = list(sys.argv[1:] if argv is None else argv)
    if "--docs" in given:  # where the section goes is not part of how it was measured
        at = given.index("--docs")
        del given[at : at + 2]
    command = " ".join(["python benchmarks/phone.py", *given])
    result = run(args)
    text = render(result, command, started, load, args)
    if not args.no_write:
        web_load.write_section(text, args.docs, heading="## Telephone")
        print(f"wrote the '## Telephone' section of {args.docs}")
    print(text)
    ok = not result.errors and result.handed.ok and result.answers.ok and result.web_answers.ok
    ok = ok and result.callbacks.stored == result.callbacks.distinct
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
