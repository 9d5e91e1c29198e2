#!/usr/bin/env bash
# Alert latency benchmark (called by `make bench`): the time from the collector receiving a failed
# run's last event (a signed workflow_run.completed webhook) to the Slack stand-in receiving the
# alert's message, each failure on its own branch so that each opens its own alert (a `failure`
# rule on every branch, routed to the Slack channel of the environment). Measured twice in one
# run: with the collector otherwise idle (the baseline), then while the ingest benchmark's load
# generator (bench/ingest/loadgen.c) streams reports from LOAD_AGENTS agents. Prints p50/p99 of
# both next to the target, p99 < 1 s. bench/alert/latency.py sends the failures and serves the
# stand-in, so both ends read one clock.
#   BENCH_ALERTS=200 BENCH_ALERT_INTERVAL_MS=50 BENCH_LOAD_AGENTS=8 scripts/bench-alert.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
N=${BENCH_ALERTS:-200}
INTERVAL_MS=${BENCH_ALERT_INTERVAL_MS:-50}
LOAD_AGENTS=${BENCH_LOAD_AGENTS:-8}
export BENCH_JOBS=${BENCH_JOBS:-5} BENCH_STEPS=${BENCH_STEPS:-40} BENCH_LOG_BYTES=${BENCH_LOG_BYTES:-8192}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"

bench_setup
tmp=$BENCH_DIR
load_pid=
stop_load() {
  if [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null; then wait "$load_pid" 2>/dev/null || true; fi
  load_pid=
}
trap 'stop_load; bench_cleanup' EXIT
bench_loadgen_build "$BUILD"
bench_pg_start "${BENCH_PG_FSYNC:-on}"
export CIPULSE_DATABASE_URL=$BENCH_PG/postgres
admin="bench-admin-$$-0123456789abcdef"
secret="bench-secret-$$"
slack_port=$(bench_free_port)
bench_collector_start "$BUILD/cipulsed" CIPULSE_ADMIN_TOKEN="$admin" CIPULSE_ALLOW_PRIVATE_TARGETS=1 \
  CIPULSE_SLACK_WEBHOOK_URL="http://127.0.0.1:$slack_port/slack"
http=http://127.0.0.1:$BENCH_HTTP_PORT
token=$("$BUILD/cipulsed" token create --kind ingest --repo bench/ingest)
sql() { /usr/bin/python3 -c '
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True; cur = c.cursor()
cur.execute(sys.argv[2], sys.argv[3:])
print(cur.fetchone()[0] if cur.description else "")' "$CIPULSE_DATABASE_URL" "$@"; }
sql "INSERT INTO repositories (id, full_name, webhook_secret) VALUES (5151, 'bench/alerts', %s)" "$secret" >/dev/null
curl -fsS -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"rules": [{"name": "every failure", "kind": "failure", "channels": ["env-slack"]}]}' \
  "$http/api/v1/settings/alerts" >/dev/null

measure() { # LABEL
  /usr/bin/python3 bench/alert/latency.py "$1" "$http" "$secret" "$slack_port" "$N" "$INTERVAL_MS" \
    tests/fixtures/github/webhooks/workflow_run.completed.json
}
echo "workload: $N failed runs per phase, one every ${INTERVAL_MS} ms, each on its own branch (its own" \
  "alert, one Slack message); load phase: $LOAD_AGENTS agents streaming reports of $BENCH_JOBS jobs x" \
  "$BENCH_STEPS steps with a $BENCH_LOG_BYTES-byte log tail per step; PostgreSQL fsync" \
  "${BENCH_PG_FSYNC:-on}; collector notify_senders=${CIPULSE_NOTIFY_SENDERS:-4}; $(nproc) cores"
base=$(measure baseline) || { echo "$base"; tail -20 "$tmp/cipulsed.log"; exit 1; }
echo "$base"

# The load runs until the measurement ends (far more reports than it gets through).
"$tmp/loadgen" ingest "127.0.0.1:$BENCH_GRPC_PORT" "$token" "$LOAD_AGENTS" 1000000 1000000 \
  >"$tmp/loadgen.out" 2>&1 &
load_pid=$!
for _ in $(seq 600); do
  [ "$(sql 'SELECT count(*) FROM reports')" -gt 0 ] && break
  kill -0 "$load_pid" 2>/dev/null || { cat "$tmp/loadgen.out"; exit 1; }
  sleep 0.1
done
r0=$(sql 'SELECT count(*) FROM reports')
t0=$(date +%s.%N)
load=$(measure load) || { echo "$load"; tail -20 "$tmp/cipulsed.log"; exit 1; }
t1=$(date +%s.%N)
r1=$(sql 'SELECT count(*) FROM reports')
stop_load
echo "$load"
kill -0 "$BENCH_COLLECTOR_PID" 2>/dev/null || { echo "bench-alert: the collector died"; exit 1; }
/usr/bin/python3 - "$base" "$load" "$r0" "$r1" "$t0" "$t1" <<'PY'
import sys
f = lambda line, k: float(dict(kv.split("=") for kv in line.split()[1:])[k])
base, load = sys.argv[1], sys.argv[2]
reports, secs = int(sys.argv[4]) - int(sys.argv[3]), float(sys.argv[6]) - float(sys.argv[5])
print("concurrent ingest during the load phase: %d reports in %.1f s (%.1f reports/s)" %
      (reports, secs, reports / secs))
for name, line in (("baseline (idle)", base), ("under ingest load", load)):
    p99 = f(line, "p99_ms")
    print("%-18s p50 %.0f ms, p99 %.0f ms (target p99 < 1000 ms: %s)" %
          (name, f(line, "p50_ms"), p99, "met" if p99 < 1000 else "MISSED"))
print("p99 under load / baseline: ratio %.2f" % (f(load, "p99_ms") / max(f(base, "p99_ms"), 0.1)))
PY
