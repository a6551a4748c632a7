"""The case facts kept on each wave member's row equal a recount from the raw tables (issue 13).

Migration 0017 keeps, on every ``wave_members`` row, what the dashboard and the
wave's dataset need to know of the case (its interviews, invitations, link,
call outcome, handed messages), by triggers on the tables those come from;
migration 0020 adds the member's withdrawal and their values of the wave's
subgroup variables (kept from the dashboard's first read of the wave).
:func:`assert_facts_recount` works every fact out again from the raw tables
(the joins the dashboard used to run at each read,
:func:`~instrument.store.panel_reports.recounted_case_facts`, and plain
statements over the interviews and messages) and compares them member by
member, and compares the figures read from the facts with the same figures
counted from the raw tables. The whole simulated wave
(tests/test_panel_whole_wave.py) ends with it; here the dashboard's
seventeen-member history is changed in every way a trigger must notice, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from panel_dashboard_helpers import (
    DAY_STARTS,
    NOW,
    STEP_STARTS,
    TODAY,
    add_version,
    at,
    make_wave_history,
)

from instrument.store import Store
from instrument.store.panel_reports import (
    CONTACT_KINDS,
    HANDED,
    VALUE_SEPARATOR,
    case_facts,
    recounted_case_facts,
)
from instrument.store.schema import (
    access_tokens,
    case_queue,
    interviews,
    members,
    panel_messages,
    wave_members,
    wave_subgroups,
    waves,
)
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)

FIGURES: dict[str, Any] = {
    "now": NOW,
    "day_starts": DAY_STARTS,
    "step_starts": STEP_STARTS,
    "today": TODAY,
    "profile_variables": ["n_children", "age_band", "lone_parent"],
}


def _kept_and_recounted(connection: sa.Connection, wave_id: int) -> tuple[dict, dict]:
    """Each member's (case facts, interview facts, handed messages), kept and recounted."""
    wm = wave_members
    everyone = wm.c.wave_id == wave_id
    kept_columns, kept_join = case_facts()
    kept = {
        row[0]: tuple(row[1:])
        for row in connection.execute(
            sa.select(
                wm.c.case_id,
                *kept_columns,
                wm.c.iv_completes,
                wm.c.complete_mode,
                wm.c.complete_started_at,
                wm.c.complete_finished_at,
                wm.c.iv_stoppable,
                wm.c.handed_steps,
            )
            .select_from(kept_join)
            .where(everyone)
        )
    }
    columns, joined = recounted_case_facts(wave_id, everyone, interviews.c.is_test.is_(False))
    facts = {
        row[0]: tuple(row[1:])
        for row in connection.execute(
            sa.select(wm.c.case_id, *columns).select_from(joined).where(everyone)
        )
    }
    real = connection.execute(
        sa.select(
            interviews.c.case_id,
            interviews.c.id,
            interviews.c.status,
            interviews.c.last_seq,
            interviews.c.mode,
            interviews.c.started_at,
            interviews.c.finished_at,
        )
        .select_from(wm.join(interviews, interviews.c.case_id == wm.c.case_id))
        .where(everyone, interviews.c.is_test.is_(False))
    ).all()
    handed: dict[str, list[str]] = {}
    for case_id, step, channel in connection.execute(
        sa.select(panel_messages.c.case_id, panel_messages.c.step, panel_messages.c.channel).where(
            panel_messages.c.wave_id == wave_id,
            panel_messages.c.kind.in_(CONTACT_KINDS),
            panel_messages.c.state.in_(HANDED),
        )
    ):
        handed.setdefault(case_id, []).append(step if channel is None else f"{step}\x1f{channel}")
    recounted = {}
    for case_id, fact in facts.items():
        mine = [r for r in real if r.case_id == case_id]
        done = sorted(
            (r for r in mine if r.status == "complete"), key=lambda r: (r.started_at, r.id)
        )
        first = done[0] if done else None
        stoppable = sum(
            r.status == "abandoned" or (r.status == "active" and r.last_seq > 0) for r in mine
        )
        recounted[case_id] = (
            *fact,
            len(done),
            first.mode if first else None,
            first.started_at if first else None,
            first.finished_at if first else None,
            stoppable,
            "\x1e".join(sorted(handed.get(case_id, []))),
        )
    return kept, recounted


