#!/usr/bin/env bash
# API benchmark (make bench): loads a synthetic history straight into a throwaway PostgreSQL
# (bench/api/gen.sql), starts cipulsed, and measures the dashboard's hot endpoints with wrk
# (8 connections); each is printed next to the same figures computed naively from the raw tables
# (bench/api/naive/*.sql under pgbench, 8 clients) in the same run, and log search next to
# `grep -F -i` over the same text in a file.
#
#   BENCH_API_RUNS=1000000   distinct runs (100 repos x 20 workflows; 10% re-run once)
#   BENCH_API_LOG_MB=1024    log text to generate (tails of ~50 lines)
#   BENCH_API_SECONDS=10     duration of each load test
#   BENCH_API_KEEP=DIR       keep (or reuse) the loaded cluster in DIR
#   BENCH_API_GROW=N         with a kept cluster: first add N more runs (jobs and steps, no logs)
#                            completed before the oldest there (bench/api/grow.sql), to measure
#                            how the API's cost grows with the history's length
#   BENCH_API_GROW_PARTS=2   sessions adding them in parallel (a share of the repositories each)
#   BENCH_API_NAIVE=0        leave out the naive column (each naive all-repository query takes
#                            seconds at a million runs)
#   BENCH_API_ONLY=REGEX     only the rows whose name matches (bash =~), e.g. 'search|run detail'
#                            for log search with run detail as the machine's yardstick; the grep
#                            baseline runs when 'log search baseline' matches
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
RUNS=${BENCH_API_RUNS:-1000000}
LOG_MB=${BENCH_API_LOG_MB:-1024}
SECS=${BENCH_API_SECONDS:-10}
LOG_LINES=50
BUILD=${BUILD:-build}
CIPULSED=$BUILD/cipulsed
for t in wrk pgbench psql; do command -v $t >/dev/null || { echo "bench-api: $t missing (make deps)"; exit 1; }; done
[ -x "$CIPULSED" ] || { echo "bench-api: $CIPULSED missing (make)"; exit 1; }

bench_setup "${BENCH_API_KEEP:-}"
DIR=$BENCH_DIR
PSQL="psql -X -q -v ON_ERROR_STOP=1"
logs=$(( LOG_MB * 1024 * 1024 / (LOG_LINES * 48) ))  # generated lines average ~48 bytes
load() {
  echo "bench-api: loading $RUNS runs and $logs log tails (~${LOG_MB} MiB) ..."
  $PSQL "$BENCH_URL" -v runs="$RUNS" -v logs="$logs" -v log_lines="$LOG_LINES" -f bench/api/gen.sql >/dev/null
}
bench_load_history "$CIPULSED" 2GB load
URL=$BENCH_URL
if [ "$BENCH_LOADED" = 0 ]; then
  # A kept cluster: bring its schema up to this build's (a new migration's backfill runs here).
  t0=$(date +%s)
  CIPULSE_DATABASE_URL=$URL CIPULSE_LOG_LEVEL=warn "$CIPULSED" migrate
  echo "bench-api: schema current in $(( $(date +%s) - t0 )) s"
  if [ "${BENCH_API_GROW:-0}" -gt 0 ]; then
    # Older runs (bench/api/grow.sql): at the history's density, in the days before its oldest.
    parts=${BENCH_API_GROW_PARTS:-2}
    IFS='|' read -r first until days repos <<<"$($PSQL -At "$URL" -c "
      SELECT max(run_id) - 1000000000, date_bin('1 day', min(completed_at), 'epoch'),
             round($BENCH_API_GROW / (count(DISTINCT run_id)
                   / (extract(epoch FROM max(completed_at) - min(completed_at)) / 86400)), 3),
             (SELECT count(*) FROM repositories)
        FROM workflow_runs")"
    echo "bench-api: adding $BENCH_API_GROW runs after the $first there are, completed in the $days days before $until, $parts sessions ..."
    # Checkpoints often enough that the added rows' WAL does not fill the disk.
    $PSQL "$URL" -c "ALTER SYSTEM SET max_wal_size = '2GB'" -c "SELECT pg_reload_conf()" >/dev/null
    t0=$(date +%s)
    pids=()
    for part in $(seq 0 $((parts - 1))); do
      nice -n 10 ionice -c3 $PSQL "$URL" -v runs="$BENCH_API_GROW" -v first="$first" -v until="$until" \
        -v days="$days" -v repos="$repos" -v part="$part" -v parts="$parts" -f bench/api/grow.sql >/dev/null &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    nice -n 10 ionice -c3 $PSQL "$URL" -c "VACUUM (ANALYZE) workflow_runs, jobs, steps, run_rollup_daily, run_rollup_repo"
    echo "bench-api: added in $(( $(date +%s) - t0 )) s"
  fi
