#include "core/ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cm_err.h"

struct col_ticker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop; /* under lock */
	long interval_ms;
	void (*tick)(void *arg);
	void *arg;
	char name[16];
};

struct timespec col_ticker_deadline(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int col_ticker_wait(struct col_ticker *t, long ms)
{
	struct timespec until = col_ticker_deadline(ms);
	int stop;

	pthread_mutex_lock(&t->lock);
	/* Spurious wakeups do not shorten the wait; only a stop does. */
	while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &until) != ETIMEDOUT)
		;
	stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	return stop;
}

static void *ticker_main(void *arg)
{
	struct col_ticker *t = arg;

	pthread_setname_np(pthread_self(), t->name);
	do
		t->tick(t->arg);
	while (!col_ticker_wait(t, t->interval_ms));
	return NULL;
}

int col_ticker_start(const char *name, long interval_ms, void (*tick)(void *arg), void *arg,
		     struct col_ticker **out)
{
	struct col_ticker *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return CM_ENOMEM;
	t->interval_ms = interval_ms;
	t->tick = tick;
	t->arg = arg;
	snprintf(t->name, sizeof(t->name), "%s", name);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (pthread_create(&t->thread, NULL, ticker_main, t)) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
		free(t);
		return CM_ENOMEM;
	}
	*out = t;
	return CM_OK;
}

void col_ticker_stop(struct col_ticker *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
}
