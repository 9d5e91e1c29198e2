#include "store/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "store/db.h"
#include "store/lease.h"
#include "core/process_metrics.h"
#include "core/ticker.h"

#define SWEEP_INTERVAL_MS (3600 * 1000L)
/* Rows per DELETE: short transactions, so ingest never waits long on a sweep. */
#define BATCH "5000"
/*
 * Run attempts per DELETE: each takes its jobs, steps and log tails with it (a few dozen rows),
 * so a batch stays a transaction of well under a second (docs/scaling.md).
 */
#define RUN_BATCH "500"
/* Webhook delivery ids are forgotten after this (GitHub redelivers for a few days at most). */
#define DELIVERY_RETENTION_DAYS "30"

struct col_retention {
	struct col_ctx *ctx;
	struct col_ticker *ticker;
};

/* Deletes batch by batch until a batch finds nothing; *deleted adds the rows deleted. */
static int delete_batches(struct col_ctx *ctx, struct col_conn *c, const char *what,
			  const char *sql, const char *days, long *deleted)
{
	const char *params[1] = { days };

	for (;;) {
		int rc;
		long n;
		PGresult *res = col_db_query(c, what, sql, 1, params, &rc);

		if (!res)
			return rc;
		n = strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		*deleted += n;
		if (n == 0 || ctx->stopping)
			return CM_OK;
	}
}

/*
 * Deletes what runs left behind, page by page (sql/017: each call one page of keys after the
 * last one, a short transaction); *deleted adds the rows deleted. sql takes the key columns of
 * the previous page's end (NULL at first) and returns (deleted, key...); nkeys: 1 or 2.
 */
static int delete_pages(struct col_ctx *ctx, struct col_conn *c, const char *what, const char *sql,
			int nkeys, long *deleted)
{
	const char *params[2] = { NULL, NULL };
	PGresult *prev = NULL; /* holds the key passed on */

	for (;;) {
		int rc, done;
		PGresult *res = col_db_query(c, what, sql, nkeys, params, &rc);

		PQclear(prev);
		if (!res)
			return rc;
		*deleted += strtol(PQgetvalue(res, 0, 0), NULL, 10);
		done = PQgetisnull(res, 0, 1) || ctx->stopping;
		for (int k = 0; k < nkeys; k++)
			params[k] = PQgetvalue(res, 0, 1 + k);
		prev = res;
		if (done) {
			PQclear(prev);
			return CM_OK;
		}
	}
}

