"""A panel member's withdrawal in the store, on SQLite and PostgreSQL: each of the three
choices done at once with its evidence, the phone queue, contact details gone, answers gone and
the export leaving the case out, a second request changing nothing, the retention purge, SMS
START."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from instrument.cli import cli
from instrument.dataset.builder import build_dataset
from instrument.loader import load_questionnaire_text
from instrument.panel.members import lookup_form
from instrument.store import Store, open_store
from instrument.store.schema import member_contacts, staff_audit, wave_members
from tests.panel_withdrawal_helpers import (
    PANEL,
    PHONES,
    QUESTIONNAIRE,
    SECRET_ANSWER,
    T0,
    YAML,
    dump,
    panel_keys,
    set_up_panel,
)
from tests.store_fixtures import *

T1 = T0 + dt.timedelta(days=5)


def _wave_row(store: Store, member_id: int) -> sa.Row:  # type: ignore[type-arg]
    with store.engine.connect() as connection:
        return connection.execute(
            sa.select(wave_members).where(wave_members.c.member_id == member_id)
        ).one()


def _audit(store: Store) -> list[sa.Row]:  # type: ignore[type-arg]
    """The log's withdrawal and purge entries (the import writes one of its own)."""
    with store.engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(staff_audit)
                .where(staff_audit.c.action.in_(["withdraw_member", "purge_contacts"]))
                .order_by(staff_audit.c.id)
            )
        )


