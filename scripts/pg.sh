#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a directory of its own.
#
#   scripts/pg.sh start DIR PORT   initdb (first time) and start; prints the connection URL
#   scripts/pg.sh stop DIR [MODE]  stop (MODE: fast, the default, or immediate: a crash, for tests)
#   scripts/pg.sh status DIR
#
# As root, the cluster runs as the `postgres` user (initdb refuses root). Listens on 127.0.0.1
# only, with trust authentication for local connections: for tests and the demo, not production.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR [PORT] | stop DIR [fast|immediate] | status DIR" >&2; exit 2; }
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${PG_FSYNC:-on} -c max_connections=200" start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
    ;;
  status)
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" status
    ;;
  *)
    echo "usage: $0 start DIR [PORT] | stop DIR [fast|immediate] | status DIR" >&2; exit 2 ;;
esac
