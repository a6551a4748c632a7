"""``meta.ivr``: how an automated call asks the questionnaire, read with file:line errors.

Every key is optional and the defaults are those of a study that says nothing
(:class:`~instrument.model.IvrOptions`). Whether free text is recorded is not
here: it is the study's fieldwork file's ``telephony.recording``, one place for
that fact, read by the webhooks and ``instrument check`` beside this.
"""

from __future__ import annotations

from typing import Any

from instrument.diagnostics import did_you_mean
from instrument.model import IvrOptions
from instrument.yamlsrc import YMap, YNode, YScalar

from .shapes import Shapes
from .vocabulary import LANGUAGE_CODE

IVR_KEYS = ("reprompts", "on_no_answer", "read_back", "record_seconds", "speech", "voices")
SPEECH_KEYS = ("input", "confidence", "confirm")
VOICE_KEYS = ("voice", "language")
ON_NO_ANSWER = ("skip", "end")
SPEECH_CONFIRM = ("unsure", "always")
MAX_REPROMPTS = 5
RECORD_SECONDS = (5, 600)
"""The shortest and longest cap on a recorded answer, in seconds."""
_NUMBER_TYPES = ("integer", "decimal")


class IvrMeta(Shapes):
    """Reads ``meta.ivr`` (:meth:`read_ivr`), then checks what it names once the items are read."""

    ivr_options: IvrOptions = IvrOptions()
    _read_back_nodes: tuple[YScalar, ...] = ()

    def read_ivr(self, meta: YMap) -> None:
        node = meta.get("ivr")
        m = self.expect_map(node, "meta.ivr", meta.pos)
        if m is None:
            return
        self.check_keys(m, IVR_KEYS, "meta.ivr")
        if "ivr" not in self.modes:
            self.warn(m.pos, "meta.ivr is set but ivr is not one of meta.modes: it is not used")
        values: dict[str, Any] = {"pos": m.pos}
        reprompts = self.scalar(m.get("reprompts"), int, "meta.ivr.reprompts")
        if reprompts is not None:
            if 0 <= reprompts <= MAX_REPROMPTS:
                values["reprompts"] = reprompts
            else:
                self.err(m.where("reprompts"), f"meta.ivr.reprompts must be 0 to {MAX_REPROMPTS}")
        give_up = self.scalar(m.get("on_no_answer"), str, "meta.ivr.on_no_answer")
        if give_up is not None:
            if give_up in ON_NO_ANSWER:
                values["on_no_answer"] = give_up
            else:
                self.err(
                    m.where("on_no_answer"),
                    f"meta.ivr.on_no_answer must be skip or end, not '{give_up}'"
                    f"{did_you_mean(give_up, ON_NO_ANSWER)}",
                )
        if "read_back" in m:
            values["read_back"] = self._read_back(m.entries["read_back"])
        seconds = self.scalar(m.get("record_seconds"), int, "meta.ivr.record_seconds")
        if seconds is not None:
            low, high = RECORD_SECONDS
            if low <= seconds <= high:
                values["record_seconds"] = seconds
            else:
                self.err(
                    m.where("record_seconds"), f"meta.ivr.record_seconds must be {low} to {high}"
                )
        if "speech" in m:
            values.update(self._speech(m.entries["speech"]))
        if "voices" in m:
            values["voices"] = self._voices(m.entries["voices"])
        self.ivr_options = IvrOptions(**values)

    def _read_back(self, node: YNode) -> bool | frozenset[str]:
        """``true`` (every number), ``false``, or a list of the number questions to read back."""
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        seq = self.expect_seq(node, "meta.ivr.read_back (true, false or a list of question ids)")
        if seq is None:
            return False
        named: list[YScalar] = []
        for item in seq:
            if self.scalar(item, str, "a question id") is not None:
                assert isinstance(item, YScalar)
                named.append(item)
        self._read_back_nodes = tuple(named)
        return frozenset(str(item.value) for item in named)

    def _speech(self, node: YNode) -> dict[str, Any]:
        """``on``/``off``, or a mapping of ``input``, ``confidence`` and ``confirm``."""
        if isinstance(node, YScalar):
            on = self.scalar(node, bool, "meta.ivr.speech (on or off)")
            return {} if on is None else {"speech": on}
        m = self.expect_map(node, "meta.ivr.speech", node.pos)
        if m is None:
            return {}
        self.check_keys(m, SPEECH_KEYS, "meta.ivr.speech")
        found: dict[str, Any] = {"speech": self.boolean(m, "input", True, "meta.ivr.speech")}
        confidence = self.scalar(m.get("confidence"), (int, float), "meta.ivr.speech.confidence")
        if confidence is not None:
            if 0 <= confidence <= 1:
                found["speech_confidence"] = float(confidence)
            else:
                self.err(m.where("confidence"), "meta.ivr.speech.confidence must be from 0 to 1")
        confirm = self.scalar(m.get("confirm"), str, "meta.ivr.speech.confirm")
        if confirm is not None:
            if confirm in SPEECH_CONFIRM:
                found["speech_confirm"] = confirm
            else:
                self.err(
                    m.where("confirm"),
                    f"meta.ivr.speech.confirm must be unsure or always, not '{confirm}'"
                    f"{did_you_mean(confirm, SPEECH_CONFIRM)}",
                )
        return found

    def _voices(self, node: YNode) -> dict[str, tuple[str, str]]:
        """Per language: a voice name, or ``{voice, language}`` (the tag defaults to the code)."""
        m = self.expect_map(node, "meta.ivr.voices", node.pos)
        if m is None:
            return {}
        voices: dict[str, tuple[str, str]] = {}
        for language in m.keys():
            entry = m.entries[language]
            where = f"meta.ivr.voices.{language}"
            if language not in self.languages:
                self.err(
                    m.where(language),
                    f"{where}: '{language}' is not one of meta.languages "
                    f"({', '.join(self.languages)}){did_you_mean(language, self.languages)}",
                )
                continue
            if isinstance(entry, YMap):
                self.check_keys(entry, VOICE_KEYS, where, required=("voice",))
                voice = self.scalar(entry.get("voice"), str, f"{where}.voice")
                tag = self.scalar(entry.get("language"), str, f"{where}.language") or language
                if not LANGUAGE_CODE.match(tag):
                    self.err(
                        entry.where("language"),
                        f"{where}.language '{tag}' is not a tag such as en-GB",
                    )
                    continue
            else:
                voice, tag = (
                    self.scalar(entry, str, f"{where} (a voice such as Polly.Amy)"),
                    language,
                )
            if voice is None:
                continue
            if not voice.strip() or len(voice) > 100:
                self.err(entry.pos, f"{where}: a voice is a name such as Polly.Amy")
                continue
            voices[language] = (voice.strip(), tag)
        return voices

    def check_ivr_read_back(self) -> None:
        """The questions ``meta.ivr.read_back`` names exist and take a number."""
        for item in self._read_back_nodes:
            name = str(item.value)
            question = self.questions.get(name)
            if question is None:
                known = [q for q, v in self.questions.items() if v.type in _NUMBER_TYPES]
                self.err(
                    item.pos,
                    f"meta.ivr.read_back names '{name}', which is not a question"
                    f"{did_you_mean(name, known)}",
                )
            elif question.type not in _NUMBER_TYPES:
                self.err(
                    item.pos,
                    f"meta.ivr.read_back names '{name}', a {question.type} question: only "
                    "numbers (integer, decimal) are read back",
                )