def _raw_figures(connection: sa.Connection, wave_id: int) -> dict[str, Any]:
    """The figures the facts stand in for, counted from the raw tables as they used to be."""
    wm = wave_members
    in_wave = sa.and_(wm.c.wave_id == wave_id, wm.c.eligible.is_(True))
    joined = wm.join(interviews, interviews.c.case_id == wm.c.case_id)
    real = interviews.c.is_test.is_(False)
    sent = Counter()
    for step, channel, n in connection.execute(
        sa.select(panel_messages.c.step, panel_messages.c.channel, sa.func.count())
        .where(
            panel_messages.c.wave_id == wave_id,
            panel_messages.c.kind.in_(CONTACT_KINDS),
            panel_messages.c.state.in_(HANDED),
        )
        .group_by(panel_messages.c.step, panel_messages.c.channel)
    ):
        sent[(str(step), str(channel))] = int(n)
    completes = connection.execute(
        sa.select(interviews.c.case_id, interviews.c.mode, interviews.c.finished_at)
        .select_from(joined)
        .where(in_wave, real, interviews.c.status == "complete")
    ).all()
    return {"sent": dict(sent), "completes": completes}


def assert_values_recount(store: Store, wave_id: int) -> list[str] | None:
    """Every member's kept subgroup values equal their profile's values of the wave's kept
    subgroup variables, read as the dashboard read them before migration 0020 (JSON
    extraction per dialect, a value the member lacks as ''); none are kept while the wave has
    no subgroup variables. Returns the variables."""
    wm = wave_members
    with store.engine.connect() as connection:
        kept_names = connection.scalar(
            sa.select(wave_subgroups.c.variables).where(wave_subgroups.c.wave_id == wave_id)
        )
        names = None if kept_names is None else json.loads(kept_names)
        read = [members.c.profile[name].as_string() for name in names or ()]
        rows = connection.execute(
            sa.select(wm.c.case_id, wm.c.profile_values, *read)
            .select_from(wm.join(members, members.c.id == wm.c.member_id))
            .where(wm.c.wave_id == wave_id)
        ).all()
    assert rows
    wrong = {}
    for case_id, kept, *values in rows:
        recounted = (
            VALUE_SEPARATOR.join("" if v is None else str(v) for v in values) if names else None
        )
        if kept != recounted:
            wrong[case_id] = (kept, recounted)
    assert not wrong, wrong
    return names


def assert_facts_recount(store: Store, wave_id: int) -> None:
    """Every member's kept facts equal a recount from the raw tables, and so do the figures
    read from them (messages by step and channel, completes by day and mode, lengths), and
    the subgroup values the figures' read keeps."""
    with store.engine.connect() as connection:
        kept, recounted = _kept_and_recounted(connection, wave_id)
        raw = _raw_figures(connection, wave_id)
    assert kept.keys() == recounted.keys()
    wrong = {case: (kept[case], recounted[case]) for case in kept if kept[case] != recounted[case]}
    assert not wrong, wrong
    figures = store.wave_figures(wave_id, **FIGURES)
    assert dict(figures.sent_by_step) == raw["sent"]
    day_of = {}
    for case_id, mode, finished in raw["completes"]:
        day = -1 if finished is None else sum(finished >= s for s in FIGURES["day_starts"]) - 1
        step = -1 if finished is None else sum(finished >= s for s in FIGURES["step_starts"]) - 1
        day_of.setdefault((day, step, mode), set()).add(case_id)
    assert dict(figures.completes_by_bucket) == {k: len(v) for k, v in day_of.items()}
    by_mode = Counter(mode for _, mode, finished in raw["completes"] if finished is not None)
    assert {m.mode: m.completes for m in figures.lengths} == dict(by_mode)
    assert assert_values_recount(store, wave_id) == FIGURES["profile_variables"]


def _wave(store: Store) -> int:
    return make_wave_history(store, add_version(store))


def _one(store: Store, statement: Any) -> None:
    with store.engine.begin() as connection:
        connection.execute(statement)


def test_the_history_as_written_is_recounted(store: Store) -> None:
    wave_id = _wave(store)
    assert_facts_recount(store, wave_id)
    with store.engine.connect() as connection:
        other = connection.scalar(sa.select(waves.c.id).where(waves.c.id != wave_id))
    assert_facts_recount(store, other)  # the other wave's members too


