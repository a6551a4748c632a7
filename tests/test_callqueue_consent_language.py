"""The recording consent an interviewer reads out is in the respondent's language (issue 12, 14).

A study fielded in English and Welsh writes ``telephony.consent_text`` per language; the console's
consent question for a case fielded in Welsh carries the Welsh, one fielded in English the
English, and a study that wrote one text reads it to everyone. Where the case has an interview,
its language now decides (the respondent may have switched it, on the web or on an automated
call), not the one the case was queued in. Real store, SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from instrument.fieldwork.settings import FieldworkSettings, TelephonySettings
from instrument.fieldwork.wording import Wording
from instrument.interviews import RESPONDENT
from instrument.store import Store
from tests.callqueue_helpers import T0, add_case, claim, queue_on
from tests.store_fixtures import *

ENGLISH = "This call is recorded for quality. Is that all right?"
WELSH = "Mae'r alwad hon yn cael ei recordio er mwyn ansawdd. Ydy hynny'n iawn?"


def consent_read_to(
    store: Store, language: str, consent: Wording, *, interview: tuple[str, str] | None = None
) -> str:
    """The consent text read on a call to a case queued in ``language``; ``interview``: the
    case's interview begun in the first language and switched to the second first."""
    settings = FieldworkSettings(telephony=TelephonySettings(recording=True, consent_text=consent))
    queue = queue_on(store, settings)
    add_case(store, "C1", language=language)
    if interview is not None:
        begun, switched = interview
        service = queue.interviews
        saved = service.start(
            "mini", mode="web", actor=RESPONDENT, now=T0, case_id="C1", language=begun
        )
        if switched != begun:
            service.switch_language(
                saved.interview.id, switched, mode="web", actor=RESPONDENT, now=T0
            )
        assert store.case_language("C1") == switched
    claimed = claim(queue, "ann", T0)
    call_id = store.start_call(claimed.attempt_id, number_rank=1, provider="twilio", now=T0)
    store.set_call_sid(call_id, "CA" + "e" * 32)
    question = queue.consent_question(claimed.attempt_id)
    assert question is not None and question.call_id == call_id
    return question.text


@pytest.mark.parametrize(("language", "expected"), [("cy", WELSH), ("en", ENGLISH)])
def test_the_consent_is_read_in_the_cases_language(
    store: Store, language: str, expected: str
) -> None:
    assert consent_read_to(store, language, {"en": ENGLISH, "cy": WELSH}) == expected


def test_one_consent_text_is_read_to_everyone(store: Store) -> None:
    assert consent_read_to(store, "cy", ENGLISH) == ENGLISH


@pytest.mark.parametrize(
    ("queued", "interview", "expected"),
    [("en", ("en", "cy"), WELSH), ("cy", ("cy", "en"), ENGLISH), ("en", ("cy", "cy"), WELSH)],
)
def test_the_consent_is_read_in_the_interviews_language_once_there_is_one(
    store: Store, queued: str, interview: tuple[str, str], expected: str
) -> None:
    """A case queued in English whose respondent switched their interview to Welsh hears the
    Welsh consent (and the other way round): the interview's language, not the queue's."""
    consent = {"en": ENGLISH, "cy": WELSH}
    assert consent_read_to(store, queued, consent, interview=interview) == expected
