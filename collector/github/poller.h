/*
 * The GitHub poller: reads runs and jobs from the GitHub REST API (github/client.h) and
 * writes them through col_store_put_report with source "poller", so they merge with webhook and
 * agent data by the store's rules.
 *
 * A poll of a repository reads the most recent runs (one conditional request: 304 when nothing
 * changed) and, for each run that is new, differs from what is stored, has no jobs stored or was
 * never read by the poller, the run attempt's jobs. It then reconciles runs of the database
 * that stayed queued/in progress, or were known only from webhooks and agents, for longer than
 * poll_stale_ms, by reading each such run attempt and its jobs. The background poller does this
 * for every registered repository each poll_interval_ms, under a PostgreSQL advisory lock so
 * that one collector of a cluster polls at a time.
 *
 * Tokens: in GitHub App mode the token of the repository's installation (github/app.h), else the
 * repository's github_token, else CIPULSE_GITHUB_TOKEN; a repository with none is
 * not polled (GitHub's anonymous limit, 60 requests an hour, is too small to be useful).
 */
#ifndef COL_POLLER_H
#define COL_POLLER_H

#include <stdint.h>

#include "core/ctx.h"
#include "store/db.h"

struct col_poller;

struct col_poll_stats {
	long requests;	   /* GitHub API requests made */
	long not_modified; /* of which answered 304 */
	long runs_seen;	   /* runs read from the API */
	long runs_written; /* run attempts written to the database */
	long jobs;	   /* jobs written */
	long total;	   /* backfill: runs in the range (GitHub's total_count), else 0 */
};

/*
 * Polls one repository now (see above); with run_id > 0, reads only that run (every attempt)
 * and its jobs. Uses connection c for the database. Returns 0, CM_ENOTFOUND for a repository
 * that is not registered (or a run GitHub does not know), CM_EDENIED when there is no token or
 * GitHub refuses it, CM_EUNAVAIL when GitHub or the database cannot be reached, CM_ETIMEDOUT
 * when *stop became set.
 */
int col_poller_poll_repo(struct col_ctx *ctx, struct col_conn *c, const char *full_name,
			 int64_t run_id, volatile sig_atomic_t *stop, struct col_poll_stats *st);

/* Starts the background poller when ctx->cfg->poll_enabled; *out NULL otherwise. */
int col_poller_start(struct col_ctx *ctx, struct col_poller **out);
/* Stops it promptly (an API request in flight is aborted) and frees it. NULL is a no-op. */
void col_poller_stop(struct col_poller *p);

#endif
