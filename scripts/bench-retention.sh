#!/usr/bin/env bash
# Retention benchmark (called by `make bench`): N run attempts 40 days old (each with a job, a
# step and a log tail) are loaded into the database; then agents stream reports to the collector
# twice, over gRPC (bench/ingest/loadgen.c), and the ingest p50/p99 (call start to ack) is
# printed for each: once with run retention off, once while CIPULSE_RUN_RETENTION_DAYS=30
# deletes those N attempts batch by batch (collector/store/retention.c). Also prints how long
# the sweep took. docs/scaling.md explains why batched deletes and not time partitions.
#   BENCH_RETENTION_RUNS=50000 BENCH_REPORTS=80 scripts/bench-retention.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
N=${BENCH_RETENTION_RUNS:-1000000}
AGENTS=${BENCH_AGENTS:-8}
REPORTS=${BENCH_REPORTS:-80}
export BENCH_JOBS=${BENCH_JOBS:-5} BENCH_STEPS=${BENCH_STEPS:-10} BENCH_LOG_BYTES=${BENCH_LOG_BYTES:-2048}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"
[ -f "$BUILD/libcipulse-common.a" ] || make -s "$BUILD/libcipulse-common.a"

bench_setup
tmp=$BENCH_DIR
cc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Icommon -I"$BUILD/gen" \
  $(pkg-config --cflags libpq) -o "$tmp/loadgen" bench/ingest/loadgen.c "$BUILD/libcipulse-common.a" \
  -lgrpc -lgpr -lprotobuf-c -lpq -pthread

bench_pg_start "${BENCH_PG_FSYNC:-on}"
/usr/bin/python3 - "$BENCH_PG/postgres" <<'PY'
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute("CREATE DATABASE retention")
PY
export CIPULSE_DATABASE_URL=$BENCH_PG/retention
"$BUILD/cipulsed" migrate >/dev/null 2>&1
token=$("$BUILD/cipulsed" token create --kind ingest --repo bench/ingest)

# The old history, set-wise with triggers off (superuser: session_replication_role), then the
# derived columns and rollups rebuilt as after any bulk load.
t0=$(date +%s.%N)
/usr/bin/python3 - "$CIPULSE_DATABASE_URL" "$N" <<'PY'
import sys, psycopg2
url, n = sys.argv[1], int(sys.argv[2])
c = psycopg2.connect(url); c.autocommit = True
cur = c.cursor()
cur.execute("INSERT INTO repositories (id, full_name) VALUES (900, 'bench/old')")
cur.execute("SET session_replication_role = replica")
step = 100000
for lo in range(0, n, step):
    hi = min(n, lo + step)
    cur.execute(
        "INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status, conclusion, run_started_at,"
        " updated_at, completed_at) SELECT 900, i, 1, 'completed', 'success',"
        " now() - interval '40 days' - interval '10 min', now() - interval '40 days',"
        " now() - interval '40 days' + make_interval(secs => i / 1000.0)"
        " FROM generate_series(%s, %s) i", (lo, hi - 1))
    cur.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, status) SELECT 900, i, i, 1,"
                " 'completed' FROM generate_series(%s, %s) i", (lo, hi - 1))
    cur.execute("INSERT INTO steps (repo_id, job_id, number, status) SELECT 900, i, 1, 'completed'"
                " FROM generate_series(%s, %s) i", (lo, hi - 1))
    cur.execute("INSERT INTO logs (repo_id, job_id, step_number, content, updated_at) SELECT 900, i,"
                " 1, 'old log line ' || i, now() - interval '40 days' FROM generate_series(%s, %s) i",
                (lo, hi - 1))
cur.execute("SET session_replication_role = origin")
cur.execute("SELECT cipulse_api_rebuild()")
cur.execute("VACUUM ANALYZE")
PY
t1=$(date +%s.%N)
echo "workload: $N old run attempts (+1 job, 1 step, 1 log tail each) loaded in" \
  "$(printf '%.0f' "$(echo "$t1 - $t0" | bc)") s; then $REPORTS reports from $AGENTS agents," \
  "$BENCH_JOBS jobs x $BENCH_STEPS steps each; PostgreSQL fsync ${BENCH_PG_FSYNC:-on}; $(nproc) cores"

