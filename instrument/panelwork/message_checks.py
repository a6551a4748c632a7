"""What the channels say of a wave's messages before fieldwork: ``instrument check``'s advice.

A channel may advise on a message as it would be sent (``ContactChannel.advise``):
the SMS channel says when a template's text goes as several billed parts, and
why (a Welsh circumflex puts the whole text in UCS-2, 70 characters a part).
This asks it for every template and language the wave's plan uses, with a
sample message whose links are as long as real ones, and turns each answer into
a warning at the step's line. Only a channel that advises is asked.
"""

from __future__ import annotations

from collections.abc import Mapping

from instrument.diagnostics import Diagnostics
from instrument.panel.waves import Wave
from instrument.plugin_types import ContactChannel, OutgoingMessage

__all__ = ["SAMPLE_LINK", "SAMPLE_STOP_LINK", "advise_messages"]

SAMPLE_LINK = "https://survey.example.org/web/t/" + "x" * 43
"""A personal link as long as a real one (a 43-character token) on a short host name."""

SAMPLE_STOP_LINK = "https://survey.example.org/web/unsubscribe/123456.7." + "x" * 22
"""A stop link as long as a real one (member id, wave id, a 22-character MAC)."""


def advise_messages(
    wave: Wave, channels: Mapping[str, ContactChannel], *, reply_by_text: bool = False
) -> Diagnostics:
    """Each channel's advice on each template and language of the plan, as warnings.

    ``reply_by_text``: members may answer by replying to a text (the wave's questionnaire has
    a text-message mode), so the texts carry the words that say so, as the worker sends them.
    """
    d = Diagnostics()
    context = wave.template_context(reply_by_text=reply_by_text)
    for step in wave.steps:
        for name, templates in step.templates.items():
            channel = channels.get(name)
            if channel is None or channel.advise is None:
                continue
            for language, template in _languages(templates, channel, wave):
                message = OutgoingMessage(
                    channel=name,
                    to="sample",
                    template=template,
                    language=language,
                    idempotency_key="check",
                    personal_link=SAMPLE_LINK,
                    unsubscribe_link=SAMPLE_STOP_LINK,
                    context=context,
                )
                advice = channel.advise(message)
                if advice:
                    d.warning(
                        step.pos,
                        f"the {step.kind} on day {step.day}: the {name} template "
                        f"'{template}' in {language} {advice}",
                    )
    return d


def _languages(
    templates: Mapping[str, str], channel: ContactChannel, wave: Wave
) -> list[tuple[str, str]]:
    """(language, template) pairs to ask about: a template named for every language (``*``)
    in each language the channel ships and the wave's default one."""
    pairs = {lang: name for lang, name in templates.items() if lang != "*"}
    if "*" in templates:
        for lang in sorted({*channel.languages, wave.default_language}):
            pairs.setdefault(lang, templates["*"])
    return sorted(pairs.items())
