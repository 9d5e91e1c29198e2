/*
 * Retention: a background thread that deletes log tails older than CIPULSE_LOG_RETENTION_DAYS
 * and, when CIPULSE_RUN_RETENTION_DAYS is set, run attempts (with their jobs, steps, log
 * tails and test results) and agent report ids older than that, then the tests and failure
 * groups left with no result, and webhook delivery ids after 30 days, in small
 * batches (short transactions: docs/scaling.md says why not partitions), once at start-up and
 * then every hour. One collector of a cluster sweeps at a time (col_duty_begin,
 * store/lease.h); the others skip.
 */
#ifndef COL_RETENTION_H
#define COL_RETENTION_H

#include "core/ctx.h"

struct col_retention;

int col_retention_start(struct col_ctx *ctx, struct col_retention **out);
/* Stops the thread promptly (a batch in progress finishes). NULL is a no-op. */
void col_retention_stop(struct col_retention *r);
/* What one sweep did. */
struct col_retention_counts {
	int swept;   /* this collector swept (its turn: store/lease.h) */
	int skipped; /* not its turn: another collector leads or is sweeping */
	long logs;   /* log tails deleted by log retention */
	long runs;   /* run attempts deleted by run retention */
	long tests;  /* tests with no result left (run retention) */
	long groups; /* failure groups no job links to any more (run retention) */
	long other;  /* report ids (run retention) and webhook delivery ids (30 days) deleted */
};

/* One sweep now; *n says what it did. Used by the thread and tests. */
int col_retention_sweep(struct col_ctx *ctx, struct col_retention_counts *n);

#endif
