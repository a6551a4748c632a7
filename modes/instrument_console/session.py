"""An interview in the terminal: ask each page, hand the answers to the engine, repeat.

:class:`ConsoleSession` reads lines through a ``read`` callable and writes
through ``write``, so the same loop serves a real terminal, a pipe and a test
feeding scripted input. The engine does all the deciding: which page comes
next, whether an answer is acceptable, which soft checks fire and what the
texts say. The session only lays pages out (:mod:`instrument_console.render`),
maps typed words to inputs (:mod:`instrument_console.entry`) and offers a few
commands, typed at any prompt:

``:back``, ``:jump VARIABLE``, ``:quit``, ``:help``, ``:lang CODE``, ``:show``.

A little over the ~400 lines a module should hold: the session is one loop over the prompt whose
commands (back, jump, remove, language, summary change) share its state; layout and entry are
already modules of their own, and the next split is the commands, once the interviewer screen
(telephone issue) shows which of them it shares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from instrument.engine import (
    Engine,
    EngineError,
    Event,
    Problem,
    QuestionView,
    State,
    Step,
    SubmitResult,
)
from instrument.values import DK, REFUSED
from instrument_console.entry import parse_entry
from instrument_console.render import (
    Say,
    Style,
    format_value,
    question_lines,
    row_lines,
    style_of,
    words_in,
)

__all__ = ["HELP", "ConsoleSession", "utc_now"]

Reader = Callable[[str], str]  # raises EOFError at the end of input
Writer = Callable[[str], None]
Styler = Callable[[str, str], str]  # (text, role) -> text; roles: title, error, warning, note

HELP = """\
Answer at the > prompt, then press Enter.
  choices        type the number shown: 2
  several        numbers separated by commas: 1, 3, 96
  dates          YYYY-MM-DD or day month year: 27 3 2019
  dk / ref       don't know / refused (prefer not to say), where offered
  Enter          skip the question (or keep the answer shown as "answer so far")
  -              clear an answer given earlier and leave the question unanswered
