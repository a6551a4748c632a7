"""Message texts rendered from Jinja templates, per channel and language.

Templates live in ``templates/<kind>/<language>/<template>.<part>``: *kind* is
``email`` or ``sms``, *part* is ``subject.txt``, ``txt`` or ``html``. A study
may put files of the same layout in its own folder; those are found first,
so it can reword one message in one language and keep the rest.

The environment is sandboxed (a study's templates are files a researcher
edits, not code we trust), autoescapes ``.html`` templates only (a name with
``<`` in it must reach the plain text as written), and treats an undefined
variable as an error: a misspelt ``{{ personal_lnk }}`` must stop the wave,
not send a thousand emails without a link.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from instrument.plugin_types import ChannelSetupError, OutgoingMessage

__all__ = ["TEMPLATES_ENV", "TemplateRenderer", "template_context"]

TEMPLATES_ENV = "INSTRUMENT_CHANNEL_TEMPLATES"
"""A folder of a study's own templates, searched before the shipped ones."""


def template_context(message: OutgoingMessage) -> dict[str, Any]:
    """The variables a template sees: the message's context, then its own fields.

    The fields come last so a context entry cannot replace the personal link
    or the unsubscribe link. The address (*to*) is not offered: a template
    has no reason to print it.
    """
    return {
        **message.context,
        "personal_link": message.personal_link,
        "unsubscribe_link": message.unsubscribe_link,
        "salutation": message.salutation,
        "access_code": message.access_code,
        "language": message.language,
        "template": message.template,
    }


class TemplateRenderer:
    """Finds and renders channel templates (the study's folder first, then ours)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder is not None and not self.folder.is_dir():
            raise ChannelSetupError(
                f"{TEMPLATES_ENV} names {str(self.folder)!r}, which is not a folder"
            )
        loaders: list[jinja2.BaseLoader] = []
        if self.folder is not None:
            loaders.append(jinja2.FileSystemLoader(self.folder))
        loaders.append(jinja2.PackageLoader("instrument_channels", "templates"))
        self.env = jinja2.sandbox.SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        # Found once per renderer: Jinja's own cache would still stat the file
        # and try each name on every message of a wave. A worker picks up an
        # edited template when it is restarted.
        self._found: dict[tuple[str, str, str, str], jinja2.Template] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TemplateRenderer:
        return cls(environ.get(TEMPLATES_ENV, "").strip() or None)

    def _find(self, kind: str, template: str, language: str, part: str) -> jinja2.Template:
        key = (kind, template, language, part)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self._load(kind, template, language, part)
        return found

    def _load(self, kind: str, template: str, language: str, part: str) -> jinja2.Template:
        # "cy-GB" falls back to "cy", never to another language: a Welsh
        # speaker who asked for Welsh must not silently get English.
        tags = [language]
        if "-" in language:
            tags.append(language.split("-", 1)[0])
        names = [f"{kind}/{tag}/{template}.{part}" for tag in tags]
        try:
            return self.env.select_template(names)
        except jinja2.TemplateNotFound:
            where = f" or in {self.folder}" if self.folder else ""
            raise ChannelSetupError(
                f"no {kind} template {template!r} in language {language!r}: "
                f"none of {', '.join(names)} is shipped{where}"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise ChannelSetupError(
                f"template {exc.name}, line {exc.lineno}: {exc.message}"
            ) from None

    def has(self, kind: str, template: str, language: str, part: str) -> bool:
        try:
            self._find(kind, template, language, part)
        except ChannelSetupError:
            return False
        return True

    def render(
        self, kind: str, template: str, language: str, part: str, context: Mapping[str, Any]
    ) -> str:
        """One part of one message, stripped of leading and trailing blank space.

        :raises ChannelSetupError: no such template, or it uses a variable
            the message does not give (the error names it).
        """
        found = self._find(kind, template, language, part)
        try:
            return found.render(context).strip()
        except jinja2.UndefinedError as exc:
            raise ChannelSetupError(f"template {found.name}: {exc}") from None
        except jinja2.TemplateError as exc:  # a syntax error, a sandbox refusal
            raise ChannelSetupError(f"template {found.name}: {type(exc).__name__}: {exc}") from None
