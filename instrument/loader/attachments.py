"""Files a questionnaire reads (its CSV choice lists), carried in its source text as comments.

A stored interview names its questionnaire by the source text it ran with;
attaching the files to that text keeps a stored version complete and its hash
honest: change a list and it is another version.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["attached_files", "with_attachments"]

_START = "# instrument: attached file "
_LINE = "#|"
_END = "# instrument: end of attached file"


def attached_files(source: str) -> dict[str, str]:
    """The files attached to a questionnaire's source text, by the name the questionnaire uses."""
    found: dict[str, str] = {}
    if _START not in source:
        return found
    name: str | None = None
    lines: list[str] = []
    for line in source.splitlines():
        if line.startswith(_START):
            name, lines = line[len(_START) :].strip(), []
        elif name is not None and line.startswith(_END):
            found[name] = "".join(part + "\n" for part in lines)
            name = None
        elif name is not None and line.startswith(_LINE):
            lines.append(line[len(_LINE) + 1 :] if line.startswith(_LINE + " ") else "")
    return found


def with_attachments(source: str, files: Mapping[str, str]) -> str:
    """``source`` with ``files`` attached at its end as comments (YAML reads none of it)."""
    if not files:
        return source
    parts = [source if source.endswith("\n") else source + "\n"]
    for name, text in files.items():
        parts.append(f"{_START}{name}\n")
        parts.extend(f"{_LINE} {line}\n" if line else f"{_LINE}\n" for line in text.splitlines())
        parts.append(f"{_END}\n")
    return "".join(parts)
