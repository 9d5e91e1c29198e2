#include "store/db_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/ticker.h"
#include "grpc/health/v1/health.pb-c.h"
#include "store/migrate.h"

#define PING_INTERVAL_MS 500
/* A ping slower than this counts as a failure: the database is hung (e.g. SIGSTOPped). */
#define PING_TIMEOUT_MS 3000

struct col_health {
	struct col_db *db;
	PGconn *pg; /* the monitor's own connection: never competes for the pool */
	atomic_int
	    schema_ok;	    /* every embedded migration applied (checked on each new connection) */
	atomic_llong ok_at; /* cm_time_mono_ms of the last good ping */
	void (*on_change)(void *arg);
	void *arg;
	atomic_int serving;
	int draining; /* under lock */
	pthread_mutex_t lock;
	struct col_ticker *ticker;
};

/* One ping on the monitor's own connection, bounded by PING_TIMEOUT_MS. */
static int ping(struct col_health *h)
{
	char err[256] = "";
	PGresult *res;
	int ok;

	if (!h->pg) {
		h->pg = col_db_connect(h->db, err, sizeof(err));
		if (!h->pg) {
			col_db_set_down(h->db, err);
			return 0;
		}
		atomic_store(&h->schema_ok, col_migrate_current(&h->pg, PING_TIMEOUT_MS));
		if (!h->pg) {
			col_db_set_down(h->db, "no answer within the ping timeout");
			return 0;
		}
	}
	res = col_db_exec_deadline(&h->pg, "SELECT 1", PING_TIMEOUT_MS);
	ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	if (!ok) {
		/* NULL already when the ping timed out (col_db_exec_deadline closed it). */
		PQfinish(h->pg);
		h->pg = NULL;
		col_db_set_down(h->db, "no answer to a ping within 3 s");
		return 0;
	}
	if (!atomic_load(&h->schema_ok)) {
		/* Migrations applied by another collector since: look again, cheaply. */
		atomic_store(&h->schema_ok, col_migrate_current(&h->pg, PING_TIMEOUT_MS));
	}
	atomic_store(&h->ok_at, cm_time_mono_ms());
	col_db_set_up(h->db);
	return 1;
}

/* One ping of the database, on the ticker's thread. */
static void monitor(void *arg)
{
	struct col_health *h = arg;
	int ok, changed;

	ok = ping(h);
	/* Under the lock, so that a drain that happened during the ping wins. */
	pthread_mutex_lock(&h->lock);
	ok = ok && !h->draining;
	changed = atomic_exchange(&h->serving, ok) != ok;
	pthread_mutex_unlock(&h->lock);
	/* The pool logs the outage, once when it starts and once when it ends. */
	if (changed)
		h->on_change(h->arg);
}

int col_health_start(struct col_db *db, void (*on_change)(void *arg), void *arg,
		     struct col_health **out)
{
	struct col_health *h = calloc(1, sizeof(*h));

	if (!h)
		return CM_ENOMEM;
	h->db = db;
	h->on_change = on_change;
	h->arg = arg;
	atomic_init(&h->schema_ok, 0);
	atomic_init(&h->ok_at, 0);
	atomic_init(&h->serving, ping(h));
	pthread_mutex_init(&h->lock, NULL);
	if (col_ticker_start("db-health", PING_INTERVAL_MS, monitor, h, &h->ticker)) {
		pthread_mutex_destroy(&h->lock);
		if (h->pg)
			PQfinish(h->pg);
		free(h);
		return CM_ENOMEM;
	}
	*out = h;
	return CM_OK;
}

void col_health_drain(struct col_health *h)
{
	int was;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->draining = 1;
	was = atomic_exchange(&h->serving, 0);
	pthread_mutex_unlock(&h->lock);
	if (was)
		h->on_change(h->arg);
}

void col_health_stop(struct col_health *h)
{
	if (!h)
		return;
	col_ticker_stop(h->ticker);
	pthread_mutex_destroy(&h->lock);
	if (h->pg)
		PQfinish(h->pg);
	free(h);
}

void col_health_ready(struct col_health *h, int *db_ok, int *schema_ok)
{
	int64_t at = atomic_load(&h->ok_at);

	/* Fresh: the monitor pings every half second; a stale answer is no answer. */
	*db_ok = at && cm_time_mono_ms() - at < PING_TIMEOUT_MS + 2 * PING_INTERVAL_MS &&
		 atomic_load(&h->serving);
	*schema_ok = *db_ok && atomic_load(&h->schema_ok);
}

int col_health_status(struct col_health *h, const char *service)
{
	if (service && *service && strcmp(service, "cipulse.v1.Collector"))
		return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	return atomic_load(&h->serving)
		   ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
		   : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}