stop_collector() {
  kill "$BENCH_COLLECTOR_PID" && wait "$BENCH_COLLECTOR_PID" || true
  BENCH_COLLECTOR_PID=
}
old_left() {
  /usr/bin/python3 -c 'import sys, psycopg2; c = psycopg2.connect(sys.argv[1]); cur = c.cursor();
cur.execute("SELECT count(*) FROM workflow_runs WHERE repo_id = 900"); print(cur.fetchone()[0])' \
    "$CIPULSE_DATABASE_URL"
}

# Without a sweep (run retention off, log retention past the old rows). A first, smaller load warms the
# collector and the cache and is not counted.
bench_collector_start "$BUILD/cipulsed" CIPULSE_RUN_RETENTION_DAYS=0 CIPULSE_LOG_RETENTION_DAYS=3650
"$tmp/loadgen" ingest "127.0.0.1:$BENCH_GRPC_PORT" "$token" "$AGENTS" "$(( (REPORTS + 3) / 4 ))" 30000000 >/dev/null \
  || { tail -20 "$tmp/cipulsed.log"; exit 1; }
quiet=$("$tmp/loadgen" ingest "127.0.0.1:$BENCH_GRPC_PORT" "$token" "$AGENTS" "$REPORTS" 10000000) \
  || { echo "$quiet"; tail -20 "$tmp/cipulsed.log"; exit 1; }
echo "${quiet/RESULT/no sweep}"
stop_collector
[ "$(old_left)" = "$N" ] || { echo "bench: old runs were deleted without retention"; exit 1; }

# During a sweep: the collector starts sweeping at start-up (it is the only one: the leader).
s0=$(date +%s.%N)
bench_collector_start "$BUILD/cipulsed" CIPULSE_RUN_RETENTION_DAYS=30
# The sweep deletes the old log tails first, then the run attempts: the load starts once run
# attempts are being deleted, so that it measures ingest beside the run sweep's DELETEs.
waited=0
while [ "$(old_left)" = "$N" ] && [ $waited -lt 3600 ]; do sleep 1; waited=$((waited + 1)); done
echo "the run sweep began deleting after ${waited} s (log tails first); load starts now"
busy=$("$tmp/loadgen" ingest "127.0.0.1:$BENCH_GRPC_PORT" "$token" "$AGENTS" "$REPORTS" 20000000) \
  || { echo "$busy"; tail -20 "$tmp/cipulsed.log"; exit 1; }
left=$(old_left)
echo "${busy/RESULT/during sweep}"
if [ "$left" = 0 ]; then
  echo "note: the sweep ended before the load did; raise BENCH_RETENTION_RUNS for a longer overlap"
else
  echo "old run attempts still to delete when the load ended: $left of $N"
fi
while [ "$(old_left)" != 0 ]; do sleep 1; done
s1=$(date +%s.%N)
stop_collector
/usr/bin/python3 - "$quiet" "$busy" "$N" "$(echo "$s1 - $s0" | bc)" <<'PY'
import sys
f = lambda line, k: float(dict(kv.split("=") for kv in line.split()[1:])[k])
q, b, n, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
print("sweep: %d run attempts (with their jobs, steps, log tails) deleted in %.1f s (%.0f/s)"
      % (n, secs, n / secs))
print("ingest p50 %.0f ms, p99 %.0f ms without a sweep; p50 %.0f ms, p99 %.0f ms during it"
      " (p99 ratio %.2f)" % (f(q, "p50_ms"), f(q, "p99_ms"), f(b, "p50_ms"), f(b, "p99_ms"),
                            f(b, "p99_ms") / max(f(q, "p99_ms"), 1e-9)))
PY
