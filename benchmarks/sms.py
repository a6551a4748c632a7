"""Two-way SMS benchmark: simulated respondents completing a short questionnaire by text through
gunicorn on PostgreSQL.

    flock -x /tmp/quiet.lock python benchmarks/sms.py [--respondents 100] [--think 1.0] [--no-write]

What it measures (issue 14: the SMS mode over the automated calls' webhook machinery), and why
it is built this way:

* The real app (``instrument.server.wsgi:app``) runs under gunicorn (gthread, 2 workers x 4
  threads by default, as the web, telephone and IVR benchmarks) on a PostgreSQL database of the
  run's own (``web_load.fresh_database``, dropped after), with Twilio configured (a made-up
  account and public URL: every request goes to 127.0.0.1), so the signed ``/sms`` webhook is
  mounted. The questionnaire is ``tests/data/sms_short.yaml`` (the SMS tests' own: web and sms,
  English and Welsh, an information text, single, yes/no, multi, integer, date and free-text
  questions): the flagship does not list ``sms``, and a text-message interview is meant to be
  short.
* ``--respondents`` respondents, each a thread of this process with its own phone number, case
  and access code, text at the same time: first the code of their invitation, then a reply to
  each question, as Twilio posts each inbound text to ``/sms/inbound``: a form with a fresh
  ``MessageSid``, signed over the public URL with the account's token (twilio's
  ``RequestValidator``, as Twilio signs). Each respondent reads the question in the TwiML
  ``<Message>`` it gets back and replies from its own seeded answer sheet (numbers, ``1 3`` for
  several, a number of hours, a date, words), until the questionnaire's last words.
* ``--retries`` (default 0.1): that share of texts is posted a second time with the same
  ``MessageSid``, as Twilio retries a webhook it thinks failed; the copy must get the very same
  reply and store nothing.
* **Paced phase**: before each text a respondent waits ``--think`` seconds (+-50%): a person
  takes from seconds to hours to answer a text, so this is far harsher than real traffic.
  **Unpaced phase**: the same number of respondents with no wait, the most the machine serves
  (conversations completed per second).
* Latency is each webhook request's, measured around the HTTP exchange by the respondent's
  thread (so it includes the client's share of the 2 cores).
* No answer lost or doubled: afterwards the store's answer events are read for every
  respondent's interview: each variable at most one answer event, every answer the respondent
  texted stored with its value, every interview complete.

Results go to the "## Two-way SMS" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import itertools
import os
import random
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
for _source_root in (ROOT, ROOT / "modes", ROOT / "plugins", ROOT / "benchmarks"):
    if str(_source_root) not in sys.path:
        sys.path.insert(0, str(_source_root))

import at_once  # people at once: their cases, threads, percentiles, CPU rows
import web_load  # gunicorn runner, CPU split, machine and report helpers
from twilio.request_validator import RequestValidator

QUESTIONNAIRE = ROOT / "tests" / "data" / "sms_short.yaml"
QUESTIONNAIRE_ID = "sms_short"
HEADING = "## Two-way SMS"
TARGET_P99_MS = 50.0
PUBLIC_URL = "https://sms-benchmark.invalid"
AUTH_TOKEN = "d" * 32
ACCOUNT = "AC" + "0" * 31 + "3"
STUDY_NUMBER = "+441134960997"
TWILIO_ENV = {
    "INSTRUMENT_TWILIO_ACCOUNT_SID": ACCOUNT,
    "INSTRUMENT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "INSTRUMENT_TWILIO_CALLER_ID": STUDY_NUMBER,
    "INSTRUMENT_PUBLIC_URL": PUBLIC_URL,
}
END = "That is all. Thank you!"
QUESTIONS = {
    "How is your health in general?": "health",
    "Do you smoke?": "smoke",
    "Which of these did you do last week?": "active",
    "How many hours did you sleep last night?": "hours",
    "When did you move to your address?": "moved",
    "Anything else you want to tell us?": "comment",
}
_SIDS = itertools.count(1)
_SID_LOCK = threading.Lock()


# ---------------------------------------------------------------------------
# The respondents


def answer_sheet(rng: random.Random, index: int) -> dict[str, tuple[str, Any]]:
    """A respondent's answers: what they text for each question, and the value to be stored."""
    active = sorted(rng.sample([1, 2, 3], rng.randint(1, 3)))
    hours = rng.randint(0, 12)
    moved = dt.date(rng.randint(1970, 2020), rng.randint(1, 12), rng.randint(1, 28))
    health = rng.randint(1, 4)
    smoke = rng.randint(1, 2)
    return {
        "health": (str(health), health),
        "smoke": (str(smoke), smoke),
        "active": (" ".join(map(str, active)), tuple(active)),
        "hours": (str(hours), hours),
        "moved": (f"{moved:%d/%m/%Y}", moved),
        "comment": (f"all fine here, respondent {index}", f"all fine here, respondent {index}"),
    }