def test_every_change_a_trigger_must_notice(store: Store) -> None:
    wave_id = _wave(store)
    with store.engine.connect() as connection:
        cases = (
            connection.execute(
                sa.select(wave_members.c.case_id)
                .where(wave_members.c.wave_id == wave_id)
                .order_by(wave_members.c.case_id)
            )
            .scalars()
            .all()
        )
        some = connection.execute(
            sa.select(interviews.c.id, interviews.c.case_id, interviews.c.status)
            .where(interviews.c.case_id.in_(cases))
            .order_by(interviews.c.id)
        ).all()
    complete = next(r for r in some if r.status == "complete")
    active = next(r for r in some if r.status == "active")
    version = store.engine.connect().scalar(sa.select(interviews.c.questionnaire_version_id))
    bare = next(c for c in cases if c not in {r.case_id for r in some})
    changes = [
        # a second complete interview on a case: the figures read that case's interviews
        interviews.insert().values(
            id="second-complete",
            questionnaire_version_id=version,
            case_id=complete.case_id,
            mode="cati",
            language="en",
            status="complete",
            is_test=False,
            state={},
            revision=3,
            started_at=at(9, 10),
            updated_at=at(9, 11),
            finished_at=at(9, 11),
            last_seq=4,
        ),  # fmt: skip
        # a test interview changes nothing
        interviews.insert().values(
            id="a-test",
            questionnaire_version_id=version,
            case_id=bare,
            mode="web",
            language="en",
            status="complete",
            is_test=True,
            state={},
            revision=1,
            started_at=at(2, 10),
            updated_at=at(2, 11),
            finished_at=at(2, 11),
            last_seq=2,
        ),  # fmt: skip
        # a first answer, then a finish with a new mode, then a withdrawal
        interviews.update().where(interviews.c.id == active.id).values(last_seq=7),
        interviews.update()
        .where(interviews.c.id == active.id)
        .values(status="complete", mode="cati", finished_at=at(10, 9)),
        interviews.update().where(interviews.c.id == "second-complete").values(status="withdrawn"),
        # an interview moved to another case, and one deleted
        interviews.update().where(interviews.c.id == "a-test").values(is_test=False),
        interviews.update().where(interviews.c.id == "a-test").values(case_id=cases[0]),
        interviews.delete().where(interviews.c.id == "a-test"),
        # messages: a sent invitation bounces, one is deleted, one's channel changes
        panel_messages.update()
        .where(panel_messages.c.case_id == cases[1], panel_messages.c.kind == "invitation")
        .values(state="bounced"),
        panel_messages.delete().where(
            panel_messages.c.case_id == cases[2], panel_messages.c.kind == "reminder"
        ),
        panel_messages.update()
        .where(panel_messages.c.case_id == cases[3], panel_messages.c.state.in_(HANDED))
        .values(channel="letter"),
        panel_messages.update()
        .where(panel_messages.c.case_id == cases[4], panel_messages.c.state.in_(HANDED))
        .values(state="sending"),
        # the link: used, then its token moved, then deleted
        access_tokens.insert().values(
            token_hash="f" * 64,
            interview_id=None,
            case_id=bare,
            questionnaire_id="mini",
            purpose="respondent",
            created_at=at(0, 9),
            expires_at=None,
            used_at=at(3, 9),
        ),  # fmt: skip
        access_tokens.update()
        .where(access_tokens.c.token_hash == "f" * 64)
        .values(case_id=cases[5]),
        access_tokens.delete().where(access_tokens.c.token_hash == "f" * 64),
        # the call queue: a case coded, recoded, then taken out
        case_queue.insert().values(
            case_id=bare,
            zone="Europe/London",
            priority=0,
            disposition="no_answer",
            final=False,
            attempts=1,
            updated_at=at(15, 9),
        ),  # fmt: skip
        case_queue.update().where(case_queue.c.case_id == bare).values(disposition="refusal_hard"),
        case_queue.delete().where(case_queue.c.case_id == bare),
    ]
    for change in changes:
        _one(store, change)
        assert_facts_recount(store, wave_id)


