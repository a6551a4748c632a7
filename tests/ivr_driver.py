"""A pure-Python automated call for the IVR tests: plan -> keys -> engine, no Twilio, no web.

Each step of an ``ivr`` interview is planned (:func:`instrument.ivr.prompts.plan_step`), every
prompt compiled to TwiML by the telephone mode and parsed (so the compiler meets every kind the
interview has), the scripted keys read (:mod:`instrument.ivr.reading`) and the answers
submitted to the engine, as the webhooks of the next slice of issue 14 will do it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from instrument.engine import Engine, State
from instrument.ivr.prompts import IvrSettings, Say, StepPlan, ivr_words, plan_step
from instrument.ivr.reading import (
    after_failure,
    answers_for,
    next_prompt,
    read_back_prompt,
    read_keys,
)
from instrument_phone.ivr.twiml import PromptUrls, end_twiml, info_twiml, prompt_twiml

NOW = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
URLS = PromptUrls(
    action="https://survey.example.org/ivr/keys", silence="https://survey.example.org/ivr/silence"
)


class KeysRanOut(Exception):
    """The script ended before the interview did (a hang-up)."""


@dataclass
class Call:
    """What was said, the flags for paradata, and whether the call ended before the end."""

    heard: list[str] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)
    ended_early: bool = False


@dataclass
class _Player:
    engine: Engine
    state: State
    keys: Iterator[str | None]
    settings: IvrSettings
    say: Say
    call: Call = field(default_factory=Call)

    def key(self) -> str | None:
        try:
            return next(self.keys)
        except StopIteration:
            raise KeysRanOut from None

    def hear(self, xml: str, words: tuple[str, ...] | list[str]) -> None:
        root = ElementTree.fromstring(xml.encode("utf-8"))
        assert root.tag == "Response", xml
        self.call.heard.extend(words)

    def ask(self, plan: StepPlan) -> dict[int, Any] | None:
        """Every prompt of the plan, re-prompting as the settings say; None: end the call."""
        values: dict[int, Any] = {}
        index = next_prompt(plan, values)
        again, before, failures = False, [], 0
        while index is not None:
            prompt = plan.prompts[index]
            xml = prompt_twiml(plan, index, urls=URLS, again=again, before=before)
            self.hear(xml, [*before, *(prompt.repeat_says if again else prompt.says)])
            reading = read_keys(prompt, self.key(), self.say)
            if reading.status == "repeat":
                again, before = True, []
                continue
            if reading.failed:
                failures += 1
                move = after_failure(failures, self.settings)
                if move == "end":
                    return None
                if move == "again":
                    again, before = True, [reading.message or ""]
                    continue
                values[index] = ""
            elif prompt.kind == "number" and prompt.read_back:
                check = read_back_prompt(prompt, reading.value, self.say)
                self.hear(prompt_twiml(plan, index, urls=URLS, prompt=check), check.says)
                if read_keys(check, self.key(), self.say).value is not True:
                    again, before = True, []
                    continue
                values[index] = reading.value
            else:
                values[index] = reading.value
            again, before, failures = False, [], 0
            index = next_prompt(plan, values)
        self.call.flags.extend((p.key, p.flag) for p in plan.prompts if p.flag)
        return values

    def run(self) -> Call:
        announced: frozenset[str] = frozenset()
        problems: list[Any] = []
        answers: dict[str, Any] = {}
        while True:
            step = self.engine.current_step(self.state, html=False)
            plan = plan_step(
                step, self.say, settings=self.settings, announced=announced, problems=problems
            )
            announced = plan.announced
            if plan.end:
                self.hear(end_twiml(plan), plan.intro)
                if not self.state.finished:
                    self.engine.finish(self.state, now=NOW)
                break
            if not plan.prompts:
                self.hear(info_twiml(plan, urls=URLS), plan.intro)
            values = self.ask(plan)
            if values is None:
                self.call.ended_early = True
                break
            confirm: bool | tuple[str, ...] = ()
            if plan.prompts and plan.prompts[0].kind == "check":
                if values.get(0) is not True:
                    problems = []  # change: ask the questions again
                    continue
                confirm = True
            else:
                answers = answers_for(plan, values)
            result = self.engine.submit(
                self.state, answers, now=NOW, token=step.token, confirm=confirm
            )
            problems = [] if result.accepted else list(result.problems)
        return self.call


def run_call(
    engine: Engine,
    state: State,
    keys: list[str | None],
    settings: IvrSettings | None = None,
) -> Call:
    """Play the interview with ``keys`` (``None`` is silence) until it ends or the keys run out."""
    player = _Player(
        engine, state, iter(keys), settings or IvrSettings(), ivr_words(engine.q, state.language)
    )
    try:
        return player.run()
    except KeysRanOut:
        player.call.ended_early = True
        return player.call
