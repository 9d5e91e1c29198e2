#include "store/db_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_err.h"
#include "cm_log.h"
#include "grpc/health/v1/health.pb-c.h"

#define PING_INTERVAL_MS 500

struct col_health {
	struct col_db *db;
	void (*on_change)(void *arg);
	void *arg;
	atomic_int serving;
	int draining; /* under lock */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop; /* under lock */
};

static void *monitor(void *arg)
{
	struct col_health *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		int ok, changed;

		pthread_mutex_unlock(&h->lock);
		ok = col_db_ping(h->db);
		/* Under the lock, so that a drain that happened during the ping wins. */
		pthread_mutex_lock(&h->lock);
		ok = ok && !h->draining;
		changed = atomic_exchange(&h->serving, ok) != ok;
		pthread_mutex_unlock(&h->lock);
		if (changed) {
			cm_log_info("health", "%s",
				    ok ? "database reachable: serving"
				       : "database unreachable: not serving");
			h->on_change(h->arg);
		}
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
	atomic_init(&h->serving, col_db_ping(db));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, monitor, h)) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
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
