"""A whole wave of the flagship on a fake clock, end to end (issue 13), on SQLite and PostgreSQL.

A thousand members are imported (some paused, some with no children under 16,
some without an email address or without a phone, some whose address the mail
server refuses). The flagship's wave 1 is opened and its contact plan carried
out by two fieldwork workers taking turns on a clock walked from day 0 to day
28, through the real channels: email to an aiosmtpd server on 127.0.0.1, SMS
through the twilio SDK over a fake ``http_client``. Nothing is mocked between
a message and an answer:

- simulated respondents answer on the web after a contact with some chance,
  by the personal link in the message that reached them (an email's or a
  text's), through the interview service as the web pages do, with random
  valid answers the engine accepts; some open the link and leave, some break
  off part way;
- a few leave through the stop link in their email (the real page, with its
  CSRF token), and staff withdraw two more;
- from day 14 the unfinished with a phone are in the telephone queue, where
  three simulated interviewers take "next case", dial by hand, interview (the
  same interview, continued in the ``cati`` mode), or code no answer, an
  answering machine, a refusal or a dead number; meanwhile the web link stays
  open and a few finish there.

The test keeps its own ledger of what each member did and works out from it,
by the rules in docs/dashboard.md, the disposition table and the AAPOR rates;
the dashboard's CSVs (read through the staff pages) must equal them, and the
wave's export (``instrument wave export``, read back by pyreadstat) must have
one row per eligible member with the mode each interview was done in, the
member's panel pseudonym and the same dispositions. On the way: nobody is sent
anything after finishing or withdrawing, a refused address is never tried
again, no message is recorded twice, and "next case" never hands out a case
whose interview is finished.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from phone_supervisor_helpers import add_staff
from staff_passwords import CHEAP_PASSWORDS
from test_phone_supervisor import Staff

from instrument.callqueue import CallQueue, Claimed, Coded, NoCase
from instrument.cli import cli
from instrument.fieldwork.settings import settings_for
from instrument.interviews import Answers, InterviewService, Rejected, Seen
from instrument.loader import require_questionnaire
from instrument.panel.crypto import PanelKeys, new_key
from instrument.panelwork.worker import FieldworkWorker, worker_for
from instrument.server.app import get_host
from instrument.simulate import random_answers
from instrument.simulate.hints import questionnaire_hints
from instrument.store import Store
from instrument.store.schema import members, panel_messages, wave_members
from tests.store_fixtures import database_url, postgres_database  # noqa: F401 (fixtures)
from tests.test_channels_email import smtp_server  # noqa: F401 (the fixture)
from tests.test_fieldwork_worker import BASE, Channels
from tests.test_panel_case_facts import assert_facts_recount
from tests.test_panel_waves_store import (
    DAY0,
    OPENED,
    QUESTIONNAIRE,
    WAVE_FILE,
    import_panel,
    open_flagship,
)
from tests.test_web_support import FakeClock, Page, close_app, make_app

N = 1_000
SEED = 20270302
INTERVIEWERS = ("ivy", "ivan", "ines")
WEB_ANSWER = 0.17  # the chance a member who was just contacted answers
PHONE_LABELS = {code: d.label for code, d in settings_for(QUESTIONNAIRE)[0].dispositions.items()}
CALL_TIMES = (dt.time(10, 0), dt.time(14, 0), dt.time(18, 0))  # UTC: 10, 14, 18 or 11, 15, 19 local


# ----------------------------------------------------------------------------- the ledger


@dataclass
class Member:
    """What the test knows of a member: what the file said, and everything that happened."""

    external_id: str
    eligible: bool
    email: str | None
    phone: str | None
    refused_address: bool = False
    pseudonym: str = ""
    member_id: int = 0
    case_id: str = ""
    interview_id: str | None = None
    status: str | None = None  # the interview's: active (answers given), complete, screened_out
    opened_only: bool = False
    finished_at: dt.datetime | None = None
    modes: list[str] = field(default_factory=list)  # modes the interview was in, in order
    withdrew: str | None = None  # the choice
    withdrew_at: dt.datetime | None = None
    last_call: str | None = None  # the last outcome an interviewer coded
    reached: bool = False  # a message was handed to a channel
    links: list[str] = field(default_factory=list)  # personal link tokens received


def make_members(rng: random.Random) -> tuple[str, dict[str, Member]]:
    """The members file and the ledger: every fiftieth member paused, one in twenty with no
    child under 16, one in 33 whose number of children the panel does not know (eligible:
    the questionnaire's screener asks), one in ten without email, one in five without phone,
    one in twenty-five with an address the mail server refuses (with or without a phone)."""
    lines = ["external_id,status,language,name,email,phone,n_children,age_band,lone_parent"]
    ledger: dict[str, Member] = {}
    for i in range(1, N + 1):
        external_id = f"M{i:04d}"
        status = "paused" if i % 50 == 0 else "active"
        children = "0" if i % 20 == 7 else ("" if i % 33 == 5 else str(rng.randint(1, 3)))
        email = None if i % 10 == 3 else f"m{i:04d}@example.org"
        phone = None if i % 5 == 1 else f"07911 {100000 + i:06d}"
        language = "cy" if i % 9 == 0 else "en"
        lines.append(
            f"{external_id},{status},{language},Member {i},{email or ''},{phone or ''},"
            f"{children},{rng.randint(1, 5)},{rng.randint(1, 2)}"
        )
        ledger[external_id] = Member(
            external_id,
            eligible=status == "active" and children != "0",
            email=email,
            phone=phone,
            refused_address=email is not None and i % 25 in (11, 12),
        )
    return "\n".join(lines) + "\n", ledger


# ----------------------------------------------------------------------------- the people


class Respondents:
    """Members answering through the interview service, as the web pages and console do."""

    def __init__(
        self, service: InterviewService, rng: random.Random, path: Path = QUESTIONNAIRE
    ) -> None:
        self.service = service
        self.rng = rng
        questionnaire = require_questionnaire(path)
        self.hints = questionnaire_hints(questionnaire)
        self.policies = questionnaire.mode_policies
        self.serial = 0

    def answer(
        self,
        interview_id: str,
        *,
        mode: str,
        actor: str,
        now: dt.datetime,
        pages: int | None = None,
    ) -> str:
        """Answer page after page (all of them, or ``pages``); the interview's status after."""
        for _ in range(pages if pages is not None else 400):
            shown = self.service.show(interview_id, mode=mode, actor=actor, now=now)
            info = shown.interview
            if info.finished or shown.step.kind == "end":
                return info.status
            for _attempt in range(20):
                values = random_answers(
                    shown.step, self.rng, self.policies[mode], today=now.date(), hints=self.hints
                )
                self.serial += 1
                seen = Seen(
                    revision=info.revision, token=shown.step.token, key=f"k{self.serial}",
                    shown_at=now,
                )  # fmt: skip
                result = self.service.answer(
                    interview_id, seen, lambda _s, v=values: Answers(v, confirmed=True),
                    mode=mode, actor=actor, now=now,
                )  # fmt: skip
                if not isinstance(result, Rejected):
                    break
                shown = self.service.show(interview_id, mode=mode, actor=actor, now=now)
                info = shown.interview
            else:
                raise AssertionError(f"no valid answers found for page {shown.step.page_id}")
            now += dt.timedelta(seconds=20)
        return self.service.show(interview_id, mode=mode, actor=actor, now=now).interview.status


@dataclass
class Wave:
    """Everything the simulation drives, on one database."""

    store: Store
    app: Any
    clock: FakeClock
    channels: Channels
    workers: tuple[FieldworkWorker, FieldworkWorker]
    service: InterviewService
    queue: CallQueue
    people: Respondents
    ledger: dict[str, Member]
    by_case: dict[str, Member]
    rng: random.Random
    seen_mail: int = 0
    seen_texts: int = 0
    turn: int = 0

    def run_workers(self) -> None:
        """The two workers take turns until nothing has been due for half an hour.

        Time passes as they work: a second after every turn that found something due, a
        minute after one that found nothing. The channels' rate limits (texts 5 a second,
        email 600 a minute) hold messages back until it has.
        """
        idle = 0
        for _ in range(10_000):
            claimed = sum(worker.run_round().claimed for worker in self.workers)
            if claimed:
                idle = 0
                self.clock.now += dt.timedelta(seconds=1)
                continue
            idle += 1
            if idle > 30:
                return
            self.clock.now += dt.timedelta(minutes=1)
        raise AssertionError("the workers never ran out of due work")

    def new_links(self) -> set[str]:
        """Members who were sent a personal link since the last look, with that link."""
        reached: set[str] = set()
        for received in self.channels.mailbox.received[self.seen_mail :]:
            member = self._by_email(received.rcpt_tos[0])
            body = received.message.get_body(("plain",)).get_content()
            token = re.search(r"/web/t/([A-Za-z0-9_-]+)", body)
            assert token is not None, body
            member.links.append(token.group(1))
            reached.add(member.external_id)
        self.seen_mail = len(self.channels.mailbox.received)
        for text in self.channels.texts()[self.seen_texts :]:
            member = self._by_phone(text["To"])
            token = re.search(r"/web/t/([A-Za-z0-9_-]+)", text["Body"])
            assert token is not None, text["Body"]
            member.links.append(token.group(1))
            reached.add(member.external_id)
        self.seen_texts = len(self.channels.texts())
        for external_id in reached:
            self.ledger[external_id].reached = True
        return reached

    def _by_email(self, address: str) -> Member:
        return self.ledger[f"M{int(address[1:5]):04d}"]

    def _by_phone(self, e164: str) -> Member:
        return self.ledger[f"M{int(e164[-6:]) - 100000:04d}"]

    def on_the_web(self, member: Member, now: dt.datetime) -> None:
        """The member opens their latest link and answers: most finish, some stop part way,
        a few look and leave."""
        opened = self.service.open_link(member.links[-1], mode="web", actor="respondent", now=now)
        assert opened.kind == "opened", (member.external_id, opened)
        member.interview_id = opened.interview_id
        if not member.modes:
            member.modes.append("web")  # the interview is started in the mode that opened it
        draw = self.rng.random()
        if draw < 0.05 and member.status is None:
            member.opened_only = True
            return
        pages = self.rng.randint(1, 4) if draw < 0.15 else None
        status = self.people.answer(
            opened.interview_id, mode="web", actor="respondent", now=now, pages=pages
        )
        self._answered(member, status, "web", now)

    def _answered(self, member: Member, status: str, mode: str, now: dt.datetime) -> None:
        if not member.modes or member.modes[-1] != mode:
            member.modes.append(mode)
        member.status = status
        member.opened_only = False
        if status in ("complete", "screened_out"):
            member.finished_at = now

    def calls(self, now: dt.datetime) -> int:
        """The interviewers work the queue until it has no case for anyone; cases handed out."""
        handed = 0
        working = list(INTERVIEWERS)
        while working:
            for who in list(working):
                claimed = self.queue.next_case(who, now=now)
                if isinstance(claimed, NoCase):
                    working.remove(who)
                    continue
                assert isinstance(claimed, Claimed)
                handed += 1
                member = self.by_case[claimed.case_id]
                assert member.finished_at is None, f"{member.external_id} finished, still called"
                assert member.withdrew is None, f"{member.external_id} withdrew, still called"
                placed = self.queue.place_call(claimed.attempt_id, 1, dialer=None, now=now)
                assert placed.kind == "placed", placed
                code = self._call(member, who, now)
                coded = self.queue.code_outcome(
                    claimed.attempt_id, disposition=code, actor=who,
                    now=now + dt.timedelta(minutes=5),
                )  # fmt: skip
                assert isinstance(coded, Coded), (member.external_id, code, coded)
                member.last_call = code
        return handed

    def _call(self, member: Member, who: str, now: dt.datetime) -> str:
        draw = self.rng.random()
        if draw < 0.35:  # answered, and the interview is done (or continued) on the phone
            interview_id = self.queue.interview_for(
                member.case_id, mode="cati", actor=f"interviewer:{who}", now=now
            )
            assert member.interview_id in (None, interview_id)  # one interview per case
            member.interview_id = interview_id
            status = self.people.answer(
                interview_id, mode="cati", actor=f"interviewer:{who}", now=now
            )
            self._answered(member, status, "cati", now)
            return "complete" if status == "complete" else "not_eligible"
        if draw < 0.42:
            return "refusal_hard"
        if draw < 0.45:
            return "number_not_working"
        if draw < 0.85:
            return "no_answer"
        return "answering_machine"


# ----------------------------------------------------------------------------- the rules


def expected_disposition(m: Member) -> tuple[str, str, str]:
    """A member's disposition worked out from the ledger by docs/dashboard.md's rules."""
    calls = {  # the AAPOR code and class by the Standard Definitions; the wording is the study's
        code: (aapor, PHONE_LABELS[code], cls)
        for code, aapor, cls in (
            ("complete", "1.1", "I"),
            ("not_eligible", "4.70", "NE"),
            ("refusal_hard", "2.112", "R"),
            ("number_not_working", "4.30", "NE"),
            ("no_answer", "3.13", "UH"),
            ("answering_machine", "3.14", "UH"),
        )
    }
    if m.withdrew == "delete_all":
        return ("2.11", "Refusal: withdrew", "R")
    if m.status == "complete":
        return ("1.1", "Complete", "I")
    if m.status == "screened_out":
        return ("4.10", "Screened out: not eligible", "NE")
    if m.withdrew is not None:
        return ("2.11", "Refusal: withdrew", "R")
    if m.status == "active":
        return ("1.2", "Partial: started, not finished", "P")
    called = calls.get(m.last_call) if m.last_call else None
    if called is not None and called[2] not in ("NC", "UH", "UO"):
        return called
    if m.opened_only:
        return ("2.1121", "Opened the link, answered nothing", "R")
    if m.reached:
        return ("2.20", "Invited, no response (non-contact)", "NC")
    if called is not None:
        return called
    if m.refused_address:
        return ("3.30", "Invitation returned undelivered", "UO")
    return ("3.11", "No invitation sent yet", "UO")


def expected_rates(by_class: Counter[str]) -> dict[str, float]:
    """AAPOR's Standard Definitions, written out here rather than taken from the product."""
    i, p, r, nc, o = (by_class[c] for c in ("I", "P", "R", "NC", "O"))
    uh, uo, ne = by_class["UH"], by_class["UO"], by_class["NE"]
    known = i + p + r + nc + o
    e = known / (known + ne)
    return {
        "RR1": i / (known + uh + uo),
        "RR3": i / (known + e * (uh + uo)),
        "COOP1": i / (i + p + r + o),
        "REF1": r / (known + uh + uo),
        "CON1": (i + p + r + o) / (known + uh + uo),
    }


# ----------------------------------------------------------------------------- the test


@pytest.fixture
def wave(
    database_url: str,
    smtp_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Any:
    key = new_key()
    monkeypatch.setenv("INSTRUMENT_PANEL_KEYS", key)
    monkeypatch.delenv("INSTRUMENT_PANEL_KEY_FILE", raising=False)
    keys = PanelKeys.parse([key], source="INSTRUMENT_PANEL_KEYS")
    rng = random.Random(SEED)
    text, ledger = make_members(rng)
    clock = FakeClock(OPENED)
    app = make_app(database_url, clock, QUESTIONNAIRE, **CHEAP_PASSWORDS)
    add_staff(app)
    store = get_host(app).store
    panel = import_panel(store, keys, text)
    open_flagship(panel)
    channels = Channels(*smtp_server, clock)
    for member in ledger.values():
        if member.refused_address:
            channels.mailbox.refuse[member.email] = "550 5.1.1 No such user"  # type: ignore[index]
    workers = tuple(
        worker_for(store, channels.contact_channels(), keys, clock=clock, base_url=BASE, name=name)
        for name in ("worker-a", "worker-b")
    )
    service = get_host(app).service  # the web pages' own interview service
    settings = settings_for(QUESTIONNAIRE)[0]
    queue = CallQueue(store, service, lambda _questionnaire_id: settings)
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(members.c.external_id, members.c.id, members.c.pseudonym, wave_members.c.case_id)
            .join(wave_members, wave_members.c.member_id == members.c.id)
        ).all()  # fmt: skip
    by_case = {}
    for external_id, member_id, pseudonym, case_id in rows:
        member = ledger[external_id]
        member.member_id, member.pseudonym, member.case_id = member_id, pseudonym, case_id
        by_case[case_id] = member
    people = Respondents(service, rng)
    simulation = Wave(
        store, app, clock, channels, workers, service, queue, people, ledger, by_case, rng
    )  # type: ignore[arg-type]
    try:
        yield simulation
    finally:
        channels.close()
        close_app(app)


def unsubscribe(wave: Wave, member: Member, choice: str) -> None:
    """The member follows the stop link in their latest email and makes their choice."""
    received = [r for r in wave.channels.mailbox.received if r.rcpt_tos == [member.email]]
    header = received[-1].message["List-Unsubscribe"]
    path = re.search(r"https?://[^/>]+(/web/unsubscribe/[^>]+)>", header)
    assert path is not None, header
    client = wave.app.test_client()
    shown = client.get(path.group(1))
    page = Page(shown.status_code, shown.get_data(as_text=True))
    assert page.status == 200
    done = client.post(path.group(1), data={"csrf_token": page.csrf, "choice": choice})
    assert done.status_code == 200, done.get_data(as_text=True)
    member.withdrew, member.withdrew_at = choice, wave.clock.now


def test_a_whole_wave_of_a_thousand_members(wave: Wave, database_url: str, tmp_path: Path) -> None:
    ledger, rng = wave.ledger, wave.rng
    eligible = [m for m in ledger.values() if m.eligible]
    assert len(wave.by_case) == len(eligible)  # a case for each eligible member, for nobody else

    # the web: after each contact some of those just reached answer, a few hours later
    for day in (0, 3, 7, 12):
        wave.clock.now = DAY0 + dt.timedelta(days=day)
        wave.run_workers()
        reached = wave.new_links()
        wave.clock.now += dt.timedelta(hours=3)
        for external_id in sorted(reached):
            member = ledger[external_id]
            if member.finished_at is None and not member.withdrew and rng.random() < WEB_ANSWER:
                wave.on_the_web(member, wave.clock.now)
        if day == 3:  # four leave by their email's stop link, two delete everything
            silent = [m for m in eligible if m.email and not m.refused_address and not m.status]
            for member, choice in zip(
                rng.sample(silent, 6), ["stop_contact"] * 4 + ["delete_all"] * 2
            ):
                unsubscribe(wave, member, choice)
        if day == 7:  # a member phones the helpline; another who completed asks for deletion
            silent = [m for m in eligible if not m.status and m.withdrew is None]
            done = [m for m in eligible if m.status == "complete" and m.withdrew is None]
            for member, choice in (
                (rng.choice(silent), "delete_contacts"),
                (rng.choice(done), "delete_all"),
            ):
                wave.store.withdraw_member(
                    member.member_id, choice, actor="staff:sam", by_staff=True, via="phone",
                    now=wave.clock.now, reason="phoned the helpline",
                )  # fmt: skip
                member.withdrew, member.withdrew_at = choice, wave.clock.now

    # day 14: the unfinished with a phone join the queue; interviewers call for two weeks
    handed = 0
    for day in range(14, 28):
        date = (DAY0 + dt.timedelta(days=day)).date()
        wave.clock.now = dt.datetime.combine(date, dt.time(10, 0), tzinfo=dt.UTC)
        wave.run_workers()
        for at in CALL_TIMES:
            handed += wave.calls(dt.datetime.combine(date, at, tzinfo=dt.UTC))
        if day == 16:  # the web link stays open: a few of those in the queue answer there
            waiting = [m for m in eligible if m.links and m.finished_at is None and not m.withdrew]
            for member in rng.sample(waiting, 8):
                wave.on_the_web(member, dt.datetime.combine(date, dt.time(20, 30), tzinfo=dt.UTC))
    assert handed > 300  # the phone did real work

    wave.clock.now = DAY0 + dt.timedelta(days=28, hours=1)
    wave.run_workers()

    # ---- what the workers sent: every message once, none after finishing or withdrawing
    with wave.store.engine.connect() as connection:
        sent = connection.execute(sa.select(panel_messages)).all()
    keys = [m.idempotency_key for m in sent]
    assert len(keys) == len(set(keys))
    for message in sent:
        member = wave.by_case[message.case_id]
        if message.kind in ("invitation", "reminder"):
            assert member.finished_at is None or message.created_at <= member.finished_at, message
            assert member.withdrew_at is None or message.created_at <= member.withdrew_at, message
    refused = [m for m in eligible if m.refused_address]
    assert refused
    for member in refused:
        emails = [s for s in sent if s.case_id == member.case_id and s.channel == "email"]
        assert [(s.step, s.state) for s in emails] == [("day0-invitation", "bounced")]
    by_mode = Counter(m.modes[-1] for m in eligible if m.status == "complete")
    assert by_mode["web"] > 150 and by_mode["cati"] > 50, by_mode
    switched = [m for m in eligible if m.status == "complete" and m.modes[0] != m.modes[-1]]

    # ---- the dashboard's dispositions and rates equal the table worked out from the ledger
    table: Counter[tuple[str, str, str]] = Counter(expected_disposition(m) for m in eligible)
    by_class: Counter[str] = Counter()
    for (_, _, cls), n in table.items():
        by_class[cls] += n
    sam = Staff(wave.app, "sam")
    dashboard = "/staff/panel/wave/w1"
    assert sam.get(dashboard).status == 200
    rows = list(csv.DictReader(io.StringIO(sam.client.get(f"{dashboard}/dispositions.csv").text)))
    shown = Counter(
        {(r["AAPOR code"], r["Disposition"], r["Rate class"]): int(r["Cases"]) for r in rows}
    )
    assert shown == table
    rates = {
        r["Rate"]: r["Per cent"]
        for r in csv.DictReader(io.StringIO(sam.client.get(f"{dashboard}/rates.csv").text))
    }
    for name, value in expected_rates(by_class).items():
        assert rates[name] == f"{100 * value:.1f}", name

    # ---- the wave's file: one row per eligible member, the mode of each interview
    out = tmp_path / "export"
    secret = tmp_path / "secret"
    secret.write_bytes(b"a secret of at least sixteen bytes")
    exported = CliRunner().invoke(
        cli,
        ["wave", "export", str(WAVE_FILE), "--out", str(out), "--format", "sav,csv",
         "--database", database_url,
         "--secret-file", str(secret)],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    frame, meta = pyreadstat.read_sav(str(out / "social_licence_w1.sav"), user_missing=True)
    assert len(frame) == len(eligible)
    deleted = {m.pseudonym for m in eligible if m.withdrew == "delete_all"}
    kept = {m.pseudonym for m in eligible} - deleted
    assert set(frame["member_id"]) - {""} == kept
    assert (frame["member_id"] == "").sum() == len(deleted)
    by_pseudonym = {m.pseudonym: m for m in eligible}
    mode_code = {"web": 1, "cati": 2}
    for row in frame.itertuples():
        if not row.member_id:
            continue
        member = by_pseudonym[row.member_id]
        if member.status in ("complete", "screened_out", "active"):
            assert row.mode == mode_code[member.modes[-1]], member
            assert row.mode_first == mode_code[member.modes[0]], member
            assert row.mode_switch == (len(set(member.modes)) > 1), member
        else:
            assert row.outcome == 0, member
    labels = meta.variable_value_labels["disposition"]
    in_file = Counter(labels[code].split(" ")[0] for code in frame["disposition"])
    by_code: Counter[str] = Counter()
    for (code, _, _), n in table.items():
        by_code[code] += n
    assert in_file == by_code
    # the mode of each answer: the paradata's events of an interview are in the modes it was in
    paradata = pd.read_csv(out / "social_licence_w1_paradata.csv")
    modes_of = paradata.groupby("case_id")["mode"].agg(set).to_dict()
    both = 0
    for row in frame.itertuples():
        member = by_pseudonym.get(row.member_id)
        if member is None or row.outcome == 0:
            continue
        assert modes_of[row.case_id] <= set(member.modes), member
        assert member.modes[-1] in modes_of[row.case_id], member
        both += modes_of[row.case_id] == {"web", "cati"}
    assert switched and both > 0  # some interviews were begun on the web and finished by phone

    # ---- the facts kept on each member's row by triggers equal a recount from the raw tables
    with wave.store.engine.connect() as connection:
        wave_id = connection.scalar(sa.select(wave_members.c.wave_id).limit(1))
    assert_facts_recount(wave.store, wave_id)
