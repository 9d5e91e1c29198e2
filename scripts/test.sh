#!/usr/bin/env bash
# The whole test suite, as CI runs it (the README's test command is `make test`):
#   1. build with warnings as errors; unit tests (cmocka); the fuzz targets run once over their
#      seed corpora; integration tests (pytest: real PostgreSQL, real collector, real agent,
#      HTTP stand-ins for GitHub/Slack; a skip not declared expected in conftest.py fails)
#   2. the same unit and integration tests against the ASan+UBSan build
#   3. browser tests of the dashboard (Chromium), when the web app is present
# Set SKIP_ASAN=1 to skip step 2 locally.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1

step() { printf '\n=== %s ===\n' "$*"; }

step "format (make format-check: clang-format --dry-run with .clang-format)"
make -s format-check

step "build (warnings are errors)"
make -j"$jobs" WERROR=1 all

step "unit tests"
scripts/run-unit.sh build

step "fuzz targets over their seed corpora (clang, ASan+UBSan)"
scripts/fuzz.sh --replay

step "integration tests"
CIPULSE_BUILD="$PWD/build" $PY -m pytest -q -rs -p no:cacheprovider tests/integration

if [ "${SKIP_ASAN:-0}" != 1 ]; then
  step "ASan+UBSan build"
  make -j"$jobs" BUILD=build-asan SAN=1 WERROR=1 all
  step "unit tests (ASan+UBSan)"
  scripts/run-unit.sh build-asan
  step "integration tests (ASan+UBSan)"
  CIPULSE_BUILD="$PWD/build-asan" CIPULSE_SANITIZED=1 $PY -m pytest -q -rs -p no:cacheprovider tests/integration
fi

if [ -x scripts/test-web.sh ]; then
  step "browser tests"
  scripts/test-web.sh
fi
