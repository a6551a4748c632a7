"""The wave dashboard's figures, counted by the database (issue 13), on SQLite and PostgreSQL.

A wave with a known history (tests/panel_dashboard_helpers.py: seventeen members,
each with one story) is read back, and every figure is compared with the table
worked out by hand from the stories: the AAPOR dispositions of web-only and
phone cases and the rates they give, the contact funnel, completes by day, step
and mode, who was sent each step, break-offs by the last question answered, the
median length by mode, the telephone queue's health and completion by profile
subgroup. What must not count (a member found not eligible, a member of another
wave, a test interview) does not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from panel_dashboard_helpers import (
    DAY_STARTS,
    EXPECTED,
    NOW,
    STEP_STARTS,
    TODAY,
    add_version,
    at,
    make_wave_history,
)

from instrument.fieldwork.dispositions import RateClass
from instrument.fieldwork.settings import FieldworkSettings
from instrument.panel.wave_file import load_wave_text
from instrument.server.app import get_host
from instrument.server.panel_dashboard_figures import day_starts, step_starts
from instrument.store import Store
from instrument.store.panel_reports import (
    CaseGroup,
    WaveFigures,
    aapor_table,
    wave_rates,
    web_disposition,
)
from instrument.store.schema import interviews, wave_members
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)
from tests.test_fieldwork_worker import (  # noqa: F401 (fixtures: the worker's real channels)
    BASE,
    a_worker,
    channels,
    clock,
    finish,
    link_in,
    panel,
    run_until_idle,
    smtp_server,
)
from tests.test_panel_waves_store import DAY0, PANEL, QUESTIONNAIRE, member_case, open_flagship
from tests.test_web_support import Respondent, make_app

PHONE = {c: (d.aapor, d.label, d.rate_class) for c, d in FieldworkSettings().dispositions.items()}


def figures_of(store: Store) -> WaveFigures:
    wave_id = make_wave_history(store, add_version(store))
    return store.wave_figures(
        wave_id,
        now=NOW,
        day_starts=DAY_STARTS,
        step_starts=STEP_STARTS,
        today=TODAY,
        profile_variables=["n_children", "age_band", "lone_parent"],
    )


def test_every_figure_equals_the_hand_computed_table(store: Store) -> None:
    figures = figures_of(store)
    assert figures.members == EXPECTED["members"]
    assert figures.wave.key == "w1" and figures.wave.panel == "families"
    assert figures.wave.completes == 4

    table, counts = aapor_table(figures.groups, PHONE)
    assert [(r.aapor, r.label, r.rate_class, r.count) for r in table] == EXPECTED["dispositions"]
    assert (counts.I, counts.P, counts.R, counts.NC, counts.O, counts.UH, counts.UO, counts.NE) == (
        4,
        3,
        4,
        3,
        0,
        0,
        2,
        1,
    )
    got = wave_rates(counts)
    assert got.keys() == EXPECTED["rates"].keys()
    for name, value in EXPECTED["rates"].items():
        assert got[name] == pytest.approx(value), name

    groups = figures.groups
    assert sum(g.count for g in groups if g.reach == 2 or g.stage >= 2 or g.opened) == 15
    assert sum(g.count for g in groups if g.opened or g.stage >= 2) == 9
    assert sum(g.count for g in groups if g.stage in (3, 4, 5)) == 8
    assert sum(g.count for g in groups if g.stage == 5) == 4

    assert dict(figures.completes_by_bucket) == EXPECTED["completes"]
    assert dict(figures.sent_by_step) == EXPECTED["sent_by_step"]
    assert [(b.variable, b.count) for b in figures.breakoffs] == EXPECTED["breakoffs"]
    assert [(m.mode, m.completes, m.median_seconds) for m in figures.lengths] == [
        (mode, n, pytest.approx(seconds, abs=0.5)) for mode, n, seconds in EXPECTED["lengths"]
    ]
    p = figures.phone
    assert {name: getattr(p, name) for name in EXPECTED["phone"]} == EXPECTED["phone"]
    assert [(r.variable, r.value, r.members, r.completes) for r in figures.subgroups] == EXPECTED[
        "subgroups"
    ]


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(store: Store) -> None:
    """Three web completes (10, 20, 30 minutes) and a fourth of 60: the median is 25 minutes."""
    wave_id = make_wave_history(store, add_version(store))
    with store.engine.begin() as c:
        c.execute(
            interviews.update()
            .where(interviews.c.case_id == f"c{wave_id}-009")
            .values(
                status="complete",
                finished_at=at(1, 21),  # member 9 opened the link at 20:00 on day 1
            )
        )
    figures = store.wave_figures(wave_id, now=NOW)
    web = next(m for m in figures.lengths if m.mode == "web")
    assert (web.completes, web.median_seconds) == (4, pytest.approx(25 * 60.0, abs=0.5))


def test_a_wave_nobody_has_answered_gives_empty_figures(store: Store) -> None:
    wave_id = make_wave_history(store, add_version(store))
    other = store.panel_wave_by_key("w0")[0]
    figures = store.wave_figures(other.id, now=NOW, profile_variables=["age_band"])
    assert figures.members == 1 and figures.wave.completes == 1
    assert figures.breakoffs == () and figures.phone.in_queue == 0
    assert [(r.value, r.members) for r in figures.subgroups] == [("(not known)", 1)]
    assert wave_id != other.id


def test_the_list_of_waves_counts_members_and_completes(store: Store) -> None:
    make_wave_history(store, add_version(store))
    listed = store.panel_wave_list()
    assert [(w.key, w.members, w.completes) for w in listed] == [("w1", 17, 4), ("w0", 1, 1)]
    assert store.panel_wave_by_key("w1", "families")[0].label.endswith("wave 1")
    assert store.panel_wave_by_key("w1", "another") == []
    assert store.panel_wave_by_key("nope") == []


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (dict(stage=5, withdrawn=True), "1.1"),  # a complete stays complete
        (dict(stage=4), "4.10"),
        (dict(stage=3, withdrawn=True), "2.11"),  # withdrawn: its answers are gone
        (dict(stage=1), "2.11"),  # an interview withdrawn
        (dict(stage=3, stopped=True), "1.2"),  # stopped contact after starting: still partial
        (dict(stage=0, stopped=True, phone_disposition="refusal_hard"), "2.11"),
        (dict(stage=2, phone_disposition="refusal_soft"), "2.112"),  # the call says more
        (dict(stage=2, phone_disposition="no_answer"), "2.1121"),  # the web says more
        (dict(reach=2, phone_disposition="busy"), "2.20"),
        (dict(reach=2, phone_disposition="respondent_unavailable"), "2.21"),
        (dict(reach=1, phone_disposition="no_answer"), "3.13"),  # bounced: the phone is all
        (dict(reach=1), "3.30"),
        (dict(reach=0), "3.11"),
        (dict(reach=0, phone_disposition="made_up_code"), "3.11"),  # unknown codes: ignored
    ],
)
def test_the_web_mapping_rules(group: dict, expected: str) -> None:
    base = dict(
        stage=0,
        withdrawn=False,
        reach=0,
        opened=False,
        stopped=False,
        phone_disposition=None,
        count=1,
    )
    code, _, cls = web_disposition(CaseGroup(**{**base, **group}), PHONE)
    assert code == expected
    assert isinstance(cls, RateClass)


# ------------------------------------------------------------ a wave the real worker carried out


def test_the_figures_of_a_wave_the_fieldwork_worker_carried_out(
    database_url: str,
    panel: Any,
    channels: Any,
    clock: Any,
) -> None:
    """The flagship's wave walked by the real worker to day 14 (tests/test_fieldwork_worker.py's
    set-up: three eligible members, real email and SMS): Ann opens her email's link and answers
    nothing, Bryn completes on day 1, Eve never answers; Ann and Eve move to the phone on day 14.
    The dashboard reads the rows the worker and the web mode wrote, not rows of its own making."""
    store = panel.store
    open_flagship(panel)
    worker = a_worker(panel, channels, clock)
    clock.now = DAY0
    run_until_idle(worker)
    ann = next(r for r in channels.mailbox.received if r.rcpt_tos == ["ann@example.org"])
    app = make_app(database_url, clock, QUESTIONNAIRE)
    try:
        assert Respondent(app, "social_licence").get(link_in(ann).removeprefix(BASE)).status in (
            200,
            302,
        )
    finally:
        get_host(app).store.close()
    finish(store, member_case(store, "F002"), DAY0 + dt.timedelta(days=1))
    for day in (3, 7, 12, 14):
        clock.now = DAY0 + dt.timedelta(days=day)
        run_until_idle(worker)
    clock.now = DAY0 + dt.timedelta(days=14, hours=1)

    record = store.get_wave(PANEL, "w1")
    wave, _ = load_wave_text(record.source_text)
    figures = store.wave_figures(
        record.id,
        now=clock.now,
        day_starts=day_starts(wave, clock.now),
        step_starts=[when for _, _, when in step_starts(wave)],
        profile_variables=list(wave.profile),
    )
    assert figures.members == 3
    table, counts = aapor_table(figures.groups, PHONE)
    assert [(r.aapor, r.count) for r in table] == [("1.1", 1), ("2.1121", 1), ("2.20", 1)]
    assert wave_rates(counts) == pytest.approx(
        {"RR1": 1 / 3, "RR3": 1 / 3, "COOP1": 1 / 2, "REF1": 1 / 3, "CON1": 2 / 3}
    )
    groups = figures.groups
    assert sum(g.count for g in groups if g.reach == 2) == 3  # all invited
    assert sum(g.count for g in groups if g.opened) == 1  # Ann's link
    assert dict(figures.completes_by_bucket) == {(1, 0, "web"): 1}  # day 1, after the invitation
    assert dict(figures.sent_by_step) == {
        ("day0-invitation", "email"): 3,
        ("day0-invitation", "sms"): 3,
        ("day3-reminder", "email"): 2,
        ("day3-reminder", "sms"): 2,
        ("day7-reminder", "email"): 2,
        ("day12-reminder", "email"): 2,
        ("day12-reminder", "sms"): 2,
    }
    assert [(m.mode, m.completes, m.median_seconds) for m in figures.lengths] == [
        ("web", 1, pytest.approx(15 * 60.0, abs=0.5))
    ]
    assert figures.phone.in_queue == 2 and figures.breakoffs == ()
    assert [(r.variable, r.value, r.members, r.completes) for r in figures.subgroups] == [
        ("n_children", "1", 1, 1),
        ("n_children", "2", 1, 0),
        ("n_children", "(not known)", 1, 0),
        ("age_band", "2", 1, 1),
        ("age_band", "3", 1, 0),
        ("age_band", "4", 1, 0),
        ("lone_parent", "1", 1, 0),
        ("lone_parent", "2", 2, 1),
    ]


def test_the_figures_are_read_from_one_moment(store: Store) -> None:
    """An interview finished while the figures are being read is in none of them or in all.

    While the figures are being read, another connection commits a finished
    interview for a member of the wave who had broken off (answers, then nothing
    for days): the completes by day, the lengths and the break-offs must still
    agree with the groups. On PostgreSQL the write comes right after the figures'
    transaction exported its snapshot and before the second connection, which
    counts the break-offs and the queue (``_alongside``), takes it: this holds
    because both transactions are ``REPEATABLE READ`` on that one snapshot (the
    store's default, ``READ COMMITTED``, would count the new complete in later
    statements only). On SQLite the write comes after the groups were read, and a
    read transaction is one snapshot.
    """
    wave_id = make_wave_history(store, add_version(store))
    engine = store.engine
    with engine.connect() as c:
        started = c.execute(
            sa.select(interviews.c.id)
            .join(wave_members, wave_members.c.case_id == interviews.c.case_id)
            .where(
                wave_members.c.wave_id == wave_id,
                wave_members.c.eligible.is_(True),
                interviews.c.status == "active",
                interviews.c.last_seq > 0,
                interviews.c.updated_at < NOW - dt.timedelta(hours=24),
                interviews.c.is_test.is_(False),
            )
            .order_by(interviews.c.id)
            .limit(1)
        ).scalar_one()
    before = store.wave_figures(
        wave_id, now=NOW, day_starts=DAY_STARTS, step_starts=STEP_STARTS, today=TODAY
    )
    written: list[str] = []
    moment = "pg_export_snapshot" if store.dialect == "postgresql" else " AS reach"

    def finish_one_meanwhile(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if written or moment not in statement:
            return  # only once
        written.append(started)
        with engine.begin() as other:
            other.execute(
                interviews.update()
                .where(interviews.c.id == started)
                .values(status="complete", finished_at=NOW - dt.timedelta(hours=1))
            )

    sa.event.listen(engine, "after_cursor_execute", finish_one_meanwhile)
    try:
        figures = store.wave_figures(
            wave_id, now=NOW, day_starts=DAY_STARTS, step_starts=STEP_STARTS, today=TODAY
        )
    finally:
        sa.event.remove(engine, "after_cursor_execute", finish_one_meanwhile)
    assert written == [started]
    assert figures.wave.completes == 4  # as before the interview finished
    assert sum(figures.completes_by_bucket.values()) == figures.wave.completes
    assert sum(length.completes for length in figures.lengths) == figures.wave.completes
    assert figures.breakoffs == before.breakoffs and figures.phone == before.phone
    later = store.wave_figures(wave_id, now=NOW, day_starts=DAY_STARTS, step_starts=STEP_STARTS)
    assert later.wave.completes == 5
    assert sum(later.completes_by_bucket.values()) == 5
    assert sum(b.count for b in later.breakoffs) == sum(b.count for b in before.breakoffs) - 1
