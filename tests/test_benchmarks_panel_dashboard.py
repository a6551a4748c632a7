"""benchmarks/panel_dashboard.py on a small wave, so that it does not rot (issue 13).

It needs PostgreSQL (the wave is written with COPY); without the server the test is skipped
like the store's PostgreSQL tests. No timing is asserted: a smoke run's figures mean nothing.
What is checked: the wave it writes is one the dashboard reads (the page answered 200 every
time, and the store's figures add up to the members written), and its section replaces only
its own in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from instrument.store import resolve_url
from tests.store_fixtures import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the script itself does, for web_load
import panel_dashboard  # the benchmark script

pytestmark = pytest.mark.postgres


def test_a_small_run_fills_a_wave_the_dashboard_reads_and_writes_its_section(
    tmp_path: Path,
) -> None:
    try:
        with sa.create_engine(resolve_url(PG_ADMIN_URL)).connect():
            pass
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: CI promises PostgreSQL, so this is a failure)")
        pytest.skip(reason)
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Web\n\nThe web's own words.\n\n## Panel dashboard\n\nold\n")
    argv = ["--members", "400", "--requests", "3", "--cold", "2", "--no-gunicorn"]
    assert panel_dashboard.main([*argv, "--docs", str(docs)]) == 0
    text = docs.read_text()
    assert "## Web\n\nThe web's own words.\n" in text
    assert text.count("## Panel dashboard") == 1 and "\nold\n" not in text
    assert "with 400 members" in text
    assert "| page (figures kept 30 s), one request every 0.35 s | 3 |" in text
    assert "| page, figures read for every request | 2 |" in text
