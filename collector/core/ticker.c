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
	int stop;     /* under lock */
	int woken;    /* under lock: col_ticker_wake since the last wait */
	long next_ms; /* under lock: the next wait, when >= 0 (col_ticker_next) */
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
	/* Spurious wakeups do not shorten the wait; only a stop or a wake does. */
	while (!t->stop && !t->woken &&
	       pthread_cond_timedwait(&t->cond, &t->lock, &until) != ETIMEDOUT)
		;
	t->woken = 0;
	stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	return stop;
}

void col_ticker_wake(struct col_ticker *t)
{
	pthread_mutex_lock(&t->lock);
	t->woken = 1;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void col_ticker_next(struct col_ticker *t, long ms)
{
	pthread_mutex_lock(&t->lock);
	t->next_ms = ms < 0 ? 0 : ms;
	pthread_mutex_unlock(&t->lock);
}

static void *ticker_main(void *arg)
{
	struct col_ticker *t = arg;
	long wait_ms;

	pthread_setname_np(pthread_self(), t->name);
	do {
		t->tick(t->arg);
		pthread_mutex_lock(&t->lock);
		wait_ms = t->next_ms >= 0 ? t->next_ms : t->interval_ms;
		t->next_ms = -1;
		pthread_mutex_unlock(&t->lock);
	} while (!col_ticker_wait(t, wait_ms));
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
	t->next_ms = -1;
	t->tick = tick;
	t->arg = arg;
	snprintf(t->name, sizeof(t->name), "%s", name);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	*out = t; /* before the thread starts: its first tick may use it */
	if (pthread_create(&t->thread, NULL, ticker_main, t)) {
		*out = NULL;
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
		free(t);
		return CM_ENOMEM;
	}
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
