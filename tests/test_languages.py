"""Interface texts in every language: the gettext catalogues, a researcher's own texts, the names.

The software's own words (buttons, errors, the skip prompt, yes and no) come
from gettext catalogues read through Babel; a researcher brings the texts for
any other language in a ``.po`` file beside the questionnaire.
"""

from __future__ import annotations

import datetime as dt

from instrument.engine import Engine
from instrument.loader import load_questionnaire_text

NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)

OFFERS = """\
meta: {id: offers, version: "1", title: Offers, languages: [en, cy]}
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