def _sid() -> str:
    with _SID_LOCK:
        return f"SM{next(_SIDS):032x}"


@dataclass
class Texter:
    """One respondent texting the study number over HTTP, every request signed as Twilio signs."""

    port: int
    number: str
    think: float
    retries: float
    rng: random.Random
    latencies: list[float] = field(default_factory=list)
    retried: int = 0
    retry_mismatches: int = 0
    _conn: http.client.HTTPConnection | None = None

    def text(self, body: str) -> str | None:
        """Text ``body``; the reply's words (None: nothing sent back)."""
        if self.think:
            time.sleep(self.think * self.rng.uniform(0.5, 1.5))
        form = {
            "MessageSid": _sid(),
            "AccountSid": ACCOUNT,
            "From": self.number,
            "To": STUDY_NUMBER,
            "Body": body,
            "NumSegments": "1",
        }
        reply = self._post(form)
        if self.retries and self.rng.random() < self.retries:  # Twilio retries the webhook
            self.retried += 1
            if self._post(form) != reply:
                self.retry_mismatches += 1
        return reply

    def _post(self, form: dict[str, str]) -> str | None:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            f"{PUBLIC_URL}/sms/inbound", form
        )
        data = urlencode(form)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        began = time.perf_counter()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(web_load.HOST, self.port, timeout=60)
            try:
                self._conn.request("POST", "/sms/inbound", data, headers)
                response = self._conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        self.latencies.append(time.perf_counter() - began)
        if response.status != 200:
            raise RuntimeError(f"/sms/inbound answered {response.status}: {payload[:200]!r}")
        messages = [m.text or "" for m in ElementTree.fromstring(payload).iter("Message")]
        return messages[0] if messages else None


@dataclass
class Conversation:
    """One respondent's conversation: completed or not, what they texted, its latencies."""

    number: str
    completed: bool
    texted: dict[str, Any]
    latencies: list[float]
    retried: int = 0
    retry_mismatches: int = 0
    error: str = ""


def converse(texter: Texter, code: str, sheet: dict[str, tuple[str, Any]]) -> Conversation:
    """Text the access code, then answer each question asked until the last words."""
    texted: dict[str, Any] = {}
    reply = texter.text(code)
    for _ in range(20):
        if reply is None:
            raise RuntimeError("a text was not answered")
        if reply.endswith(END):
            return Conversation(
                texter.number,
                True,
                texted,
                texter.latencies,
                texter.retried,
                texter.retry_mismatches,
            )
        asked = [v for text, v in QUESTIONS.items() if text in reply]
        if not asked or reply.startswith("Sorry"):
            raise RuntimeError(f"an unexpected text: {reply[:120]!r}")
        variable = asked[-1]
        body, value = sheet[variable]
        texted[variable] = value
        reply = texter.text(body)
    raise RuntimeError("the conversation did not end")


@dataclass
class Phase:
    name: str
    think: float
    conversations: list[Conversation]
    seconds: float
    cpu: dict[str, float]

    @property
    def latencies(self) -> list[float]:
        return [x for c in self.conversations for x in c.latencies]

    @property
    def completed(self) -> list[Conversation]:
        return [c for c in self.conversations if c.completed]

    def percentile_ms(self, q: float) -> float:
        return at_once.percentile_ms(self.latencies, q)

    def per_second(self) -> float:
        return len(self.completed) / self.seconds if self.seconds else 0.0

    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def new_cases(database_url: str, secret: str, count: int, tag: str) -> list[str]:
    """``count`` cases of the questionnaire, each with the access code of its invitation."""
    return at_once.cases_with_codes(database_url, secret, QUESTIONNAIRE_ID, count, tag)


def run_phase(
    port: int,
    server_pid: int,
    codes: Sequence[str],
    *,
    name: str,
    think: float,
    retries: float,
    seed: int,
    first_number: int,
) -> Phase:
    """Every respondent at once, one thread each; the phase's wall time and CPU split."""

    def respondent(index: int, start: threading.Barrier) -> Conversation:
        rng = random.Random(seed * 100_003 + index)
        number = f"+4477009{first_number + index:05d}"
        texter = Texter(port, number, think, retries, rng)
        sheet = answer_sheet(rng, index)
        start.wait()
        try:
            return converse(texter, codes[index], sheet)
        except Exception as exc:  # reported, not allowed to hide the others
            return Conversation(
                number, False, {}, texter.latencies, texter.retried, texter.retry_mismatches,
                repr(exc),
            )  # fmt: skip

    done, seconds, cpu = at_once.all_at_once(len(codes), respondent, server_pid)
    conversations = [
        c if c is not None else Conversation("?", False, {}, [], error="thread did not finish")
        for c in done
    ]
    return Phase(name, think, conversations, seconds, cpu)


