#!/usr/bin/env bash
# Summary benchmark (called by `make bench`; not part of the test suite): what the job summary
# ($GITHUB_STEP_SUMMARY, the collector's Summary call) adds to a job. The same report sent by
# cipulse-agent with the summary on and off, alternating, in the same run, to the real collector
# (build/cipulsed, CIPULSE_PUBLIC_URL set) with a throwaway PostgreSQL holding BENCH_HISTORY
# earlier runs of the job; medians of the agent's wall time and their difference.
#   BENCH_RUNS=15 BENCH_HISTORY=200 scripts/bench-summary.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
make -s "$BUILD/cipulse-agent" "$BUILD/cipulsed"
export CIPULSE_BUILD=$(pwd)/$BUILD

bench_setup
bench_pg_start off
export CIPULSE_DATABASE_URL=$BENCH_PG/postgres CIPULSE_LOG_LEVEL=warn
"$BUILD/cipulsed" migrate >/dev/null
token=$("$BUILD/cipulsed" token create --kind ingest --repo o/r)
bench_collector_start "$BUILD/cipulsed" CIPULSE_PUBLIC_URL=https://cipulse.example.com
/usr/bin/python3 bench/summary/bench.py --runs "${BENCH_RUNS:-15}" \
  --history "${BENCH_HISTORY:-200}" --collector "127.0.0.1:$BENCH_GRPC_PORT" --token "$token" \
  --database-url "$CIPULSE_DATABASE_URL"
