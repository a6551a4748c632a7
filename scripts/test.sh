#!/usr/bin/env bash
# The test command named in the README: the whole suite, store tests on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pytest -q "$@"
