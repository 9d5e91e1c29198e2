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
#include "core/process_metrics.h"
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
	/*
	 * Free when expired, or when taken in another database: a dump restored into a new
	 * database brings the old cluster's lease along, and nobody there will renew it.
	 */
	res = col_db_query(
	    c, "lease",
	    "INSERT INTO cluster_leases AS t (name, holder, expires_at, db_oid) "
	    "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::double precision / 1000), "
	    "(SELECT oid FROM pg_database WHERE datname = current_database())) "
	    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
	    "expires_at = EXCLUDED.expires_at, db_oid = EXCLUDED.db_oid "
	    "WHERE t.holder = EXCLUDED.holder OR t.expires_at < clock_timestamp() "
	    "OR t.db_oid IS DISTINCT FROM EXCLUDED.db_oid RETURNING 1",
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

/*
 * Each duty's guard: a session advisory lock (arbitrary constants naming cipulse's duties
 * among advisory locks; kept from the locks each duty took by itself before, so a collector of
 * the previous version and this one exclude each other during a rolling upgrade).
 */
static const struct {
	const char *name;
	const char *lock_key;
	const char *doing; /* "another collector is <doing>" */
	const char *label; /* of the cipulse_duty_* series */
} duties[] = {
	[COL_DUTY_POLL] = { "poller", "7263105822", "polling", "duty=\"poller\"" },
	[COL_DUTY_RETENTION] = { "retention", "7263105823", "sweeping (retention)",
				 "duty=\"retention\"" },
	[COL_DUTY_ALERT_SWEEP] = { "alert", "7263105824", "sweeping", "duty=\"alert_sweep\"" },
};

static void count(enum col_duty d, int ran)
{
	col_metric_inc(ran ? col_metric_counter("cipulse_duty_runs_total", duties[d].label,
						"Runs of a cluster duty this collector began "
						"(one collector of several at a time).")
			   : col_metric_counter("cipulse_duty_skipped_total", duties[d].label,
						"Runs of a cluster duty this collector skipped: "
						"another collector leads or still runs it."));
}

int col_duty_begin(struct col_ctx *ctx, enum col_duty d, struct col_conn **c)
{
	const char *params[1] = { duties[d].lock_key };
	PGresult *res;
	int rc, locked;

	*c = NULL;
	if (!col_lease_held(&ctx->leader_until)) {
		cm_log_debug(duties[d].name, "another collector is %s: not the leader",
			     duties[d].doing);
		count(d, 0);
		return CM_ECONFLICT;
	}
	rc = col_db_acquire(ctx->db, c, COL_DB_WAIT_MS);
	if (rc)
		return rc;
	res = col_db_query(*c, duties[d].name, "SELECT pg_try_advisory_lock($1::bigint)", 1, params,
			   &rc);
	locked = res && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!locked) {
		col_db_release(ctx->db, *c);
		*c = NULL;
		if (rc)
			return rc;
		cm_log_debug(duties[d].name, "another collector is %s: still running it",
			     duties[d].doing);
		count(d, 0);
		return CM_ECONFLICT;
	}
	count(d, 1);
	return CM_OK;
}

void col_duty_end(struct col_ctx *ctx, enum col_duty d, struct col_conn *c)
{
	const char *params[1] = { duties[d].lock_key };
	PGresult *res;
	int rc;

	/* A connection that failed meanwhile took the lock with it. */
	res = col_db_query(c, duties[d].name, "SELECT pg_advisory_unlock($1::bigint)", 1, params,
			   &rc);
	/*
	 * Not unlocked (say, the duty left its transaction aborted): in the pool, the connection
	 * would keep the duty from every other collector for as long as it lives. Closed, it
	 * takes the lock with it.
	 */
	if (!res || PQgetvalue(res, 0, 0)[0] != 't') {
		cm_log_warn(duties[d].name, "could not release the duty's lock; connection closed");
		col_db_discard(c);
	}
	PQclear(res);
	col_db_release(ctx->db, c);
}
