/*
 * Backfill: imports the runs of a past range of days of one repository from the GitHub REST
 * API, with their jobs, through the same path as the poller (github/poller.h).
 */
#ifndef COL_BACKFILL_H
#define COL_BACKFILL_H

#include <signal.h>

#include "core/ctx.h"
#include "github/poller.h"
#include "store/db.h"

/* Called after each page of a backfill (and once at the end with done = 1). */
typedef void (*col_backfill_progress_fn)(void *arg, const char *full_name,
					 const struct col_poll_stats *st, int done);

/*
 * Imports the runs created in the last `days` days, newest first, with their jobs (and earlier
 * attempts of re-run runs). Resumable: after each page the oldest creation time reached is
 * saved in poller_state (key "backfill"); a backfill started again continues from there, and
 * runs already complete in the database are not read again. Errors as col_poller_poll_repo.
 */
int col_backfill_repo(struct col_ctx *ctx, struct col_conn *c, const char *full_name, int days,
		      volatile sig_atomic_t *stop, col_backfill_progress_fn fn, void *arg,
		      struct col_poll_stats *st);

/* `cipulsed backfill --repo owner/name --days N`: exit status. */
int col_backfill_command(struct col_ctx *ctx, int argc, char **argv);

#endif
