/*
 * What the poller (poller.c) and the backfill (backfill.c) share: one repository being read
 * from the GitHub REST API and written through col_store_put_report. Nothing outside
 * collector/github/ includes this.
 */
#ifndef COL_POLLER_INT_H
#define COL_POLLER_INT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "github/client.h"
#include "github/poller.h"
#include "store/db.h"

/* One repository being polled: what every step needs. */
struct rp {
	struct col_ctx *ctx;
	struct col_conn *c;
	struct col_gh_client *gh;
	volatile sig_atomic_t *stop;
	int64_t repo_id;
	char full_name[256];
	char base[300]; /* "/repos/owner/name/actions/runs" */
	struct col_poll_stats *st;
	/* Run attempts handled in this poll, not to be reconciled again. */
	int64_t done[256][2];
	int ndone;
};

/*
 * The repository's id and token (token "" when it has none) and, when installation is not NULL,
 * its GitHub App installation (0: none; -1: one that is removed or suspended, which lends no
 * token); CM_ENOTFOUND when unknown.
 */
int rp_load_repo(struct col_conn *c, const char *full_name, int64_t *id, char *token, size_t size,
		 int64_t *installation);
/*
 * Opens a poll of one repository: its id, its GitHub token (in app mode its installation's,
 * else its own, else CIPULSE_GITHUB_TOKEN) and a client. CM_ENOTFOUND for an unknown repository or
 * a name that breaks GitHub's rules (cm_repo_name_valid; it would go into URL paths), CM_EDENIED
 * without a token. The caller frees p->gh (col_gh_client_free) whatever the result.
 */
int rp_open(struct rp *p, struct col_ctx *ctx, struct col_conn *c, const char *full_name,
	    volatile sig_atomic_t *stop, struct col_poll_stats *st);
/* The repository's poller_state row `key`: its ETag and value ("" when none). */
int rp_state_get(struct rp *p, const char *key, char *etag, size_t esize, char *value,
		 size_t vsize);
int rp_state_put(struct rp *p, const char *key, const char *etag, const char *value);
int rp_state_del(struct rp *p, const char *key);
/* GET path (conditionally with etag): *out the JSON object, NULL on a 304. Counts requests. */
int rp_get_json(struct rp *p, const char *path, const char *etag, struct col_gh_resp *resp,
		json_t **out);
/*
 * Writes the runs of one list page (with their earlier attempts when with_attempts); *oldest
 * gets the creation time of the last one. CM_ETIMEDOUT when *p->stop became set.
 */
int rp_sync_page(struct rp *p, json_t *doc, int with_attempts, char *oldest, size_t size);

#endif
