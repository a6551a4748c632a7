"""benchmarks/panel.py end to end in a small run on SQLite, so that it does not rot.

No timing is asserted: what is checked is that the members were imported and
the wave opened by the real commands, that two real worker processes handed
every invitation to the real SMTP server once, and that the report says "no"
when the server saw a message twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the script itself does, for web_load
import panel  # the benchmark script

pytestmark = pytest.mark.slow


def test_a_small_wave_is_invited_once_each_by_two_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'panel.db'}"
    args = panel.parse_args(
        ["--members", "150", "--database", url, "--no-write", "--timeout", "240"]
    )
    result = panel.run(args)
    assert not result.timed_out
    assert result.received == result.distinct == 150
    assert result.records == {"sent": 150} and result.twice == 0
    assert result.ok and result.rate > 0
    assert len(result.memory) == 2  # two worker processes ran
    text = panel.render(result, "python benchmarks/panel.py", dt.datetime.now(dt.UTC), (0, 0, 0))
    assert (
        "| Members invited once: messages received / distinct Message-IDs / members | equal | 150 / 150 / 150 | yes |"
        in text
    )
    twice = dataclasses.replace(result, distinct=149)  # one Message-ID seen twice
    assert not twice.ok
    assert "150 / 149 / 150 | **no** |" in panel.render(
        twice, "x", dt.datetime.now(dt.UTC), (0, 0, 0)
    )
