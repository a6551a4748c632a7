"""Interface texts in every language: the gettext catalogues, a researcher's own texts, the names.

The software's own words (buttons, errors, the skip prompt, yes and no) come
from gettext catalogues read through Babel; a researcher brings the texts for
any other language in a ``.po`` file beside the questionnaire.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from instrument.catalogue import CATALOGUE, STAFF_DOMAINS
from instrument.cli import cli
from instrument.engine import Engine
from instrument.loader import load_questionnaire, load_questionnaire_text
from instrument.loader.interface_texts import domains_not_needed

NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)

OFFERS = """\
meta: {id: offers, version: "1", title: Offers, languages: [en, cy], modes: [web, cati]}
items:
  - {id: both, type: integer, text: How many?}
  - {id: dk_only, type: integer, refused: false, text: How many?}
  - {id: refused_only, type: integer, dk: false, text: How many?}
"""


def _prompt(engine: Engine, page: str, language: str) -> str:
    state = engine.start(now=NOW, seed=1, language=language)
    while engine.current_step(state).page_id != page:
        step = engine.current_step(state)
        engine.submit(state, {q.key: 1 for q in step.questions}, now=NOW)
    result = engine.submit(state, {}, now=NOW)
    assert [p.kind for p in result.errors] == ["prompt"]
    return result.errors[0].message


def test_the_skip_prompt_names_only_what_the_question_offers() -> None:
    engine = Engine(load_questionnaire_text(OFFERS).questionnaire)
    both = _prompt(engine, "both", "en")
    assert "'Don't know'" in both and "'Prefer not to say'" in both
    dk_only = _prompt(engine, "dk_only", "en")
    assert "'Don't know'" in dk_only and "Prefer not to say" not in dk_only
    refused_only = _prompt(engine, "refused_only", "en")
    assert "'Prefer not to say'" in refused_only and "know" not in refused_only
    welsh = _prompt(engine, "refused_only", "cy")
    assert (
        welsh
        == "Nid ydych wedi ateb y cwestiwn hwn. Dewiswch ateb, neu 'Gwell gennyf beidio â dweud'."
    )


# ------------------------------------------------- a researcher's texts beside the questionnaire

DATA = Path(__file__).resolve().parent / "data" / "languages"
MARKET = DATA / "market.yaml"


def _english_pieces() -> list[str]:
    """Every literal piece of every English interface text (around its placeholders)."""
    pieces = set()
    for messages in CATALOGUE.english().values():
        for text in messages.values():
            for form in (text,) if isinstance(text, str) else text:  # plural texts: both forms
                for piece in re.split(r"\{\w+\}", form):
                    piece = piece.strip(" .,:;'()%")
                    if len(piece) >= 2:
                        pieces.add(piece)
    return sorted(pieces, key=len, reverse=True)


ENGLISH_PIECES = _english_pieces()


def english_left(text: str) -> list[str]:
    """The English interface texts (or pieces of them) in ``text``, as whole words."""
    return [p for p in ENGLISH_PIECES if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text)]


def test_a_questionnaires_own_po_file_gives_every_interface_text_in_its_language() -> None:
    result = load_questionnaire(MARKET)
    assert result.diagnostics == [] and result.questionnaire is not None
    q = result.questionnaire
    assert q.interface_texts.missing("sw", skip=domains_not_needed(q.modes)) == []
    engine = Engine(q)
    state = engine.start(now=NOW, seed=1, language="sw")
    engine.submit(state, {}, now=NOW)  # the welcome screen
    trader = engine.current_step(state).questions[0]
    assert [o.label for o in trader.options] == ["Ndiyo", "Hapana"]
    assert (trader.dk_label, trader.refused_label) == ("Sijui", "Sipendi kusema")
    refused = engine.submit(state, {"trader": "7"}, now=NOW)
    assert [p.message for p in refused.errors] == ["Chagua mojawapo ya majibu yaliyoonyeshwa"]
    prompt = engine.submit(state, {}, now=NOW).errors[0].message
    assert prompt == "Hujajibu swali hili. Chagua jibu, au 'Sijui' au 'Sipendi kusema'."
    assert english_left(prompt) == []
    # English interviews of the same questionnaire keep our English
    english = engine.start(now=NOW, seed=1, language="en")
    engine.submit(english, {}, now=NOW)
    assert [o.label for o in engine.current_step(english).questions[0].options] == ["Yes", "No"]


def test_a_stored_version_carries_its_po_file(tmp_path: Path) -> None:
    q = load_questionnaire(MARKET).questionnaire
    assert q is not None and "market.sw.po" in q.source_text
    stored = load_questionnaire_text(q.source_text, "<stored version 1>").questionnaire
    assert stored is not None
    assert stored.interface_texts.missing("sw", skip=domains_not_needed(stored.modes)) == []
    assert stored.interface_texts.domain("web")("sw", "continue") == "Endelea"
    assert stored.content_hash == q.content_hash  # loading the stored text changes nothing


def _copy(tmp_path: Path, po: str | None) -> Path:
    target = tmp_path / "market.yaml"
    shutil.copy(MARKET, target)
    if po is not None:
        (tmp_path / "market.sw.po").write_text(po, encoding="utf-8")
    return target


def _warnings(path: Path) -> list[str]:
    result = load_questionnaire(path)
    assert result.questionnaire is not None
    return [
        f"{Path(d.position.file).name}:{d.position.line}: {d.message}" for d in result.diagnostics
    ]


def test_check_lists_the_texts_a_language_lacks_at_its_file(tmp_path: Path) -> None:
    po = (DATA / "market.sw.po").read_text(encoding="utf-8")
    po = po.replace('msgstr "Endelea"\n', 'msgstr ""\n')
    po = po.replace('msgid "Back"\n', 'msgid "Go back"\n')  # the English changed since
    po += '\nmsgctxt "web.no_such_text"\nmsgid "X"\nmsgstr "Y"\n'
    (tmp_path / "market.fr.po").write_text(po, encoding="utf-8")
    warnings = _warnings(_copy(tmp_path, po))
    assert any(
        w.startswith("market.sw.po:1: language 'sw' (Kiswahili): 2 of ")
        and "web.continue, web.back (outdated); translate them in this file" in w
        for w in warnings
    ), warnings
    assert any(
        re.match(r"market\.sw\.po:\d+: msgctxt 'web\.no_such_text' is not", w) for w in warnings
    )
    assert any(w.startswith("market.fr.po:1: 'fr' is not in meta.languages") for w in warnings)


def test_check_says_where_to_put_the_texts_of_a_language_without_a_file(tmp_path: Path) -> None:
    (warning,) = _warnings(_copy(tmp_path, None))
    # the staff's own screens (the interviewer's console) are in the staff's language: not counted
    skip = domains_not_needed(load_questionnaire(MARKET).questionnaire.modes)  # type: ignore[union-attr]
    total = sum(len(m) for d, m in CATALOGUE.english().items() if d not in skip)
    assert "phone" in STAFF_DOMAINS and "phone." not in warning
    assert warning.startswith(f"market.yaml:8: language 'sw' (Kiswahili): {total} of {total} ")
    assert "put them in market.sw.po beside the questionnaire" in warning
    assert "instrument texts market.yaml sw" in warning


def test_a_placeholder_the_english_lacks_is_not_used_and_is_reported(tmp_path: Path) -> None:
    po = (DATA / "market.sw.po").read_text(encoding="utf-8")
    po = po.replace("Andika namba kati ya {min} na {max}", "Andika namba {secret.__class__}")
    path = _copy(tmp_path, po)
    warnings = _warnings(path)
    assert any("'engine.between' has placeholders English does not give" in w for w in warnings)
    q = load_questionnaire(path).questionnaire
    assert q is not None
    assert q.interface_texts.domain("engine")("sw", "between", min=1, max=2) == (
        "Enter a number between 1 and 2"
    )


def test_instrument_texts_writes_a_file_to_translate_keeping_what_is_done(tmp_path: Path) -> None:
    path = _copy(tmp_path, None)
    runner = CliRunner()
    done = runner.invoke(cli, ["texts", str(path), "sw"])
    assert done.exit_code == 0, done.output
    assert "0 of" in done.output and "Kiswahili" in done.output
    written = (tmp_path / "market.sw.po").read_text(encoding="utf-8")
    assert 'msgctxt "web.continue"\nmsgid "Continue"\nmsgstr ""' in written
    assert 'msgctxt "phone.' not in written  # the interviewer's console: the staff's language
    (tmp_path / "market.sw.po").write_text(
        written.replace('msgid "Continue"\nmsgstr ""', 'msgid "Continue"\nmsgstr "Endelea"'),
        encoding="utf-8",
    )
    again = runner.invoke(cli, ["texts", str(path), "sw"])
    assert "1 of" in again.output
    assert 'msgstr "Endelea"' in (tmp_path / "market.sw.po").read_text(encoding="utf-8")
    welsh = runner.invoke(cli, ["texts", str(path), "cy", "--output", str(tmp_path / "w.po")])
    assert welsh.exit_code == 0 and "Cymraeg" in welsh.output
    assert 'msgstr "Parhau"' in (tmp_path / "w.po").read_text(encoding="utf-8")
    assert runner.invoke(cli, ["texts", str(path), "not a tag"]).exit_code != 0


def test_a_file_that_is_not_a_po_file_is_one_warning_at_the_line_reading_stopped(
    tmp_path: Path,
) -> None:
    po = 'msgctxt "web.continue"\nmsgid "Continue"\nmsgstr "Endelea"\n\nmsgid "Back"\n'
    warnings = _warnings(_copy(tmp_path, po))
    assert warnings[0] == (
        "market.sw.po:5: not a readable .po file: missing msgstr for msgid 'Back'; "
        "its texts are shown in English"
    )
    assert warnings[1].startswith("market.yaml:8: language 'sw' (Kiswahili)")


FILTERED = """\
meta: {id: filtered, version: "1", title: F, languages: [sw]}
choices:
  regions:
    - {code: 1, label: Kaskazini}
    - {code: 2, label: Kusini}
  districts:
    - {code: 101, label: Arusha, attributes: {region: 1}}
    - {code: 102, label: Mtwara, attributes: {region: 2}}
