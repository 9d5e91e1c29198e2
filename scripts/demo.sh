#!/usr/bin/env bash
# The quick start: installs what is needed (Debian 12), builds, starts a PostgreSQL cluster of
# its own under .state/, starts the collector (and the dashboard it serves), loads sample runs
# through the real agent and the real poller, and prints where everything is.
#
#   scripts/demo.sh [start]   everything above (idempotent: restarts the collector)
#   scripts/demo.sh stop      stop the collector and PostgreSQL
#   scripts/demo.sh clean     stop and delete .state/
#
# Ports: DEMO_HTTP_PORT (8080), DEMO_GRPC_PORT (50051), DEMO_PG_PORT (54329).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.state
HTTP_PORT=${DEMO_HTTP_PORT:-8080}
GRPC_PORT=${DEMO_GRPC_PORT:-50051}
PG_PORT=${DEMO_PG_PORT:-54329}
PY=/usr/bin/python3

stop() {
  if [ -f "$STATE/cipulsed.pid" ]; then
    kill "$(cat "$STATE/cipulsed.pid")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$STATE/cipulsed.pid")" 2>/dev/null || break; sleep 0.2; done
    rm -f "$STATE/cipulsed.pid"
  fi
  [ -d "$STATE/pg" ] && scripts/pg.sh stop "$STATE/pg" || true
}

case "${1:-start}" in
  stop) stop; echo "demo stopped"; exit 0 ;;
  clean) stop; rm -rf "$STATE"; echo "demo state removed"; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|clean]" >&2; exit 2 ;;
esac

echo "==> installing packages (scripts/deps.sh)"
scripts/deps.sh
echo "==> building"
make -s -j"$(nproc)" build/cipulsed build/cipulse-agent
WEB_DIR=""
if [ -x scripts/build-web.sh ]; then
  echo "==> building the dashboard"
  scripts/build-web.sh && WEB_DIR=$ROOT/web/dist
fi

mkdir -p "$STATE"
stop
echo "==> starting PostgreSQL on 127.0.0.1:$PG_PORT (data in $STATE/pg)"
scripts/pg.sh start "$STATE/pg" "$PG_PORT" >/dev/null
DB_URL="postgresql://postgres@127.0.0.1:$PG_PORT/cipulse"
$PY - "$PG_PORT" <<'PYEOF'
import sys, psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT 1 FROM pg_database WHERE datname = 'cipulse'")
if not cur.fetchone():
    cur.execute("CREATE DATABASE cipulse")
PYEOF

[ -s "$STATE/admin-token" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/admin-token")
export CIPULSE_DATABASE_URL=$DB_URL
export CIPULSE_ADMIN_TOKEN=$(cat "$STATE/admin-token")
export CIPULSE_HTTP_ADDR=127.0.0.1:$HTTP_PORT
export CIPULSE_GRPC_ADDR=127.0.0.1:$GRPC_PORT
export CIPULSE_POLL=0
[ -n "$WEB_DIR" ] && export CIPULSE_WEB_DIR=$WEB_DIR

echo "==> starting the collector (log: $STATE/cipulsed.log)"
setsid build/cipulsed serve >>"$STATE/cipulsed.log" 2>&1 < /dev/null &
echo $! > "$STATE/cipulsed.pid"
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$STATE/cipulsed.pid")" 2>/dev/null || { tail -20 "$STATE/cipulsed.log"; exit 1; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null

if [ ! -f "$STATE/sample-loaded" ]; then
  echo "==> loading sample runs"
  DEMO_STATE=$STATE $PY scripts/demo_data.py --cipulsed build/cipulsed --agent build/cipulse-agent \
    --grpc "127.0.0.1:$GRPC_PORT"
  touch "$STATE/sample-loaded"
fi

health=$($PY scripts/grpc_health.py "127.0.0.1:$GRPC_PORT")
runs=$($PY - "$PG_PORT" <<'PYEOF'
import sys, psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="cipulse")
cur = conn.cursor()
cur.execute("SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM workflow_runs), "
            "(SELECT count(*) FROM jobs), (SELECT count(*) FROM steps), (SELECT count(*) FROM logs), "
            "(SELECT count(*) FROM test_results), (SELECT count(*) FROM failure_groups)")
print("%d repositories, %d run attempts, %d jobs, %d steps, %d log tails, %d test results, "
      "%d failure groups" % cur.fetchone())
PYEOF
)
cat <<MSG

cipulse is running.
  dashboard + REST API  http://127.0.0.1:$HTTP_PORT/   (e.g. curl http://127.0.0.1:$HTTP_PORT/api/v1/repos)
  gRPC ingest + health  127.0.0.1:$GRPC_PORT         (grpc.health.v1: $health)
  Prometheus metrics    http://127.0.0.1:$HTTP_PORT/metrics
  PostgreSQL            $DB_URL
  admin token           $STATE/admin-token
  collector log         $STATE/cipulsed.log
  data                  $runs

Report a job from a workflow: see action.yml; stop with: scripts/demo.sh stop
MSG
