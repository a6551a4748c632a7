"""The spoken plan of one engine step for an automated call.

The engine's step for an ``ivr`` interview already carries the wording the
mode prefers (``ivr``, else ``read_out``, else ``text``: ``QuestionView.spoken``
and ``OptionView.spoken``), filled in, in the interview's language, options in
their display order. This module decides only how a keypad asks it: one
:class:`Prompt` per thing the caller keys, in order.

* single choice, yes/no: "For X, press 1", one key (two digits and ``#`` when
  the list is longer than the keypad; ``instrument check`` warns of that);
* multiple choice: unfolded, one yes/no prompt per option read out;
* numbers: digits then ``#``, read back for confirmation when the settings ask;
* dates: eight digits (day, month, year) then ``#``;
* grids: one prompt per row, the scale's keys said with the first row;
* free text: skipped (not answered, flagged for paradata) unless the study
  records answers, then a consent prompt and a capped recording;
* information and the end: said, with nothing keyed.

Don't know, refused (their keys differ on a choice and on digits), that an
answer may be spoken (where the study takes speech, with the first prompt that
takes it) and ``*`` (repeat) are each announced once per call, with the first
question that offers them; every re-prompt says them again. The caller passes what was
announced and the plan says what has been announced once it is said. Plain data: the telephone mode compiles it
to TwiML, the terminal could print it, tests compare it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from instrument.engine import Problem, QuestionView, Step
from instrument.ivr.keypad import (
    DIGITS_DK,
    DIGITS_REFUSED,
    IVR_DK_KEY,
    IVR_REFUSED_KEY,
    NO_KEY,
    YES_KEY,
    ivr_keypad,
    ivr_offered,
    offers_dk,
    offers_refused,
    one_key,
)
from instrument.ivr.recording import holds_reference

__all__ = [
    "FREE_TEXT_SKIPPED",
    "UNSUPPORTED_SKIPPED",
    "IvrSettings",
    "KeyChoice",
    "Prompt",
    "PromptKind",
    "SPOKEN_KINDS",
    "Say",
    "SpeechSettings",
    "StepPlan",
    "ivr_words",
    "plan_step",
]

Say = Callable[..., str]
"""``say(key, **values)``: one of the call's own words (catalogue domain ``ivr``) in one language."""

PromptKind = Literal["choice", "option", "number", "date", "consent", "record", "skipped", "check"]
FREE_TEXT_SKIPPED = "ivr_free_text_skipped"
"""Paradata flag: a free-text question the call could not ask (no recording), left not answered."""
UNSUPPORTED_SKIPPED = "ivr_unsupported_skipped"
"""Paradata flag: a question of a kind the keypad cannot answer (a plugin's type, a summary)."""

SPOKEN_KINDS: frozenset[PromptKind] = frozenset({"choice", "option", "number", "consent", "check"})
"""The prompts a caller may answer by speaking where the study takes speech (dates and
recordings take keys only: a spoken date is too easily misheard for the checks to catch)."""

_CHOICES = ("single", "yesno")
_NUMBERS = ("integer", "decimal")
_FREE_TEXT = ("text", "long_text")
_SAID_ONLY = ("info", "end")


@dataclass(frozen=True)
class SpeechSettings:
    """Answers may be spoken as well as keyed (``meta.ivr.speech``).

    :param confidence: the recogniser's confidence (0-1) below which a spoken answer is
        confirmed ("Did you say ...? Press 1 for yes, 2 for no.").
    :param confirm: ``unsure`` (below the threshold, or words matching two answers) or
        ``always``.
    """

    confidence: float = 0.5
    confirm: Literal["unsure", "always"] = "unsure"

    def __post_init__(self) -> None:
        if not 0 <= self.confidence <= 1:
            raise ValueError("SpeechSettings.confidence must be from 0 to 1")
        if self.confirm not in ("unsure", "always"):
            raise ValueError("SpeechSettings.confirm must be 'unsure' or 'always'")


