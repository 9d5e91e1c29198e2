#!/usr/bin/env bash
# Agent benchmark (called by `make bench`): CPU, wall time and peak RSS of one report
# (30 steps, 100-line tails) from cipulse-agent, next to a Node.js @grpc/grpc-js client
# sending the same report in the same run. Installs the Node client's packages with npm on
# first use (bench/agent/node_modules, not committed).
#   BENCH_RUNS=10 scripts/bench-agent.sh [--collector HOST:PORT --token T]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -x "$BUILD/cipulse-agent" ] || make -s "$BUILD/cipulse-agent"
command -v node >/dev/null || { echo "bench-agent: node is not installed" >&2; exit 1; }
if [ ! -d bench/agent/node_modules/@grpc/grpc-js ]; then
  (cd bench/agent && npm install --silent --no-audit --no-fund >/dev/null)
fi
echo "node $(node --version), @grpc/grpc-js $(node -p "require('./bench/agent/node_modules/@grpc/grpc-js/package.json').version")"
CIPULSE_BUILD=$(pwd)/$BUILD exec /usr/bin/python3 bench/agent/bench.py --runs "${BENCH_RUNS:-10}" "$@"
