#!/usr/bin/env bash
# Webhook benchmark (called by `make bench`): signed workflow_job webhooks per second stored by
# the collector (signature check, parse, group commit of the deliveries: up to
# CIPULSE_WEBHOOK_BATCH per PostgreSQL transaction), with p50/p99 latency, next to
#   - with --compare OLD_BUILD: another build's collector (a directory holding its cipulsed, say
#     today's main: `git worktree add /tmp/old main && make -C /tmp/old build/cipulsed`), the same
#     load in the same invocation, each on a fresh database of the same cluster; without it, the
#     same build with CIPULSE_WEBHOOK_BATCH=1 (one transaction per delivery, as before group
#     commit);
#   - PostgreSQL's own rate for the same rows (per delivery: the delivery, its run every fourth,
#     the job, its 12 steps) written as batched INSERTs by a plain client (pgbench,
#     BENCH_PG_BATCH deliveries per transaction, BENCH_PG_CLIENTS connections);
#   - the same POST requests sent to /healthz, which the HTTP server reads in full and answers at
#     once (405: /healthz is GET-only): the HTTP server's own ceiling on this machine.
#   BENCH_SECONDS=10 BENCH_CONNECTIONS=16 scripts/bench-webhook.sh [--compare OLD_BUILD]
# Each collector is first warmed up (BENCH_WARMUP_SECONDS=3 of the same load, not counted) and
# the database analyzed, so that both builds are measured on a database in use. BENCH_ROUNDS=3
# measures old, new, old, new, ... and judges the median ratio (a shared machine's load moves).
# BENCH_WEBHOOK_COMPARE=OLD_BUILD is --compare for `make bench` (the x5 target is against the
# build before group commit, 003fa75; batch=1 of this build already writes a delivery's rows in
# few statements). BENCH_PG_FSYNC=off measures without fsync;
# BENCH_WEBHOOK_ENV="CIPULSE_WEBHOOK_BATCH=1" passes settings to the new build's collector.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
OLD=${BENCH_WEBHOOK_COMPARE:-}
while [ $# -gt 0 ]; do
  case $1 in
    --compare) OLD=${2:?--compare needs a build directory}; shift 2 ;;
    *) echo "usage: $0 [--compare OLD_BUILD]" >&2; exit 2 ;;
  esac
done
BUILD=${BUILD:-build}
SECS=${BENCH_SECONDS:-10}
WARM=${BENCH_WARMUP_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-1}
CONNS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
FSYNC=${BENCH_PG_FSYNC:-on}
PG_BATCH=${BENCH_PG_BATCH:-64}
PG_CLIENTS=${BENCH_PG_CLIENTS:-4}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"
[ -z "$OLD" ] || [ -x "$OLD/cipulsed" ] || { echo "bench-webhook: no $OLD/cipulsed" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench-webhook: wrk is not installed (make deps)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "bench-webhook: pgbench is not installed (make deps)" >&2; exit 1; }

bench_setup
tmp=$BENCH_DIR
bench_pg_start "$FSYNC"
secret="bench-secret-$$"
fixture=tests/fixtures/github/webhooks/workflow_job.completed.failure.with-organization.json
read -r repo repo_id < <(/usr/bin/python3 -c "import json; r=json.load(open('$fixture'))['repository']; print(r['full_name'], r['id'])")
/usr/bin/python3 bench/webhook/gen.py "$fixture" "$secret" 2000 "$tmp/data.lua" >/dev/null

sql() { # DB SQL
  psql -X -q -At -v ON_ERROR_STOP=1 "$BENCH_PG/$1" -c "$2"
}

collector_stop() {
  kill "$BENCH_COLLECTOR_PID" 2>/dev/null || true
  wait "$BENCH_COLLECTOR_PID" 2>/dev/null || true
  BENCH_COLLECTOR_PID=
}

field() { # RESULT-LINE NAME
  sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"
}

