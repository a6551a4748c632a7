"""Shared pytest setup: the three source roots importable without an install, the browser
tests' ``browser`` fixture, and the order of the files when the suite runs in parallel."""

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


LONGEST_FILES = ("test_panel_whole_wave.py", "test_module_imports.py")
"""Files that take far longer than any other (two minutes, and two processes for most of one):
run in parallel, they start first, so that no worker is left with one of them at the end."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (scripts/test.sh: ``-n auto --dist loadfile --no-loadscope-reorder``)
    the files go out to the workers in this order: :data:`LONGEST_FILES` first, then the rest as
    collected. xdist's own reordering (by number of tests) would send those files, which hold
    few tests, last. A run in one process keeps the order it always had."""
    if not hasattr(config, "workerinput"):  # only xdist's workers collect with it set
        return
    rank = {name: place for place, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole
