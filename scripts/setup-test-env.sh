#!/usr/bin/env bash
# Installs everything the full test suite needs on a bare Debian machine with Python 3.11+.
# Safe to run again: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# System packages: PostgreSQL (the production store), Chromium (browser tests),
# PSPP and R with haven (independent readers of our output files).
need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql postgresql-client)
if [ "${#need_apt[@]}" -gt 0 ] && [ "$(id -u)" = "0" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Make sure PostgreSQL is running and reachable on 127.0.0.1:5432 with trust auth.
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break; sleep 1; done
fi
psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres test 2>/dev/null || true
