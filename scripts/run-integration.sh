#!/usr/bin/env bash
# Runs the integration tests (tests/integration, pytest) against the binaries of a build directory.
#
#   scripts/run-integration.sh BUILD_DIR [PYTEST_ARGS...]
#
# When PYTEST_ARGS name test files or ids (tests/integration/test_tenancy.py::test_x, paths from
# the repository root), only those run; otherwise the whole of tests/integration.
# The tests mostly wait (PostgreSQL and collector start-up, gRPC and HTTP round trips: a serial
# run keeps about a tenth of one core busy), so they run in pytest-xdist worker processes. Each
# worker is a pytest session of its own: its own PostgreSQL cluster (conftest.py's session
# fixture, a temp dir on a free port), a fresh database per test, collectors and stand-ins on free
# ports, and its own tmp_path tree. Skips are checked in the controlling process, which sees every
# worker's reports (conftest.py EXPECTED_SKIPS).
#
# Environment:
#   CIPULSE_TEST_WORKERS=N   worker processes (default: 3 per CPU); 0 runs in this one process
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: $0 BUILD_DIR [PYTEST_ARGS...]}" && pwd)
shift
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1

workers=${CIPULSE_TEST_WORKERS:-$((3 * $(nproc 2>/dev/null || echo 2)))}
xdist=()
if [ "$workers" -gt 0 ]; then
  $PY -c 'import xdist' 2>/dev/null \
    || { echo "run-integration: pytest-xdist missing (scripts/deps.sh installs python3-pytest-xdist)" >&2; exit 1; }
  # --dist load hands out tests in small batches as workers free up, so one long module (39
  # tenancy cases, 5 s each) is spread over all workers instead of holding up the end of the run.
  xdist=(-n "$workers" --dist loadgroup)
fi
paths=(tests/integration)
cd "$root"
for a in "$@"; do
  if [ -e "${a%%::*}" ]; then paths=(); fi
done
CIPULSE_BUILD="$build" exec $PY -m pytest -q -rs -p no:cacheprovider "${xdist[@]}" "$@" "${paths[@]}"
