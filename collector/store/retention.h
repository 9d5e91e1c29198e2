/*
 * Retention: a background thread that deletes log tails older than CIPULSE_LOG_RETENTION_DAYS,
 * in small batches, once at start-up and then every hour. One collector of a cluster sweeps at a
 * time (PostgreSQL advisory lock); the others skip that round.
 */
#ifndef COL_RETENTION_H
#define COL_RETENTION_H

#include "core/ctx.h"

struct col_retention;

int col_retention_start(struct col_ctx *ctx, struct col_retention **out);
/* Stops the thread promptly (a batch in progress finishes). NULL is a no-op. */
void col_retention_stop(struct col_retention *r);
/* One sweep now; *deleted gets the number of log tails removed. Used by the thread and tests. */
int col_retention_sweep(struct col_ctx *ctx, long *deleted);

#endif