# ---------------------------------------------------------------------------
# The store afterwards


@dataclass
class AnswerCheck:
    conversations: int = 0
    texted: int = 0
    lost: int = 0  # texted but not stored, or stored with another value
    doubled: int = 0  # a variable with more than one answer event
    incomplete: int = 0  # interviews not complete
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.incomplete)


def check_answers(database_url: str, secret: str, phase: Phase) -> AnswerCheck:
    """Each conversation's interview in the store against what its respondent texted."""
    import sqlalchemy as sa

    from instrument.store import open_store
    from instrument.store.schema import answer_events, interviews, ivr_calls
    from instrument.values import from_json
    from instrument_phone.sms.conversations import conversation_ids, number_key

    check = AnswerCheck()
    key = number_key(secret)
    sids = {c.number: conversation_ids(c.number, [key])[0] for c in phase.conversations}
    store = open_store(database_url, upgrade=False)
    try:
        with store.engine.connect() as connection:
            by_sid = dict(
                connection.execute(
                    sa.select(ivr_calls.c.call_sid, ivr_calls.c.interview_id).where(
                        ivr_calls.c.call_sid.in_(list(sids.values()))
                    )
                ).all()
            )
            ids = [i for i in by_sid.values() if i]
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
    for conversation in phase.conversations:
        check.conversations += 1
        interview_id = by_sid.get(sids.get(conversation.number, ""))
        if interview_id is None or status.get(interview_id) != "complete":
            check.incomplete += 1
            check.examples.append(f"{conversation.number}: not complete {conversation.error}")
            continue
        stored = events[interview_id]
        counts = collections.Counter(variable for variable, _ in stored)
        values = dict(stored)
        check.doubled += sum(1 for n in counts.values() if n > 1)
        check.texted += len(conversation.texted)
        for variable, meant in conversation.texted.items():
            got = values.get(variable)
            if isinstance(meant, tuple):
                got = tuple(sorted(got or ()))
            if variable not in values or got != meant:
                check.lost += 1
                check.examples.append(f"{variable}: texted {meant!r}, stored {got!r}")
    return check


# ---------------------------------------------------------------------------
# One run


@dataclass
class RunResult:
    settings: web_load.ServerSettings
    phases: list[Phase]
    checks: dict[str, AnswerCheck]
    webhooks_per_conversation: float


def prepare_database(database_url: str, secret: str) -> None:
    """Migrate and store the questionnaire version once, before the workers start."""
    from instrument.server.app import create_app, get_host

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "QUESTIONNAIRES": [str(QUESTIONNAIRE)],
            "SECRET_KEY": secret,
        }
    )
    get_host(app).store.close()


