#include "store/group.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "core/ticker.h"

/* A report waiting for its batch: lives on the stack of the request that put it. */
struct col_group_member {
	const struct col_report *r;
	struct col_store_result *out;
	int rc;
	int done;   /* under the group's lock: rc and *out are its answer */
	int64_t at; /* when it was put (cm_time_mono_ms) */
	struct col_group_member *next;
};

/* The writer's arrays (max entries each), used by one thread at a time. */
struct col_group_batch {
	struct col_group_member **m;
	const struct col_report **r;
	struct col_store_result *out;
	int *rcs;
};

static void batch_free(struct col_group_batch *b)
{
	if (!b)
		return;
	free(b->m);
	free(b->r);
	free(b->out);
	free(b->rcs);
	free(b);
}

static int put_alone(struct col_db *db, const struct col_report *r, struct col_store_result *out)
{
	struct col_conn *c;
	int rc = col_db_acquire(db, &c, COL_DB_WAIT_MS);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	rc = col_store_put_report(c, r, out);
	col_db_release(db, c);
	return rc;
}

/*
 * Takes the next batch off the queue into m (at most g->max): waits, while reports are still
 * being decoded and the group runs, up to wait_ms from the first report's arrival for the
 * batch to fill. Returns how many it took (0: the queue is empty).
 */
static size_t take(struct col_group *g, struct col_group_member **m)
{
	size_t n = 0;

	pthread_mutex_lock(&g->lock);
	if (g->head) {
		int64_t until = g->head->at + g->wait_ms;

		while (g->queued < g->max && g->coming > 0 && g->ticker) {
			int64_t now = cm_time_mono_ms();
			struct timespec ts;

			if (now >= until)
				break;
			ts = col_ticker_deadline((long)(until - now));
			pthread_cond_timedwait(&g->more, &g->lock, &ts);
		}
	}
	while (g->head && n < g->max) {
		m[n++] = g->head;
		g->head = g->head->next;
	}
	if (!g->head)
		g->tail = NULL;
	g->queued -= n;
	pthread_mutex_unlock(&g->lock);
	return n;
}

/* n reports written in one transaction, or (alone) one transaction each after a rollback. */
static void count_transactions(struct col_group *g, size_t n, int alone)
{
	static const double sizes[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
	struct col_metric *size;
	char labels[64];

	snprintf(labels, sizeof(labels), "group=\"%s\"", g->name);
	size = col_metric_histogram("cipulse_group_commit_size", labels,
				    "Reports written per transaction by group commit.", sizes,
				    sizeof(sizes) / sizeof(sizes[0]));
	if (!alone) {
		col_metric_observe(size, (double)n);
		return;
	}
	col_metric_inc(col_metric_counter("cipulse_group_commit_rollbacks_total", labels,
					  "Batches rolled back by one report and written again one "
					  "report per transaction."));
	for (size_t i = 0; i < n; i++)
		col_metric_observe(size, 1);
}

/* Writes one batch and gives each of its members its answer. */
static void write_batch(struct col_group *g, struct col_group_batch *b, size_t n)
{
	struct col_conn *c = NULL;
	size_t from = 0, k;
	int rc, alone;

	for (size_t i = 0; i < n; i++) {
		b->r[i] = b->m[i]->r;
		b->rcs[i] = CM_OK;
		memset(&b->out[i], 0, sizeof(b->out[i]));
	}
	rc = col_db_acquire(g->db, &c, COL_DB_WAIT_MS);
	while (!rc && from < n) {
		k = col_store_put_reports(c, b->r + from, n - from, b->out + from, b->rcs + from,
					  &alone);
		if (!k) {
			rc = CM_ENOMEM;
			break;
		}
		count_transactions(g, k, alone);
		from += k;
	}
	if (c)
		col_db_release(g->db, c);
	if (rc) {
		cm_log_warn("group", "could not write a batch group=%s reports=%zu: %s", g->name,
			    n - from, cm_strerror(rc));
		for (size_t i = from; i < n; i++)
			b->rcs[i] = rc;
	}
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < n; i++) {
		*b->m[i]->out = b->out[i];
		b->m[i]->rc = b->rcs[i];
		b->m[i]->done = 1;
	}
	pthread_cond_broadcast(&g->answered);
	pthread_mutex_unlock(&g->lock);
}

