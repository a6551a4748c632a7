"""The environment variables the code reads and the ones the docs describe agree (issue 13).

A setting that exists only in the code is one nobody can find (``INSTRUMENT_SMTP_CONNECTIONS``
was, for a while); one that exists only in the docs is one that does nothing. The names are
read from the product's source as whole string literals (``"INSTRUMENT_SMTP_HOST"``: how every
module names a variable it reads, usually as a ``..._ENV`` constant), so a message that says
``INSTRUMENT_SMTP_*`` is not taken for a setting.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("instrument", "plugins", "modes")
CHANNEL_CODE = (
    *sorted((ROOT / "plugins" / "instrument_channels").glob("*.py")),
    ROOT / "instrument" / "panelwork" / "bounce_intake.py",
)
CHANNELS_DOC = ROOT / "docs" / "channels.md"

_LITERAL = re.compile(r"""(?<![\w])["'](INSTRUMENT_[A-Z0-9_]*[A-Z0-9])["']""")
_NAME = re.compile(r"INSTRUMENT_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)")


def names_in_code(files: list[Path] | tuple[Path, ...]) -> set[str]:
    return {name for file in files for name in _LITERAL.findall(file.read_text(encoding="utf-8"))}


def product_files() -> list[Path]:
    return sorted(
        file
        for folder in PRODUCT
        for file in (ROOT / folder).rglob("*.py")
        if "migrations" not in file.parts
    )


def docs_text() -> str:
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def test_the_names_are_read_from_the_code() -> None:
    found = names_in_code(CHANNEL_CODE)
    assert {"INSTRUMENT_SMTP_HOST", "INSTRUMENT_SMTP_CONNECTIONS", "INSTRUMENT_SMS_FROM"} <= found
    assert {"INSTRUMENT_LETTERS_DIR", "INSTRUMENT_BOUNCE_MAILDIR"} <= found
    assert "INSTRUMENT_SMTP" not in found  # a prefix in a message is not a setting


def test_every_channel_setting_is_in_the_channels_page() -> None:
    text = CHANNELS_DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in names_in_code(CHANNEL_CODE) if not named_in(name, text))
    assert missing == [], f"docs/channels.md does not describe {missing}"


def test_every_setting_the_channels_page_names_exists() -> None:
    documented = set(_NAME.findall(CHANNELS_DOC.read_text(encoding="utf-8")))
    unknown = sorted(documented - names_in_code(product_files()))
    assert unknown == [], f"docs/channels.md describes settings no code reads: {unknown}"


def named_in(name: str, text: str) -> bool:
    """``name`` itself is in ``text`` (``INSTRUMENT_SMTP_HOST=...``), not only a longer name."""
    return re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", text) is not None


@pytest.mark.parametrize("name", sorted(names_in_code(product_files())))
def test_every_environment_variable_of_the_product_is_documented(name: str) -> None:
    assert named_in(name, docs_text()), (
        f"{name} is read by the code but no page of docs/ (or the README) names it"
    )
