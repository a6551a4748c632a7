"""Shared pytest setup: the three source roots importable without an install, and the browser
tests' ``browser`` fixture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
for source_root in (ROOT, ROOT / "modes", ROOT / "plugins"):
    if str(source_root) not in sys.path:
        sys.path.insert(0, str(source_root))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for the browser tests (tests/test_browser*.py), launched once a module.

    Skipped, or failed when CI is set, without chromium, Playwright or axe-core
    (tests/browser_kit.py). The kit is imported here, not at the top, so that
    the other tests do not load the web app and Twilio to collect.
    """
    from browser_kit import launched_chromium

    with launched_chromium() as launched:
        yield launched