Commands, at any prompt:
  :back          go back to the previous page
  :jump NAME     go back to the page that asked variable NAME (e.g. :jump n_kids)
  :show          the answers recorded so far
  :remove N      on a list's summary, remove person N (e.g. :remove 2)
  :lang CODE     switch language (e.g. :lang cy)
  :quit          stop now; the interview is kept as a partial
  :help          this text
  ::text         an answer that starts with ':' (type one extra ':')"""


def utc_now() -> dt.datetime:
    """The clock the console passes to the engine (which reads none itself)."""
    return dt.datetime.now(dt.UTC)


def _plain(text: str, role: str) -> str:
    return text


class _Restart(Exception):
    """The current page changed under the prompt (:back, :jump, :lang)."""


class _Quit(Exception):
    """The person typed :quit or the input ran out."""


class ConsoleSession:
    """Runs one interview in a terminal-like stream.

    :param engine: the engine of the questionnaire.
    :param state: a started interview (``engine.start(...)``); its ``mode``
        (web, cati or ivr) decides how pages are shown.
    :param read: ``read(prompt)`` returns one line; raises ``EOFError`` at
        the end of input, which ends the interview as a partial.
    :param write: writes one line.
    :param now: the clock handed to the engine.
    :param style: ``style(text, role)`` adds colour; plain by default.
    """

    def __init__(
        self,
        engine: Engine,
        state: State,
        *,
        read: Reader,
        write: Writer,
        now: Callable[[], dt.datetime] = utc_now,
        style: Styler = _plain,
    ) -> None:
        self.engine = engine
        self.state = state
        self.read = read
        self.write = write
        self.now = now
        self.style = style
        self.events: list[Event] = []  # for a caller that wants to store them
        self._section: str | None = None

    # ------------------------------------------------------------------ flow

    @property
    def mode(self) -> str:
        return self.state.mode

    @property
    def look(self) -> Style:
        """How the terminal plays the interview's mode (from the mode's policy)."""
        return style_of(self.engine.q.mode_policies[self.state.mode])

    def run(self) -> State:
        """Ask pages until the interview finishes or is quit; print the outcome and the values."""
        self._intro()
        while not self.state.finished:
            try:
                self._page()
            except _Restart:
                continue
            except _Quit:
                self.events.extend(self.engine.finish(self.state, now=self.now()))
        self._ending()
        return self.state

    def _intro(self) -> None:
        q = self.engine.q
        title = q.title.source(self.state.language, q.default_language)
        role = {
            "screen": f"as the respondent ({self.mode})",
            "interviewer": f"as the interviewer ({self.mode})",
            "call": f"as an automated call ({self.mode})",
            "text": f"as a text-message conversation ({self.mode})",
        }
        self.write(self.style(title, "title"))
        self.write(
            f"{q.id} version {q.version}, {role[self.look]}, "
            f"language {self.state.language}, seed {self.state.seed}"
        )
        if self.look == "call":
            self.write(self._say()("intro_call"))
        elif self.look == "interviewer":
            self.write(self._say()("intro_interviewer"))
        self.write("Type :help for help, :quit to stop.")

    def _page(self) -> None:
        step = self._step()
        self._header(step)
        answers: dict[str, Any] = {}
        pending: list[QuestionView] = list(step.questions)
        confirm: set[str] = set()
        for view in pending:
            self._ask(view, answers)
        if not any(view.keys for view in step.questions):
            # prompts stay unstyled: input() does not strip colour
            self._read(self._say()("press_enter") + " ")
        while True:
            result = self.engine.submit(
                self.state,
                answers,
                now=self.now(),
                token=step.token,
                confirm=confirm,
                actor="interviewer" if self.look == "interviewer" else "respondent",
            )
            self.events.extend(result.events)
            if result.accepted:
                return
            if result.errors:
                for problem in result.errors:
                    self.write(self.style(f"! {problem.message}", "error"))
                step = self._step()  # a skip prompt changes what is offered
                redo = self._views_for(step, result.errors)
            else:
                for problem in result.warnings:
                    self.write(self.style(f"? {problem.message}", "warning"))
                reply = self._read(self._say()("confirm") + " ").strip().lower()
                if reply in ("y", "yes"):
                    confirm.update(w.id for w in result.warnings)
                    continue
                redo = self._views_for(step, result.warnings)
            for view in redo:
                for key in view.keys:
                    answers.pop(key, None)
                self._ask(view, answers)

    def _submitted(self, step: Step, answers: Mapping[str, Any], confirm: bool) -> SubmitResult:
        """A piece-by-piece flow's answers to a step (a call's, a text conversation's) handed to
        the engine as the respondent's, its soft checks kept when ``confirm``; events kept."""
        result = self.engine.submit(
            self.state,
            answers,
            now=self.now(),
            token=step.token,
            confirm=True if confirm else (),
            actor="respondent",
        )
        self.events.extend(result.events)
        return result

    def _say(self) -> Say:
        """The console's words in the interview's language now (:lang may change it)."""
        return words_in(self.engine.q, self.state.language)

    def _step(self) -> Step:
        # html=False: a terminal shows the text as written, fills unescaped.
        return self.engine.current_step(self.state, html=False)

    def _header(self, step: Step) -> None:
        self.write("")
        if step.section_title and step.section_title != self._section:
            self.write(self.style(step.section_title, "title"))
            self.write(self.style("-" * len(step.section_title), "title"))
        self._section = step.section_title
        if step.iteration_path:  # which loop iteration: "Household 2 > Ama"
            self.write(self.style(" > ".join(step.iteration_path), "title"))
        if step.list_items:  # a list's summary, before "anyone else?"
            for number, (_, name, _key) in enumerate(step.list_items, 1):
                self.write(f"  {number}. {name}")
            self.write(
                self.style("  (:remove N removes person N; :jump changes an answer)", "note")
            )

    @staticmethod
    def _views_for(step: Step, problems: Iterable[Problem]) -> list[QuestionView]:
        keys = {p.key for p in problems}
        views = [v for v in step.questions if keys & set(v.keys)]
        # A problem about the page as a whole: ask everything again.
        return views or [v for v in step.questions if v.keys]

    # ---------------------------------------------------------------- asking

    def _ask(self, view: QuestionView, answers: dict[str, Any]) -> None:
        say = self._say()
        for line in question_lines(view, self.look, say):
            self.write(line)
        if view.type in ("info", "end", "summary"):
            return
        if view.type == "grid":
            for row in view.rows:
                for line in row_lines(row.text, row.spoken, row.key, self.look, say):
                    self.write(line)
                answers[row.key] = self._entry(view, row.value, row=True)
            return
        value = self._entry(view, view.value, suggested=view.prefilled)
        answers[view.key] = value
        if view.other_key:
            other = next((o for o in view.options if o.other_specify), None)
            if other is not None and other.code in _codes_in(value):
                prompt = "  " + say("specify_prompt", label=other.label) + " > "
                text = self._text(prompt, view.other_value)
                answers[view.other_key] = text

    def _entry(
        self, view: QuestionView, previous: Any, *, row: bool = False, suggested: bool = False
    ) -> Any:
        if previous is not None:
            shown = format_value(previous, {o.code: o.label for o in view.options})
            kept = self._say()("suggested" if suggested else "so_far", answer=shown)
            self.write(self.style(f"  ({kept})", "note"))
        while True:
            text = self._read("> ").strip()
            if not text:
                return previous if previous is not None else ""
            if text == "-":
                return ""
            entry = parse_entry(
                text,
                view,
                self.look,
                self.state.language,
                row=row,
                messages=self.engine.q.interface_texts.domain("engine"),
                say=self._say(),
            )
            if entry.error is None:
                return entry.value
            self.write(self.style(f"! {entry.error}", "error"))

    def _text(self, prompt: str, previous: str | None) -> str:
        if previous:
            kept = self._say()("text_so_far", answer=repr(previous))
            self.write(self.style(f"  ({kept})", "note"))
        text = self._read(prompt).strip()
        return text or (previous or "")

    def _read(self, prompt: str) -> str:
        """One line of input; commands are carried out here, whatever was being asked."""
        while True:
            try:
                line = self.read(prompt)
            except EOFError:
                self.write(self.style("(end of input: stopping)", "note"))
                raise _Quit from None
            stripped = line.strip()
            if stripped.startswith("::"):
                return stripped[1:]
            if stripped.startswith(":"):
                self._command(stripped[1:])
                continue
            return line

    # -------------------------------------------------------------- commands

    def _command(self, text: str) -> None:
        name, _, argument = text.partition(" ")
        name, argument = name.lower(), argument.strip()
        if name in ("help", "h", "?"):
            self.write(HELP)
        elif name == "show":
            self._show_values()
        elif name == "quit":
            raise _Quit
        elif name == "back":
            self._navigate(lambda now: self.engine.back(self.state, now=now))
        elif name == "jump":
            if not argument:
                self.write(
                    self.style("! Say where to: :jump VARIABLE (e.g. :jump n_kids)", "error")
                )
                return
            self._navigate(lambda now: self.engine.jump(self.state, argument, now=now), argument)
        elif name == "remove":
            self._remove(argument)
        elif name == "lang":
            self._language(argument)
        else:
            self.write(self.style(f"! Unknown command :{name} (type :help)", "error"))

    def _navigate(
        self, move: Callable[[dt.datetime], list[Event]], target: str | None = None
    ) -> None:
        try:
            events = move(self.now())
        except EngineError as exc:
            message = str(exc)
            if target is not None:
                similar = sorted(k for k in self.state.on_route if k.startswith(f"{target}_"))
                if similar:
                    message += f"; asked as {', '.join(similar)}"
            self.write(self.style(f"! {message}", "error"))
            return
        self.events.extend(events)
        raise _Restart

    def _remove(self, argument: str) -> None:
        """Remove a person from the list whose summary this page shows."""
        visit = self.state.current
        loop = self.engine.q.pages[visit.page].loop if visit is not None else None
        if loop is None:
            self.write(self.style("! :remove works on a list's summary page", "error"))
            return
        self._navigate(
            lambda now: self.engine.remove_item(self.state, loop, argument, now=now), argument
        )

    def _language(self, code: str) -> None:
        languages = self.engine.q.languages
        if not code:
            self.write(
                f"Language {self.state.language}; this questionnaire has {', '.join(languages)}"
            )
            return
        if code not in languages:
            self.write(
                self.style(
                    f"! No language '{code}' here; this questionnaire has {', '.join(languages)}",
                    "error",
                )
            )
            return
        # The engine has no call for this: every text is rendered from
        # state.language when the step is built, so setting it and asking
        # for the step again shows the same page in the new language.
        self.state.language = code
        self.write(self.style(f"(language: {code})", "note"))
        self._section = None
        raise _Restart

    # ------------------------------------------------------------------ data

    def _show_values(self) -> None:
        values = self._ordered_values()
        if not values:
            self.write("No answers yet.")
            return
        for key, value in values:
            self.write(f"  {key} = {format_value(value, self._labels(key))}")

    def _ordered_values(self) -> list[tuple[str, Any]]:
        """engine.values in questionnaire order, loop iterations together."""
        names = list(self.engine.q.variables)
        position = {name: index for index, name in enumerate(names)}

        def order(item: tuple[str, Any]) -> tuple[int, str, str]:
            key = item[0]
            base, suffix = self._base(key)
            return (position.get(base, len(names)), suffix.zfill(6), key)

        return sorted(self.engine.values(self.state).items(), key=order)

    def _base(self, key: str) -> tuple[str, str]:
        variables = self.engine.q.variables
        if key in variables:
            return key, ""
        base, _, suffix = key.rpartition("_")
        while base and base not in variables:
            base, _, more = base.rpartition("_")
            suffix = f"{more}_{suffix}"
        return (base, suffix) if base else (key, "")

    def _labels(self, key: str) -> Mapping[int, str] | None:
        variable = self.engine.q.variables.get(self._base(key)[0])
        if variable is None or variable.choices is None:
            return None
        q = self.engine.q
        return {
            o.code: o.label.source(self.state.language, q.default_language)
            for o in variable.choices.options
        }

    def _ending(self) -> None:
        step = self._step()
        if step.kind == "end":
            for view in step.questions:
                for line in question_lines(view, self.look, self._say()):
                    self.write(line)
        self._outcome()

    def _outcome(self) -> None:
        """The interview's outcome and every value, after the last page."""
        self.write("")
        self.write(self.style(f"Outcome: {self.state.outcome}", "title"))
        self.write("Values:")
        for key, value in self._ordered_values():
            self.write(f"  {key} = {format_value(value, self._labels(key))}")


def _codes_in(value: Any) -> set[int]:
    """The option codes in a raw or typed choice input (to know whether to ask 'please specify')."""
    if value is DK or value is REFUSED or value is None:
        return set()
    items = value if isinstance(value, (list, tuple, set)) else [value]
    codes = set()
    for item in items:
        try:
            codes.add(int(str(item).strip()))
        except ValueError:
            continue
    return codes
