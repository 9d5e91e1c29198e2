#!/usr/bin/env bash
# Web dashboard benchmark (make bench): loads a synthetic history straight into a throwaway
# PostgreSQL (bench/api/gen.sql, 500 repositories) plus one run with 200 jobs of 12 steps
# (bench/web/run200.sql), starts cipulsed serving the built web app, and times the overview, a
# workflow page and the 200-job run in Debian's Chromium (bench/web/bench.mjs, playwright-core):
# navigation to the page's data painted, p50/p95 against the 1 s target, where the time goes
# (the app's files, the API calls, rendering), and the bundle's gzipped size against 150 kB.
#
#   BENCH_WEB_RUNS=1000000   distinct runs (10% re-run once), 5 jobs x 3 steps each
#   BENCH_WEB_REPOS=500      repositories (20 workflows each)
#   BENCH_WEB_SAMPLES=9      page loads per page (after one discarded round)
#   BENCH_WEB_KEEP=DIR       keep (or reuse) the loaded cluster in DIR (loading 1M runs is slow)
#   BENCH_WEB_COMPARE=DIST   also serve another build of the app (a web/dist built from another
#                            commit, e.g. main's) from a second collector on the same database, and
#                            measure both in the same run, page by page (bench.mjs prints the ratios)
#   BENCH_WEB_COMPARE_CIPULSED=BIN  the second collector's binary (default: this build's), e.g.
#                            main's, to compare the server's part too (compression, API answers)
#
# Each page is loaded cold (a fresh browser context: its renderer process starts) and warm (a tab
# whose renderer is up, HTTP cache off); cold minus warm is what the browser's start-up costs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
RUNS=${BENCH_WEB_RUNS:-1000000}
REPOS=${BENCH_WEB_REPOS:-500}
BUILD=${BUILD:-build}
CIPULSED=$BUILD/cipulsed
BIG_RUN=2000000001
for t in psql node /usr/bin/chromium; do command -v $t >/dev/null || { echo "bench-web: $t missing (make deps)"; exit 1; }; done
[ -x "$CIPULSED" ] || { echo "bench-web: $CIPULSED missing (make)"; exit 1; }
scripts/build-web.sh >/dev/null

bench_setup "${BENCH_WEB_KEEP:-}"
PSQL="psql -X -q -v ON_ERROR_STOP=1"
load() {
  echo "bench-web: loading $RUNS runs in $REPOS repositories and a run with 200 jobs ..."
  # No log tails: no page measured here reads them.
  $PSQL "$BENCH_URL" -v runs="$RUNS" -v repos="$REPOS" -v logs=0 -v log_lines=1 -f bench/api/gen.sql >/dev/null
  $PSQL "$BENCH_URL" -v run_id="$BIG_RUN" -f bench/web/run200.sql >/dev/null
}
bench_load_history "$CIPULSED" 1GB load
URL=$BENCH_URL
$PSQL -At "$URL" -c "SELECT format('data: %s repositories, %s workflows, %s distinct runs, %s run attempts, %s jobs, %s steps; the large run: %s jobs, %s steps; database %s',
  (SELECT count(*) FROM repositories), (SELECT count(*) FROM workflows),
  (SELECT count(DISTINCT run_id) FROM workflow_runs), (SELECT count(*) FROM workflow_runs),
  (SELECT count(*) FROM jobs), (SELECT count(*) FROM steps),
  (SELECT count(*) FROM jobs WHERE repo_id = 1 AND run_id = $BIG_RUN),
  (SELECT count(*) FROM steps s JOIN jobs j USING (repo_id, job_id) WHERE j.repo_id = 1 AND j.run_id = $BIG_RUN),
  pg_size_pretty(pg_database_size('bench')))"

# A kept cluster may predate a migration: apply it here, not in the collector's 10 s start.
CIPULSE_DATABASE_URL=$URL CIPULSE_LOG_LEVEL=warn "$CIPULSED" migrate >/dev/null
COMPARE_URL=
if [ -n "${BENCH_WEB_COMPARE:-}" ]; then
  [ -f "$BENCH_WEB_COMPARE/index.html" ] || { echo "bench-web: $BENCH_WEB_COMPARE/index.html missing (a built web/dist)"; exit 1; }
  bench_collector_start "${BENCH_WEB_COMPARE_CIPULSED:-$CIPULSED}" CIPULSE_DATABASE_URL="$URL" CIPULSE_DB_POOL_SIZE=8 CIPULSE_WEB_DIR="$(cd "$BENCH_WEB_COMPARE" && pwd)"
  COMPARE_PID=$BENCH_COLLECTOR_PID
  COMPARE_URL="http://127.0.0.1:$BENCH_HTTP_PORT"
  trap 'kill "$COMPARE_PID" 2>/dev/null; wait "$COMPARE_PID" 2>/dev/null; bench_cleanup' EXIT
  BENCH_HTTP_PORT=$(bench_free_port)
  # shellcheck disable=SC2034 # read by bench_collector_start
  BENCH_GRPC_PORT=$(bench_free_port)
fi
bench_collector_start "$CIPULSED" CIPULSE_DATABASE_URL="$URL" CIPULSE_DB_POOL_SIZE=8 CIPULSE_WEB_DIR="$PWD/web/dist"
echo
# Chromium, the collector and PostgreSQL share this machine: its size and load say how to read it.
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before measuring"
BENCH_WEB_URL="http://127.0.0.1:$BENCH_HTTP_PORT" BENCH_WEB_RUN=$BIG_RUN BENCH_WEB_DIST="$PWD/web/dist" \
  BENCH_WEB_BASE_URL="$COMPARE_URL" BENCH_WEB_BASE_NAME="${BENCH_WEB_COMPARE:-}${BENCH_WEB_COMPARE_CIPULSED:+ on $BENCH_WEB_COMPARE_CIPULSED}" node bench/web/bench.mjs
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) after measuring"
