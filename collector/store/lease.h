/*
 * Leases: a named duty that one collector of several holds at a time, recorded in the
 * cluster_leases table (sql/007_replicas_retention.sql). A background thread takes the lease when
 * it is free or expired and renews it every LEASE_RENEW; the holder keeps it while it lives and
 * gives it up when stopped, so the duty moves only when a collector stops or dies (then after
 * the lease expires, COL_LEASE_TTL_MS at most).
 *
 * One lease, "leader", covers the duties of a cluster that must run once: the GitHub poller,
 * the retention sweep, the alert sweep (each through col_duty_begin below), and the pipeline
 * series of /metrics (they come from the shared database and would double if every replica
 * served them). The first renewal runs before col_lease_start returns, so a lone collector
 * leads from its first moment.
 */
#ifndef COL_LEASE_H
#define COL_LEASE_H

#include "core/ctx.h"

#define COL_LEASE_TTL_MS 30000L

struct col_lease;

/*
 * Starts trying to hold the lease `name` (a static string). While it is held, *until is the
 * cm_time_mono_ms() time up to which it is ours, else 0; *until belongs to the caller and
 * outlives the lease object (readers never touch the object). CM_ENOMEM on failure.
 */
int col_lease_start(struct col_ctx *ctx, const char *name, _Atomic int64_t *until,
		    struct col_lease **out);
/*
 * 1 while the lease behind `until` is held: renewed less than its lifetime ago (minus a
 * margin) by this collector's own clock, so that two holders never overlap even when this one
 * loses the database. Thread safe.
 */
int col_lease_held(_Atomic int64_t *until);
/* Stops the thread, then gives the lease up (*until 0, the row deleted). NULL is a no-op. */
void col_lease_stop(struct col_lease *l);

/*
 * Duties: the periodic work that runs on one collector of a cluster at a time. The one way to
 * run one: col_duty_begin, the work on the connection it gives, col_duty_end.
 */
enum col_duty {
	COL_DUTY_POLL,	      /* a poller cycle over every repository (github/poller.c) */
	COL_DUTY_RETENTION,   /* the retention sweep (store/retention.c) */
	COL_DUTY_ALERT_SWEEP, /* the window rules' sweep (alert/engine.c) */
};

/*
 * Begins duty d when this collector leads (ctx->leader_until) and no collector is still
 * running it: the handover guard, a PostgreSQL session advisory lock of the duty held on *c
 * until col_duty_end, covers a run still going on a collector that has just lost the lease
 * (a long cycle past the lease's lifetime, a lost connection). On CM_OK, *c is a pool
 * connection to run the duty on. CM_ECONFLICT (logged at debug, "another collector is ..."):
 * not this collector's turn, skip it; else the pool's error (no connection).
 */
int col_duty_begin(struct col_ctx *ctx, enum col_duty d, struct col_conn **c);
/*
 * Ends the duty begun on c: the guard is released and c goes back to the pool; when the guard
 * cannot be released, c is closed (and the lock goes with it) instead.
 */
void col_duty_end(struct col_ctx *ctx, enum col_duty d, struct col_conn *c);

#endif
