#!/usr/bin/env bash
# Runs every cmocka unit test binary of a build directory; fails if any fails.
#   scripts/run-unit.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
pass=0; fail=0; failed=()
shopt -s nullglob
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$(basename "$t")"); fi
done
if [ $((pass + fail)) -eq 0 ]; then echo "run-unit: no unit test binaries in $build/tests" >&2; exit 1; fi
echo "unit test binaries: $pass passed, $fail failed${failed:+ (${failed[*]})}"
[ "$fail" -eq 0 ]