def run(args: argparse.Namespace) -> RunResult:
    settings = web_load.ServerSettings("gthread", workers=args.workers, threads=args.threads)
    secret = secrets.token_hex(16)
    n = args.respondents
    with web_load.fresh_database(args.database) as url:
        prepare_database(url, secret)
        env = {
            "INSTRUMENT_QUESTIONNAIRES": str(QUESTIONNAIRE),
            "INSTRUMENT_DATABASE_URL": url,
            "INSTRUMENT_SECRET_KEY": secret,
            **TWILIO_ENV,
        }
        for name in ("INSTRUMENT_PANEL_KEYS", "INSTRUMENT_PANEL_KEY_FILE"):
            os.environ.pop(name, None)  # no panel here: replies come with their access codes
        warm = new_cases(url, secret, args.warmup, "warm")
        paced = new_cases(url, secret, n, "paced")
        unpaced = new_cases(url, secret, n, "unpaced")
        common = {"retries": args.retries}
        with web_load.gunicorn("instrument.server.wsgi:app", settings, env) as (port, pid):
            run_phase(port, pid, warm, name="warm-up", think=0.0, seed=args.seed,
                      first_number=90000, **common)  # fmt: skip
            phases = [
                run_phase(port, pid, paced, name="paced", think=args.think, seed=args.seed + 1,
                          first_number=0, **common),
                run_phase(port, pid, unpaced, name="unpaced", think=0.0, seed=args.seed + 2,
                          first_number=n, **common),
            ]  # fmt: skip
        checks = {phase.name: check_answers(url, secret, phase) for phase in phases}
    requests = [len(c.latencies) for phase in phases for c in phase.completed]
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
        f"The SMS tests' short questionnaire (`{QUESTIONNAIRE_ID}`, tests/data/sms_short.yaml: "
        "six questions, one text each) completed by text by "
        f"{args.respondents} simulated respondents at once, through gunicorn "
        f"({result.settings.label()}) on PostgreSQL, Twilio configured (the signed "
        "`/sms/inbound` webhook). Each respondent is a thread of one Python process with its own "
        "number: it texts its invitation's access code, then answers each question it is sent "
        "from its own seeded sheet, every request a Twilio form signed over the public URL with "
        f"twilio's `RequestValidator`; {args.retries:.0%} of texts are posted twice with the same "
        "`MessageSid` (Twilio's retry), the copy must get the same reply; "
        f"{result.webhooks_per_conversation:.1f} webhook requests a conversation on average. "
        f"Paced: before each text the respondent waits {args.think:g} s +-50% (a person takes "
        "seconds to hours, so this load is far above a real one). Unpaced: no wait at all, the "
        "most this machine serves.",
        "",
        "| measure | target | result | met? |",
        "|---|---|---|---|",
    ]
    p99 = paced.percentile_ms(0.99)
    lines.append(
        f"| Webhook latency, paced ({len(paced.latencies):,} requests, "
        f"{paced.requests_per_second():.0f}/s): p50 / p99 | p99 <= {TARGET_P99_MS:.0f} ms "
        f"(the IVR's) | {paced.percentile_ms(0.5):.1f} / {p99:.1f} ms | "
        f"{_yes(p99 <= TARGET_P99_MS)} |"
    )
    lines.append(
        f"| Conversations completed, paced | {args.respondents} | {len(paced.completed)} in "
        f"{paced.seconds:.1f} s ({paced.per_second():.2f}/s) | "
        f"{_yes(len(paced.completed) == args.respondents)} |"
    )
    lines.append(
        f"| Webhook latency, unpaced ({len(unpaced.latencies):,} requests, "
        f"{unpaced.requests_per_second():.0f}/s): p50 / p99 | - | "
        f"{unpaced.percentile_ms(0.5):.1f} / {unpaced.percentile_ms(0.99):.1f} ms | - |"
    )
    lines.append(
        f"| Conversations completed per second, unpaced | - | {len(unpaced.completed)} in "
        f"{unpaced.seconds:.1f} s: {unpaced.per_second():.2f}/s | - |"
    )
    lines.extend(at_once.cpu_rows(result.phases, "respondents"))
    for phase in result.phases:
        retried = sum(c.retried for c in phase.conversations)
        mismatched = sum(c.retry_mismatches for c in phase.conversations)
        lines.append(
            f"| Retried texts answered differently, {phase.name} ({retried} retried) | 0 | "
            f"{mismatched} | {_yes(not mismatched)} |"
        )
    for name, check in result.checks.items():
        lines.append(
            f"| Answers lost or doubled, {name} ({check.texted:,} texted in "
            f"{check.conversations} conversations) | 0 | {check.lost} lost, {check.doubled} "
            f"doubled, {check.incomplete} interviews not complete | {_yes(check.ok)} |"
        )
    errors = [c.error for phase in result.phases for c in phase.conversations if c.error]
    lines.append(
        f"| Conversations that failed (error, not 200, unexpected text) | 0 | {len(errors)} | "
        f"{_yes(not errors)} |"
    )
    lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=100, help="respondents at once")
    parser.add_argument("--think", type=float, default=1.0, help="seconds before each text")
    parser.add_argument("--retries", type=float, default=0.1, help="share of texts sent twice")
    parser.add_argument("--warmup", type=int, default=4, help="respondents before the measured")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--database", help="database URL (default: a new PostgreSQL database)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the docs")
    args = parser.parse_args(argv)
    given = list(argv if argv is not None else sys.argv[1:])
    args.command = "python benchmarks/sms.py" + (" " + " ".join(given) if given else "")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    result = run(args)
    text = render(args, result, started, load)
    print(text)
    for phase in result.phases:
        for conversation in phase.conversations:
            if conversation.error:
                print(f"{phase.name}: {conversation.number}: {conversation.error}")
                break
    for name, check in result.checks.items():
        for example in check.examples[:5]:
            print(f"{name}: {example}")
    if not args.no_write:
        web_load.write_section(text, heading=HEADING)
    failed = any(not c.ok for c in result.checks.values()) or any(
        c.error or not c.completed or c.retry_mismatches
        for phase in result.phases
        for c in phase.conversations
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