fi
$PSQL -At "$URL" -c "SELECT format('data: %s repositories, %s workflows, %s distinct runs, %s run attempts, %s jobs, %s steps, %s log tails with %s of text; database %s',
  (SELECT count(*) FROM repositories), (SELECT count(*) FROM workflows),
  (SELECT count(DISTINCT run_id) FROM workflow_runs), (SELECT count(*) FROM workflow_runs),
  (SELECT count(*) FROM jobs), (SELECT count(*) FROM steps), (SELECT count(*) FROM logs),
  (SELECT pg_size_pretty(sum(octet_length(content))) FROM logs), pg_size_pretty(pg_database_size('bench')))"

bench_collector_start "$CIPULSED" CIPULSE_DATABASE_URL="$URL" CIPULSE_DB_POOL_SIZE=8
BASE=http://127.0.0.1:$BENCH_HTTP_PORT
RUN_ID=$($PSQL -At "$URL" -c "SELECT run_id FROM workflow_runs WHERE repo_id = 1 AND run_attempt = 2 ORDER BY run_id DESC LIMIT 1")

# wrk: "p50_ms p99_ms req/s" (first checking the endpoint answers 200); any answer other than
# 2xx/3xx under load (503 busy or timeout) turns req/s into "N!errors", and the row is MISSED.
api() {
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$1")
  [ "$code" = 200 ] || { echo "bench-api: $1 answered $code" >&2; echo "- - -"; return; }
  wrk -t2 -c8 -d"${SECS}s" --latency "$BASE$1" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } $1 == "Requests/sec:" { rps = $2 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END { if (bad) printf "%.2f %.2f %d!errors\n", p50, p99, bad; else printf "%.2f %.2f %.0f\n", p50, p99, rps }'
}
# pgbench with per-transaction log: "p50_ms p99_ms tps".
naive() {
  local f=$1; shift
  [ "${BENCH_API_NAIVE:-1}" = 0 ] && { echo "- - -"; return; }
  rm -f "$DIR"/pgbench_log.*
  (cd "$DIR" && pgbench -n -M simple -c 8 -j 2 -T "$SECS" --log --log-prefix=pgbench_log "$@" \
     -f "$OLDPWD/bench/api/naive/$f" "$URL" >/dev/null 2>&1) || { echo "- - -"; return; }
  cat "$DIR"/pgbench_log.* | awk -v secs="$SECS" '{ print $3 / 1000 }' | sort -n | awk -v secs="$SECS" '
    { v[NR] = $1 } END { if (!NR) { print "- - -"; exit }
      printf "%.2f %.2f %.1f\n", v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], NR / secs }'
}
row() { printf '%-34s %10s %10s %10s   %12s %12s %10s   %-18s %s\n' "$@"; }
# "met" / "MISSED" for a target "p99<50" or "p50<50,p99<100" (ms) against the API's figures.
verdict() {
  local target=$1 p50=$2 p99=$3
  [ "$p99" = - ] && { echo "-"; return; }
  awk -v t="$target" -v p50="$p50" -v p99="$p99" 'BEGIN {
    n = split(t, parts, ","); ok = 1
    for (i = 1; i <= n; i++) { split(parts[i], kv, "<"); v = kv[1] == "p50" ? p50 : p99
                               if (v + 0 >= kv[2] + 0) ok = 0 }
    print ok ? "met" : "MISSED" }'
}
echo
# wrk, the collector and PostgreSQL share this machine: its size and load say how to read the table.
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before measuring"
echo "hot endpoints, 8 concurrent clients, ${SECS}s each (latency ms):"
row endpoint "api p50" "api p99" "api req/s" "naive p50" "naive p99" "naive tps" "target (ms)" "result"
measure() {
  local name=$1 target=$2 path=$3; shift 3
  [[ -z ${BENCH_API_ONLY:-} || $name =~ $BENCH_API_ONLY ]] || return 0
  read -r a50 a99 arps <<<"$(api "$path")"
  read -r n50 n99 ntps <<<"$(naive "$@")"
  local v; v=$(verdict "$target" "$a50" "$a99")
  case $arps in *errors) v=MISSED ;; esac
  row "$name" "$a50" "$a99" "$arps" "$n50" "$n99" "$ntps" "$target" "$v"
}
HOT="p99<50"
# Over all repositories: the API reads the rollup, "naive" is the exact figures from the runs
# (one client: each takes seconds).
measure "all-repo metrics 30d" "$HOT" "/api/v1/metrics?window=30d" all_metrics.sql -c 1 -j 1 \
  -D window_s=2592000 -D bucket_ms=86400000 -D nbuckets=30
