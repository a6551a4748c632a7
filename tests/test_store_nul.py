"""NUL characters: refused alike on SQLite and PostgreSQL, never a database error (both backends).

PostgreSQL cannot store NUL in text at all; before these checks a NUL in an
answer or a staff user name made a request fail with HTTP 500 there, while
SQLite stored it. Now every backend refuses it with :class:`NulCharacterRefused`
(a ``ValueError`` and a ``StoreError`` naming the field) and writes nothing,
and a look-up by a text holding one finds nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from instrument.store import (
    ImportedInterview,
    InterviewNotFound,
    NewEvent,
    NulCharacterRefused,
    Store,
    StoreError,
)
from instrument.store.nul import json_nul_path
from tests.store_fixtures import *

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
YAML = "meta:\n  id: social_licence\n  version: '1'\nquestions: []\n"


def _new_interview(store: Store):  # type: ignore[no-untyped-def]
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    return store.create_interview(
        version.id, mode="web", language="en", state={"answers": {"q1": "ok"}}, now=T0
    )


def _save(store: Store, interview_id: str, **changes):  # type: ignore[no-untyped-def]
    options = {
        "expected_revision": 0,
        "state": {"answers": {"q1": "fine"}},
        "status": "active",
        "mode": "web",
        "now": T0,
        **changes,
    }
    return store.save_interview(interview_id, **options)


def test_where_a_nul_is_in_a_json_value() -> None:
    assert json_nul_path({"answers": {"q1": "a", "q7": ["x", "y\x00"]}}) == "answers.q7[1]"
    assert json_nul_path({"a\x00": 1}) == "a\x00"
    assert json_nul_path("\x00") == ""
    assert json_nul_path({"answers": {"q1": "\\u0000", "q2": 3, "q3": None}}) is None


def test_a_save_with_a_nul_anywhere_is_refused_and_writes_nothing(store: Store) -> None:
    interview = _new_interview(store)
    refused = {
        "state answers.q7": {"state": {"answers": {"q7": "Cardiff\x00"}}},
        "state answers.q\x00": {"state": {"answers": {"q\x00": 1}}},
        "event 2 value": {"events": [NewEvent("q1", "ok"), NewEvent("q7", "a\x00b")]},
        "event 1 value other": {"events": [NewEvent("q1", {"other": "\x00"})]},
        "event 1 variable": {"events": [NewEvent("q\x00", 1)]},
        "event 1 actor": {"events": [NewEvent("q1", 1, actor="interviewer:\x00")]},
        "export row": {"export_row": "k,1,\x00"},
        "language": {"language": "e\x00n"},
        "mode": {"mode": "w\x00eb"},
        "idempotency key": {"idempotency_key": "key\x00"},
    }
    for field, changes in refused.items():
        with pytest.raises(NulCharacterRefused) as caught:
            _save(store, interview.id, **changes)
        assert caught.value.field == field
        assert isinstance(caught.value, StoreError) and isinstance(caught.value, ValueError)
        assert "NUL" in str(caught.value)
    stored = store.load_interview(interview.id)
    assert (stored.revision, stored.state) == (0, {"answers": {"q1": "ok"}})
    assert store.events_for(interview.id) == []
    # The same save without the NUL goes through at the revision nothing moved.
    assert _save(store, interview.id, events=[NewEvent("q1", "fine")]).revision == 1


def test_text_that_only_looks_like_an_escaped_nul_is_stored(store: Store) -> None:
    """A respondent may type a backslash and "u0000": that is six characters, not NUL."""
    interview = _new_interview(store)
    state = {"answers": {"q1": "\\u0000", "q2": "tab\tand é"}}
    _save(store, interview.id, state=state, events=[NewEvent("q1", "\\u0000")])
    assert store.load_interview(interview.id).state == state
    (event,) = store.events_for(interview.id)
    assert event.value == "\\u0000"


def test_other_writes_with_a_nul_are_refused_naming_the_field(store: Store) -> None:
    version = store.add_questionnaire_version("social_licence", "1", YAML)
    writes = {
        "state answers.q1": lambda: store.create_interview(
            version.id, mode="web", language="en", state={"answers": {"q1": "\x00"}}
        ),
        "case id": lambda: store.create_interview(
            version.id, mode="web", language="en", state={}, case_id="c\x00"
        ),
        "questionnaire source text": lambda: store.add_questionnaire_version("q", "1", "a\x00"),
        "name": lambda: store.set_contact("case-1", name="Ana\x00"),
        "case id ": lambda: store.issue_token("social_licence", case_id="case\x00"),
        "preload town": lambda: store.put_case("case-1", "social_licence", {"town": "\x00"}),
        "event 1 value": lambda: store.import_interviews(
            version.id,
            [
                ImportedInterview(
                    state={},
                    status="complete",
                    mode="web",
                    language="en",
                    events=[NewEvent("q1", "\x00")],
                )
            ],
        ),  # fmt: skip
        "state q1": lambda: store.import_interviews(
            version.id,
            [ImportedInterview(state={"q1": "\x00"}, status="complete", mode="web", language="en")],
        ),
    }
    for field, write in writes.items():
        with pytest.raises(NulCharacterRefused) as caught:
            write()
        assert caught.value.field == field.strip()
    assert store.count_by_status("social_licence") == dict.fromkeys(
        store.count_by_status("social_licence"), 0
    )
    assert store.get_contact("case-1") is None and store.get_case("case-1") is None


def test_look_ups_by_a_text_with_a_nul_find_nothing(store: Store) -> None:
    interview = _new_interview(store)
    odd = "x\x00y"
    with pytest.raises(InterviewNotFound):
        store.load_interview(odd)
    with pytest.raises(InterviewNotFound):
        _save(store, odd)
    assert store.revision_of(odd) is None
    assert store.interviews_for_case(odd) == []
    assert store.events_for(odd) == []
    assert store.get_contact(odd) is None
    assert store.get_case(odd) is None
    assert store.list_questionnaire_versions(odd) == []
    assert list(store.iter_interviews(odd)) == []
    assert list(store.iter_export_records(odd)) == []
    assert list(store.iter_events(odd)) == []
    assert set(store.count_by_status(odd).values()) == {0}
    assert store.withdraw(odd).interview_ids == ()
    with pytest.raises(LookupError):
        store.attach_token(1, odd)
    assert store.load_interview(interview.id).revision == 0


def test_staff_user_names_with_a_nul_are_refused_and_never_found(store: Store) -> None:
    with pytest.raises(NulCharacterRefused, match="staff user name") as caught:
        store.create_staff_user("ana\x00", "correct horse")
    assert isinstance(caught.value, ValueError)
    assert store.get_staff_user("ana\x00") is None
    assert store.verify_staff_password("ana\x00", "correct horse") is None
    with pytest.raises(LookupError):
        store.set_staff_disabled("ana\x00")
    with pytest.raises(LookupError):
        store.set_staff_password("ana\x00", "another")
    # A password is hashed, never stored as text: a NUL in it is fine.
    user = store.create_staff_user("ana", "pass\x00word")
    assert store.verify_staff_password("ana", "pass\x00word") == user
    assert store.verify_staff_password("ana", "pass") is None
