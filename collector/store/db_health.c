#include "store/db_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "store/migrate.h"
#include "grpc/health/v1/health.pb-c.h"

#define PING_INTERVAL_MS 500
/* A ping slower than this counts as a failure: the database is hung (e.g. SIGSTOPped). */
#define PING_TIMEOUT_MS 3000

struct col_health {
	struct col_db *db;
	PGconn *pg;           /* the monitor's own connection: never competes for the pool */
	atomic_int schema_ok; /* every embedded migration applied (checked on each new connection) */
	atomic_llong ok_at;   /* cm_time_mono_ms of the last good ping */
	void (*on_change)(void *arg);
	void *arg;
	atomic_int serving;
	int draining; /* under lock */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop; /* under lock */
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
		PQfinish(h->pg);
		h->pg = NULL;
		col_db_set_down(h->db, res ? "ping failed" : "no answer within the ping timeout");
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

static void *monitor(void *arg)
{
	struct col_health *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		int ok, changed;

		pthread_mutex_unlock(&h->lock);
		ok = ping(h);
		/* Under the lock, so that a drain that happened during the ping wins. */
		pthread_mutex_lock(&h->lock);
		ok = ok && !h->draining;
		changed = atomic_exchange(&h->serving, ok) != ok;
		pthread_mutex_unlock(&h->lock);
		/* The pool logs the outage, once: nothing to add here. */
		if (changed)
			h->on_change(h->arg);
		pthread_mutex_lock(&h->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PING_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!h->stop)
			pthread_cond_timedwait(&h->cond, &h->lock, &until);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
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
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, monitor, h)) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
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
	pthread_mutex_lock(&h->lock);
	h->stop = 1;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
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
