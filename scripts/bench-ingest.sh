#!/usr/bin/env bash
# Ingest benchmark (called by `make bench`): AGENTS concurrent agents stream REPORTS reports
# (JOBS jobs x STEPS steps, a LOG_BYTES log tail per step) to the collector over gRPC, which
# writes each in one PostgreSQL transaction; then the same rows are loaded with COPY FROM STDIN
# into a second database of the same cluster and schema — the ceiling. Prints reports/s,
# rows/s and p50/p99 ingest latency (call start to ack, as an agent sees it) for both, and the
# ratio. The load generator is C (gRPC core, libpq): bench/ingest/loadgen.c.
#   BENCH_AGENTS=8 BENCH_REPORTS=80 BENCH_PG_FSYNC=on scripts/bench-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
AGENTS=${BENCH_AGENTS:-8}
REPORTS=${BENCH_REPORTS:-80}
COPY_CONNS=${BENCH_COPY_CONNS:-$(nproc 2>/dev/null || echo 2)}
export BENCH_JOBS=${BENCH_JOBS:-5} BENCH_STEPS=${BENCH_STEPS:-40} BENCH_LOG_BYTES=${BENCH_LOG_BYTES:-8192}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"

bench_setup
tmp=$BENCH_DIR

bench_loadgen_build "$BUILD"

bench_pg_start "${BENCH_PG_FSYNC:-on}"
base=$BENCH_PG
/usr/bin/python3 - "$base/postgres" <<'PY'
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
for db in ("ingest", "ceiling"):
    c.cursor().execute("CREATE DATABASE " + db)
PY
CIPULSE_DATABASE_URL=$base/ceiling "$BUILD/cipulsed" migrate >/dev/null 2>&1
export CIPULSE_DATABASE_URL=$base/ingest
bench_collector_start "$BUILD/cipulsed"
grpcport=$BENCH_GRPC_PORT
token=$("$BUILD/cipulsed" token create --kind ingest --repo bench/ingest)

echo "workload: $REPORTS reports from $AGENTS concurrent agents; each $BENCH_JOBS jobs x $BENCH_STEPS steps," \
  "a $BENCH_LOG_BYTES-byte log tail per step ($(( 2 + BENCH_JOBS + 2 * BENCH_JOBS * BENCH_STEPS )) rows);" \
  "PostgreSQL fsync ${BENCH_PG_FSYNC:-on}; collector grpc_threads=${CIPULSE_GRPC_THREADS:-4}" \
  "db_pool=${CIPULSE_DB_POOL_SIZE:-8}; COPY over $COPY_CONNS connections; $(nproc) cores"
ingest=$("$tmp/loadgen" ingest "127.0.0.1:$grpcport" "$token" "$AGENTS" "$REPORTS" 1000000) \
  || { echo "$ingest"; tail -20 "$tmp/cipulsed.log"; exit 1; }
echo "${ingest/RESULT/ingest}"
copy=$("$tmp/loadgen" copy "$base/ceiling" "$COPY_CONNS" "$REPORTS" 1000000) || { echo "$copy"; exit 1; }
echo "${copy/RESULT/copy}"
/usr/bin/python3 - "$base/ingest" "$base/ceiling" "$ingest" "$copy" <<'PY'
import sys, psycopg2
def counts(url):
    c = psycopg2.connect(url); cur = c.cursor()
    out = []
    for t in ("workflow_runs", "reports", "jobs", "steps", "logs"):
        cur.execute("SELECT count(*) FROM " + t); out.append(cur.fetchone()[0])
    return out
a, b = counts(sys.argv[1]), counts(sys.argv[2])
assert a == b, "ingest stored %r rows, COPY %r" % (a, b)
f = lambda line, k: float(dict(kv.split("=") for kv in line.split()[1:])[k])
ri, rc = f(sys.argv[3], "rows_per_s"), f(sys.argv[4], "rows_per_s")
print("rows stored (runs, reports, jobs, steps, logs): %s in both databases" % a)
print("ingest %.0f rows/s (%.1f reports/s, p99 %.0f ms) vs COPY %.0f rows/s: ratio %.2f" %
      (ri, f(sys.argv[3], "reports_per_s"), f(sys.argv[3], "p99_ms"), rc, ri / rc))
PY