measure "all-repo metrics 24h" "$HOT" "/api/v1/metrics?window=24h" all_metrics.sql -c 1 -j 1 \
  -D window_s=86400 -D bucket_ms=3600000 -D nbuckets=24
measure "repo list with metrics (7d)" "$HOT" "/api/v1/repos" repo_list.sql
measure "workflow metrics 24h" "$HOT" "/api/v1/metrics?repo=org1/repo1&workflow=101&window=24h" \
  workflow_metrics.sql -D window_s=86400
measure "workflow metrics 30d" "$HOT" "/api/v1/metrics?repo=org1/repo1&workflow=101&window=30d" \
  workflow_metrics.sql -D window_s=2592000
measure "run list page (50)" "$HOT" "/api/v1/repos/org1/repo1/runs" run_list.sql
measure "run detail" "$HOT" "/api/v1/runs/$RUN_ID" run_detail.sql -D run_id="$RUN_ID"
measure "log search (rare term)" "p50<50,p99<100" "/api/v1/logs/search?q=segfault%20in%20libfoo" log_search.sql
# A word in every tail: the first range of job ids fills the page.
measure "log search (common term)" "p50<50,p99<100" "/api/v1/logs/search?q=restored" log_search_common.sql

echo
if [[ -n ${BENCH_API_ONLY:-} && ! "log search baseline" =~ $BENCH_API_ONLY ]]; then
  echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) after measuring"
  exit 0
fi
# grep -F over the same log text in a file (page cache warm: the median of 5 runs).
$PSQL "$URL" -c "\\copy (SELECT content FROM logs) TO '$DIR/logs.txt'"
# -c: with output to /dev/null GNU grep stops at the first match; counting reads everything.
grep -F -i -c "segfault in libfoo" "$DIR/logs.txt" >"$DIR/grep.out" || true
times=()
for _ in 1 2 3 4 5; do
  t0=$(date +%s%N); grep -F -i -c "segfault in libfoo" "$DIR/logs.txt" >"$DIR/grep.out" || true
  times+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) after measuring"
echo "log search baseline: grep -F -i -c over $(du -h "$DIR/logs.txt" | cut -f1) of log text in a file: ${med} ms (median of 5; $(cat "$DIR/grep.out") matching lines)"
rm -f "$DIR/logs.txt"
