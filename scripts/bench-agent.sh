#!/usr/bin/env bash
# Agent benchmark (called by `make bench`; not part of the test suite): CPU time, wall time and
# peak RSS of one whole report (1 job, 30 steps, 30 exec tails of 100 lines, ~212 KB) sent by
# cipulse-agent and, in the same run, alternating, by a Node.js @grpc/grpc-js client sending
# the same report; medians and ratios. Both send to the real collector (build/cipulsed) with a
# throwaway PostgreSQL (scripts/pg.sh), which must store every report. Prints each target of
# issue 14 item 3 next to its result, the agent's and Node's numbers and a --compare build's
# result, and the load average during the run. Also `cipulse-agent exec -- true` (the mode that
# wraps each step), for the agent and each --compare build.
# Also, in the same loop, the same agent reading a generated JUnit file of 20,000 tests
# (CIPULSE_TEST_RESULTS): its CPU and peak RSS as ratios to the run without it, with the sizes
# (--junit-tests N changes the count, 0 leaves it out).
# Installs the Node client's packages with npm on first use (bench/agent/node_modules).
#   BENCH_RUNS=15 scripts/bench-agent.sh
#   scripts/bench-agent.sh --compare OLD/cipulse-agent          (another build in the same run)
#   scripts/bench-agent.sh --collector HOST:PORT --token T     (a collector already running)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
make -s "$BUILD/cipulse-agent" "$BUILD/cipulsed"
command -v node >/dev/null || { echo "bench-agent: node is not installed" >&2; exit 1; }
if [ ! -d bench/agent/node_modules/@grpc/grpc-js ]; then
  (cd bench/agent && npm ci --silent --no-audit --no-fund >/dev/null)
fi
mkdir -p "$BUILD/bench"
${CC:-cc} -O2 -Wall -Wextra -Werror -o "$BUILD/bench/measure" bench/agent/measure.c
echo "node $(node --version), @grpc/grpc-js $(node -p "require('./bench/agent/node_modules/@grpc/grpc-js/package.json').version")"
export CIPULSE_BUILD=$(pwd)/$BUILD

if [[ " $* " == *" --collector "* ]]; then
  exec /usr/bin/python3 bench/agent/bench.py --runs "${BENCH_RUNS:-15}" --measure "$BUILD/bench/measure" "$@"
fi

bench_setup
# fsync off: the benchmark is about the clients; the collector's storage is the same for both.
bench_pg_start off
export CIPULSE_DATABASE_URL=$BENCH_PG/postgres CIPULSE_LOG_LEVEL=warn
"$BUILD/cipulsed" migrate >/dev/null
token=$("$BUILD/cipulsed" token create --kind ingest --repo o/r)
bench_collector_start "$BUILD/cipulsed"
/usr/bin/python3 bench/agent/bench.py --runs "${BENCH_RUNS:-15}" --measure "$BUILD/bench/measure" \
  --collector "127.0.0.1:$BENCH_GRPC_PORT" --token "$token" \
  --metrics "http://127.0.0.1:$BENCH_HTTP_PORT/metrics" \
  --database-url "$CIPULSE_DATABASE_URL" "$@"