items:
  - {id: region, type: single, choices: regions, text: Mkoa gani?}
  - {id: district, type: single, choices: districts, choice_filter: {region: region}, text: Wilaya?}
"""


def test_every_engine_message_takes_the_questionnaires_own_texts(tmp_path: Path) -> None:
    """The choice filter's refusal too, worded outside the validator (engine/offered.py)."""
    (tmp_path / "filtered.yaml").write_text(FILTERED, encoding="utf-8")
    shutil.copy(DATA / "market.sw.po", tmp_path / "filtered.sw.po")
    q = load_questionnaire(tmp_path / "filtered.yaml").questionnaire
    assert q is not None
    engine = Engine(q)
    state = engine.start(now=NOW, seed=1, language="sw")
    assert engine.submit(state, {"region": 1}, now=NOW).accepted
    refused = engine.submit(state, {"district": 102}, now=NOW)  # not in the north
    assert [p.message for p in refused.errors] == ["Chagua mojawapo ya majibu yaliyoonyeshwa"]


# ------------------------------------------------------------------- the console, in Swahili

RESEARCHER_LINES = ("market version", "Type :help", "Outcome:")
"""The console's own report to the researcher (title, help, outcome, the values after it) stays
English; everything the respondent or interviewer reads is in the interview's language."""


