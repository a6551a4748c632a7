"""``instrument texts``: write the interface texts of one language to translate, beside a questionnaire.

The file is the gettext template of every interface text (docs/languages.md)
with the translations already known filled in: those of the file being
rewritten, else ours for that language. Outdated entries (whose English has
changed) come back empty, to be translated again.
"""

from __future__ import annotations

from pathlib import Path

import click

from instrument.catalogue import CATALOGUE, STAFF_DOMAINS, language_name
from instrument.catalogue.pofiles import read_po_texts, write_po_texts
from instrument.loader.interface_texts import po_file_name
from instrument.loader.vocabulary import LANGUAGE_CODE


@click.command()
@click.argument("questionnaire", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("language")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write (default: <questionnaire>.<language>.po beside the questionnaire).",
)
def texts(questionnaire: Path, language: str, output: Path | None) -> None:
    """Write LANGUAGE's interface texts for QUESTIONNAIRE, to translate.

    Keeps what the file already translates; translate the empty msgstr lines.
    """
    if not LANGUAGE_CODE.match(language):
        raise click.BadParameter(f"'{language}' is not a language code such as sw or pt-BR")
    target = output or questionnaire.parent / po_file_name(str(questionnaire), language)
    # the staff's own screens are in the staff's language, not the questionnaire's: not asked for
    english = {d: m for d, m in CATALOGUE.english().items() if d not in STAFF_DOMAINS}
    known = {  # ours for this language, if we translate it
        d: m for d, m in CATALOGUE.own(language).items() if d not in STAFF_DOMAINS
    }
    if target.exists():
        try:
            kept = read_po_texts(target, english)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read {target}: {exc}") from exc
        for domain, messages in kept.strings.items():
            known.setdefault(domain, {}).update(messages)
    target.write_bytes(write_po_texts(english, known, language=language))
    total = sum(len(messages) for messages in english.values())
    done = sum(len(messages) for messages in known.values())
    click.echo(
        f"Wrote {target}: {done} of {total} interface texts in {language_name(language)} "
        f"({language}); translate the empty msgstr lines, then run instrument check."
    )
