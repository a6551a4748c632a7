"""Shared set-up for the automated calls' tests: cases of tests/data/mini.yaml in the call queue,
runs of ``place_due_calls`` against the fake Twilio API (tests/twilio_fake.py) on a frozen clock."""

from __future__ import annotations

import datetime as dt
import itertools

from twilio.rest import Client
from twilio_fake import FakeTwilioHttp

from instrument.callqueue import CallQueue
from instrument.callqueue.automated import AutomatedCalls
from instrument.fieldwork import CallingRules
from instrument.fieldwork.automated import AutomatedCallSettings
from instrument.fieldwork.settings import FieldworkSettings, TelephonySettings
from instrument.store import Store
from instrument_phone.ivr.outbound import RunReport, place_due_calls
from instrument_phone.telephony.config import TwilioSettings
from tests.callqueue_helpers import T0, add_case, queue_on

__all__ = ["SETTINGS", "T0", "Run", "add_automated_case", "fake_twilio", "fieldwork", "place"]

SID = "AC" + "ab" * 16
TOKEN = "0123456789abcdef" * 2
CALLER = "+442071234567"
PUBLIC = "https://survey.example.org"
SETTINGS = TwilioSettings(SID, TOKEN, CALLER, PUBLIC)
_SIDS = itertools.count(1)


def add_automated_case(store: Store, case_id: str, **details: object) -> None:
    """A case of mini queued for the automated dialler (as `instrument cases import --automated`
    queues one): only these are placed, never an interviewer's."""
    add_case(store, case_id, taken_by="automated", **details)  # type: ignore[arg-type]


def fake_twilio() -> FakeTwilioHttp:
    """A fake Twilio API whose call sids differ from every other fake's in this process (a test
    places calls in several runs, and a sid belongs to one call)."""
    fake = FakeTwilioHttp()
    fake._serial = _SIDS
    return fake


def fieldwork(
    *, on_machine: str = "hang_up", message: str | None = None, ring: int = 30, **calling: object
) -> FieldworkSettings:
    """A study's settings: calling rules changed by ``calling``, the automated calls' policy."""
    return FieldworkSettings(
        calling=CallingRules(**calling),  # type: ignore[arg-type]
        telephony=TelephonySettings(
            automated=AutomatedCallSettings(on_machine, message, ring)  # type: ignore[arg-type]
        ),
    )


class Run:
    """One run of placing calls: the report and every request the fake Twilio received."""

    def __init__(self, report: RunReport, http: FakeTwilioHttp, queue: CallQueue) -> None:
        self.report = report
        self.http = http
        self.queue = queue

    @property
    def cases(self) -> list[str]:
        return [p.case_id for p in self.report.placed]

    def waiting(self, case_id: str) -> str:
        (reason,) = [w.reason for w in self.report.waiting if w.case_id == case_id]
        return reason


def place(
    store: Store,
    now: dt.datetime = T0,
    settings: FieldworkSettings | None = None,
    *,
    limit: int = 10,
    http: FakeTwilioHttp | None = None,
) -> Run:
    """Place the due calls of mini at ``now`` (a fresh queue: its sweep is not skipped)."""
    queue = queue_on(store, settings or fieldwork())
    fake = http or fake_twilio()
    client = Client(SID, TOKEN, http_client=fake)
    report = place_due_calls(
        AutomatedCalls(queue), client, SETTINGS, "mini", limit=limit, clock=lambda: now
    )
    return Run(report, fake, queue)