@dataclass(frozen=True)
class IvrSettings:
    """How a study's automated calls ask: the questionnaire's ``meta.ivr`` and, for recording,
    its fieldwork file (:func:`instrument.ivr.settings.ivr_settings` builds one from both).

    :param reprompts: how many times a silent or invalid prompt is asked again before giving up.
    :param on_no_answer: on giving up, ``skip`` (the question is left not answered and the
        call goes on) or ``end`` (the call ends politely; the interview stays a partial).
    :param read_back: numbers are read back for confirmation: ``True`` for every number, or
        the variable keys (without loop suffixes) of those to read back.
    :param recording: free text is answered by a recording (consent asked first).
    :param record_seconds: the cap on a recording.
    :param speech: spoken answers are taken too (None: keys only).
    """

    reprompts: int = 2
    on_no_answer: Literal["skip", "end"] = "skip"
    read_back: bool | frozenset[str] = False
    recording: bool = False
    record_seconds: int = 60
    speech: SpeechSettings | None = None

    def __post_init__(self) -> None:
        if self.reprompts < 0:
            raise ValueError("IvrSettings.reprompts must be 0 or more")
        if self.on_no_answer not in ("skip", "end"):
            raise ValueError("IvrSettings.on_no_answer must be 'skip' or 'end'")
        if self.record_seconds < 1:
            raise ValueError("IvrSettings.record_seconds must be at least 1")

    def reads_back(self, question_id: str) -> bool:
        """Whether a number answering question ``question_id`` is read back."""
        if isinstance(self.read_back, bool):
            return self.read_back
        return question_id in self.read_back


@dataclass(frozen=True)
class KeyChoice:
    """One key and what it answers."""

    key: str
    code: int
    spoken: str


@dataclass(frozen=True)
class Prompt:
    """One thing the caller is asked to key (or, for ``skipped``, not asked at all).

    ``says`` is spoken the first time; ``repeat_says`` when ``*`` is pressed or
    the prompt is asked again (the whole question with every key). ``key`` is
    the engine variable the answer goes to; ``option`` the code an unfolded
    multiple-choice prompt asks about; ``entry`` how keys end (one key, or
    digits ended by ``#``).
    """

    kind: PromptKind
    key: str
    question: str
    says: tuple[str, ...]
    repeat_says: tuple[str, ...]
    entry: Literal["one_key", "digits", "none", "recording"] = "one_key"
    keys: tuple[KeyChoice, ...] = ()
    dk_key: str | None = None
    refused_key: str | None = None
    option: int | None = None
    exclusive: int | None = None  # option prompts: the "none of these" code, when all are no
    integer: bool = True  # number prompts: a whole number (no decimal point)
    read_back: bool = False
    flag: str | None = None  # paradata flag for a skipped question
    record_seconds: int | None = None
    warnings: tuple[str, ...] = ()  # check prompts: the soft checks' ids to confirm


@dataclass(frozen=True)
class StepPlan:
    """What a call says and asks for one engine step."""

    page_id: str
    token: str
    language: str
    intro: tuple[str, ...]  # said before the first prompt (information, the end's words)
    prompts: tuple[Prompt, ...]
    end: bool  # the interview's end: say the intro, then hang up
    announced: frozenset[str]  # the extra keys the call has now announced (dk_key, repeat, ...)


def ivr_words(questionnaire: Any, language: str) -> Say:
    """The call's words for one questionnaire in ``language`` (its own texts over ours)."""
    return partial(questionnaire.interface_texts.domain("ivr").text, language)