/* Writes batches until the queue is empty. */
static void drain(struct col_group *g)
{
	struct col_group_batch *b = g->batch;
	size_t n;

	while (b && (n = take(g, b->m)) > 0)
		write_batch(g, b, n);
}

static void tick(void *arg)
{
	drain(arg);
}

static double queued(void *arg)
{
	struct col_group *g = arg;
	size_t n;

	pthread_mutex_lock(&g->lock);
	n = g->queued;
	pthread_mutex_unlock(&g->lock);
	return (double)n;
}

int col_group_start(struct col_group *g, struct col_db *db, size_t max, long wait_ms,
		    const char *name)
{
	struct col_group_batch *b;
	struct col_ticker *t = NULL;
	char tname[16], labels[64];
	int rc;

	if (max < 2)
		return CM_EINVAL;
	b = calloc(1, sizeof(*b));
	if (b) {
		b->m = calloc(max, sizeof(*b->m));
		b->r = calloc(max, sizeof(*b->r));
		b->out = calloc(max, sizeof(*b->out));
		b->rcs = calloc(max, sizeof(*b->rcs));
	}
	if (!b || !b->m || !b->r || !b->out || !b->rcs) {
		batch_free(b);
		return CM_ENOMEM;
	}
	pthread_mutex_lock(&g->lock);
	g->batch = b;
	g->db = db;
	g->max = max;
	g->wait_ms = wait_ms < 0 ? 0 : wait_ms;
	g->name = name;
	pthread_mutex_unlock(&g->lock);
	snprintf(labels, sizeof(labels), "group=\"%s\"", name);
	col_metric_gauge_fn("cipulse_group_commit_queued", labels,
			    "Reports waiting for the next group commit.", queued, g);
	snprintf(tname, sizeof(tname), "group-%.8s", name);
	/* Work arrives by col_ticker_wake; the interval is only a safety net. */
	rc = col_ticker_start(tname, 1000, tick, g, &t);
	if (rc) {
		g->batch = NULL;
		batch_free(b);
		return rc;
	}
	pthread_mutex_lock(&g->lock);
	g->ticker = t;
	pthread_mutex_unlock(&g->lock);
	return CM_OK;
}

void col_group_enter(struct col_group *g)
{
	pthread_mutex_lock(&g->lock);
	g->coming++;
	pthread_mutex_unlock(&g->lock);
}

void col_group_leave(struct col_group *g)
{
	pthread_mutex_lock(&g->lock);
	if (g->coming)
		g->coming--;
	pthread_cond_signal(&g->more);
	pthread_mutex_unlock(&g->lock);
}

int col_group_put(struct col_group *g, struct col_db *db, const struct col_report *r,
		  struct col_store_result *out, int with_enter)
{
	struct col_group_member m = { .r = r, .out = out };

	pthread_mutex_lock(&g->lock);
	if (with_enter && g->coming)
		g->coming--;
	if (!g->ticker) {
		pthread_cond_signal(&g->more);
		pthread_mutex_unlock(&g->lock);
		return put_alone(db, r, out);
	}
	m.at = cm_time_mono_ms();
	if (g->tail)
		g->tail->next = &m;
	else
		g->head = &m;
	g->tail = &m;
	g->queued++;
	pthread_cond_signal(&g->more);
	col_ticker_wake(g->ticker);
	while (!m.done)
		pthread_cond_wait(&g->answered, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return m.rc;
}

void col_group_stop(struct col_group *g)
{
	struct col_ticker *t;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	t = g->ticker;
	/* From here on a report put is written on its own: only the queue is left to drain. */
	g->ticker = NULL;
	pthread_cond_broadcast(&g->more);
	pthread_mutex_unlock(&g->lock);
	if (!t)
		return;
	col_ticker_stop(t);
	drain(g);
	batch_free(g->batch);
	g->batch = NULL;
}
