#!/usr/bin/env bash
# Installs everything the full test suite needs on a Debian machine with Python 3.11+.
# Safe to run again: each step checks before it installs. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# System packages: PostgreSQL (the production store), Chromium (browser tests),
# GNU PSPP and R with haven (independent readers of our output files), Node (axe-core).
need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql postgresql-client)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v pspp >/dev/null 2>&1 || need_apt+=(pspp)
command -v Rscript >/dev/null 2>&1 || need_apt+=(r-base-core)
Rscript -e 'quit(status = !requireNamespace("haven", quietly = TRUE))' >/dev/null 2>&1 || need_apt+=(r-cran-haven)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    log "apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    log "not root: cannot install ${need_apt[*]}; the tests that need them will say so"
  fi
fi

# axe-core for the accessibility tests (package.json lists it; node_modules is not committed).
if [ ! -f node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then
  log "npm install (axe-core)"
  npm install --no-audit --no-fund --silent >/dev/null
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth and a database called test.
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -n "$version" ]; then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    # A freshly installed cluster asks for passwords on TCP; the tests use a local trust setup.
    if [ -w "$hba" ] && ! grep -q "survey-instrument test setup" "$hba"; then
      log "configuring trust auth for local connections in $hba"
      { echo "# survey-instrument test setup: local connections are trusted (a test machine only)"
        echo "host all all 127.0.0.1/32 trust"
        echo "host all all ::1/128 trust"
        echo "local all all trust"; cat "$hba"; } > "$hba.new" && mv "$hba.new" "$hba"
    fi
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  fi
fi
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break; sleep 1; done
if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
    || createdb -h 127.0.0.1 -U postgres test 2>/dev/null || log "could not create database test"
else
  log "PostgreSQL is not reachable on 127.0.0.1:5432; the PostgreSQL store tests will fail in CI"
fi
