"""A SHA-256 manifest of the files in an export, in ``sha256sum`` format."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["write_manifest", "MANIFEST_NAME"]

MANIFEST_NAME = "SHA256SUMS"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path, files: list[str]) -> Path:
    """Write ``SHA256SUMS`` for ``files`` (names relative to ``directory``); ``sha256sum -c`` checks it."""
    dest = directory / MANIFEST_NAME
    lines = [
        f"{_sha256(directory / name)}  {name}" for name in sorted(files) if name != MANIFEST_NAME
    ]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest
