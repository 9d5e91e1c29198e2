#!/usr/bin/env bash
# Collector footprint benchmark (called by `make bench`; not part of the test suite): the running
# collector's RSS, threads and file descriptors (/proc/PID) idle; while 8 agents stream reports
# (bench/ingest/loadgen.c); with 1,000 open HTTP connections (half idle keep-alive, half slow
# clients that sent one header line), per connection, and what happens past the connection limit
# (CIPULSE_HTTP_MAX_CONNECTIONS: refused, the probe listener still answers); then a soak of
# BENCH_SOAK_MINUTES (10) of mixed load (signed webhooks, API reads on new connections, report
# streams) sampling every BENCH_SOAK_EVERY seconds (5), printing the growth between the first and
# the last third of the samples: a leak check. bench/collector/bench.py does the measuring.
#   BENCH_SOAK_MINUTES=10 BENCH_CONNECTIONS=1000 BENCH_REPORTS=24 scripts/bench-collector.sh
#   BENCH_SOAK_MINUTES=0 scripts/bench-collector.sh           (no soak)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BUILD=${BUILD:-build}
CONNS=${BENCH_CONNECTIONS:-1000}
[ -x "$BUILD/cipulsed" ] || make -s "$BUILD/cipulsed"

bench_setup
bench_loadgen_build "$BUILD"
# fsync off: the benchmark is about the collector's memory, not the disk.
bench_pg_start off
export CIPULSE_DATABASE_URL=$BENCH_PG/postgres CIPULSE_LOG_LEVEL=warn
"$BUILD/cipulsed" migrate >/dev/null
ingest=$("$BUILD/cipulsed" token create --kind ingest --repo bench/ingest)
read=$("$BUILD/cipulsed" token create --kind read)
secret="bench-secret-$$"
fixture=tests/fixtures/github/webhooks/workflow_job.completed.failure.with-organization.json
# The webhooks' repository, registered with its secret (as scripts/bench-webhook.sh does).
/usr/bin/python3 - "$CIPULSE_DATABASE_URL" "$fixture" "$secret" <<'PY'
import json, sys, psycopg2
repo = json.load(open(sys.argv[2]))["repository"]["full_name"]
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute("INSERT INTO repositories (id, full_name, webhook_secret) VALUES "
                   "(-nextval('repositories_provisional_id_seq'), %s, %s)", (repo, sys.argv[3]))
PY
probe=$(bench_free_port)
# The connections fill the limit (CIPULSE_HTTP_MAX_CONNECTIONS, default 1,000); a few more go
# past it. Probes have their own listener.
bench_collector_start "$BUILD/cipulsed" CIPULSE_PROBE_ADDR="127.0.0.1:$probe" \
  CIPULSE_HTTP_MAX_CONNECTIONS="$CONNS"
echo "collector: $BUILD/cipulsed, pid $BENCH_COLLECTOR_PID; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/collector/bench.py --pid "$BENCH_COLLECTOR_PID" \
  --http-port "$BENCH_HTTP_PORT" --probe-port "$probe" --grpc-port "$BENCH_GRPC_PORT" \
  --max-connections "$CONNS" --connections "$CONNS" --loadgen "$BENCH_DIR/loadgen" \
  --ingest-token "$ingest" --read-token "$read" --webhook-secret "$secret" \
  --fixture "$fixture" \
  --agent-reports "${BENCH_REPORTS:-24}" --soak-minutes "${BENCH_SOAK_MINUTES:-10}" --every "${BENCH_SOAK_EVERY:-5}" \
  ${BENCH_SOAK_SAMPLES:+--samples-out "$BENCH_SOAK_SAMPLES"}
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
