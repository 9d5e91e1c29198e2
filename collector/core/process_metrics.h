/*
 * The collector's own Prometheus metrics: a process-wide registry of counters, gauges and
 * histograms, rendered in the text exposition format by col_metrics_render. Thread safe.
 *
 * A series is named with its labels, e.g. col_metric_counter("cipulse_reports_total",
 * "result=\"ok\"", "Agent reports received."); the same name and labels return the same series.
 * Labels must have bounded cardinality (never run ids, SHAs or runner names).
 */
#ifndef COL_METRICS_H
#define COL_METRICS_H

#include <stddef.h>

#include "cm_buf.h"

struct col_metric;

struct col_metric *col_metric_counter(const char *name, const char *labels, const char *help);
struct col_metric *col_metric_gauge(const char *name, const char *labels, const char *help);
/* buckets: ascending upper bounds (without +Inf); NULL/0 for the default latency buckets. */
struct col_metric *col_metric_histogram(const char *name, const char *labels, const char *help,
					const double *buckets, size_t nbuckets);
/* A gauge whose value is read by calling fn(arg) at render time. */
struct col_metric *col_metric_gauge_fn(const char *name, const char *labels, const char *help,
				       double (*fn)(void *), void *arg);

void col_metric_add(struct col_metric *m, double v);
void col_metric_inc(struct col_metric *m);
void col_metric_set(struct col_metric *m, double v);
void col_metric_observe(struct col_metric *m, double v);

/* Appends every series in the Prometheus text format (version 0.0.4). */
int col_metrics_render(struct cm_buf *out);
/* Frees the registry (at exit, for leak checkers). */
void col_metrics_free(void);

#endif
