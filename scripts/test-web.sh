#!/usr/bin/env bash
# Browser tests of the web dashboard against the real collector and a throwaway PostgreSQL:
#   1. build the web app (scripts/build-web.sh), run its unit tests (vitest), build the collector
#   2. start a PostgreSQL cluster (scripts/pg.sh) and create a database
#   3. start `cipulsed serve` on free ports, serving web/dist, with a read and an admin token and
#      private alert targets allowed (the alerting tests' HTTP stand-in is on 127.0.0.1), and
#      wait for /readyz
#   4. load tests/web/sample.sql
#   5. run tests/web/*.test.mjs with Node's test runner (playwright-core + Debian's Chromium), or
#      only the files named on the command line (scripts/test-web.sh tests/web/dashboard.test.mjs)
# Everything is stopped and removed on exit. Environment:
#   CIPULSED=path           collector binary (default build/cipulsed, built when missing)
#   CIPULSE_WEB_SHOTS=dir   keep the screenshots the tests take in dir (default: a temp dir)
#   KEEP=1                  leave the temp dir (PostgreSQL and collector logs) in place
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for bin in node npm /usr/bin/chromium psql curl; do
  command -v "$bin" >/dev/null 2>&1 || { echo "test-web: $bin not found (scripts/deps.sh installs it)" >&2; exit 1; }
done

scripts/build-web.sh
echo "test-web: unit tests (vitest)"
(cd web && npx --no-install vitest run --reporter=dot)
cipulsed=${CIPULSED:-$root/build/cipulsed}
if [ -z "${CIPULSED:-}" ]; then
  make -s -j"$(nproc 2>/dev/null || echo 2)" build/cipulsed build/cipulse-agent
fi
[ -x "$cipulsed" ] || { echo "test-web: $cipulsed not found" >&2; exit 1; }

tmp=$(mktemp -d /tmp/cipulse-web.XXXXXX)
chmod 755 "$tmp"
col_pid=""
cleanup() {
  status=$?
  if [ -n "$col_pid" ] && kill -0 "$col_pid" 2>/dev/null; then
    kill -TERM "$col_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$col_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$col_pid" 2>/dev/null || true
  fi
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  if [ "$status" -ne 0 ] && [ -f "$tmp/collector.log" ]; then
    echo "--- collector log (last 40 lines) ---" >&2
    tail -n 40 "$tmp/collector.log" >&2 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "test-web: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
pg_port=$(free_port)
http_port=$(free_port)
grpc_port=$(free_port)

PG_FSYNC=off "$root/scripts/pg.sh" start "$tmp/pg" "$pg_port" >/dev/null
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -c 'CREATE DATABASE cipulse_web' >/dev/null
db_url="postgresql://postgres@127.0.0.1:$pg_port/cipulse_web"
# Reads need a token, as on a collector that is not public: the tests give it to the app the way
# a user does, and one test checks that the app asks for it.
read_token="web-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# Writes (alert rules, channels, silences, acks) need the admin token; the alerting tests post
# to an HTTP stand-in on 127.0.0.1, so private targets are allowed.
admin_token="web-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

CIPULSE_DATABASE_URL="$db_url" \
CIPULSE_HTTP_ADDR="127.0.0.1:$http_port" \
CIPULSE_GRPC_ADDR="127.0.0.1:$grpc_port" \
CIPULSE_WEB_DIR="$root/web/dist" \
CIPULSE_READ_TOKEN="$read_token" \
CIPULSE_ADMIN_TOKEN="$admin_token" \
CIPULSE_ALLOW_PRIVATE_TARGETS=1 \
CIPULSE_POLL=0 \
CIPULSE_LOG_LEVEL=info \
  "$cipulsed" serve >"$tmp/collector.log" 2>&1 &
col_pid=$!

base="http://127.0.0.1:$http_port"
ready=0
for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then ready=1; break; fi
  kill -0 "$col_pid" 2>/dev/null || break
  sleep 0.2
done
[ "$ready" = 1 ] || { echo "test-web: collector did not become ready at $base" >&2; exit 1; }

# The collector has applied the migrations by now: load the sample data.
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d cipulse_web -v ON_ERROR_STOP=1 -f tests/web/sample.sql >/dev/null

shots=${CIPULSE_WEB_SHOTS:-$tmp/shots}
mkdir -p "$shots"
echo "test-web: collector at $base, screenshots in $shots"
# The accounts tests add local users with `cipulsed user add` (the database URL); the test
# results test runs the real agent against the collector's gRPC port.
CIPULSE_URL="$base" CIPULSE_WEB_SHOTS="$shots" CIPULSE_WEB_NODE_MODULES="$root/web/node_modules" \
CIPULSE_READ_TOKEN="$read_token" CIPULSE_ADMIN_TOKEN="$admin_token" \
CIPULSED="$cipulsed" CIPULSE_DATABASE_URL="$db_url" CIPULSE_GRPC="127.0.0.1:$grpc_port" \
CIPULSE_AGENT="${CIPULSE_AGENT:-$root/build/cipulse-agent}" \
  node --test --test-concurrency=1 "${@:-tests/web/}" | tee "$tmp/node-test.out"
# A skipped browser test fails the run too (tests/integration/conftest.py does the same for pytest).
grep -q '^# skipped 0$' "$tmp/node-test.out" || { echo "test-web: browser tests were skipped" >&2; exit 1; }
