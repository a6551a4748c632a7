"""A researcher's interface texts: ``<questionnaire>.<language>.po`` files beside the questionnaire.

The software's own words (buttons, validation messages, yes and no) come in
English and Welsh; for any other language of ``meta.languages`` a researcher
puts a gettext file beside the questionnaire, named after it and the
language (``social_licence.sw.po`` beside ``social_licence.yaml``), and its
texts are laid over ours for this questionnaire only. Like a CSV choice list,
a file read is attached to the questionnaire's stored source text, so an
interview stored with that version keeps its words.

Every language of the questionnaire is then checked: the texts it would
show in English for want of a translation are one warning, at the language's
file (or at ``meta.languages`` when there is none), so ``instrument check``
lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from instrument.catalogue import CATALOGUE, STAFF_DOMAINS, Catalogue, language_name
from instrument.catalogue.pofiles import PoSyntaxError, PoTexts, parse_po_texts
from instrument.diagnostics import Position

from .shapes import Shapes

__all__ = ["IVR_DOMAIN", "InterfaceTexts", "domains_not_needed", "po_file_name"]

MODE_DOMAINS = frozenset({"ivr", "sms"})
"""Domains of the words one mode says itself (its name is the domain's): needed only by
questionnaires that run in it."""
IVR_DOMAIN = "ivr"
"""The catalogue's domain of an automated call's own words (press 1, don't know is 8, ...)."""

MAX_PO_BYTES = 1_000_000
"""A .po of every interface text is about 15 KB; a file far larger is not one."""
LISTED = 12
"""Missing texts named in a warning; the count says how many more there are."""


def po_file_name(questionnaire_file: str, language: str) -> str:
    """The name of ``language``'s interface texts beside a questionnaire file."""
    return f"{Path(questionnaire_file).stem}.{language}.po"


class InterfaceTexts(Shapes):
    """Reads the researcher's ``.po`` files and reports the interface texts each language lacks."""

    interface_texts: Catalogue = CATALOGUE
    """The questionnaire's interface texts, once :meth:`read_interface_texts` has read them."""

    def read_interface_texts(self, languages_pos: Position) -> Catalogue:
        """Our catalogue with this questionnaire's own texts over it, every gap reported."""
        english = CATALOGUE.english()
        supplied = {}
        files: dict[str, PoTexts] = {}
        for language in self.languages:
            read = self._po_text(language)
            if read is None:
                continue
            text, shown = read
            try:
                found = parse_po_texts(text.encode("utf-8"), shown, english)
            except PoSyntaxError as exc:
                self.warn(Position(shown, exc.line, 1), f"{exc}; its texts are shown in English")
                continue
            for line, problem in found.problems:
                self.warn(Position(shown, line, 1), problem)
            files[language] = found
            supplied[language] = found.strings
        self._warn_unlisted(languages_pos)
        catalogue = CATALOGUE.extended(supplied)
        for problem in catalogue.problems:
            language = problem.split(":", 1)[0]
            if language in files:
                self.warn(Position(files[language].path, 1, 1), problem)
        for language in self.languages:
            self._report_missing(catalogue, language, files.get(language), languages_pos)
        return catalogue

    def _po_text(self, language: str) -> tuple[str, str] | None:
        """The text of ``language``'s file and the name to report it by, if there is one."""
        name = po_file_name(self.filename, language)
        for attached_name, attached in self.attached.items():
            # a stored version carries the file under the name it was read by
            if attached_name.endswith(f".{language}.po") and "/" not in attached_name:
                return attached, attached_name
        if self.filename.startswith("<"):
            return None
        path = Path(self.filename).parent / name
        try:
            if not path.is_file():
                return None
            if path.stat().st_size > MAX_PO_BYTES:
                self.warn(Position(str(path), 1, 1), "the file is too large for interface texts")
                return None
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.warn(Position(str(path), 1, 1), f"cannot read the file: {exc}")
            return None
        self.files_read[name] = text
        return text, str(path)

    def _warn_unlisted(self, languages_pos: Position) -> None:
        """A language's file beside the questionnaire for a language it does not list."""
        if self.filename.startswith("<"):
            return
        path = Path(self.filename)
        try:
            beside = sorted(path.parent.glob(f"{path.stem}.*.po"))
        except OSError:
            return
        for po in beside:
            language = po.name[len(path.stem) + 1 : -len(".po")]
            if language not in self.languages:
                self.warn(
                    Position(str(po), 1, 1),
                    f"'{language}' is not in meta.languages ({', '.join(self.languages)}), "
                    "so these interface texts are not used",
                )

    def _not_needed(self) -> frozenset[str]:
        return domains_not_needed(getattr(self, "modes", None) or ())

    def _report_missing(
        self, catalogue: Catalogue, language: str, found: PoTexts | None, languages_pos: Position
    ) -> None:
        skip = self._not_needed()
        missing = catalogue.missing(language, skip=skip)
        if not missing:
            return
        outdated = set(found.outdated) if found else set()
        listed = ", ".join(
            f"{name} (outdated)" if name in outdated else name for name in missing[:LISTED]
        )
        more = f" and {len(missing) - LISTED} more" if len(missing) > LISTED else ""
        name = po_file_name(self.filename, language)
        where = Position(found.path, 1, 1) if found else languages_pos
        supply = (
            "translate them in this file"
            if found
            else f"put them in {name} beside the questionnaire "
            f"(instrument texts {Path(self.filename).name} {language} writes one to fill in)"
        )
        self.warn(
            where,
            f"language '{language}' ({language_name(language)}): {len(missing)} of {_count(skip)} "
            f"interface texts have no translation and are shown in English: {listed}{more}; "
            f"{supply}",
        )


def domains_not_needed(modes: Iterable[str]) -> frozenset[str]:
    """The catalogue's domains a questionnaire in ``modes`` never shows its respondents: the
    staff's screens, and a mode's own words (an automated call's, a text conversation's) unless
    it runs in that mode."""
    return STAFF_DOMAINS | (MODE_DOMAINS - frozenset(modes))


def _count(skip: frozenset[str] = STAFF_DOMAINS) -> int:
    """How many interface texts a questionnaire's languages need (the staff's screens are not
    theirs, nor an automated call's words when it is not asked by one)."""
    return sum(
        len(messages) for domain, messages in CATALOGUE.english().items() if domain not in skip
    )
