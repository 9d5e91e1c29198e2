#!/usr/bin/env bash
# Test-results benchmark (called by `make bench`): agent reports carrying JUnit test cases
# (REPORTS reports, each JOBS jobs x TESTS test cases in batches of 1,000, one in FAIL_EVERY
# failed with a message) are streamed to the collector over gRPC, which validates them, writes
# each batch with one statement and fingerprints the failed jobs, all in the report's
# transaction; then the same test rows (tests, test_results) are loaded with COPY FROM STDIN
# into a second database of the same cluster and schema — the ceiling. Prints the sizes,
# test-case rows/s of both and the ratio. Driver: bench/tests/bench_tests.py.
#   BENCH_REPORTS=20 BENCH_TESTS=20000 scripts/bench-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
export BENCH_REPORTS=${BENCH_REPORTS:-10} BENCH_JOBS=${BENCH_JOBS:-2}
export BENCH_TESTS=${BENCH_TESTS:-20000} BENCH_FAIL_EVERY=${BENCH_FAIL_EVERY:-500}
export BENCH_AGENTS=${BENCH_AGENTS:-2}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"

bench_setup
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
bench_collector_start "$BUILD/cipulsed" CIPULSE_MAX_REPORT_BYTES=$((256 << 20))
token=$("$BUILD/cipulsed" token create --kind ingest --repo bench/tests)
PYTHONPATH=tests/integration /usr/bin/python3 bench/tests/bench_tests.py \
  "127.0.0.1:$BENCH_GRPC_PORT" "$token" "$base/ingest" "$base/ceiling" \
  || { tail -20 "$BENCH_DIR/cipulsed.log"; exit 1; }
