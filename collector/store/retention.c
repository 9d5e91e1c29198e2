#include "store/retention.h"

#include <stdio.h>
#include <stdlib.h>

#include "cm_err.h"
#include "cm_log.h"
#include "store/db.h"
#include "core/process_metrics.h"
#include "core/ticker.h"

/* Arbitrary constant naming the retention sweep among advisory locks. */
#define RETENTION_LOCK_KEY "7263105823"
#define SWEEP_INTERVAL_MS  (3600 * 1000L)
/* Rows per DELETE: short transactions, so ingest never waits long on a sweep. */
#define BATCH "5000"

struct col_retention {
	struct col_ctx *ctx;
	struct col_ticker *ticker;
};

int col_retention_sweep(struct col_ctx *ctx, long *deleted)
{
	char days[24];
	const char *params[1] = { days };
	struct col_conn *c;
	PGresult *res;
	int rc, locked, unlock_rc;

	*deleted = 0;
	snprintf(days, sizeof(days), "%ld", ctx->cfg->log_retention_days);
	rc = col_db_acquire(ctx->db, &c, COL_DB_WAIT_MS);
	if (rc)
		return rc;
	res = col_db_query(c, "retention lock",
			   "SELECT pg_try_advisory_lock(" RETENTION_LOCK_KEY ")", 0, NULL, &rc);
	locked = res && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (rc || !locked)
		goto out;
	for (;;) {
		long n;

		res = col_db_query(c, "log sweep",
				   "DELETE FROM logs WHERE ctid IN (SELECT ctid FROM logs "
				   "WHERE updated_at < now() - make_interval(days => $1::int) "
				   "LIMIT " BATCH ")",
				   1, params, &rc);
		if (!res)
			break;
		n = strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		*deleted += n;
		if (n == 0 || ctx->stopping)
			break;
	}
	PQclear(col_db_query(c, "retention unlock",
			     "SELECT pg_advisory_unlock(" RETENTION_LOCK_KEY ")", 0, NULL,
			     &unlock_rc));
out:
	col_db_release(ctx->db, c);
	return rc;
}

static void sweep(void *arg)
{
	struct col_retention *r = arg;
	struct col_metric *m_deleted =
	    col_metric_counter("cipulse_retention_logs_deleted_total", "",
			       "Log tails deleted by the retention sweep.");
	long deleted = 0;
	int rc;

	rc = col_retention_sweep(r->ctx, &deleted);
	if (rc == CM_OK && deleted)
		cm_log_info("retention", "deleted old log tails count=%ld days=%ld", deleted,
			    r->ctx->cfg->log_retention_days);
	col_metric_add(m_deleted, (double)deleted);
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