def plan_step(
    step: Step,
    say: Say,
    *,
    settings: IvrSettings = IvrSettings(),
    announced: Collection[str] = (),
    problems: Sequence[Problem] = (),
) -> StepPlan:
    """The spoken plan of ``step``.

    :param say: the call's words in the step's language (:func:`ivr_words`).
    :param announced: the extra keys this call has announced already, by name:
        ``dk_key``, ``refused_key`` (8 and 9 on a choice), ``digits_dk``,
        ``digits_refused`` (``*8#`` and ``*9#`` on a number or date), ``speech`` (an answer
        may be said, where ``settings.speech`` is on), ``repeat`` (``*``).
    :param problems: what the engine said of the last submit of this step:
        errors are spoken before the question they concern, and soft warnings
        become the plan's one prompt, of kind ``check``: 1 keeps the answers (submit
        them again with the warnings confirmed), 2 changes them (plan the step again
        without problems).
    """
    builder = _Builder(say, settings, set(announced), problems)
    intro: list[str] = []
    warnings = [p for p in problems if p.kind == "warning"]
    if warnings:  # only the soft checks: keep (submit again, confirmed) or change (plan again)
        messages = tuple(p.message for p in warnings)
        check = Prompt(
            kind="check",
            key="",
            question="",
            says=(*messages, say("keep_or_change")),
            repeat_says=(*messages, say("keep_or_change")),
            keys=(KeyChoice(YES_KEY, 1, ""), KeyChoice(NO_KEY, 2, "")),
            warnings=tuple(p.id for p in warnings),
        )
        return StepPlan(
            step.page_id, step.token, step.language, (), (check,), False, frozenset(announced)
        )
    for view in step.questions:
        if view.type in _SAID_ONLY:
            if view.spoken:
                (intro if not builder.prompts else builder.pending).append(view.spoken)
            continue
        builder.question(view)
    return StepPlan(
        page_id=step.page_id,
        token=step.token,
        language=step.language,
        intro=tuple(intro),
        prompts=tuple(builder.prompts),
        end=step.kind == "end",
        announced=frozenset(builder.announced),
    )


def _words(extras: list[tuple[str, str]]) -> list[str]:
    return [words for _, words in extras]


