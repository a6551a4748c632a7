"""A text-message interview played in the terminal: each text as it would be sent, the reply typed.

``instrument try PATH --mode sms`` (or any mode whose policy says ``text_messages``) runs the
interview through the same :class:`~instrument.sms.conversation.SmsFlow` the phone mode's
webhook runs, and hears each reply with the same :func:`~instrument.sms.keywords.hear`, so the
terminal shows what a respondent's phone would receive, text for text: the invitation with the
first question (as ``instrument sms start`` begins a conversation), one question a text, the
reply words announced once, the engine's checks, a reply that does not fit answered with what
was expected, the end. Each text is headed with how it travels (SMS parts, GSM-7 or UCS-2 and
why, :func:`~instrument.sms.segments.sms_segments`), which is what a study pays for. STOP (and
the questionnaire's languages' own stop words) stops the conversation as on the real line:
nothing more is sent until START; HELP sends the question again.

Nothing of the conversation's logic is here: this module prints the texts and feeds the typed
line to the flow. The console's ``:quit``, ``:show`` and ``:help`` work; ``:back``, ``:jump``,
``:lang`` and ``:remove`` are not things a texter can do, and say so.
"""

from __future__ import annotations

from typing import Any

from instrument.engine import Engine, State
from instrument.sms.conversation import NO_ANSWER, SmsAction, SmsFlow, SmsSettings, SmsState
from instrument.sms.keywords import hear
from instrument.sms.messages import UNSUPPORTED_SKIPPED, code_words, sms_words
from instrument.sms.segments import outside_gsm, sms_segments
from instrument_console.channel import ChannelSession

__all__ = ["TEXT_HELP", "TextSession", "text_header"]

TEXT_HELP = """\
Each text is shown as the respondent's phone would receive it; type their reply at the reply>
prompt, then Enter. A reply is read as on the real line:
  2              the number of an answer (or its words: very good)
  1 3            several numbers, for a question that takes several
  DK / REF       don't know / refused, where the text says so
  HELP           the question again (in Welsh CYMORTH too)
  STOP           the conversation stops at once: nothing more is sent (in Welsh DIM too)
  START          a stopped conversation goes on where it stopped (in Welsh DECHRAU too)
Commands, at any prompt:
  :show          the answers recorded so far
  :quit          stop texting; the interview is kept as a partial
  :help          this text
A texter cannot go back, jump or change language: :back, :jump, :lang and :remove are not
offered by text (reply HELP to see a question again; start with --lang for another language)."""

_NOT_BY_TEXT = {
    "back": "a text conversation only goes forward (reply HELP to see the question again)",
    "jump": "a text conversation only goes forward (reply HELP to see the question again)",
    "remove": "a text conversation has no list summary to remove anyone from",
    "lang": "a conversation keeps the language it began in (start again with --lang)",
}


def text_header(number: int, text: str) -> str:
    """The line above a text: its number, and the SMS parts it is sent (and billed) as."""
    parts = sms_segments(text)
    plural = "part" if parts.segments == 1 else "parts"
    why = ""
    if parts.encoding == "UCS-2":
        why = f" because of {' '.join(outside_gsm(text))}"
    unit = "characters" if parts.encoding == "GSM-7" else "UTF-16 units"
    return (
        f"[text {number}: {parts.segments} SMS {plural}, {parts.encoding}{why}, "
        f"{parts.units} {unit}]"
    )


class TextSession(ChannelSession):
    """One interview played as a two-way SMS conversation in a terminal-like stream.

    :param settings: how the study's texts ask (re-prompts); the webhook's defaults unless given.
    Other parameters as :class:`~instrument_console.session.ConsoleSession`'s. ``texts``: every
    text sent, in order; ``left``: the texting stopped before the interview's end (a partial).
    """

    HELP = TEXT_HELP
    WHO = "a texter"
    NOT_OFFERED = _NOT_BY_TEXT
    QUIT_NOTE = "(you stopped texting: the interview stays a partial)"
    FLAG_WHY = {
        NO_ANSWER: "given up after replies that did not fit",
        UNSUPPORTED_SKIPPED: "a text reply cannot answer it",
    }

    def __init__(
        self, engine: Engine, state: State, *, settings: SmsSettings | None = None, **session: Any
    ) -> None:
        super().__init__(engine, state, **session)
        self.sms_say = sms_words(engine.q, state.language)
        self.flow = SmsFlow(self.sms_say, settings or SmsSettings())
        self.words = code_words(engine.q, state.language)
        self.flow_state = SmsState(carry=(self.sms_say("invitation"),))
        self.stopped = False  # the respondent texted STOP: nothing is sent until START
        self.texts: list[str] = []

    # ------------------------------------------------------------------ the conversation

    def _intro(self) -> None:
        super()._intro()
        self.write(
            self.style(
                "Type the replies a respondent texts; STOP, START and HELP work as on the line; "
                ":quit stops.",
                "note",
            )
        )

    def _carry_out(self, state: SmsState, step: Any, action: Any) -> tuple[SmsState, SmsAction]:
        """Send the text, then hear the respondent's reply."""
        self._send(action.text)
        return self._answer(state, step)

    def _answer(self, texting: SmsState, step: Any) -> tuple[SmsState, SmsAction]:
        """The respondent's next reply to the text just sent, heard as the real line hears it."""
        while True:
            body = self._read("reply> ")
            heard = hear(body, stopped=self.stopped, words=self.words)
            if heard.kind == "stop":
                self._stop(heard.confirm_in)
            elif heard.kind == "ignore":
                self.write(
                    self.style("(not read: the conversation is stopped; START resumes it)", "note")
                )
            elif heard.kind == "start":
                self.stopped = False
                self.write(self.style("(START: the conversation goes on where it stopped)", "note"))
                return texting, self.flow.again(texting, step, (self.sms_say("welcome_back"),))
            else:
                return self.flow.reply(texting, step, body)

    def _stop(self, confirm_in: str | None) -> None:
        """STOP: nothing more is sent; the study confirms a stop word only it knows."""
        already = self.stopped
        self.stopped = True
        self.write(
            self.style(
                "(STOP: the conversation stops at once and the number is marked do-not-contact; "
                "nothing more is sent until START)",
                "note",
            )
        )
        if confirm_in is not None and not already:
            self._send(sms_words(self.engine.q, confirm_in)("stopped"))
        elif not already:
            self.write(self.style("(Twilio sends its own confirmation of STOP)", "note"))

    def _ending(self) -> None:
        step = self._step()
        if step.kind == "end" and not self.left:
            self.flow_state, action = self.flow.show(self.flow_state, step)
            if action.text:
                self._send(action.text)
            self.write(self.style("(the conversation is over)", "note"))
        self._outcome()

    def _send(self, text: str) -> None:
        """Show one text as it is sent, under a line saying how it travels."""
        self.texts.append(text)
        self.write("")
        self.write(self.style(text_header(len(self.texts), text), "note"))
        for line in text.splitlines():
            self.write(line)
