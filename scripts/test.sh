#!/usr/bin/env bash
# The README's test command: sets up everything the suite needs (Python packages,
# PostgreSQL, Chromium, PSPP, R with haven, axe-core), checks lint and formatting,
# proves the plain install (`pip install .` with no extras runs the README's main job,
# scripts/plain-install-check.sh), then runs the whole suite.
# Store tests run on both SQLite and the PostgreSQL server on 127.0.0.1:5432.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh tests/test_engine.py -x
# Without arguments the whole suite runs in parallel (pytest-xdist): one worker per CPU
# (-n auto), each test file kept whole on one worker (--dist loadfile), because a module's
# fixtures (a served app, a chromium) are built once per module and some modules check at
# their end what their tests did. Files go out in collection order, the longest first
# (tests/conftest.py), not xdist's order by number of tests, which sent the longest last.
# With arguments pytest runs as given, in one process unless they say otherwise (add
# -n auto --dist loadfile --no-loadscope-reorder yourself for a large selection).
# SKIP_PLAIN_INSTALL=1 leaves out the plain-install step (CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh
python3 -m ruff check .
python3 -m ruff format --check .
if [ "${SKIP_PLAIN_INSTALL:-}" != "1" ]; then
  bash scripts/plain-install-check.sh
fi
if [ "$#" -eq 0 ]; then
  set -- -n auto --dist loadfile --no-loadscope-reorder
fi
python3 -m pytest -q "$@"
