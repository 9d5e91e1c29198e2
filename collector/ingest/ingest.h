/*
 * gRPC server: cipulse.v1.Collector/Report (agent reports), Summary (the job summary) and
 * grpc.health.v1.Health (Check, Watch; SERVING only while the database answers). gRPC core C API,
 * one completion queue. Reports being received share one memory budget (max_inflight_bytes; over
 * it: UNAVAILABLE "collector busy"), and every call must have sent its input within
 * report_timeout_ms of its start (else DEADLINE_EXCEEDED).
 */
#ifndef COL_INGEST_H
#define COL_INGEST_H

#include "core/ctx.h"

struct col_ingest;

/* Binds ctx->cfg->grpc_addr (TLS when a certificate is configured) and starts serving. */
int col_ingest_start(struct col_ctx *ctx, struct col_ingest **out);
/*
 * Stops accepting calls, lets in-flight reports finish for up to grace_ms, then cancels the
 * rest (nothing of a cancelled report is committed) and frees everything. NULL is a no-op.
 */
void col_ingest_stop(struct col_ingest *ing, long grace_ms);

#endif
