"""benchmarks/cati_turn_cost.py in a tiny run on SQLite, so that it does not rot.

No figure is asserted (speed is the benchmark's to report, not a test's);
what is checked is that the runs really went through the console and the
web: CATI interviews finished and coded complete through the script's page
turns, web interviews completed beside them, CPU counted for both, and that
the report lands in its own section of the benchmarks document.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from instrument.store import open_store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the script itself does, for phone and web_load


def _load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "cati_turn_cost", ROOT / "benchmarks" / "cati_turn_cost.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finished(url: str) -> dict[str, int]:
    """Attempts coded complete, and complete interviews by mode, as the store holds them."""
    store = open_store(url, upgrade=False)
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT 'coded', COUNT(*) FROM attempts WHERE disposition = 'complete' "
                    "UNION ALL SELECT mode, COUNT(*) FROM interviews WHERE status = 'complete' "
                    "GROUP BY mode"
                )
            ).all()
    finally:
        store.close()
    return {str(kind): int(count) for kind, count in rows}


def test_a_tiny_run_interviews_through_the_console_and_the_web(tmp_path: Path) -> None:
    cost = _load()
    url = f"sqlite:///{tmp_path / 'cost.db'}"
    result = cost.measure(1, 2, url)

    assert len(result["cati_all"]) == len(result["web"]) == 2
    assert result["turns"] >= 15 and result["web_posts"] >= 15  # a whole flagship interview each
    assert all(total > own > 0 for total, own in zip(result["cati_all"], result["cati_turns"]))
    assert all(web > 0 for web in result["web"])
    # the warm-up's two and one a run of each; every CATI one coded complete by the finished page
    assert _finished(url) == {"coded": 4, "cati": 4, "web": 4}

    counted = {"cati": 9.5e6, "web": 8.0e6, "turns": 8.2e6, "cati_turns": 100, "web_turns": 90}
    text = cost.render(result, counted, [])
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n## Telephone\n\nphone\n\n## CATI page turn cost\n\nold\n\n## Later\n\nkept\n"
    )
    cost.wl.write_section(text, docs, heading=cost.SECTION)  # as the script writes its section
    written = docs.read_text()
    assert "old" not in written and "phone" in written and "## Later\n\nkept" in written
    assert "| 9.50 million | 8.00 million | 84% |" in written and "| 8.20 million |" in written
