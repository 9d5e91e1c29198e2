/* What the collector's parts share while it runs: settings, the database pool, the stop flag. */
#ifndef COL_CTX_H
#define COL_CTX_H

#include <signal.h>
#include <stdint.h>

#include "core/config.h"
#include "store/db.h"

struct col_health;

struct col_ctx {
	const struct col_config *cfg;
	struct col_db *db;
	/* The database's health as the monitor last saw it (set by the gRPC server; NULL before).
	 */
	struct col_health *health;
	/*
	 * Until when (cm_time_mono_ms) this collector holds the leader lease (store/lease.h:
	 * col_lease_held): the leader of several collectors on one database polls GitHub, sweeps
	 * retention and serves the pipeline series of /metrics. 0 when it does not.
	 */
	_Atomic int64_t leader_until;
	/* Set by SIGTERM/SIGINT; every loop checks it on each wakeup. */
	volatile sig_atomic_t stopping;
};

#endif
