#!/usr/bin/env bash
# Shared buffers per API request, a cost that does not depend on the machine's load: how the
# API's cost grows with the history (docs/scaling.md). With a kept API benchmark cluster
# (BENCH_API_KEEP=DIR scripts/bench-api.sh), stopped:
#
#   bench/api/buffers.sh DIR [BUILD]
#
# starts the cluster with auto_explain logging every statement's plan with its buffers, starts
# BUILD/cipulsed (default build), requests each of bench-api.sh's endpoints three times and
# prints, for the third request, its statements and the shared buffers of their top plan nodes
# (hit + read), then stops both. The cluster's settings are left as they were.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench-lib.sh
KEEP=${1:?usage: bench/api/buffers.sh DIR [BUILD]}
CIPULSED=${2:-build}/cipulsed
[ -f "$KEEP/loaded" ] || { echo "buffers: $KEEP holds no loaded benchmark cluster" >&2; exit 1; }
bench_setup "$KEEP"
bench_pg_start off
URL=$BENCH_PG/bench
PSQL="psql -X -q -v ON_ERROR_STOP=1"
# Session settings of the collector's connections only (ALTER DATABASE), undone at the end.
restore() {
  $PSQL "$URL" -c "ALTER DATABASE bench RESET ALL" >/dev/null 2>&1 || true
  bench_cleanup
}
trap restore EXIT
$PSQL "$URL" -c "ALTER DATABASE bench SET session_preload_libraries = 'auto_explain'" \
  -c "ALTER DATABASE bench SET auto_explain.log_min_duration = 0" \
  -c "ALTER DATABASE bench SET auto_explain.log_analyze = on" \
  -c "ALTER DATABASE bench SET auto_explain.log_buffers = on" \
  -c "ALTER DATABASE bench SET auto_explain.log_timing = off" \
  -c "ALTER DATABASE bench SET auto_explain.log_nested_statements = off" >/dev/null
CIPULSE_DATABASE_URL=$URL CIPULSE_LOG_LEVEL=warn "$CIPULSED" migrate
bench_collector_start "$CIPULSED" CIPULSE_DATABASE_URL="$URL" CIPULSE_DB_POOL_SIZE=2
BASE=http://127.0.0.1:$BENCH_HTTP_PORT
RUN_ID=$($PSQL -At "$URL" -c "SELECT run_id FROM workflow_runs WHERE repo_id = 1 AND run_attempt = 2 ORDER BY run_id DESC LIMIT 1")
$PSQL -At "$URL" -c "SELECT format('data: %s run attempts, %s jobs, %s steps; database %s',
  (SELECT count(*) FROM workflow_runs), (SELECT count(*) FROM jobs), (SELECT count(*) FROM steps),
  pg_size_pretty(pg_database_size('bench')))"
LOG=$BENCH_DIR/pg/log
while read -r name path; do
  for _ in 1 2 3; do
    before=$(wc -c <"$LOG")
    code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$path")
  done
  # Each plan's first "Buffers:" line is its top node's: the statement's whole.
  tail -c +$((before + 1)) "$LOG" | awk -v name="$name" -v code="$code" '
    /duration: .* plan:/ { n++; first = 1; next }
    first && /Buffers: shared/ {
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^hit=/) { split($i, a, "="); hit += a[2] }
        if ($i ~ /^read=/) { split($i, a, "="); rd += a[2] }
      }
      first = 0 }
    END { printf "%-34s http %s  statements %d  shared buffers %d (hit %d, read %d)\n", name, code, n, hit + rd, hit, rd }'
done <<EOF
all-repo-metrics-30d /api/v1/metrics?window=30d
all-repo-metrics-24h /api/v1/metrics?window=24h
repo-list-7d /api/v1/repos
workflow-metrics-24h /api/v1/metrics?repo=org1/repo1&workflow=101&window=24h
workflow-metrics-30d /api/v1/metrics?repo=org1/repo1&workflow=101&window=30d
run-list-page /api/v1/repos/org1/repo1/runs
run-detail /api/v1/runs/$RUN_ID
log-search-rare /api/v1/logs/search?q=segfault%20in%20libfoo
log-search-common /api/v1/logs/search?q=restored
EOF
