"""Shared set-up of the withdrawal tests: a panel with members, a wave, each member's case.

Not a test module. Members are imported as ``instrument panel import`` does it
(a CSV read, sealed with real panel keys); the wave's rows are written
straight into ``waves`` and ``wave_members`` as opening a wave leaves them, and
each case gets an interview with answers, a contact row, phone numbers and a
place in the phone queue, so a withdrawal has something to remove.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import sqlalchemy as sa

from instrument.interviews import Answers, InterviewService, Seen, Surveys
from instrument.interviews.phone_sample import parse_number
from instrument.loader import load_questionnaire_text
from instrument.panel.crypto import (
    LOOKUP_SECRET,
    ContactSealer,
    PanelKeys,
    new_key,
    new_lookup_secret,
    open_sealer,
)
from instrument.panel.members import seal_row
from instrument.panel.members_csv import parse_members
from instrument.store import Store
from instrument.store.schema import wave_members, waves

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
PANEL = "natpanel"
QUESTIONNAIRE = "social_licence"
YAML = """\
meta:
  id: social_licence
  version: '1'
  title: Social licence
  languages: [en, cy]
  modes: [web, cati]
preload:
  - {id: region, type: text, label: Region from the panel profile}
items:
  - {id: q26, type: text, text: What help did you have?}
"""
SECRET_ANSWER = "my family had help in 2019"
MEMBERS = """\
external_id,language,name,email,phone,address_1,postcode
R001,en,Ann Example,ann@example.org,07911 123456,1 High St,SW1A 1AA
R002,cy,Bryn Enghraifft,bryn@example.org,07911 123999,2 Stryd Fawr,CF10 1AA
R003,en,Cat Example,cat@example.org,,,
"""
PHONES = {"R001": "+447911123456", "R002": "+447911123999"}


def panel_keys() -> PanelKeys:
    return PanelKeys.parse([new_key()], source="INSTRUMENT_PANEL_KEYS")


def sealer_of(store: Store, keys: PanelKeys) -> ContactSealer:
    secret = store.panel_secret(LOOKUP_SECRET, create=lambda: new_lookup_secret(keys), now=T0)
    return open_sealer(keys, secret)


@dataclass(frozen=True)
class Panel:
    """What a test needs to know of the panel it set up: member ids, cases, the wave."""

    member_ids: dict[str, int]
    cases: dict[str, str]
    wave_id: int
    sealer: ContactSealer


def set_up_panel(store: Store, keys: PanelKeys) -> Panel:
    """Import :data:`MEMBERS`, open a wave with a case each, answered, queued, with contacts."""
    sealer = sealer_of(store, keys)
    rows = parse_members(
        MEMBERS,
        source="members.csv",
        parse_phone=functools.partial(parse_number, region="GB"),
        now=T0,
    )
    store.import_members(
        PANEL, [seal_row(row, sealer, recorded_by="tester") for row in rows], now=T0, actor="t"
    )
    member_ids = {}
    for row in rows:
        member = store.get_member(PANEL, external_id=row.external_id)
        assert member is not None
        member_ids[row.external_id] = member.id
    questionnaire = load_questionnaire_text(YAML).questionnaire
    assert questionnaire is not None
    service = InterviewService(store, Surveys.serve(store, [questionnaire]))
    version = store.add_questionnaire_version(QUESTIONNAIRE, "1", YAML)
    panel = store.get_panel(PANEL)
    assert panel is not None
    with store.engine.begin() as connection:
        wave_id = connection.execute(
            waves.insert()
            .values(
                panel_id=panel.id, key="w1", label="Wave 1", questionnaire_id=QUESTIONNAIRE,
                questionnaire_version_id=version.id, file_digest="0" * 64, source_text="",
                starts_at=T0, closes_at=T0 + dt.timedelta(days=28), opened_at=T0,
                opened_by="cli:tester",
            )
            .returning(waves.c.id)
        ).scalar_one()  # fmt: skip
    cases = {}
    for number, external_id in enumerate(member_ids, start=1):
        case_id = f"K{number:04d}"
        cases[external_id] = case_id
        store.put_case(case_id, QUESTIONNAIRE, {"region": "London"}, now=T0)
        with store.engine.begin() as connection:
            connection.execute(
                wave_members.insert().values(
                    wave_id=wave_id, member_id=member_ids[external_id], case_id=case_id,
                    eligible=True, next_due=T0 + dt.timedelta(days=3), updated_at=T0,
                )
            )  # fmt: skip
        _answer(service, case_id)
        phone = PHONES.get(external_id)
        store.set_contact(case_id, name=f"Member {external_id}", phone=phone, now=T0)
        if phone is not None:
            store.set_phone_numbers(case_id, (phone,), T0)
            store.enqueue_case(case_id, zone="Europe/London", language="en", window=None, now=T0)
    return Panel(member_ids, cases, wave_id, sealer)


def _answer(service: InterviewService, case_id: str) -> None:
    """Start the case's interview and answer its question, as the web mode does."""
    started = service.start(QUESTIONNAIRE, mode="web", actor="respondent", now=T0, case_id=case_id)
    shown = service.show(started.interview.id, mode="web", actor="respondent", now=T0)
    seen = Seen(revision=shown.interview.revision, token=shown.step.token, key=f"{case_id}-1")
    service.answer(
        started.interview.id, seen, lambda _step: Answers({"q26": SECRET_ANSWER}, confirmed=True),
        mode="web", actor="respondent", now=T0,
    )  # fmt: skip


def dump(store: Store) -> str:
    """Every value in every table, as text."""
    parts: list[str] = []
    with store.engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)
