#include "store/lease.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/ticker.h"
#include "store/db.h"

#define LEASE_RENEW_MS 10000L
/* Held by our own clock only this long after the renewal query started: never past expiry. */
#define LEASE_MARGIN_MS 5000L

struct col_lease {
	struct col_ctx *ctx;
	const char *name;
	char holder[128];
	struct col_ticker *ticker;
	_Atomic int64_t *until; /* cm_time_mono_ms() until which the lease is ours; 0: not */
};

static void renew(void *arg)
{
	struct col_lease *l = arg;
	char ttl[24];
	const char *params[3] = { l->name, l->holder, ttl };
	int64_t started = cm_time_mono_ms();
	struct col_conn *c;
	PGresult *res;
	int rc, was = col_lease_held(l->until), now_held;

	snprintf(ttl, sizeof(ttl), "%ld", COL_LEASE_TTL_MS);
	if (col_db_acquire(l->ctx->db, &c, COL_DB_PROBE_WAIT_MS))
		return; /* held_until runs out by itself */
	res = col_db_query(
	    c, "lease",
	    "INSERT INTO cluster_leases AS t (name, holder, expires_at) "
	    "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::double precision / 1000)) "
	    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
	    "expires_at = EXCLUDED.expires_at "
	    "WHERE t.holder = EXCLUDED.holder OR t.expires_at < clock_timestamp() RETURNING 1",
	    3, params, &rc);
	now_held = res && PQntuples(res) == 1;
	PQclear(res);
	col_db_release(l->ctx->db, c);
	if (now_held)
		atomic_store(l->until, started + COL_LEASE_TTL_MS - LEASE_MARGIN_MS);
	else if (!rc)
		atomic_store(l->until, 0);
	if (now_held != was)
		cm_log_info("lease", "%s lease=%s", now_held ? "holding" : "not holding", l->name);
}

int col_lease_start(struct col_ctx *ctx, const char *name, _Atomic int64_t *until,
		    struct col_lease **out)
{
	struct col_lease *l = calloc(1, sizeof(*l));
	char host[64] = "", id[37];

	if (!l)
		return CM_ENOMEM;
	l->ctx = ctx;
	l->name = name;
	l->until = until;
	atomic_store(until, 0);
	if (gethostname(host, sizeof(host) - 1) || cm_random_uuid(id)) {
		free(l);
		return CM_EIO;
	}
	snprintf(l->holder, sizeof(l->holder), "%s/%ld/%s", host, (long)getpid(), id);
	renew(l);
	if (col_ticker_start("lease", LEASE_RENEW_MS, renew, l, &l->ticker)) {
		free(l);
		return CM_ENOMEM;
	}
	*out = l;
	return CM_OK;
}

int col_lease_held(_Atomic int64_t *until)
{
	return cm_time_mono_ms() < atomic_load(until);
}

void col_lease_stop(struct col_lease *l)
{
	const char *params[2];
	struct col_conn *c;
	int rc;

	if (!l)
		return;
	col_ticker_stop(l->ticker);
	if (atomic_exchange(l->until, 0) && !col_db_acquire(l->ctx->db, &c, COL_DB_PROBE_WAIT_MS)) {
		/* Given up at once, so another collector takes the duty on its next renewal. */
		params[0] = l->name;
		params[1] = l->holder;
		PQclear(col_db_query(c, "lease",
				     "DELETE FROM cluster_leases "
				     "WHERE name = $1 AND holder = $2",
				     2, params, &rc));
		col_db_release(l->ctx->db, c);
	}
	free(l);
}
