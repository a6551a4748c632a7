"""The production entry point keeps what the app built out of the collector's full passes.

A gunicorn worker builds the app once (``instrument.server.wsgi:app``) and keeps it for its
life; without ``gc.freeze()`` every full collection walks all of it, and under the IVR
benchmark each worker stopped 54-235 ms at a time (docs/benchmarks.md, Automated calls). Run in
a subprocess so the test process's own collector is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json
import instrument.server.wsgi as wsgi
before = gc.get_freeze_count()
app = wsgi.app
print(json.dumps({"before": before, "after": gc.get_freeze_count(), "same": wsgi.app is app}))
"""


def test_the_app_built_for_a_worker_is_frozen_for_the_collector(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "INSTRUMENT_QUESTIONNAIRES": str(ROOT / "questionnaires" / "social_licence.yaml"),
        "INSTRUMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "INSTRUMENT_SECRET_KEY": "k" * 32,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["before"] == 0 and probe["same"] is True
    assert probe["after"] > 10_000, probe  # the questionnaire, templates, schema: all kept
