#!/usr/bin/env bash
# Webhook benchmark (called by `make bench`): signed workflow_job webhooks per second stored by
# the collector (signature check, parse, one PostgreSQL transaction each), next to the same
# POST requests sent to /healthz, which the HTTP server reads in full and answers at once
# (405: /healthz is GET-only) — the HTTP server's own ceiling on this machine — and GET /healthz.
#   BENCH_SECONDS=10 BENCH_CONNECTIONS=16 scripts/bench-webhook.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"
command -v wrk >/dev/null || { echo "bench-webhook: wrk is not installed (make deps)" >&2; exit 1; }

bench_setup
tmp=$BENCH_DIR
bench_pg_start "${BENCH_PG_FSYNC:-on}"
url=$BENCH_PG/postgres
secret="bench-secret-$$"
bench_collector_start "$BUILD/cipulsed" CIPULSE_DATABASE_URL="$url"
httpport=$BENCH_HTTP_PORT
fixture=tests/fixtures/github/webhooks/workflow_job.completed.failure.with-organization.json
repo=$(/usr/bin/python3 -c "import json,sys; print(json.load(open('$fixture'))['repository']['full_name'])")
/usr/bin/python3 - "$url" "$repo" "$secret" <<'PY'
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute("INSERT INTO repositories (id, full_name, webhook_secret) VALUES "
                   "(-nextval('repositories_provisional_id_seq'), %s, %s)", (sys.argv[2], sys.argv[3]))
PY
/usr/bin/python3 bench/webhook/gen.py "$fixture" "$secret" 2000 "$tmp/data.lua"

run() { # NAME PATH [wrk args...]
  local name=$1 path=$2; shift 2
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "$@" "http://127.0.0.1:$httpport" -- "$path" "$tmp/data.lua" \
    >"$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out"; return 1; }
  grep '^RESULT' "$tmp/$name.out" | sed "s/^RESULT/$name/"
}
echo "workload: $THREADS threads, $CONNS connections, ${SECS}s each; 2000 distinct signed workflow_job bodies of 12 steps; PostgreSQL fsync ${BENCH_PG_FSYNC:-on}"
run webhook /webhook/github -s bench/webhook/webhook.lua
run baseline_post_healthz /healthz -s bench/webhook/webhook.lua
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$httpport/healthz" >"$tmp/get.out" 2>&1
echo "baseline_get_healthz rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/get.out")"
stored=$(/usr/bin/python3 -c "
import psycopg2; c=psycopg2.connect('$url'); cur=c.cursor()
cur.execute('SELECT count(*) FROM webhook_deliveries'); print(cur.fetchone()[0])")
w=$(grep '^RESULT' "$tmp/webhook.out" | sed 's/.*rps=\([0-9.]*\).*/\1/')
b=$(grep '^RESULT' "$tmp/baseline_post_healthz.out" | sed 's/.*rps=\([0-9.]*\).*/\1/')
echo "deliveries stored: $stored"
/usr/bin/python3 -c "print('webhooks/s %.0f vs HTTP ceiling %.0f req/s: ratio %.3f' % ($w, $b, $w / $b))"
