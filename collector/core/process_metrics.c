#include "core/process_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM, K_GAUGE_FN };

#define MAX_BUCKETS 24

struct col_metric {
	struct col_metric *next;
	enum kind kind;
	char *name;
	char *labels;
	char *help;
	double value; /* counter, gauge; histogram: sum */
	double bounds[MAX_BUCKETS];
	unsigned long long counts[MAX_BUCKETS + 1]; /* cumulative at render; last: +Inf */
	size_t nbounds;
	double (*fn)(void *);
	void *arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct col_metric *head, *tail;

static const double default_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					  0.25,	 0.5,	 1,	2.5,  5,     10 };

static struct col_metric *lookup(enum kind kind, const char *name, const char *labels,
				 const char *help)
{
	struct col_metric *m;

	labels = labels ? labels : "";
	pthread_mutex_lock(&lock);
	for (m = head; m; m = m->next) {
		if (!strcmp(m->name, name) && !strcmp(m->labels, labels))
			goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->kind = kind;
	m->name = strdup(name);
	m->labels = strdup(labels);
	m->help = strdup(help ? help : "");
	if (!m->name || !m->labels || !m->help) {
		free(m->name);
		free(m->labels);
		free(m->help);
		free(m);
		m = NULL;
		goto out;
	}
	/* Series of one name stay together: insert after the last series of the same name. */
	{
		struct col_metric *after = NULL;

		for (struct col_metric *x = head; x; x = x->next) {
			if (!strcmp(x->name, name))
				after = x;
		}
		if (after) {
			m->next = after->next;
			after->next = m;
			if (tail == after)
				tail = m;
		} else if (tail) {
			tail->next = m;
			tail = m;
		} else {
			head = tail = m;
		}
	}
out:
	pthread_mutex_unlock(&lock);
	return m;
}

struct col_metric *col_metric_counter(const char *name, const char *labels, const char *help)
{
	return lookup(K_COUNTER, name, labels, help);
}

struct col_metric *col_metric_gauge(const char *name, const char *labels, const char *help)
{
	return lookup(K_GAUGE, name, labels, help);
}

struct col_metric *col_metric_histogram(const char *name, const char *labels, const char *help,
					const double *buckets, size_t nbuckets)
{
	struct col_metric *m = lookup(K_HISTOGRAM, name, labels, help);

	if (!buckets || !nbuckets) {
		buckets = default_buckets;
		nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
	}
	if (nbuckets > MAX_BUCKETS)
		nbuckets = MAX_BUCKETS;
	pthread_mutex_lock(&lock);
	if (m && !m->nbounds) {
		memcpy(m->bounds, buckets, nbuckets * sizeof(double));
		m->nbounds = nbuckets;
	}
	pthread_mutex_unlock(&lock);
	return m;
}

struct col_metric *col_metric_gauge_fn(const char *name, const char *labels, const char *help,
				       double (*fn)(void *), void *arg)
{
	struct col_metric *m = lookup(K_GAUGE_FN, name, labels, help);

	pthread_mutex_lock(&lock);
	if (m) {
		m->fn = fn;
		m->arg = arg;
	}
	pthread_mutex_unlock(&lock);
	return m;
}

void col_metric_add(struct col_metric *m, double v)
{
	if (!m)
		return;
	pthread_mutex_lock(&lock);
	m->value += v;
	pthread_mutex_unlock(&lock);
}

void col_metric_inc(struct col_metric *m)
{
	col_metric_add(m, 1);
}

void col_metric_set(struct col_metric *m, double v)
{
	if (!m)
		return;
	pthread_mutex_lock(&lock);
	m->value = v;
	pthread_mutex_unlock(&lock);
}

void col_metric_observe(struct col_metric *m, double v)
{
	size_t i;

	if (!m)
		return;
	pthread_mutex_lock(&lock);
	for (i = 0; i < m->nbounds && v > m->bounds[i]; i++)
		;
	m->counts[i]++;
	m->value += v;
	pthread_mutex_unlock(&lock);
}

static const char *type_name(enum kind k)
{
	switch (k) {
	case K_COUNTER:
		return "counter";
	case K_HISTOGRAM:
		return "histogram";
	default:
		return "gauge";
	}
}

/* name{labels,extra} with the braces only when there is something inside. */
static int series(struct cm_buf *out, const char *name, const char *suffix, const char *labels,
		  const char *extra)
{
	int has = *labels || (extra && *extra);

	return cm_buf_addf(out, "%s%s%s%s%s%s%s", name, suffix, has ? "{" : "", labels,
			   *labels && extra && *extra ? "," : "", extra ? extra : "",
			   has ? "}" : "");
}

int col_metrics_render(struct cm_buf *out)
{
	const char *last = NULL;
	int rc = CM_OK;

	pthread_mutex_lock(&lock);
	for (struct col_metric *m = head; m && rc == CM_OK; m = m->next) {
		if (!last || strcmp(last, m->name)) {
			rc = cm_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help,
					 m->name, type_name(m->kind));
			last = m->name;
		}
		if (rc)
			break;
		if (m->kind == K_HISTOGRAM) {
			unsigned long long cum = 0;
			char le[48];

			for (size_t i = 0; i <= m->nbounds && rc == CM_OK; i++) {
				cum += m->counts[i];
				if (i < m->nbounds)
					snprintf(le, sizeof(le), "le=\"%g\"", m->bounds[i]);
				else
					snprintf(le, sizeof(le), "le=\"+Inf\"");
				rc = series(out, m->name, "_bucket", m->labels, le);
				if (!rc)
					rc = cm_buf_addf(out, " %llu\n", cum);
			}
			if (!rc)
				rc = series(out, m->name, "_sum", m->labels, NULL);
			if (!rc)
				rc = cm_buf_addf(out, " %.17g\n", m->value);
			if (!rc)
				rc = series(out, m->name, "_count", m->labels, NULL);
			if (!rc)
				rc = cm_buf_addf(out, " %llu\n", cum);
		} else {
			double v = m->kind == K_GAUGE_FN && m->fn ? m->fn(m->arg) : m->value;

			rc = series(out, m->name, "", m->labels, NULL);
			if (!rc)
				rc = cm_buf_addf(out, " %.17g\n", v);
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void col_metrics_free(void)
{
	pthread_mutex_lock(&lock);
	while (head) {
		struct col_metric *m = head;

		head = m->next;
		free(m->name);
		free(m->labels);
		free(m->help);
		free(m);
	}
	tail = NULL;
	pthread_mutex_unlock(&lock);
}
