"""A pure-Python automated call for the IVR tests: the call flow against the engine, no web.

The same flow the webhooks run (:class:`instrument.ivr.flow.CallFlow`): each action is compiled
to TwiML by the telephone mode and parsed (so the compiler meets every kind the interview has,
and what the caller hears is what the TwiML says), the scripted keys are fed to the flow, and
its submits go to the engine directly (the webhooks send them through the interview service).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from instrument.engine import Engine, State
from instrument.ivr.flow import Action, CallFlow, FlowState
from instrument.ivr.prompts import IvrSettings, ivr_words
from instrument_phone.ivr.twiml import (
    PromptUrls,
    end_twiml,
    goodbye_twiml,
    info_twiml,
    prompt_twiml,
)

NOW = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
URLS = PromptUrls(
    action="https://survey.example.org/ivr/keys", silence="https://survey.example.org/ivr/silence"
)


@dataclass
class Call:
    """What was said, the flags for paradata, and whether the call ended before the end."""

    heard: list[str] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)
    ended_early: bool = False
    states: list[dict[str, Any]] = field(default_factory=list)  # every state, as JSON


def twiml_of(action: Action) -> str:
    """The TwiML the webhooks would answer with for ``action``."""
    if action.kind == "ask":
        return prompt_twiml(
            action.plan,
            action.index,
            urls=URLS,
            again=action.again,
            before=action.before,
            prompt=action.prompt,
        )
    if action.kind == "inform":
        return info_twiml(action.plan, urls=URLS)
    if action.kind == "finish":
        return end_twiml(action.plan)
    if action.kind == "goodbye":
        return goodbye_twiml(action.words, action.language)
    raise AssertionError(f"{action.kind} has no TwiML")


def said(xml: str) -> list[str]:
    """Every ``<Say>`` of a response, in order."""
    root = ElementTree.fromstring(xml.encode("utf-8"))
    assert root.tag == "Response", xml
    return [element.text or "" for element in root.iter("Say")]


def run_call(
    engine: Engine,
    state: State,
    keys: list[str | None],
    settings: IvrSettings | None = None,
) -> Call:
    """Play the interview with ``keys`` (``None`` is silence) until it ends or the keys run out."""
    flow = CallFlow(ivr_words(engine.q, state.language), settings or IvrSettings())
    script: Iterator[str | None] = iter(keys)
    call = Call()
    step = engine.current_step(state, html=False)
    flowing, action = flow.show(FlowState(), step)
    while True:
        call.states.append(flowing.to_json())
        flowing = FlowState.from_json(call.states[-1])  # as the webhooks keep it: JSON
        if action.kind == "submit":
            call.flags.extend(action.flags)
            result = engine.submit(
                state, action.answers, now=NOW, token=step.token, confirm=action.confirm
            )
            step = engine.current_step(state, html=False)
            if result.accepted:
                flowing, action = flow.show(flowing, step)
            else:
                flowing, action = flow.rejected(flowing, step, result.problems, revision=0)
            continue
        call.heard.extend(said(twiml_of(action)))
        if action.kind in ("finish", "goodbye"):
            call.ended_early = action.kind == "goodbye"
            return call
        if action.kind == "inform":
            flowing, action = flow.keys(flowing, step, None)
            continue
        try:
            pressed = next(script)
        except StopIteration:  # the caller hung up
            call.ended_early = True
            return call
        flowing, action = flow.keys(flowing, step, pressed)
