"""Random respondents calling in, end to end: ``instrument simulate PATH --mode ivr --end-to-end``.

The engine-level ``instrument simulate`` checks a questionnaire's routes; this checks the
automated calls as they are served. It builds the real app in this process (the server's
factory, handed over by the host as :attr:`EndToEndRun.make_app`), with Twilio settings made up
for the run and a temporary SQLite store unless a database is given, gives every simulated
respondent a case and an access code, and lets each call in through
:class:`~instrument_phone.ivr.simulator.CallSimulator` (in process, every request signed as
Twilio signs it): for a questionnaire in more than one language, a language drawn for the
respondent and chosen at the line's greeting (the same on every call back); the code, then
:func:`~instrument_phone.ivr.simulator.random_respondent`'s keys, silences and wrong keys.
Some hang up part way and call back; the webhooks must resume the interview where it stopped.
An HTTP error, a call that loops, an interview left unfinished after its calls, or one not in
the language its caller chose, is an error, and the command exits non-zero.

Reached through the plugin host (``ModeSpec.simulate_end_to_end``): the host's commands never
import a mode, and this module never imports the server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import random
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from instrument import catalogue
from instrument.engine import State
from instrument.plugin_types import EndToEndReport, EndToEndRun
from instrument.simulate import respondent_seed
from instrument.simulate.respondent import draw_case
from instrument.store import Store, open_store
from instrument.store.ivr_calls import access_code_key
from instrument_phone.ivr.simulator import (
    HANGUP,
    CallResult,
    CallSimulator,
    Keys,
    Outcome,
    Prompt,
    WsgiTransport,
    language_menu,
    menu_key,
    random_respondent,
)
from instrument_phone.telephony.config import (
    ACCOUNT_SID_ENV,
    AUTH_TOKEN_ENV,
    CALLER_ID_ENV,
    PUBLIC_URL_ENV,
)

__all__ = ["CALLS_PER_RESPONDENT", "HANG_UP_SHARE", "simulate_calls"]

PUBLIC_URL = "https://ivr-simulation.example.org"
"""The made-up address Twilio would reach the app at; requests are signed for it."""
STUDY_NUMBER = "+441632960000"  # Ofcom's range for drama: never a real line
DEFAULT_NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

HANG_UP_SHARE = 0.5
"""Respondents who hang up part way through their first call (and call back)."""
CALLS_PER_RESPONDENT = 4
"""Calls a respondent makes at most; still unfinished after them is an error."""
SILENCE_SHARE, INVALID_SHARE = 0.05, 0.05
"""How often a respondent stays silent at a prompt, and keys a wrong key (``0``)."""


@functools.cache
def _date_words() -> frozenset[str]:
    """How a call asks for a date, in every language the catalogue speaks: a caller who hears
    it keys a date (eight digits), as a person would, where a random number would never do."""
    return frozenset(
        catalogue.text(language, "ivr", "digits_date") for language in catalogue.languages()
    )


def _keys_a_date(prompt: Prompt, rng: random.Random, today: dt.date) -> Keys | None:
    """A day, month and year keyed for a prompt that asks for a date; None for other prompts."""
    if not any(h.text in _date_words() for h in prompt.heard):
        return None
    day = today - dt.timedelta(days=rng.randint(0, 80 * 365))  # within a lifetime, not ahead
    return Keys(f"{day.day:02d}{day.month:02d}{day.year:04d}#")


@dataclass
class _Tally:
    respondents: int = 0
    calls: int = 0
    hung_up: int = 0
    resumed: int = 0
    turns: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    chose: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class _Clock:
    """The app's clock during the run: a second on at every reading, so times are repeatable."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def _plain(preload: Mapping[str, Any]) -> dict[str, Any]:
    """A drawn case as the store keeps it (JSON: dates as ISO text)."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in preload.items()}


def simulate_calls(run: EndToEndRun) -> EndToEndReport:
    """Play ``run.n`` random respondents calling in to the real webhooks; report what happened."""
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        database = run.database
        if database is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="instrument-ivr-"))
            database = f"sqlite:///{Path(folder) / 'calls.db'}"
        store = open_store(database)
        stack.callback(store.close)
        tally = _play(run, store)
        where = (
            "a temporary SQLite database"
            if run.database is None
            else store.engine.url.render_as_string(hide_password=True)
        )
    return _report(run, tally, where, time.perf_counter() - began)


def _play(run: EndToEndRun, store: Store) -> _Tally:
    questionnaire = run.questionnaire
    secret = secrets.token_hex(32)
    token = secrets.token_hex(16)
    clock = _Clock(run.now or DEFAULT_NOW)
    environ = {
        ACCOUNT_SID_ENV: "AC" + secrets.token_hex(16),
        AUTH_TOKEN_ENV: token,
        CALLER_ID_ENV: STUDY_NUMBER,
        PUBLIC_URL_ENV: PUBLIC_URL,
    }
    # The modes read the Twilio variables when the app is built: set for that, then put back.
    with mock.patch.dict(os.environ, environ):
        app = run.make_app(
            {
                "SECRET_KEY": secret,
                "STORE": store,
                "QUESTIONNAIRES": [str(run.path)],
                "CLOCK": clock,
            }
        )
    simulator = CallSimulator(
        WsgiTransport(app),
        public_url=PUBLIC_URL,
        auth_token=token,
        account_sid=environ[ACCOUNT_SID_ENV],
        rng=random.Random(run.seed),
    )
    key = access_code_key(secret)
    tally = _Tally()
    for index in range(run.n):
        seed = respondent_seed(run.seed, index)
        rng = random.Random(seed)
        case_id = f"ivr-sim-{run.seed}-{index}"
        store.put_case(
            case_id, questionnaire.id, _plain(draw_case(questionnaire, rng)), now=clock()
        )
        code = store.issue_access_code(questionnaire.id, case_id=case_id, key=key, now=clock())
        # a questionnaire in one language has no choice to make: nothing drawn, seeds as before
        languages = questionnaire.languages
        language = rng.choice(languages) if len(languages) > 1 else None
        caller = _Caller(rng, index, case_id, code, language)
        _respondent(simulator, store, tally, caller, clock)
        if run.progress is not None and (index + 1) % 50 == 0:
            run.progress(f"{index + 1:,} of {run.n:,} respondents called")
    return tally


@dataclass(frozen=True)
class _Caller:
    """Who one simulated respondent is: their draws, case, code and language (None: the
    questionnaire has one, and the line offers no choice)."""

    rng: random.Random
    index: int
    case_id: str
    code: str
    language: str | None


def _respondent(
    simulator: CallSimulator, store: Store, tally: _Tally, caller: _Caller, clock: _Clock
) -> None:
    """One respondent's calls: their language at the greeting where there is a choice, the
    code each time; maybe a hang-up on the first; calls back."""
    rng, index, case_id, code = caller.rng, caller.index, caller.case_id, caller.code
    tally.respondents += 1
    hang_up_at = rng.randint(2, 12) if rng.random() < HANG_UP_SHARE else None
    answers = random_respondent(rng, silence=SILENCE_SHARE, invalid=INVALID_SHARE)
    phone = f"+4477009{index % 100_000:05d}"
    hung_up = False
    # The line offers a choice only of the languages it has voices for (none: no menu at all),
    # so a caller's language counts as chosen only where a menu was heard.
    menus: list[bool] = []
    for number in range(CALLS_PER_RESPONDENT):
        first = number == 0
        keyed_code = [False]

        def policy(prompt: Prompt, first: bool = first, keyed_code: list[bool] = keyed_code) -> Any:
            offers = language_menu(prompt)
            if offers:  # the line's choice of language: the respondent's, else the first
                if not menus and caller.language is not None:
                    tally.chose[caller.language] = tally.chose.get(caller.language, 0) + 1
                menus.append(True)
                wanted = menu_key(offers, caller.language or "")
                return Keys(wanted or min(offers.values()))
            if not keyed_code[0]:  # then the access code
                keyed_code[0] = True
                return Keys(code + "#")
            if first and prompt.number == hang_up_at:
                return HANGUP
            return _keys_a_date(prompt, rng, clock.now.date()) or answers(prompt)

        call = simulator.call(
            "/ivr/voice",
            policy,
            respondent=phone,
            study_number=STUDY_NUMBER,
            status_callback="/ivr/status",
            started_at=clock.now,
        )
        tally.calls += 1
        tally.turns += len(call.exchanges)
        problem = _problem(call)
        if problem is not None:
            tally.errors.append(f"respondent {index} ({case_id}), call {number + 1}: {problem}")
            return
        if call.outcome is Outcome.CALLER_HUNG_UP:
            tally.hung_up += 1
            hung_up = True
            continue
        break
    found = [r for r in store.interviews_for_case(case_id) if r.status != "withdrawn"]
    if len(found) != 1 or found[0].finished_at is None:
        state = "none" if not found else f"{len(found)} interview(s), {found[0].status}"
        where = ""
        if len(found) == 1 and call.outcome.completed:  # the line itself said goodbye
            page = _page_of(found[0].state)
            where = f"; the line ended the call at page '{page}' (answers not given or refused "
            where += "after the re-prompts)"
        tally.errors.append(
            f"respondent {index} ({case_id}): not finished after {number + 1} calls ({state}){where}"
        )
        return
    status = found[0].status
    tally.finished[status] = tally.finished.get(status, 0) + 1
    if hung_up:
        tally.resumed += 1
    if menus and caller.language is not None and found[0].language != caller.language:
        tally.errors.append(
            f"respondent {index} ({case_id}): chose {caller.language} at the greeting but was "
            f"interviewed in {found[0].language}"
        )


def _page_of(state: Mapping[str, Any]) -> str:
    """The page an interview stands at, from its stored state."""
    current = State.from_json(dict(state)).current
    return current.page if current is not None else "?"


def _problem(call: CallResult) -> str | None:
    """Why a call went wrong, or None: an error reply, a loop, a callback refused."""
    if call.outcome in (Outcome.ERROR, Outcome.TURN_LIMIT, Outcome.SCRIPT_ENDED):
        return f"{call.outcome.name}: {call.detail}"
    failed = call.callback_failures
    if failed:
        return f"status callback answered {failed[0].status}: {failed[0].url}"
    return None


def _report(run: EndToEndRun, tally: _Tally, where: str, seconds: float) -> EndToEndReport:
    q = run.questionnaire
    finished = sum(tally.finished.values())
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.finished.items()))
    lines = [
        f"Simulated {tally.respondents:,} respondents of {q.id} {q.version} calling in to the "
        f"ivr webhooks (seed {run.seed}) in {seconds:.1f} s, stored in {where}",
        f"Calls: {tally.calls:,}; turns (webhook requests): {tally.turns:,}",
        f"Interviews finished: {finished:,} of {tally.respondents:,}"
        + (f" ({statuses})" if statuses else ""),
        f"Hang-ups: {tally.hung_up:,}; interviews resumed by a later call and finished: "
        f"{tally.resumed:,}",
    ]
    if tally.chose:
        chosen = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.chose.items()))
        lines.insert(3, f"Languages chosen at the greeting: {chosen}")
    if tally.errors:
        lines.append(f"ERRORS ({len(tally.errors)}):")
        lines.extend(f"  {error}" for error in tally.errors[:20])
        if len(tally.errors) > 20:
            lines.append(f"  ... and {len(tally.errors) - 20} more")
    else:
        lines.append("Errors: none")
    counts = {
        "respondents": tally.respondents,
        "calls": tally.calls,
        "turns": tally.turns,
        "finished": finished,
        "hung_up": tally.hung_up,
        "resumed": tally.resumed,
        "errors": len(tally.errors),
        **{f"finished_{k}": v for k, v in tally.finished.items()},
        **{f"chose_{k}": v for k, v in tally.chose.items()},
    }
    return EndToEndReport(tuple(lines), counts, tuple(tally.errors))