int col_retention_sweep(struct col_ctx *ctx, struct col_retention_counts *n)
{
	char days[24], run_days[24];
	struct col_conn *c;
	int rc;

	memset(n, 0, sizeof(*n));
	snprintf(days, sizeof(days), "%ld", ctx->cfg->log_retention_days);
	snprintf(run_days, sizeof(run_days), "%ld", ctx->cfg->run_retention_days);
	/* One collector of several sweeps (store/lease.h). */
	rc = col_duty_begin(ctx, COL_DUTY_RETENTION, &c);
	if (rc == CM_ECONFLICT)
		n->skipped = 1;
	if (rc)
		return rc == CM_ECONFLICT ? CM_OK : rc;
	n->swept = 1;
	rc = delete_batches(ctx, c, "log sweep",
			    "DELETE FROM logs WHERE ctid IN (SELECT ctid FROM logs "
			    "WHERE updated_at < now() - make_interval(days => $1::int) "
			    "LIMIT " BATCH ")",
			    days, &n->logs);
	/* Deliveries only de-duplicate GitHub's redeliveries, which come within days. */
	if (rc == CM_OK)
		rc =
		    delete_batches(ctx, c, "delivery sweep",
				   "DELETE FROM webhook_deliveries WHERE ctid IN (SELECT ctid FROM "
				   "webhook_deliveries WHERE received_at < now() - "
				   "make_interval(days => $1::int) LIMIT " BATCH ")",
				   DELIVERY_RETENTION_DAYS, &n->other);
	/* The all-repository cache's record of changed buckets, an hour behind (sql/022). */
	if (rc == CM_OK) {
		PGresult *res = col_db_query(c, "rollup change sweep",
					     "SELECT cipulse_rollup_changes_prune()", 0, NULL, &rc);

		PQclear(res);
	}
	if (rc == CM_OK && ctx->cfg->run_retention_days > 0) {
		/*
		 * By attempt, oldest first, by the last time anything is known of it; each
		 * attempt's jobs, steps and log tails go with it (ON DELETE CASCADE). An earlier
		 * attempt is never younger than a later one, so a run loses its attempts from the
		 * first on and the latest stays latest until it goes too.
		 */
		rc = delete_batches(
		    ctx, c, "run sweep",
		    "DELETE FROM workflow_runs w USING (SELECT repo_id, run_id, run_attempt "
		    "FROM workflow_runs WHERE COALESCE(completed_at, updated_at, inserted_at) < "
		    "now() - make_interval(days => $1::int) "
		    "ORDER BY COALESCE(completed_at, updated_at, inserted_at) LIMIT " RUN_BATCH
		    ") o "
		    "WHERE w.repo_id = o.repo_id AND w.run_id = o.run_id "
		    "AND w.run_attempt = o.run_attempt",
		    run_days, &n->runs);
		/* Report ids only de-duplicate retries of those runs: older than any retry. */
		if (rc == CM_OK)
			rc = delete_batches(ctx, c, "report sweep",
					    "DELETE FROM reports WHERE ctid IN (SELECT ctid FROM "
					    "reports WHERE received_at < now() - "
					    "make_interval(days => $1::int) LIMIT " BATCH ")",
					    run_days, &n->other);
		/* Tests with no result left, failure groups no job links to (sql/017). */
		if (rc == CM_OK)
			rc = delete_pages(ctx, c, "test sweep",
					  "SELECT * FROM cipulse_sweep_tests(COALESCE($1::bigint, "
					  "-9223372036854775808), "
					  "COALESCE($2, ''), " BATCH ")",
					  2, &n->tests);
		if (rc == CM_OK)
			rc = delete_pages(
			    ctx, c, "failure group sweep",
			    "SELECT * FROM cipulse_sweep_failure_groups(COALESCE($1, ''), " BATCH
			    ")",
			    1, &n->groups);
	}
	col_duty_end(ctx, COL_DUTY_RETENTION, c);
	return rc;
}

static void sweep(void *arg)
{
	struct col_retention *r = arg;
	struct col_metric *m_deleted =
	    col_metric_counter("cipulse_retention_logs_deleted_total", "",
			       "Log tails deleted by the retention sweep.");
	struct col_metric *m_runs =
	    col_metric_counter("cipulse_retention_runs_deleted_total", "",
			       "Run attempts deleted by the retention sweep (with their jobs, "
			       "steps and log tails).");
	struct col_metric *m_sweeps =
	    col_metric_counter("cipulse_retention_sweeps_total", "",
			       "Retention sweeps this collector ran (one collector of several at "
			       "a time).");
	struct col_retention_counts n;
	int rc;

	rc = col_retention_sweep(r->ctx, &n);
	if (rc == CM_OK && n.logs)
		cm_log_info("retention", "deleted old log tails count=%ld days=%ld", n.logs,
			    r->ctx->cfg->log_retention_days);
	if (rc == CM_OK && n.runs)
		cm_log_info("retention", "deleted old run attempts count=%ld days=%ld", n.runs,
			    r->ctx->cfg->run_retention_days);
	if (rc == CM_OK && (n.tests || n.groups))
		cm_log_info("retention",
			    "deleted tests and failure groups left without results tests=%ld "
			    "groups=%ld",
			    n.tests, n.groups);
	col_metric_add(m_deleted, (double)n.logs);
	col_metric_add(m_runs, (double)n.runs);
	col_metric_add(m_sweeps, (double)n.swept);
}

int col_retention_start(struct col_ctx *ctx, struct col_retention **out)
{
	struct col_retention *r = calloc(1, sizeof(*r));

	if (!r)
		return CM_ENOMEM;
	r->ctx = ctx;
	if (col_ticker_start("retention", SWEEP_INTERVAL_MS, sweep, r, &r->ticker)) {
		free(r);
		return CM_EIO;
	}
	*out = r;
	return CM_OK;
}

void col_retention_stop(struct col_retention *r)
{
	if (!r)
		return;
	col_ticker_stop(r->ticker);
	free(r);
}
