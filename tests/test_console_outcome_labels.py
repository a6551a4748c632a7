"""Call outcomes in the interviewer's language on the console (Flask's test client).

The end-of-call picker and the case screen's history show each outcome of
the study's disposition table. A default outcome whose label the study left
as it is comes from the catalogue's ``phone`` domain (``disposition_<code>``)
in the interviewer's language (their browser's): a Welsh interviewer reads
"Dim ateb", whatever else the study changed about no answer (the flagship
changes its retry delay). A label the study's fieldwork file rewrites, and an
outcome the study adds, are the study's own words in every language. The
supervisor's pages stay in English.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from phone_console_helpers import Interviewer, add_case, console_app
from staff_passwords import CHEAP
from test_web_support import FLAGSHIP, FakeClock, close_app, make_app

from instrument import catalogue
from instrument.fieldwork import DEFAULT_DISPOSITIONS
from instrument.server.app import get_host
from instrument_phone.console.words import outcome_label, words

CY_PO = Path(catalogue.__file__).parent / "locales" / "cy.po"
WEB_LINK = "Asked for the web link again"  # the flagship's own outcome (its fieldwork file)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()  # Friday 1 May 2026, 10:00 in London


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    app = console_app(f"sqlite:///{tmp_path / 'console.db'}", clock)
    add_case(app, "c1", clock)
    yield app
    close_app(app)


def speaking(app: Any, language: str) -> Interviewer:
    """Ivy, signed in from a browser that asks for ``language``."""
    ivy = Interviewer(app)
    ivy.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    ivy.sign_in()
    return ivy


def picker(page: Any) -> dict[str, str]:
    """The end-of-call picker: outcome code -> the words shown beside its key."""
    found = {}
    for radio in page.tree.xpath("//input[@name='outcome']"):
        [label] = page.tree.xpath(f"//label[@for='{radio.get('id')}']")
        found[radio.get("value")] = label.xpath("kbd")[0].tail.strip()
    return found


def end_page(ivy: Interviewer) -> Any:
    ivy.next_case()
    return ivy.get(ivy.attempt_path + "end")


def test_the_picker_in_welsh_and_in_english(app: Any) -> None:
    shown = picker(end_page(speaking(app, "cy")))
    assert shown["no_answer"] == "Dim ateb"  # its delay is the study's, its words ours
    assert shown["busy"] == "Prysur"
    assert shown["appointment"] == "Apwyntiad wedi'i wneud"
    assert shown["refusal_soft"] == "Gwrthodiad gan yr ymatebydd (gellir rhoi cynnig arall arni)"
    assert shown["web_link_resent"] == WEB_LINK  # the study's own outcome: its words
    for code, words_shown in shown.items():
        if code in DEFAULT_DISPOSITIONS:
            assert words_shown == catalogue.text("cy", "phone", f"disposition_{code}")
            assert words_shown != DEFAULT_DISPOSITIONS[code].label, code  # no English left
    english = picker(end_page(speaking(app, "en-GB")))
    assert english["no_answer"] == "No answer" and english["web_link_resent"] == WEB_LINK
    assert list(english) == list(shown)  # the same outcomes, in the table's order


def test_the_history_in_welsh(app: Any, clock: FakeClock) -> None:
    ivy = speaking(app, "cy")
    end_page(ivy)
    ivy.post(ivy.attempt_path + "end", {"outcome": "no_answer"})
    assert get_host(app).store.attempts_of("c1")[0].disposition == "no_answer"
    clock.now += dt.timedelta(hours=2, minutes=5)  # the flagship tries again after 2 hours
    ivy.sign_in()  # a new session (the last one timed out)
    case = ivy.next_case()
    outcomes = [" ".join(td.text_content().split()) for td in case.tree.xpath("//tbody/tr/td[4]")]
    assert sorted(outcomes) == sorted(["Dim ateb", catalogue.text("cy", "phone", "open")])
    so_far_title = catalogue.text("cy", "phone", "outcome_so_far")
    [so_far] = case.tree.xpath(
        f"//dl[@class='case-facts']/dt[.=\"{so_far_title}\"]/following-sibling::dd[1]"
    )
    assert so_far.text_content().strip() == "Dim ateb"
    assert "No answer" not in case.text()


def test_a_label_the_study_rewrote_is_its_own_in_every_language(
    tmp_path: Path, clock: FakeClock
) -> None:
    questionnaire = tmp_path / FLAGSHIP.name
    shutil.copy(FLAGSHIP, questionnaire)
    fieldwork = FLAGSHIP.with_name("social_licence.fieldwork.yaml").read_text(encoding="utf-8")
    fieldwork = fieldwork.replace(
        "dispositions:\n", "dispositions:\n  busy:\n    label: Engaged tone (Welsh line)\n", 1
    )
    (tmp_path / "social_licence.fieldwork.yaml").write_text(fieldwork, encoding="utf-8")
    app = make_app(f"sqlite:///{tmp_path / 'own.db'}", clock, questionnaire)
    try:
        store = get_host(app).store
        store.set_password_cost(CHEAP, testing=True)
        store.create_staff_user("ivy", "interviewer-test-password", role="interviewer")
        add_case(app, "c1", clock)
        ivy = speaking(app, "cy")
        welsh = picker(end_page(ivy))
        assert welsh["busy"] == "Engaged tone (Welsh line)"  # the study's words win
        assert welsh["no_answer"] == "Dim ateb"  # the others are still ours
        ivy.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the same page, in English
        english = picker(ivy.get(ivy.attempt_path + "end"))
        assert english["busy"] == "Engaged tone (Welsh line)"
        assert english["no_answer"] == "No answer"
    finally:
        close_app(app)


def test_outcome_label_picks_ours_only_for_an_unchanged_default() -> None:
    say = words("cy")
    assert outcome_label(say, "no_answer", "No answer") == "Dim ateb"
    assert outcome_label(say, "no_answer", "No reply") == "No reply"  # rewritten by a study
    assert outcome_label(say, "web_link_resent", WEB_LINK) == WEB_LINK  # added by a study
    assert outcome_label(say, None, None) is None  # not coded yet
    assert outcome_label(words("en"), "busy", "Busy") == "Busy"


def test_every_default_outcome_has_its_words_in_english_and_welsh() -> None:
    for code, disposition in DEFAULT_DISPOSITIONS.items():
        key = f"disposition_{code}"
        assert catalogue.text("en", "phone", key) == disposition.label  # the table's English
        assert f"phone.{key}" in catalogue.CATALOGUE.translated["cy"]
    assert catalogue.CATALOGUE.missing("cy") == []
    with CY_PO.open("rb") as f:
        welsh = {m.context: m for m in read_po(f) if m.context}
    for code in DEFAULT_DISPOSITIONS:  # written without a Welsh speaker, and flagged so
        comments = " ".join(welsh[f"phone.disposition_{code}"].user_comments)
        assert "Welsh to review" in comments, code