class _Builder:
    """Collects the prompts of one step; holds what the call has announced so far."""

    def __init__(
        self, say: Say, settings: IvrSettings, announced: set[str], problems: Sequence[Problem]
    ) -> None:
        self.say = say
        self.settings = settings
        self.announced = announced
        self.errors = {p.key: p.message for p in problems if p.kind != "warning"}
        self.prompts: list[Prompt] = []
        self.pending: list[str] = []  # information between questions: said before the next

    def question(self, view: QuestionView) -> None:
        if view.type in _CHOICES:
            self._choice(view, view.key, view.spoken, ())
        elif view.type == "grid":
            self._grid(view)
        elif view.type == "multi":
            self._unfolded(view)
        elif view.type in _NUMBERS:
            self._number(view)
        elif view.type == "date":
            self._date(view)
        elif view.type in _FREE_TEXT:
            self._free_text(view)
        elif view.key:
            self._add(
                Prompt("skipped", view.key, view.id, (), (), "none", flag=UNSUPPORTED_SKIPPED)
            )

    # ------------------------------------------------------------- helpers

    def _lead(self, key: str, text: str) -> tuple[str, ...]:
        """What comes before a question: information waiting, the engine's error, the text."""
        lead = [*self.pending]
        self.pending.clear()
        if key in self.errors:
            lead.append(self.errors[key])
        if text:
            lead.append(text)
        return tuple(lead)

    def _extras(
        self, entry: str, view: QuestionView, kind: PromptKind
    ) -> tuple[list[tuple[str, str]], str | None, str | None]:
        """Don't know, refused, speaking (where the study takes speech and ``kind`` of prompt
        may be spoken to) and repeat: their keys, and their words by announcement name."""
        digits = entry == "digits"
        dk = (DIGITS_DK if digits else IVR_DK_KEY) if offers_dk(view) else None
        refused = (DIGITS_REFUSED if digits else IVR_REFUSED_KEY) if offers_refused(view) else None
        words = []
        if dk is not None:
            words.append(
                ("digits_dk", self.say("digits_dk"))
                if digits
                else ("dk_key", self.say("dk_key", key=dk))
            )
        if refused is not None:
            words.append(
                ("digits_refused", self.say("digits_refused"))
                if digits
                else ("refused_key", self.say("refused_key", key=refused))
            )
        if self.settings.speech is not None and kind in SPOKEN_KINDS:
            words.append(("speech", self.say("say_answer")))
        words.append(("repeat", self.say("repeat")))
        return words, dk, refused

    def _announce(self, extras: list[tuple[str, str]]) -> list[str]:
        """The extras' words this call has not said yet (each is said once per call)."""
        fresh = [(name, words) for name, words in extras if name not in self.announced]
        self.announced.update(name for name, _ in fresh)
        return [words for _, words in fresh]

    def _add(self, prompt: Prompt) -> None:
        self.prompts.append(prompt)

    # ------------------------------------------------------------- kinds

    def _choice(
        self, view: QuestionView, key: str, text: str, before: tuple[str, ...], full: bool = True
    ) -> None:
        keypad = ivr_keypad(view)
        spoken = {o.code: o.spoken for o in ivr_offered(view)}
        keys = tuple(KeyChoice(k, code, spoken[code]) for k, code in keypad.items())
        single = one_key(keypad)
        listing = [self.say("press_key", label=k.spoken, key=k.key) for k in keys]
        if not single:
            listing.append(self.say("two_digit_keys"))
        entry = "one_key" if single else "digits"
        extras, dk, refused = self._extras("one_key", view, "choice")
        lead = (*before, *self._lead(key, text))
        announced = self._announce(extras)
        said = [*listing, *announced] if full else announced
        self._add(
            Prompt(
                kind="choice",
                key=key,
                question=view.id,
                says=(*lead, *said),
                repeat_says=(*lead, *listing, *_words(extras)),
                entry=entry,
                keys=keys,
                dk_key=dk,
                refused_key=refused,
            )
        )

    def _grid(self, view: QuestionView) -> None:
        for number, row in enumerate(view.rows):
            first = number == 0
            before = (view.spoken, self.say("each_row")) if first and view.spoken else ()
            self._choice(view, row.key, row.spoken, before, full=first)

    def _unfolded(self, view: QuestionView) -> None:
        offered = [o for o in ivr_offered(view) if not (o.exclusive or o.other_specify)]
        exclusive = next((o.code for o in ivr_offered(view) if o.exclusive), None)
        extras, dk, refused = self._extras("one_key", view, "option")
        yes_no = (KeyChoice(YES_KEY, 1, ""), KeyChoice(NO_KEY, 2, ""))
        lead = self._lead(view.key, view.spoken)
        for number, option in enumerate(offered):
            first = number == 0
            head = (*lead, self.say("each_option")) if first else ()
            announced = self._announce(extras) if first else []
            asked = (option.spoken, self.say("yes_no")) if first else (option.spoken,)
            self._add(
                Prompt(
                    kind="option",
                    key=view.key,
                    question=view.id,
                    says=(*head, *asked, *announced),
                    repeat_says=(*lead, option.spoken, self.say("yes_no"), *_words(extras)),
                    keys=yes_no,
                    dk_key=dk,
                    refused_key=refused,
                    option=option.code,
                    exclusive=exclusive,
                )
            )

    def _digits(self, view: QuestionView, kind: PromptKind, how: list[str], **more: Any) -> None:
        extras, dk, refused = self._extras("digits", view, kind)
        lead = self._lead(view.key, view.spoken)
        announced = self._announce(extras)
        self._add(
            Prompt(
                kind=kind,
                key=view.key,
                question=view.id,
                says=(*lead, *how, *announced),
                repeat_says=(*lead, *how, *_words(extras)),
                entry="digits",
                dk_key=dk,
                refused_key=refused,
                **more,
            )
        )

    def _number(self, view: QuestionView) -> None:
        integer = view.type == "integer"
        how = [self.say("digits_number")]
        if not integer:
            how.append(self.say("decimal_point"))
        self._digits(
            view, "number", how, integer=integer, read_back=self.settings.reads_back(view.id)
        )

    def _date(self, view: QuestionView) -> None:
        self._digits(view, "date", [self.say("digits_date")])

    def _free_text(self, view: QuestionView) -> None:
        # A question too short to hold a recording's reference is not recorded: the recording
        # would be made and kept at the provider with no answer pointing at it.
        if not self.settings.recording or not holds_reference(view.max_length):
            self._add(Prompt("skipped", view.key, view.id, (), (), "none", flag=FREE_TEXT_SKIPPED))
            return
        lead = self._lead(view.key, view.spoken)
        consent = self.say("record_consent")
        self._add(
            Prompt(
                kind="consent",
                key=view.key,
                question=view.id,
                says=(*lead, consent),
                repeat_says=(*lead, consent),
                keys=(KeyChoice(YES_KEY, 1, ""), KeyChoice(NO_KEY, 2, "")),
            )
        )
        start = self.say("record_start")
        self._add(
            Prompt(
                kind="record",
                key=view.key,
                question=view.id,
                says=(start,),
                repeat_says=(start,),
                entry="recording",
                record_seconds=self.settings.record_seconds,
            )
        )