wrk_run() { # NAME PATH
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s bench/webhook/webhook.lua "http://127.0.0.1:$BENCH_HTTP_PORT" \
    -- "$2" "$tmp/data.lua" >"$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out"; return 1; }
  grep '^RESULT' "$tmp/$1.out"
}

# CPU seconds used so far by the collector and by the cluster's server processes (the
# postmaster and its children), as "collector postgres".
cpu_now() {
  /usr/bin/python3 - "$BENCH_COLLECTOR_PID" "$(head -1 "$BENCH_DIR/pg/data/postmaster.pid")" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    try:
        f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / tick
    except OSError:
        return 0.0
def ppid(pid):
    try:
        return open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[1]
    except OSError:
        return None
pm = sys.argv[2]
pg = cpu(pm) + sum(cpu(p) for p in os.listdir("/proc") if p.isdigit() and ppid(p) == pm)
print("%.2f %.2f" % (cpu(sys.argv[1]), pg))
PY
}

# BENCH_WEBHOOK_PERF=DIR: a call-graph profile of each measured run (not the warm-up) into
# DIR/NAME.collector.data and DIR/NAME.postgres.data (the cluster's server processes), read with
# `perf report -i FILE --no-children --sort symbol`.
PERF_DIR=${BENCH_WEBHOOK_PERF:-}
perf_pids=
perf_start() { # NAME
  [ -n "$PERF_DIR" ] || return 0
  local pm backends
  mkdir -p "$PERF_DIR"
  pm=$(head -1 "$BENCH_DIR/pg/data/postmaster.pid")
  backends=$(pgrep -d, -P "$pm")
  perf record -q -g -o "$PERF_DIR/$1.collector.data" -p "$BENCH_COLLECTOR_PID" >/dev/null 2>&1 &
  perf_pids=$!
  perf record -q -g -o "$PERF_DIR/$1.postgres.data" -p "$pm,$backends" >/dev/null 2>&1 &
  perf_pids="$perf_pids $!"
}
perf_stop() {
  [ -n "$perf_pids" ] || return 0
  # shellcheck disable=SC2086 # two process ids
  kill -INT $perf_pids 2>/dev/null || true
  # shellcheck disable=SC2086
  wait $perf_pids 2>/dev/null || true
  perf_pids=
}

