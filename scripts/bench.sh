#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its workload sizes, its numbers and the ratio to a
# baseline measured in the same run. Not part of the test suite (no pass/fail on timings).
#   BENCH_ONLY=ingest,agent make bench    runs a subset
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for name in ingest agent summary webhook api alert retention tests collector web; do
  script=scripts/bench-$name.sh
  if [ -n "${BENCH_ONLY:-}" ] && [[ ",$BENCH_ONLY," != *",$name,"* ]]; then continue; fi
  if [ ! -x "$script" ]; then echo "bench: $script not present, skipped"; continue; fi
  printf '\n=== benchmark: %s ===\n' "$name"
  "$script" || { echo "bench: $name failed"; status=1; }
done
exit $status
