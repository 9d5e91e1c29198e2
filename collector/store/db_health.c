#include "store/db_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "core/ticker.h"
#include "grpc/health/v1/health.pb-c.h"

#define PING_INTERVAL_MS 500

struct col_health {
	struct col_db *db;
	void (*on_change)(void *arg);
	void *arg;
	atomic_int serving;
	int draining; /* under lock */
	pthread_mutex_t lock;
	struct col_ticker *ticker;
};

/* One ping of the database, on the ticker's thread. */
static void monitor(void *arg)
{
	struct col_health *h = arg;
	int ok, changed;

	ok = col_db_ping(h->db);
	/* Under the lock, so that a drain that happened during the ping wins. */
	pthread_mutex_lock(&h->lock);
	ok = ok && !h->draining;
	changed = atomic_exchange(&h->serving, ok) != ok;
	pthread_mutex_unlock(&h->lock);
	if (changed) {
		cm_log_info("health", "%s",
			    ok ? "database reachable: serving" : "database unreachable: not serving");
		h->on_change(h->arg);
	}
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
	atomic_init(&h->serving, col_db_ping(db));
	pthread_mutex_init(&h->lock, NULL);
	if (col_ticker_start("db-health", PING_INTERVAL_MS, monitor, h, &h->ticker)) {
		pthread_mutex_destroy(&h->lock);
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
	free(h);
}

int col_health_status(struct col_health *h, const char *service)
{
	if (service && *service && strcmp(service, "cipulse.v1.Collector"))
		return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	return atomic_load(&h->serving)
		   ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
		   : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}