# One build's collector on a fresh database: prints "rps p50 p99 non2xx stored mean_batch
# collector_cpu_ms_per_delivery postgres_cpu_ms_per_delivery".
measure() { # NAME CIPULSED [NAME=VALUE...]
  local name=$1 bin=$2 line stored batch c0 c1
  shift 2
  sql postgres "CREATE DATABASE $name"
  # More connections than one address may open by default (32) are the point here.
  bench_collector_start "$bin" CIPULSE_DATABASE_URL="$BENCH_PG/$name" CIPULSE_HTTP_MAX_CONNS_PER_ADDR=0 "$@"
  /usr/bin/python3 - "$BENCH_PG/$name" "$repo" "$secret" <<'PY'
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute("INSERT INTO repositories (id, full_name, webhook_secret) VALUES "
                   "(-nextval('repositories_provisional_id_seq'), %s, %s)", (sys.argv[2], sys.argv[3]))
PY
  # A database in use, not a new one: a short warm-up writes rows, and ANALYZE gives the planner
  # their statistics. Without it, PostgreSQL's foreign-key checks and the triggers' queries keep
  # the plans they made for empty tables (sequential scans, slower as the tables grow) until
  # autovacuum analyzes them, a minute or more into the run.
  SECS=$WARM wrk_run "${name}_warm" /webhook/github >/dev/null
  sql "$name" "ANALYZE"
  warm=$(sql "$name" "SELECT count(*) FROM webhook_deliveries")
  c0=$(cpu_now)
  perf_start "$name"
  line=$(wrk_run "$name" /webhook/github)
  perf_stop
  c1=$(cpu_now)
  batch=$(curl -fsS "http://127.0.0.1:$BENCH_HTTP_PORT/metrics" | /usr/bin/python3 -c '
import re, sys
t = sys.stdin.read()
s = re.search(r"^cipulse_group_commit_size_sum\{group=\"webhook\"\} (\S+)", t, re.M)
n = re.search(r"^cipulse_group_commit_size_count\{group=\"webhook\"\} (\S+)", t, re.M)
print("%.1f" % (float(s.group(1)) / float(n.group(1))) if s and n and float(n.group(1)) else "-")')
  collector_stop
  stored=$(sql "$name" "SELECT count(*) - $warm FROM webhook_deliveries")
  echo "$(field "$line" rps) $(field "$line" p50_ms) $(field "$line" p99_ms) $(field "$line" non2xx) $stored $batch" \
    "$(/usr/bin/python3 -c "
a, b, n = '$c0'.split(), '$c1'.split(), max(1, int('$(field "$line" requests)' or 1))
print('%.3f %.3f' % ((float(b[0]) - float(a[0])) * 1000 / n, (float(b[1]) - float(a[1])) * 1000 / n))")"
}

report() { # LABEL "rps p50 p99 non2xx stored batch"
  local r
  read -r -a r <<<"$2"
  printf '%-7s webhooks/s %8.0f  p50 %7.2f ms  p99 %7.2f ms  non-2xx %s  deliveries stored %s  mean deliveries per transaction %s  CPU ms per delivery: collector %s, PostgreSQL %s\n' \
    "$1" "${r[0]}" "${r[1]}" "${r[2]}" "${r[3]}" "${r[4]}" "${r[5]}" "${r[6]}" "${r[7]}"
}

echo "workload: $THREADS wrk threads, $CONNS connections, ${SECS}s per run; 2000 distinct signed workflow_job bodies" \
  "(12 steps, $(wc -c <"$fixture") bytes of fixture), a new delivery id per request; PostgreSQL fsync $FSYNC"
echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Rounds alternate the two builds, so that a change in the machine's load during the run (other
# work on a shared machine) weighs on both; the verdict is on the median round.
base=${OLD:+old}
base=${base:-batch=1}
ratios=
news=
for round in $(seq "$ROUNDS"); do
  sfx=${round#1}
  if [ -n "$OLD" ]; then
    old=$(measure "wh_old$sfx" "$OLD/cipulsed")
    report old "$old"
  else
    old=$(measure "wh_old$sfx" "$BUILD/cipulsed" CIPULSE_WEBHOOK_BATCH=1)
    report "batch=1" "$old"
  fi
  # shellcheck disable=SC2086 # BENCH_WEBHOOK_ENV holds NAME=VALUE words
  new=$(measure "wh_new$sfx" "$BUILD/cipulsed" ${BENCH_WEBHOOK_ENV:-})
  report new "$new"
  [ "$round" -eq 1 ] && new1=$new
  news="$news ${new%% *}"
  ratios="$ratios $(/usr/bin/python3 -c "o, n = '$old'.split(), '$new'.split(); print('%.2f' % (float(n[0]) / float(o[0])))")"
  echo "round $round: new/$base x$(echo "$ratios" | awk '{print $NF}'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
new=$new1
verdict1=$(/usr/bin/python3 -c "
import statistics
r = [float(x) for x in '$ratios'.split()]
x = statistics.median(r)
verdict = ('met' if x >= 5 and '$FSYNC' == 'on' else 'MISSED') if '$OLD' else 'not measured here (--compare the build before group commit)'
print('new/%s webhooks/s: median x%.2f of %d rounds (%s), target >= 5 with fsync on: %s' % ('${OLD:+old}' or 'batch=1', x, len(r), ' '.join('x%.2f' % v for v in r), verdict))")
echo "$verdict1"
# PostgreSQL's own rate for the same rows, written as batched INSERTs by a plain client: the
# rows the collector stored are the template, new keys make them new rows.
read -r tjob trun < <(sql wh_new "SELECT job_id, run_id FROM jobs j WHERE repo_id = $repo_id
  AND (SELECT count(*) FROM steps s WHERE s.repo_id = j.repo_id AND s.job_id = j.job_id) = 12 LIMIT 1" | tr '|' ' ')
sql wh_new "CREATE SEQUENCE bench_pg_seq"
cat >"$tmp/pg.sql" <<EOF
SELECT 900000000000 + nextval('bench_pg_seq') * $PG_BATCH AS base \gset
BEGIN;
INSERT INTO webhook_deliveries (delivery_id, event, action, repo_id)
  SELECT 'pg-' || (:base::bigint + g), 'workflow_job', 'completed', $repo_id FROM generate_series(0, $PG_BATCH - 1) g;
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status,
    conclusion, head_branch, head_sha, actor, html_url, created_at, run_started_at, updated_at,
    completed_at, sources, head_message)
  SELECT repo_id, (:base::bigint + g) / 4, run_attempt, workflow_id, run_number, name, event, status,
    conclusion, head_branch, head_sha, actor, html_url, created_at, run_started_at, updated_at,
    completed_at, sources, head_message
  FROM workflow_runs t, generate_series(0, $PG_BATCH - 1, 4) g
  WHERE t.repo_id = $repo_id AND t.run_id = $trun AND t.run_attempt = 1;
INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion, created_at,
    started_at, completed_at, runner_name, runner_os, runner_arch, labels, html_url, sources)
  SELECT repo_id, :base::bigint + g, (:base::bigint + g) / 4, run_attempt, name, status, conclusion, created_at,
    started_at, completed_at, runner_name, runner_os, runner_arch, labels, html_url, sources
  FROM jobs t, generate_series(0, $PG_BATCH - 1) g WHERE t.repo_id = $repo_id AND t.job_id = $tjob;
INSERT INTO steps (repo_id, job_id, number, name, status, conclusion, started_at, completed_at)
  SELECT repo_id, :base::bigint + g, number, name, status, conclusion, started_at, completed_at
  FROM steps t, generate_series(0, $PG_BATCH - 1) g WHERE t.repo_id = $repo_id AND t.job_id = $tjob;
COMMIT;
EOF
rows=$(sql wh_new "SELECT 1 + (SELECT count(*) FROM steps WHERE repo_id = $repo_id AND job_id = $tjob)")
sql wh_new "ANALYZE"
pgbench -n -M prepared -c "$PG_CLIENTS" -j "$THREADS" -T "$SECS" -f "$tmp/pg.sql" "$BENCH_PG/wh_new" >"$tmp/pgbench.out" 2>&1 \
  || { cat "$tmp/pgbench.out"; exit 1; }
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/pgbench.out")
pglat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$tmp/pgbench.out")
verdict2=$(/usr/bin/python3 -c "
tps, batch, rows, n = float('$tps'), $PG_BATCH, $rows, '$new'.split()
pg = tps * batch
print('postgres batched INSERTs: %.0f deliveries/s (%d per transaction, each the delivery, its job and %d steps, and a run per 4; %d clients, %s ms per transaction)' % (pg, batch, rows - 1, $PG_CLIENTS, '$pglat'))
import statistics
x = statistics.median(float(v) for v in '$news'.split()) / pg
print('new/postgres: %.2f (the median round), target >= 0.5: %s' % (x, 'met' if x >= 0.5 else 'MISSED'))")
echo "$verdict2"

bench_collector_start "$BUILD/cipulsed" CIPULSE_DATABASE_URL="$BENCH_PG/wh_new"
b=$(field "$(wrk_run baseline_post_healthz /healthz)" rps)
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$BENCH_HTTP_PORT/healthz" >"$tmp/get.out" 2>&1
echo "HTTP ceiling: POST /healthz $b req/s, GET /healthz $(awk '/Requests\/sec/ {print $2}' "$tmp/get.out") req/s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The two targets of issue 14 item 1, each next to its result from this run.
echo "targets of issue 14 item 1 ($CONNS connections, fsync $FSYNC, baseline ${OLD:-this build with CIPULSE_WEBHOOK_BATCH=1}):"
echo "  $verdict1"
echo "  $(tail -1 <<<"$verdict2")"
