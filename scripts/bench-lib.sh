# shellcheck shell=bash
# What the benchmarks share; sourced by scripts/bench-*.sh from the repository root. A work
# directory, free ports, a throwaway PostgreSQL cluster (scripts/pg.sh) and a collector, all
# torn down when the script exits, however it exits.
#
#   bench_setup [DIR]       BENCH_DIR: a new directory under /tmp, or DIR (created if needed and
#                           kept at exit, e.g. to reuse a loaded cluster); BENCH_PG_PORT,
#                           BENCH_HTTP_PORT, BENCH_GRPC_PORT: free ports. Installs the EXIT trap.
#   bench_pg_start [FSYNC]  starts the cluster in $BENCH_DIR/pg (initdb the first time), fsync
#                           on unless FSYNC is "off"; sets BENCH_PG, the base URL without database
#   bench_pg_stop           stops it (bench_pg_start starts it again, e.g. after ALTER SYSTEM)
#   bench_collector_start CIPULSED [NAME=VALUE...]
#                           runs `CIPULSED serve` on the bench ports, poller off, log level warn,
#                           then the NAME=VALUE settings (CIPULSE_DATABASE_URL at least, unless
#                           exported); log in $BENCH_DIR/cipulsed.log. Returns once /readyz
#                           answers 200; fails, showing the log, if the collector exits or is not
#                           ready within 10 s
#   bench_load_history CIPULSED MEM LOAD_CMD [ARGS...]
#                           the synthetic-history benchmarks' cluster (fsync off) and database:
#                           sets BENCH_URL ($BENCH_PG/bench). The first time in $BENCH_DIR (no
#                           "loaded" mark): memory for a bulk load and index builds
#                           (shared_buffers and maintenance_work_mem MEM), CREATE DATABASE bench,
#                           CIPULSED migrate, then LOAD_CMD ARGS (timed), then the mark;
#                           BENCH_LOADED=1. A kept, loaded directory: only the cluster start,
#                           BENCH_LOADED=0
#   bench_free_port         prints a free TCP port on 127.0.0.1
#   bench_loadgen_build BUILD
#                           compiles the ingest load generator (bench/ingest/loadgen.c) into
#                           $BENCH_DIR/loadgen against BUILD's generated code and common library

bench_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_loadgen_build() {
  local build=$1
  [ -f "$build/libcipulse-common.a" ] || make -s "$build/libcipulse-common.a"
  # shellcheck disable=SC2046 # pkg-config prints several flags
  cc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Icommon -I"$build/gen" \
    $(pkg-config --cflags libpq) -o "$BENCH_DIR/loadgen" bench/ingest/loadgen.c "$build/libcipulse-common.a" \
    -lgrpc -lgpr -lprotobuf-c -lpq -pthread
}

# Best effort, every step: the callers run under `set -e`, and a failed step must not skip the
# ones after it.
bench_cleanup() {
  if [ -n "${BENCH_COLLECTOR_PID:-}" ] && kill "$BENCH_COLLECTOR_PID" 2>/dev/null; then
    wait "$BENCH_COLLECTOR_PID" 2>/dev/null || true
  fi
  scripts/pg.sh stop "$BENCH_DIR/pg" >/dev/null 2>&1 || true
  [ -n "$BENCH_KEEP_DIR" ] || rm -rf "$BENCH_DIR" || true
  return 0
}

# The BENCH_* variables are for the scripts that source this file.
# shellcheck disable=SC2034,SC2120
bench_setup() {
  BENCH_KEEP_DIR=${1:-}
  if [ -n "$BENCH_KEEP_DIR" ]; then
    BENCH_DIR=$1
    mkdir -p "$BENCH_DIR"
  else
    BENCH_DIR=$(mktemp -d /tmp/cipulse-bench.XXXXXX)
  fi
  chmod 755 "$BENCH_DIR" # the cluster runs as postgres when we are root
  BENCH_PG_PORT=$(bench_free_port)
  BENCH_HTTP_PORT=$(bench_free_port)
  BENCH_GRPC_PORT=$(bench_free_port)
  BENCH_PG=postgresql://postgres@127.0.0.1:$BENCH_PG_PORT
  BENCH_COLLECTOR_PID=
  trap bench_cleanup EXIT
}

bench_pg_start() {
  PG_FSYNC=${1:-on} scripts/pg.sh start "$BENCH_DIR/pg" "$BENCH_PG_PORT" >/dev/null
}

bench_pg_stop() {
  scripts/pg.sh stop "$BENCH_DIR/pg" >/dev/null
}

# BENCH_URL and BENCH_LOADED are for the scripts that source this file.
# shellcheck disable=SC2034
bench_load_history() {
  local cipulsed=$1 mem=$2 t0
  shift 2
  BENCH_URL=$BENCH_PG/bench
  BENCH_LOADED=0
  bench_pg_start off
  [ ! -f "$BENCH_DIR/loaded" ] || return 0
  # Memory for a bulk load and index builds; a benchmark cluster, not a production setting.
  psql -X -q -v ON_ERROR_STOP=1 "$BENCH_PG/postgres" <<SQL >/dev/null
ALTER SYSTEM SET shared_buffers = '$mem';
ALTER SYSTEM SET work_mem = '32MB';
ALTER SYSTEM SET maintenance_work_mem = '$mem';
ALTER SYSTEM SET max_wal_size = '32GB';
ALTER SYSTEM SET checkpoint_timeout = '1h';
ALTER SYSTEM SET synchronous_commit = off;
ALTER SYSTEM SET jit = off;
CREATE DATABASE bench;
SQL
  bench_pg_stop
  bench_pg_start off
  CIPULSE_DATABASE_URL=$BENCH_URL CIPULSE_LOG_LEVEL=warn "$cipulsed" migrate
  t0=$(date +%s)
  "$@"
  echo "${0##*/}: loaded in $(($(date +%s) - t0)) s"
  touch "$BENCH_DIR/loaded"
  BENCH_LOADED=1
}

bench_collector_start() {
  local cipulsed=$1 log=$BENCH_DIR/cipulsed.log
  shift
  env CIPULSE_HTTP_ADDR="127.0.0.1:$BENCH_HTTP_PORT" CIPULSE_GRPC_ADDR="127.0.0.1:$BENCH_GRPC_PORT" \
    CIPULSE_POLL=0 CIPULSE_LOG_LEVEL=warn "$@" "$cipulsed" serve >"$log" 2>&1 &
  BENCH_COLLECTOR_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$BENCH_HTTP_PORT/readyz" >/dev/null 2>&1 && return 0
    if ! kill -0 "$BENCH_COLLECTOR_PID" 2>/dev/null; then
      echo "bench: the collector exited:" >&2
      cat "$log" >&2
      BENCH_COLLECTOR_PID=
      return 1
    fi
    sleep 0.1
  done
  echo "bench: the collector is not ready after 10 s:" >&2
  cat "$log" >&2
  return 1
}
