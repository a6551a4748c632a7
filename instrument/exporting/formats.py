"""Which files an export writes: the formats asked for, and each one's files per dataset.

Everything here is read from the formats' own descriptors
(:class:`~instrument.plugin_types.OutputFormat`): their names, which are
written by default or always, which are written per loop and what their
files are called. A third party's format is chosen, checked and named
exactly like a built-in one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from instrument.plugin_types import OutputFormat
from instrument.plugins import DISTRIBUTION

__all__ = ["ExportFailed", "Planned", "choose_formats", "install_hint", "plan_files"]


class ExportFailed(Exception):
    """The export cannot go ahead; the message says why and what to do. Nothing was written."""


def install_hint(missing: Sequence[str], extra: str | None) -> str:
    """The command that installs the modules a format needs.

    A format shipped with survey-instrument names the extra that installs
    them; any other is taken to name its modules as pip names the packages
    that provide them (``pyarrow``, ``lxml``), as docs/plugins.md asks.
    """
    if extra:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    return "pip install " + " ".join(missing)


def choose_formats(
    registry: Mapping[str, OutputFormat], names: Iterable[str] | None
) -> list[OutputFormat]:
    """The formats an export writes: those named (else the defaults), then the always-written ones.

    Raises :class:`ExportFailed` for an unknown name or a format whose
    modules are not installed, before anything is read or written.
    """
    if names is None:
        wanted = [name for name, spec in registry.items() if spec.default]
    else:
        wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in wanted if name not in registry]
    if unknown:
        raise ExportFailed(
            f"unknown format(s) {', '.join(unknown)}; available: {', '.join(sorted(registry))}"
        )
    chosen = [registry[name] for name in wanted]
    chosen += [spec for name, spec in registry.items() if spec.always and name not in wanted]
    for spec in chosen:
        missing = spec.missing_requirements()
        if missing:
            raise ExportFailed(
                f"format {spec.name} needs {', '.join(missing)}: {install_hint(missing, spec.extra)}"
            )
    return chosen


@dataclass(frozen=True)
class Planned:
    """One format to write for one dataset (the main one or a loop's long file)."""

    dataset: Any
    spec: OutputFormat
    long: bool

    @property
    def files(self) -> tuple[str, ...]:
        return self.spec.file_names(self.dataset.stem)


def plan_files(
    dataset: Any, long_files: Sequence[Any], formats: Sequence[OutputFormat]
) -> tuple[list[Planned], list[str]]:
    """Every (dataset, format) to write, after checking each can be written.

    A named format that cannot write a dataset stops the export (all the
    reasons at once, before any file is written); an always-written one is
    left out, and the reason returned as a note.
    """
    planned = [Planned(dataset, spec, False) for spec in formats]
    planned += [Planned(ds, spec, True) for ds in long_files for spec in formats if spec.per_loop]
    problems: list[str] = []
    notes: list[str] = []
    kept: list[Planned] = []
    for item in planned:
        check = item.spec.can_write
        reason = check(item.dataset) if check is not None else None
        if not reason:
            kept.append(item)
        elif item.spec.always:
            notes.append(f"{item.files[0]} was not written: {reason}")
        else:
            problems.append(f"{item.spec.name}: {reason}")
    if problems:
        raise ExportFailed("nothing was written:\n  " + "\n  ".join(problems))
    return kept, notes