@pytest.mark.parametrize("mode", ["web", "cati"])
def test_the_console_speaks_the_interviews_language(mode: str) -> None:
    lines = ["", "", "1", "3", "", "Samaki", "x", "2", "3/4/2019", "", ":quit"]
    result = CliRunner().invoke(
        cli,
        ["try", str(MARKET), "--seed", "1", "--mode", mode, "--lang", "sw"],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code in (0, 1), result.output
    out = result.output.split("\nOutcome:")[0]
    assert "(andika namba ya jibu moja)" in out
    assert "namba kamili kuanzia 1 hadi 20" in out
    assert "Andika namba kamili, kama 12" in out  # the engine's error, from market.sw.po
    assert ("SOMA KWA SAUTI: Je, unauza sokoni?" in out) == (mode == "cati")
    shown = [
        re.sub(r"^(> )+", "", line)
        for line in out.splitlines()
        if not line.startswith((*RESEARCHER_LINES, "Wafanyabiashara"))
    ]
    assert english_left("\n".join(shown)) == [], shown


def test_an_interviewer_is_told_to_key_only_what_the_question_allows() -> None:
    engine = Engine(load_questionnaire_text(OFFERS).questionnaire)
    said = {}
    for page in ("both", "dk_only", "refused_only"):
        state = engine.start(now=NOW, seed=1, mode="cati")
        while engine.current_step(state).page_id != page:
            step = engine.current_step(state)
            engine.submit(state, {q.key: 1 for q in step.questions}, now=NOW)
        said[page] = engine.submit(state, {}, now=NOW).errors[0].message
    assert said == {
        "both": "Key an answer, or don't know or refused",
        "dk_only": "Key an answer, or Don't know",
        "refused_only": "Key an answer, or Refused",
    }


def test_an_entry_written_twice_is_reported_at_the_repeat(tmp_path: Path) -> None:
    po = (DATA / "market.sw.po").read_text(encoding="utf-8")
    po += '\nmsgctxt "web.continue"\nmsgid "Continue"\nmsgstr "Endelea mbele"\n'
    path = _copy(tmp_path, po)
    repeat = po.count("\n", 0, po.rindex('msgctxt "web.continue"')) + 1
    assert f"market.sw.po:{repeat}: web.continue is written twice; the last one is used" in (
        _warnings(path)
    )
