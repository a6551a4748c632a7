"""Shared pytest setup: make the three source roots importable without an install."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for source_root in (ROOT, ROOT / "modes", ROOT / "plugins"):
    if str(source_root) not in sys.path:
        sys.path.insert(0, str(source_root))