def test_a_member_added_to_a_wave_gets_the_facts_of_what_its_case_has(store: Store) -> None:
    wave_id = _wave(store)
    with store.engine.begin() as connection:
        row = connection.execute(
            sa.select(wave_members).where(
                wave_members.c.wave_id == wave_id, wave_members.c.iv_stage == 5
            )
        ).first()
        assert row is not None
        connection.execute(
            wave_members.delete().where(
                wave_members.c.wave_id == wave_id, wave_members.c.member_id == row.member_id
            )
        )
        connection.execute(
            wave_members.insert().values(
                wave_id=wave_id, member_id=row.member_id, case_id=row.case_id, eligible=True,
                updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )  # fmt: skip
    assert_facts_recount(store, wave_id)
    with store.engine.connect() as connection:
        assert (
            connection.scalar(
                sa.select(wave_members.c.iv_stage).where(wave_members.c.case_id == row.case_id)
            )
            == 5
        )


def _subgroup(figures: Any, variable: str, value: str) -> tuple[int, int]:
    row = next(r for r in figures.subgroups if (r.variable, r.value) == (variable, value))
    return row.members, row.completes


def test_the_members_withdrawal_and_profile_are_kept_for_the_dashboard(store: Store) -> None:
    """Migration 0020's facts follow every change of what they come from: a member withdrawing
    and coming back, a profile value changed or removed, another list of subgroup variables,
    a member added to a wave whose subgroups are counted; the figures follow them."""
    wave_id = _wave(store)
    assert assert_values_recount(store, wave_id) is None  # nothing kept before the first read
    before = store.wave_figures(wave_id, **FIGURES)
    assert_facts_recount(store, wave_id)
    with store.engine.connect() as connection:
        complete = connection.execute(
            sa.select(members.c.id, members.c.profile)
            .join(wave_members, wave_members.c.member_id == members.c.id)
            .where(wave_members.c.wave_id == wave_id, wave_members.c.iv_stage == 5)
            .order_by(members.c.id)
        ).first()
    assert complete is not None and complete.profile["lone_parent"] == "1"
    member = members.c.id == complete.id
    changes = [
        members.update().where(member).values(status="withdrawn"),
        members.update().where(member).values(status="active"),
        members.update().where(member).values(status="paused"),  # not a withdrawal
        members.update().where(member).values(profile={**complete.profile, "lone_parent": "2"}),
        members.update()
        .where(member)
        .values(profile={"n_children": "3", "lone_parent": "2", "region": "7"}),
    ]
    for change in changes:
        _one(store, change)
        assert_facts_recount(store, wave_id)
    after = store.wave_figures(wave_id, **FIGURES)
    members_1, completes_1 = _subgroup(before, "lone_parent", "1")
    assert _subgroup(after, "lone_parent", "1") == (members_1 - 1, completes_1 - 1)
    assert _subgroup(after, "age_band", "(not known)") == (1, 1)
    assert _subgroup(after, "n_children", "3") == (1, 1)

    # Another list of subgroup variables: every member's values are worked out again.
    other = store.wave_figures(wave_id, **{**FIGURES, "profile_variables": ["lone_parent"]})
    assert assert_values_recount(store, wave_id) == ["lone_parent"]
    assert {r.variable for r in other.subgroups} == {"lone_parent"}
    assert [(r.value, r.members) for r in other.subgroups] == [
        (r.value, r.members) for r in after.subgroups if r.variable == "lone_parent"
    ]

    # A member added to the wave now gets their values (and withdrawal) at once.
    with store.engine.begin() as connection:
        row = connection.execute(
            sa.select(wave_members).where(
                wave_members.c.wave_id == wave_id, wave_members.c.member_id == complete.id
            )
        ).one()
        connection.execute(
            wave_members.delete().where(
                wave_members.c.wave_id == wave_id, wave_members.c.member_id == complete.id
            )
        )
        connection.execute(members.update().where(member).values(status="withdrawn"))
        connection.execute(
            wave_members.insert().values(
                wave_id=wave_id, member_id=complete.id, case_id=row.case_id, eligible=True,
                updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )  # fmt: skip
    assert assert_values_recount(store, wave_id) == ["lone_parent"]
    assert_facts_recount(store, wave_id)
    with store.engine.connect() as connection:
        assert (
            connection.scalar(
                sa.select(wave_members.c.member_withdrawn).where(
                    wave_members.c.member_id == complete.id
                )
            )
            == 1
        )


def test_subgroup_variables_are_names(store: Store) -> None:
    wave_id = _wave(store)
    with pytest.raises(ValueError, match="subgroups: 'age band' is not a valid"):
        store.wave_figures(wave_id, **{**FIGURES, "profile_variables": ["age band"]})


# PostgreSQL only: on SQLite, with one writer at a time, the second first read waits for the first.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_first_reads_at_once_both_give_the_figures(store: Store) -> None:
    """Two server processes reading a wave for the first time at once both write down its
    subgroup variables: the one that comes second finds them written and reads them."""
    assert store.dialect == "postgresql"
    wave_id = _wave(store)
    engine = store.engine
    raced: list[bool] = []

    def write_them_meanwhile(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if raced or "FROM wave_subgroups" not in statement or "kept" in statement:
            return  # once, right after the first read looked for them to write them
        raced.append(True)
        with engine.begin() as other:
            other.execute(
                wave_subgroups.insert().values(
                    wave_id=wave_id,
                    variables=json.dumps(FIGURES["profile_variables"]),
                    updated_at=NOW,
                )
            )

    sa.event.listen(engine, "after_cursor_execute", write_them_meanwhile)
    try:
        figures = store.wave_figures(wave_id, **FIGURES)
    finally:
        sa.event.remove(engine, "after_cursor_execute", write_them_meanwhile)
    assert raced == [True]
    assert figures.subgroups == store.wave_figures(wave_id, **FIGURES).subgroups
    assert_values_recount(store, wave_id)
