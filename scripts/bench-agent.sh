#!/usr/bin/env bash
# Agent benchmark (called by `make bench`; not part of the test suite): CPU time, wall time and
# peak RSS of one whole report (1 job, 30 steps, 30 exec tails of 100 lines, ~212 KB) sent by
# cipulse-agent and, in the same run, alternating, by a Node.js @grpc/grpc-js client sending
# the same report; medians and ratios. Both send to the real collector (build/cipulsed) with a
# throwaway PostgreSQL (scripts/pg.sh), which must store every report.
# Installs the Node client's packages with npm on first use (bench/agent/node_modules).
#   BENCH_RUNS=15 scripts/bench-agent.sh
#   scripts/bench-agent.sh --compare OLD/cipulse-agent          (another build in the same run)
#   scripts/bench-agent.sh --collector HOST:PORT --token T     (a collector already running)
set -euo pipefail
cd "$(dirname "$0")/.."
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

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d /tmp/cipulse-bench-agent.XXXXXX)
chmod 755 "$tmp"  # the cluster runs as postgres when we are root
pgport=$(port); grpc=$(port); http=$(port)
col_pid=
cleanup() {
  if [ -n "$col_pid" ]; then kill "$col_pid" 2>/dev/null && wait "$col_pid" 2>/dev/null || true; fi
  scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# fsync off: the benchmark is about the clients; the collector's storage is the same for both.
PG_FSYNC=off scripts/pg.sh start "$tmp/pg" "$pgport" >/dev/null
export CIPULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$pgport/postgres"
export CIPULSE_GRPC_ADDR=127.0.0.1:$grpc CIPULSE_HTTP_ADDR=127.0.0.1:$http CIPULSE_POLL=0
export CIPULSE_LOG_LEVEL=warn
"$BUILD/cipulsed" migrate >/dev/null
token=$("$BUILD/cipulsed" token create --kind ingest --repo o/r)
"$BUILD/cipulsed" serve >"$tmp/cipulsed.log" 2>&1 &
col_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break
  kill -0 "$col_pid" 2>/dev/null || { cat "$tmp/cipulsed.log" >&2; exit 1; }
  sleep 0.1
done
/usr/bin/python3 bench/agent/bench.py --runs "${BENCH_RUNS:-15}" --measure "$BUILD/bench/measure" \
  --collector "127.0.0.1:$grpc" --token "$token" --metrics "http://127.0.0.1:$http/metrics" \
  --database-url "$CIPULSE_DATABASE_URL" "$@"
