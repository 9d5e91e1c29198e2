#!/usr/bin/env bash
# The whole test suite, as CI runs it (the README's test command is `make test`):
#   1. build with warnings as errors; unit tests (cmocka); the fuzz targets run once over their
#      seed corpora; integration tests (pytest: real PostgreSQL, real collector, real agent,
#      HTTP stand-ins for GitHub/Slack; a skip not declared expected in conftest.py fails)
#   2. the same unit and integration tests against the ASan+UBSan build
#   3. browser tests of the dashboard (Chromium), when the web app is present
# Set SKIP_ASAN=1 to skip step 2 locally.
#
# Wall time: the integration tests mostly wait, so scripts/run-integration.sh runs them in
# parallel worker processes (CIPULSE_TEST_WORKERS), and the ASan+UBSan build compiles in the
# background from the end of the plain build on, while the unit, fuzz and integration steps run
# (its output is shown in its own step, after it finished).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
export PYTHONDONTWRITEBYTECODE=1

step() { printf '\n=== %s ===\n' "$*"; }

asan_pid=""
asan_log=""
cleanup() {
  if [ -n "$asan_pid" ] && kill -0 "$asan_pid" 2>/dev/null; then
    kill -TERM -- "-$asan_pid" 2>/dev/null || kill -TERM "$asan_pid" 2>/dev/null || true
    wait "$asan_pid" 2>/dev/null || true
  fi
  [ -z "$asan_log" ] || rm -f "$asan_log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "format (make format-check: clang-format --dry-run with .clang-format)"
make -s format-check

step "build (warnings are errors)"
make -j"$jobs" WERROR=1 all

if [ "${SKIP_ASAN:-0}" != 1 ]; then
  # Started now, waited for before the ASan+UBSan steps. Niced: the steps in between get the
  # CPU first and the build takes what their waiting leaves over. Its own process group, so
  # that cleanup stops every compiler it started.
  asan_log=$(mktemp /tmp/cipulse-asan-build.XXXXXX)
  set -m
  nice -n 10 make -j"$jobs" BUILD=build-asan SAN=1 WERROR=1 all >"$asan_log" 2>&1 &
  asan_pid=$!
  set +m
  echo "ASan+UBSan build started in the background (pid $asan_pid)"
fi

step "unit tests"
scripts/run-unit.sh build

step "fuzz targets over their seed corpora (clang, ASan+UBSan)"
scripts/fuzz.sh --replay

step "integration tests"
scripts/run-integration.sh build

if [ "${SKIP_ASAN:-0}" != 1 ]; then
  step "ASan+UBSan build"
  status=0
  wait "$asan_pid" || status=$?
  asan_pid=""
  cat "$asan_log"
  [ "$status" -eq 0 ] || { echo "ASan+UBSan build failed ($status)" >&2; exit "$status"; }
  step "unit tests (ASan+UBSan)"
  scripts/run-unit.sh build-asan
  step "integration tests (ASan+UBSan)"
  CIPULSE_SANITIZED=1 scripts/run-integration.sh build-asan
fi

if [ -x scripts/test-web.sh ]; then
  step "browser tests"
  scripts/test-web.sh
fi