def test_stop_contact_stops_the_wave_case_and_the_queue_and_keeps_answers(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann, bryn = panel.member_ids["R001"], panel.member_ids["R002"]
    case = panel.cases["R001"]
    assert store.queue_row(case) is not None

    done = store.withdraw_member(
        ann, "stop_contact", actor="member:link", by_staff=False, via="link", now=T1,
        wave_id=panel.wave_id,
    )  # fmt: skip

    assert (done.done, done.choice, done.at, done.cases_stopped) == (
        True,
        "stop_contact",
        T1,
        (case,),
    )
    assert done.queue_rows_removed == 1 and done.contacts_deleted == 0
    member = store.member_by_id(ann)
    assert member is not None and member.status == "withdrawn"
    row = _wave_row(store, ann)
    assert (row.stopped_at, row.next_due) == (T1, None)
    assert store.queue_row(case) is None
    assert len(store.member_contacts(ann)) == 4  # kept: only contact stops
    assert store.load_interview(store.interviews_for_case(case)[0].id).status == "complete"
    # the evidence: a history entry, and no staff audit entry (the member did it)
    entry = store.member_history(ann)[-1]
    assert (entry.action, entry.actor, entry.at) == ("withdrawal", "member:link", T1)
    assert entry.after is not None
    assert {k: entry.after[k] for k in ("choice", "by", "via", "wave", "cases_stopped")} == {
        "choice": "stop_contact", "by": "member", "via": "link", "wave": panel.wave_id,
        "cases_stopped": [case],
    }  # fmt: skip
    assert _audit(store) == []
    # nobody else is touched
    assert store.member_by_id(bryn).status == "active"  # type: ignore[union-attr]
    assert store.queue_row(panel.cases["R002"]) is not None
    assert _wave_row(store, bryn).stopped_at is None


def test_delete_contacts_by_staff_removes_every_copy_and_is_audited(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann, case = panel.member_ids["R001"], panel.cases["R001"]
    assert "Member R001" in dump(store) and PHONES["R001"] in dump(store)

    done = store.withdraw_member(
        ann, "delete_contacts", actor="cli:rita", by_staff=True, via="cli", now=T1,
        reason="asked on the phone",
    )  # fmt: skip

    assert (done.done, done.contacts_deleted, done.queue_rows_removed) == (True, 4, 1)
    assert store.member_contacts(ann) == ()
    assert store.get_contact(case) is None and store.phone_numbers_of(case) == []
    text = dump(store)
    assert "Member R001" not in text and PHONES["R001"] not in text
    assert PHONES["R002"] in text  # another member's number stays
    assert store.load_interview(store.interviews_for_case(case)[0].id).status == "complete"
    (audit,) = _audit(store)
    member = store.member_by_id(ann)
    assert member is not None
    assert (audit.actor, audit.action, audit.subject, audit.at) == (
        "cli:rita", "withdraw_member", f"member:{member.pseudonym}", T1,
    )  # fmt: skip
    assert audit.detail["choice"] == "delete_contacts"
    assert audit.detail["reason"] == "asked on the phone"
    assert audit.detail["contacts_deleted"] == 4
    entry = store.member_history(ann)[-1]
    assert (entry.action, entry.actor, entry.after["by"]) == ("withdrawal", "cli:rita", "staff")  # type: ignore[index]


def test_delete_all_withdraws_the_cases_and_the_export_leaves_them_out(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann, case = panel.member_ids["R001"], panel.cases["R001"]
    token = store.issue_token(QUESTIONNAIRE, case_id=case, now=T0)
    before = dump(store).count(SECRET_ANSWER)

    done = store.withdraw_member(
        ann, "delete_all", actor="member:link", by_staff=False, via="link", now=T1
    )

    assert done.cases_withdrawn == (case,) and done.answer_events_deleted >= 1
    (interview,) = store.interviews_for_case(case)
    after = store.load_interview(interview.id)
    assert (after.status, after.state) == ("withdrawn", {})
    assert store.events_for(interview.id) == []
    found = store.find_token(token)
    assert found is not None and found.is_expired(T1)
    assert store.member_contacts(ann) == () and store.get_contact(case) is None
    # each of the three members' cases held the answer equally; two of them still do
    assert dump(store).count(SECRET_ANSWER) * 3 == before * 2
    questionnaire = load_questionnaire_text(YAML).questionnaire
    assert questionnaire is not None
    version = store.add_questionnaire_version(QUESTIONNAIRE, "1", YAML)  # the stored one
    dataset = build_dataset(
        questionnaire,
        store.iter_export_records(QUESTIONNAIRE),
        versions={version.id: questionnaire},
        include_partial=True,
    )
    assert len(dataset.frame) == 2  # the two others' interviews (case ids are pseudonymised)
    assert dataset.left_out.get("withdrawn") == 1


def test_asking_again_or_for_less_changes_nothing_and_says_since_when(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann = panel.member_ids["R001"]
    first = store.withdraw_member(
        ann, "delete_contacts", actor="member:link", by_staff=False, via="link", now=T1
    )
    history = store.member_history(ann)

    for choice in ("delete_contacts", "stop_contact"):
        again = store.withdraw_member(
            ann, choice, actor="cli:rita", by_staff=True, via="cli", now=T1 + dt.timedelta(hours=1)
        )
        assert (again.done, again.choice, again.at) == (False, "delete_contacts", first.at)
    assert store.member_history(ann) == history and _audit(store) == []
    assert store.withdrawal_in_force(ann) == ("delete_contacts", T1)

    more = store.withdraw_member(
        ann,
        "delete_all",
        actor="member:link",
        by_staff=False,
        via="link",
        now=T1 + dt.timedelta(days=1),
    )
    assert more.done and more.cases_withdrawn == (panel.cases["R001"],)
    assert store.member_history(ann)[-1].after["previous"] == "delete_contacts"  # type: ignore[index]
    assert store.withdrawal_in_force(ann) == ("delete_all", T1 + dt.timedelta(days=1))


def test_two_submissions_at_once_withdraw_once(store: Store) -> None:
    """A double click, or the page and a mail client's one-click together: one withdrawal."""
    panel = set_up_panel(store, panel_keys())
    ann = panel.member_ids["R001"]
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        barrier.wait()
        done = store.withdraw_member(
            ann, "delete_all", actor="member:link", by_staff=False, via="link", now=T1
        )
        results.append(done.done)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert [e.action for e in store.member_history(ann)].count("withdrawal") == 1


def test_a_member_withdrawn_by_a_file_counts_as_stopped(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann = panel.member_ids["R001"]
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE members SET status = 'withdrawn' WHERE id = :i"), {"i": ann}
        )
    again = store.withdraw_member(
        ann, "stop_contact", actor="member:link", by_staff=False, via="link", now=T1
    )
    assert (again.done, again.choice) == (False, "stop_contact")
    assert store.withdraw_member(
        ann, "delete_contacts", actor="m", by_staff=False, via="link", now=T1
    ).done


def test_a_deceased_member_stays_deceased_when_a_relative_uses_the_link(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann = panel.member_ids["R001"]
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE members SET status = 'deceased' WHERE id = :i"), {"i": ann}
        )
    done = store.withdraw_member(
        ann, "delete_contacts", actor="member:link", by_staff=False, via="link", now=T1
    )
    assert done.done and done.contacts_deleted == 4
    assert store.member_by_id(ann).status == "deceased"  # type: ignore[union-attr]
    assert store.withdrawal_in_force(ann) == ("delete_contacts", T1)
    bryn = panel.member_ids["R002"]
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE members SET status = 'deceased' WHERE id = :i"), {"i": bryn}
        )
    store.withdraw_member(
        bryn, "stop_contact", actor="member:link", by_staff=False, via="link", now=T0
    )
    purge = store.purge_withdrawn_contacts(
        PANEL, older_than=dt.timedelta(days=1), now=T1, actor="cli:rita"
    )
    assert (purge.members, store.member_contacts(bryn)) == (1, ())


def test_unknown_member_and_choice_are_refused(store: Store) -> None:
    set_up_panel(store, panel_keys())
    with pytest.raises(LookupError):
        store.withdraw_member(999, "stop_contact", actor="m", by_staff=False, via="link", now=T1)
    with pytest.raises(ValueError, match="stop_contact"):
        store.withdraw_member(1, "forget_me", actor="m", by_staff=False, via="link", now=T1)
    assert store.member_by_id(999) is None


def test_purge_removes_contacts_of_members_withdrawn_long_enough(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann, bryn, cat = (panel.member_ids[m] for m in ("R001", "R002", "R003"))
    store.withdraw_member(
        ann, "stop_contact", actor="member:link", by_staff=False, via="link", now=T0
    )
    store.withdraw_member(
        bryn, "stop_contact", actor="member:link", by_staff=False, via="link", now=T1
    )

    purge = store.purge_withdrawn_contacts(
        PANEL, older_than=dt.timedelta(days=3), now=T1 + dt.timedelta(hours=1), actor="cli:rita"
    )

    assert (purge.members, purge.contacts_deleted) == (1, 4)
    assert store.member_contacts(ann) == () and store.get_contact(panel.cases["R001"]) is None
    assert len(store.member_contacts(bryn)) == 4  # withdrawn only an hour ago
    assert len(store.member_contacts(cat)) == 2  # never withdrew
    entry = store.member_history(ann)[-1]
    assert (entry.action, entry.after) == (
        "contacts_purged",
        {"contacts_deleted": 4, "older_than_days": 3},
    )
    # the evidence stays: the withdrawal entry is still there
    assert [e.action for e in store.member_history(ann)][-2:] == ["withdrawal", "contacts_purged"]
    (audit,) = _audit(store)
    assert (audit.action, audit.subject, audit.detail) == (
        "purge_contacts", f"panel:{PANEL}",
        {"older_than_days": 3, "members": 1, "contacts_deleted": 4},
    )  # fmt: skip
    # a second run finds nothing more, and says so in the log
    again = store.purge_withdrawn_contacts(
        PANEL, older_than=dt.timedelta(days=3), now=T1 + dt.timedelta(hours=2), actor="cli:rita"
    )
    assert (again.members, again.contacts_deleted) == (0, 0) and len(_audit(store)) == 2


def test_sms_stop_then_start_lifts_only_the_sms_stop(store: Store) -> None:
    panel = set_up_panel(store, panel_keys())
    ann = panel.member_ids["R001"]
    number_hash = panel.sealer.lookup_hash("phone", lookup_form("phone", PHONES["R001"]))
    assert store.mark_contact(number_hash, "opted_out", now=T1, actor="member:sms") == (ann,)
    assert store.mark_contact(number_hash, "opted_out", now=T1, actor="member:sms") == ()
    with store.engine.connect() as connection:
        marked = connection.scalar(
            sa.select(member_contacts.c.opted_out_at).where(
                member_contacts.c.lookup_hash == number_hash
            )
        )
    assert marked == T1
    assert store.allow_sms_again(
        number_hash, now=T1 + dt.timedelta(hours=1), actor="member:sms"
    ) == (ann,)
    assert (
        store.allow_sms_again(number_hash, now=T1 + dt.timedelta(hours=2), actor="member:sms") == ()
    )
    assert [e.action for e in store.member_history(ann)][-2:] == ["opted_out", "sms_start"]
    assert all(c.opted_out_at is None for c in store.member_contacts(ann))


# ---------------------------------------------------------------- the staff's commands


def _run(args: list[str], database_url: str) -> Result:
    env = {"INSTRUMENT_ACTOR": "rita"}
    return CliRunner().invoke(
        cli, [*args, "--database", database_url], env=env, catch_exceptions=False
    )


def test_panel_withdraw_and_purge_commands(database_url: str) -> None:
    with open_store(database_url) as store:
        panel = set_up_panel(store, panel_keys())
    ann = panel.member_ids["R001"]

    missing = _run(["panel", "withdraw", "R001", "--panel", PANEL], database_url)
    assert (
        missing.exit_code == 2
        and "--stop-contact, --delete-contacts or --delete-all" in missing.output
    )
    nobody = _run(["panel", "withdraw", "R999", "--panel", PANEL, "--stop-contact"], database_url)
    assert nobody.exit_code == 1 and "has no member 'R999'" in nobody.output

    done = _run(
        ["panel", "withdraw", "R001", "--panel", PANEL, "--delete-contacts", "--reason", "rang us"],
        database_url,
    )
    assert done.exit_code == 0, done.output
    assert "contact stopped and contact details deleted" in done.output
    assert (
        "1 wave case(s) stopped, 1 taken out of the phone queue, 4 contact detail(s) deleted"
        in done.output
    )
    again = _run(["panel", "withdraw", "R001", "--panel", PANEL, "--stop-contact"], database_url)
    assert (
        again.exit_code == 0
        and "already done on" in again.output
        and "nothing changed" in again.output
    )

    shown = _run(["panel", "show", "R001", "--panel", PANEL], database_url)
    assert "withdrawal (delete_contacts) by cli:rita" in shown.output
    with open_store(database_url) as store:
        assert store.member_contacts(ann) == ()
        (entry,) = [e for e in store.staff_audit_page().entries if e.action == "withdraw_member"]
        assert (entry.actor, entry.detail["reason"], entry.detail["via"]) == (
            "cli:rita",
            "rang us",
            "cli",
        )  # type: ignore[index]
        store.withdraw_member(
            panel.member_ids["R002"], "stop_contact", actor="member:link", by_staff=False,
            via="link", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=40),
        )  # fmt: skip
    purged = _run(["panel", "purge", "--panel", PANEL, "--older-than", "30"], database_url)
    assert purged.exit_code == 0, purged.output
    assert purged.output.strip() == (
        f"panel {PANEL}: contact details of 1 member(s) withdrawn more than 30 day(s) ago "
        "deleted (4 detail(s))"
    )
    unknown = _run(["panel", "purge", "--panel", "nopanel", "--older-than", "30"], database_url)
    assert unknown.exit_code == 1 and "there is no panel 'nopanel'" in unknown.output
