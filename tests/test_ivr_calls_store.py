"""Automated calls in the store (SQLite and PostgreSQL): calls, turns stored once, access codes."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from instrument.store import Store, open_store
from instrument.store.ivr_calls import ACCESS_CODE_PURPOSE, access_code_key
from instrument.store.schema import access_tokens, ivr_calls, ivr_turns
from tests.fieldwork_store_helpers import T0, add_case
from tests.store_fixtures import *

KEY = access_code_key("a-secret-key-for-tests")
SID = "CA" + "1" * 32


def test_a_call_is_opened_once_and_its_turns_stored_once(store: Store) -> None:
    first = store.open_ivr_call(SID, direction="inbound", now=T0)
    again = store.open_ivr_call(SID, direction="inbound", now=T0 + dt.timedelta(seconds=9))
    assert first == again and first.seq == -1 and first.interview_id is None
    assert store.ivr_turn(SID, 0).twiml is None
    answered = store.record_ivr_turn(SID, 0, "<Response>0</Response>", state={"a": 1}, now=T0)
    assert answered == "<Response>0</Response>"
    retried = store.record_ivr_turn(SID, 0, "<Response>other</Response>", state={"a": 2}, now=T0)
    assert retried == "<Response>0</Response>"  # the first answer, byte for byte
    read = store.ivr_turn(SID, 0)
    assert read.twiml == "<Response>0</Response>" and read.call is not None
    assert read.call.state == {"a": 1} and read.call.seq == 0
    with store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(ivr_turns)) == 1


def test_the_state_moves_only_forward(store: Store) -> None:
    store.open_ivr_call(SID, direction="outbound", now=T0)
    store.record_ivr_turn(SID, 0, "<a/>", state={"n": 0}, now=T0)
    store.record_ivr_turn(SID, 2, "<c/>", state={"n": 2}, now=T0, interview_id=None)
    store.record_ivr_turn(SID, 1, "<b/>", state={"n": 1}, now=T0)  # late: its turn kept only
    call = store.ivr_call(SID)
    assert call is not None and call.seq == 2 and call.state == {"n": 2}
    assert store.ivr_turn(SID, 1).twiml == "<b/>"
    assert store.end_ivr_call(SID, now=T0) and not store.end_ivr_call(SID, now=T0)
    assert store.ivr_call(SID).ended_at == T0  # type: ignore[union-attr]


def test_copies_of_one_turn_racing_store_one_and_answer_alike(database_url: str) -> None:
    opened = [open_store(database_url) for _ in range(4)]
    opened[0].open_ivr_call(SID, direction="inbound", now=T0)
    answers: list[str] = []
    barrier = threading.Barrier(len(opened))

    def answer(store: Store, number: int) -> None:
        barrier.wait()
        answers.append(store.record_ivr_turn(SID, 1, f"<r{number}/>", state={"n": number}, now=T0))

    threads = [threading.Thread(target=answer, args=(s, n)) for n, s in enumerate(opened)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1 and len(answers) == len(opened)
    call = opened[0].ivr_call(SID)
    assert call is not None and f"<r{call.state['n']}/>" == answers[0]  # type: ignore[index]
    for store in opened:
        store.close()


def test_access_codes_are_stored_keyed_and_found_only_with_the_key(store: Store) -> None:
    add_case(store, "c-1", questionnaire="social_licence")
    code = store.issue_access_code("social_licence", case_id="c-1", key=KEY, now=T0)
    assert len(code) == 10 and code.isdigit()
    found = store.find_access_code(code, keys=[KEY])
    assert found is not None and found.case_id == "c-1" and found.purpose == ACCESS_CODE_PURPOSE
    with store.engine.connect() as connection:
        stored = connection.execute(sa.select(access_tokens.c.token_hash)).scalars().all()
    assert code not in "".join(stored) and len(stored) == 1
    assert store.find_access_code(code, keys=[access_code_key("another secret")]) is None
    rotated = store.find_access_code(code, keys=[access_code_key("new secret"), KEY])
    assert rotated is not None and rotated.id == found.id
    assert store.find_access_code("12345", keys=[KEY]) is None
    assert store.find_access_code("12ab", keys=[KEY]) is None
    assert store.find_access_code("", keys=[KEY]) is None
    link = store.issue_token("social_licence", case_id="c-1")
    assert store.find_access_code(link, keys=[KEY]) is None  # a link token is not a code


def test_an_outbound_attempt_leads_to_its_case(store: Store) -> None:
    add_case(store, "c-7", questionnaire="social_licence")
    claim = store.claim_next_case("ivr", now=T0)
    assert claim is not None
    assert store.outbound_case(claim.attempt_id)[:2] == ("c-7", "social_licence")
    assert store.outbound_case(999_999) is None


def test_withdrawal_forgets_the_calls_of_the_case(store: Store) -> None:
    add_case(store, "c-2", questionnaire="kinds")
    version = store.add_questionnaire_version("kinds", "1", "meta: {id: kinds}\n")
    record = store.create_interview(
        version.id, mode="ivr", language="en", state={"v": 1}, case_id="c-2", now=T0
    )
    store.open_ivr_call(SID, direction="inbound", now=T0, interview_id=record.id, case_id="c-2")
    store.record_ivr_turn(SID, 0, "<a/>", state={"values": {"0": 1}}, now=T0)
    store.withdraw("c-2", now=T0)
    with store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(ivr_calls)) == 0
        assert connection.scalar(sa.select(sa.func.count()).select_from(ivr_turns)) == 0
