"""The web pages in a language the software does not ship, with the researcher's own texts.

``tests/data/languages/market.yaml`` is in Swahili and English, and
``market.sw.po`` beside it gives the interface texts in Swahili: every page of
a Swahili interview (start, questions, errors, the skip prompt, save and
continue later, thank you) must then hold no English interface text at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_languages import MARKET, english_left
from test_web_support import *
from test_web_support import FakeClock, Page, Respondent, close_app, make_app


@pytest.fixture
def market_app(sqlite_url: str, clock: FakeClock) -> Any:
    app = make_app(sqlite_url, clock, MARKET)
    yield app
    close_app(app)


def no_english(page: Page) -> Page:
    assert page.status == 200, page.status
    assert english_left(page.text("//html")) == [], page.text("//html")
    return page


def test_a_swahili_interview_shows_no_english_interface_text(market_app: Any) -> None:
    r = Respondent(market_app, "market")
    start = no_english(r.get())
    assert start.tree.xpath("/html/@lang") == ["sw"]
    assert start.text("//form[contains(@class, 'language-switcher')]") == "Lugha: Kiswahili English"
    assert "Anza sasa" in start.text()
    no_english(r.start())  # the welcome screen
    trader = no_english(r.answer({}))
    assert "Ndiyo" in trader.text() and "Hapana" in trader.text()
    prompted = no_english(r.post({}))  # skipped: the prompt, and don't know / prefer not to say
    assert prompted.summary and "Sijui" in prompted.text()
    sells = no_english(r.answer({"trader": "1"}))
    wrong = no_english(r.post({"sells": ["1", "3"]}))  # 'something else' needs saying what
    assert wrong.summary == [("#f-sells_other", "Tuambie 'Kitu kingine' ni nini")]
    stalls = no_english(r.answer({"sells": ["1", "3"], "sells_other": "Samaki"}))
    assert sells.html != stalls.html
    too_many = no_english(r.post({"stalls": "21"}))
    assert too_many.summary[0][1] == "Andika namba kati ya 1 na 20"
    started = no_english(r.answer({"stalls": "3"}))
    assert "Siku" in started.text() and "Kwa mfano, 27 3 2019" in started.text()
    saved = no_english(
        r.post(
            {"started-day": "1", "started-month": "2", "started-year": "2020"}, action="save_later"
        )
    )
    assert "Majibu yako yamehifadhiwa" in saved.text()


def test_the_end_page_of_a_swahili_interview(market_app: Any) -> None:
    r = Respondent(market_app, "market")
    r.start()
    r.answer({})
    r.answer({"trader": "2"})
    r.answer({"sells": ["2"]})
    r.answer({"stalls": "1"})
    r.answer({"started-day": "1", "started-month": "2", "started-year": "2020"})
    end = no_english(r.answer({"comment": "Hakuna"}))
    assert "Asante" in end.text()


def test_english_pages_of_the_same_questionnaire_keep_our_english(market_app: Any) -> None:
    english = market_app.test_client().get("/web/market/", headers={"Accept-Language": "en"})
    page = Page(english.status_code, english.get_data(as_text=True))
    assert page.tree.xpath("/html/@lang") == ["en"]
    assert "Start now" in page.text() and "Your answers are used for research only." in page.text(
        "//footer"
    )


@pytest.mark.parametrize(
    "accept, lang, title",
    [
        ("cy", "cy", "Heb ddod o hyd i'r dudalen"),
        ("cy-GB,en;q=0.5", "cy", "Heb ddod o hyd i'r dudalen"),
        ("en", "en", "Page not found"),
        ("sw", "en", "Page not found"),  # no interview to take Swahili texts from
    ],
)
def test_error_pages_speak_the_browsers_language_when_we_have_it(
    market_app: Any, accept: str, lang: str, title: str
) -> None:
    reply = market_app.test_client().get("/no/such/page", headers={"Accept-Language": accept})
    page = Page(reply.status_code, reply.get_data(as_text=True))
    assert page.status == 404
    assert page.tree.xpath("/html/@lang") == [lang]
    assert page.text("//h1") == title
    if lang == "cy":
        assert english_left(page.text("//html")) == []


def test_every_error_page_has_its_words(market_app: Any) -> None:
    """Each error the host words itself, in Welsh: no key missing (a KeyError would be a 500)."""
    client = market_app.test_client()
    welsh = {"Accept-Language": "cy"}
    assert client.post("/healthz", headers=welsh).status_code == 405
    assert "fel yna" in client.post("/healthz", headers=welsh).get_data(as_text=True)
    limit = market_app.config["MAX_CONTENT_LENGTH"]
    too_long = client.post("/web/market/start", data={"x": "x" * (limit + 1)}, headers=welsh)
    assert too_long.status_code == 413 and "rhy hir" in too_long.get_data(as_text=True)


def test_the_home_page_speaks_the_browsers_language(market_app: Any) -> None:
    reply = market_app.test_client().get("/", headers={"Accept-Language": "cy"})
    page = Page(reply.status_code, reply.get_data(as_text=True))
    assert page.tree.xpath("/html/@lang") == ["cy"]
    assert page.text("//h1") == "Arolygon" and "Mewngofnodi staff" in page.text()
    assert english_left(page.text("//html").replace("Market traders", "")) == []
    english = market_app.test_client().get("/")
    assert "Staff sign in" in english.get_data(as_text=True)


def test_a_link_that_does_not_work_says_so_in_the_language_it_names(market_app: Any) -> None:
    client = market_app.test_client()
    with client.session_transaction() as session:
        session["lang"] = "cy"  # as the language switcher leaves it
    reply = client.get("/web/t/not-a-real-token")
    page = Page(reply.status_code, reply.get_data(as_text=True))
    assert page.status == 404
    assert page.text("//h1") == "Nid yw'r ddolen hon yn gweithio"
    assert page.tree.xpath("/html/@lang") == ["cy"]  # was "en" around the Welsh
