#!/usr/bin/env bash
# The README's test command: sets up everything the suite needs (Python packages,
# PostgreSQL, Chromium, PSPP, R with haven, axe-core), then runs the whole suite.
# Store tests run on both SQLite and the PostgreSQL server on 127.0.0.1:5432.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh tests/test_engine.py -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh
python3 -m pytest -q "$@"
