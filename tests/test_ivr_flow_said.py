"""``instrument.ivr.flow.said``: what the call says for an action is what its TwiML says.

The terminal (``instrument try --mode ivr``) prints ``said(action)``; the webhooks answer with the
telephone mode's TwiML of the same action. Random callers (silence, wrong keys, ``*``, don't know,
refused, numbers read back, checks) play whole calls through the flow against the engine, and at
every action the two must give the same sentences in the same order, in English and Welsh.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from ivr_driver import NOW, said, twiml_of

from instrument.engine import Engine
from instrument.ivr.flow import Ask, CallFlow, FlowState
from instrument.ivr.flow import said as flow_said
from instrument.ivr.prompts import IvrSettings, ivr_words
from instrument.questionnaires import require

ROOT = Path(__file__).resolve().parent.parent
KINDS = ROOT / "tests" / "data" / "ivr_kinds.yaml"
FLAGSHIP = ROOT / "questionnaires" / "social_licence.yaml"


def keys_for(action: Ask, rng: random.Random) -> str | None:
    """A caller's entry: mostly a key the prompt takes, sometimes silence, a wrong key or ``*``."""
    asked = action.asked
    draw = rng.random()
    if draw < 0.08:
        return None
    if draw < 0.14:
        return "0"
    if draw < 0.18:
        return "*"
    if draw < 0.22 and asked.dk_key:
        return asked.dk_key + ("#" if asked.entry == "digits" else "")
    if draw < 0.25 and asked.refused_key:
        return asked.refused_key + ("#" if asked.entry == "digits" else "")
    if asked.kind == "date":
        return f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}{rng.randint(1990, 2020)}#"
    if asked.entry == "digits" and not asked.keys:
        return f"{rng.randint(0, 30)}#"
    if asked.keys:
        key = rng.choice(asked.keys).key
        return key + ("#" if asked.entry == "digits" else "")
    return "1"


def play(path: Path, language: str, seed: int) -> int:
    """One random call to the end (or 400 actions); returns the actions compared."""
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=seed, mode="ivr", language=language)
    flow = CallFlow(ivr_words(engine.q, language), IvrSettings(read_back=True))
    rng = random.Random(seed)
    step = engine.current_step(state, html=False)
    flowing, action = flow.show(FlowState(), step)
    compared = 0
    for _ in range(400):
        if action.kind == "submit":
            result = engine.submit(
                state, action.answers, now=NOW, token=step.token, confirm=action.confirm
            )
            step = engine.current_step(state, html=False)
            if result.accepted:
                flowing, action = flow.show(flowing, step)
            else:
                flowing, action = flow.rejected(flowing, step, result.problems, revision=0)
            continue
        assert list(flow_said(action)) == said(twiml_of(action)), action
        compared += 1
        if action.kind in ("finish", "goodbye"):
            return compared
        if isinstance(action, Ask):
            flowing, action = flow.keys(flowing, step, keys_for(action, rng))
        else:
            flowing, action = flow.keys(flowing, step, None)
    return compared


@pytest.mark.parametrize("language", ["en", "cy"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_said_is_what_the_twiml_says_for_every_kind(language: str, seed: int) -> None:
    assert play(KINDS, language, seed) > 10


def test_said_is_what_the_twiml_says_through_the_flagship() -> None:
    # some callers are screened out early (not parents); together they go far
    assert sum(play(FLAGSHIP, "en", seed) for seed in range(4, 10)) > 150


ONE_PAGE = """\
meta: {id: one_page, version: "1", title: One page, languages: [en], modes: [ivr]}
items:
  - page: both
    items:
      - {id: hello, type: info, text: This call is about buses.}
      - {id: bus, type: yesno, text: Do you take the bus?}
      - {id: n_buses, type: integer, min: 0, max: 9, text: How many a week?}
"""


def test_an_ask_leads_with_the_steps_introduction_only_when_first_asked(tmp_path: Path) -> None:
    path = tmp_path / "one_page.yaml"
    path.write_text(ONE_PAGE, encoding="utf-8")
    engine = Engine(require(path))
    state = engine.start(now=NOW, seed=1, mode="ivr")
    flow = CallFlow(ivr_words(engine.q, "en"))
    step = engine.current_step(state, html=False)
    flowing, first = flow.show(FlowState(), step)
    assert isinstance(first, Ask) and first.words == first.asked.says
    assert first.lead == ("This call is about buses.",)
    assert list(flow_said(first)) == said(twiml_of(first))
    _, second = flow.keys(flowing, step, "1")
    assert isinstance(second, Ask) and second.index == 1 and second.lead == ()
    assert list(flow_said(second)) == said(twiml_of(second))
    _, again = flow.keys(flowing, step, None)  # silence: asked again, why first, no intro
    assert isinstance(again, Ask) and again.again
    assert again.lead == again.before and again.before
    assert again.words == again.asked.repeat_says
    assert flow_said(again) == (*again.before, *again.asked.repeat_says)
