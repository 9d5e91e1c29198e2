/*
 * GET /api/v1/metrics: the figures of DESIGN.md over a window, for everything, a repository, a
 * workflow or a branch, with a time series.
 *
 * The database computes every figure: cipulse_window_metrics (sql/013_window_metrics.sql) reads
 * the runs of the window (the latest attempt of each run whose completion falls in [from, to);
 * cipulse_window_runs) once and returns, for the whole window and for each series bucket, the
 * counts by conclusion, flaky runs, MTTR, success rate and the duration and queue
 * distributions. The regression and slow_build alert rules read the same definition, so a rule
 * and this endpoint give the same number. The indexes make the selection cheap for a workflow or
 * a repository.
 *
 * Over all repositories, the named windows of whole hours (24h, 7d, 30d) are read from the
 * rollup per repository and hour or day instead (cipulse_rollup_sums, sql/020_rollup_sums.sql,
 * sums the counters and hands over the histograms, added here: load_rollup_rows; the definition
 * is sql/016's cipulse_rollup_metrics): the window is aligned to its buckets (it ends at the end of
 * the current bucket), the percentiles come from histograms and MTTR counts whole streaks; see
 * DESIGN.md "Metrics over all repositories". The cost grows with repositories x buckets, not
 * with the runs of the window.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"
#include "cm_time.h"

#define HOUR_MS 3600000LL

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* A window or bucket without a row from the database: no runs, null figures. */
static const struct api_mrow no_runs = { -1, 0, 0, NULL, NAN, NAN, NAN, NAN, NAN, NAN, NAN };

/* Sets the figures of one window or bucket on obj. */
static int set_figures(json_t *obj, const struct api_mrow *f)
{
	json_t *by = f->by_conclusion ? json_deep_copy(f->by_conclusion) : json_object();

	if (!by)
		return -1;
	if (api_set(obj, "runs", json_integer(f->runs)) || api_set(obj, "by_conclusion", by) ||
	    api_set(obj, "success_rate", num_or_null(f->success_rate)) ||
	    api_set(obj, "avg_duration_s", num_or_null(f->avg_duration_s)) ||
	    api_set(obj, "p50_duration_s", num_or_null(f->p50_duration_s)) ||
	    api_set(obj, "p95_duration_s", num_or_null(f->p95_duration_s)) ||
	    api_set(obj, "avg_queue_s", num_or_null(f->avg_queue_s)) ||
	    api_set(obj, "p95_queue_s", num_or_null(f->p95_queue_s)) ||
	    api_set(obj, "mttr_s", num_or_null(f->mttr_s)) ||
	    api_set(obj, "flaky_runs", json_integer(f->flaky_runs)))
		return -1;
	return 0;
}

/* The row for bucket b (-1: the whole window). */
static const struct api_mrow *row_of(const struct api_mrow *rows, size_t nrows, int b)
{
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].bucket == b)
			return &rows[i];
	}
	return &no_runs;
}

json_t *api_metrics_json(const struct api_window *w, const struct api_mrow *rows, size_t nrows)
{
	json_t *out = json_object(), *series = json_array();

	if (!out || !series || set_figures(out, row_of(rows, nrows, -1)))
		goto fail;
	for (int b = 0; b < w->nbuckets; b++) {
		json_t *o = json_object();

		if (!o || json_array_append_new(series, o) ||
		    api_set(o, "ts", api_time(w->from_ms + (int64_t)b * w->bucket_ms)) ||
		    set_figures(o, row_of(rows, nrows, b)))
			goto fail;
	}
	if (api_set(out, "series", series)) {
		json_decref(out);
		return NULL;
	}
	return out;
fail:
	json_decref(series);
	json_decref(out);
	return NULL;
}

/*
 * The window and its scope, as the alert rules take them too (sql/005_window_rules.sql,
 * sql/006_window_figures.sql): $1 from, $2 to (µs), $3 repo, $4 workflow, $5 branch.
 */
/* clang-format off */
#define WINDOW_ARGS                                                                           \
	API_TS_US("$1") ", " API_TS_US("$2") ", $3::bigint, $4::bigint, $5::text"
/* clang-format on */

static double num_at(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NAN : strtod(PQgetvalue(res, row, col), NULL);
}

static void free_rows(struct api_mrow *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		json_decref(rows[i].by_conclusion);
	free(rows);
}

#define MROW_COLS                                                                                  \
	"SELECT bucket, runs, by_conclusion, flaky_runs, mttr_s, success_rate, "                   \
	"avg_duration_s, p50_duration_s, p95_duration_s, avg_queue_s, p95_queue_s "

/* The rows of the window from the runs (cipulse_window_metrics) into *rows (free_rows). */
static int load_rows(struct col_conn *c, const struct col_params *p, struct api_mrow **rows,
		     size_t *nrows)
{
	static const char sql[] =
	    MROW_COLS "FROM cipulse_window_metrics(" WINDOW_ARGS ", $6::bigint, $7::integer)";
	PGresult *res;
	int n, rc;

	res = col_db_query(c, "metrics", sql, p->n, p->v, &rc);
	if (!res)
		return rc;
	n = PQntuples(res);
	*rows = calloc((size_t)n + 1, sizeof(**rows));
	if (!*rows) {
		PQclear(res);
		return CM_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct api_mrow *r = &(*rows)[i];
		double *v[] = { &r->mttr_s,	    &r->success_rate,	&r->avg_duration_s,
				&r->p50_duration_s, &r->p95_duration_s, &r->avg_queue_s,
				&r->p95_queue_s };

		r->bucket = PQgetisnull(res, i, 0) ? -1 : atoi(PQgetvalue(res, i, 0));
		r->runs = strtol(PQgetvalue(res, i, 1), NULL, 10);
		r->by_conclusion = json_loads(PQgetvalue(res, i, 2), 0, NULL);
		r->flaky_runs = strtol(PQgetvalue(res, i, 3), NULL, 10);
		for (int k = 0; k < 7; k++)
			*v[k] = num_at(res, i, k + 4);
		*nrows = (size_t)i + 1;
		if (!r->by_conclusion) {
			PQclear(res);
			return CM_ENOMEM;
		}
	}
	*nrows = (size_t)n;
	PQclear(res);
	return CM_OK;
}

int api_hist_add_text(int64_t *h, const char *text)
{
	const char *s = text;

	while (*s) {
		char *end;
		long k;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		k = strtol(s, &end, 10);
		if (end == s || *end != ':' || k < 0)
			return -1;
		s = end;
		do {
			long long n = strtoll(++s, &end, 10);

			if (end == s)
				return -1;
			/* Bins past the last one (durations of years) count in it. */
			h[k < API_HIST_BINS ? k : API_HIST_BINS - 1] += n;
			k++;
			s = end;
		} while (*s == ',');
		if (*s && *s != ' ')
			return -1;
	}
	return 0;
}

double api_hist_quantile(const int64_t *h, double p)
{
	int64_t n = 0, cum = 0;
	int last = -1;
	double rank;

	for (int k = 0; k < API_HIST_BINS; k++) {
		if (h[k] > 0) {
			n += h[k];
			last = k;
		}
	}
	if (n == 0)
		return NAN;
	rank = p * (double)(n - 1);
	for (int k = 0; k <= last; k++) {
		double f;

		if (h[k] <= 0)
			continue;
		if (rank < (double)(cum + h[k]) || k == last) {
			f = (rank - (double)cum + 0.5) / (double)h[k];
			f = f < 0 ? 0 : f > 1 ? 1 : f;
			return k == 0 ? f : pow(2.0, ((double)(k - 1) + f) / 4.0);
		}
		cum += h[k];
	}
	return NAN;
}

/* The rollup's sums of one bucket or of the whole window (cipulse_rollup_sums' columns). */
enum {
	S_RUNS,
	S_SUCCESS,
	S_FAILURE,
	S_TIMED_OUT,
	S_NONE = S_SUCCESS + 10,
	S_FLAKY,
	S_DUR_N,
	S_DUR_SUM,
	S_QUEUE_N,
	S_QUEUE_SUM,
	S_REC_N,
	S_REC_SUM,
	S_N
};

struct rollup_sums {
	int64_t v[S_N];
	int64_t dur[API_HIST_BINS], queue[API_HIST_BINS];
};

/* The conclusions in cipulse_rollup_sums' column order from n_success (by_conclusion's keys). */
static const char *const conclusions[] = { "success",	      "failure", "timed_out",
					   "cancelled",	      "skipped", "neutral",
					   "action_required", "stale",	 "startup_failure",
					   "other",	      "none" };

/*
 * Adds the sums of row i of a cipulse_rollup_sums or cipulse_rollup_cells result (its counters
 * from column 1 on, then the two histograms; NULL counts as 0) to s: -1 for a malformed row.
 */
static int sums_of_row(const PGresult *res, int i, struct rollup_sums *s)
{
	for (int k = 0; k < S_N; k++)
		s->v[k] += strtoll(PQgetvalue(res, i, k + 1), NULL, 10);
	return api_hist_add_text(s->dur, PQgetvalue(res, i, S_N + 1)) ||
		       api_hist_add_text(s->queue, PQgetvalue(res, i, S_N + 2))
		   ? -1
		   : 0;
}

static void sums_add(struct rollup_sums *to, const struct rollup_sums *s)
{
	for (int k = 0; k < S_N; k++)
		to->v[k] += s->v[k];
	for (int k = 0; k < API_HIST_BINS; k++) {
		to->dur[k] += s->dur[k];
		to->queue[k] += s->queue[k];
	}
}

static double ratio(double num, int64_t den)
{
	return den > 0 ? num / (double)den : NAN;
}

/* The figures of s into r (as cipulse_rollup_metrics computes them). */
static int figures_of(const struct rollup_sums *s, int bucket, struct api_mrow *r)
{
	int64_t decided = s->v[S_SUCCESS] + s->v[S_FAILURE] + s->v[S_TIMED_OUT];

	r->bucket = bucket;
	r->runs = (long)s->v[S_RUNS];
	r->flaky_runs = (long)s->v[S_FLAKY];
	r->by_conclusion = json_object();
	if (!r->by_conclusion)
		return -1;
	for (int i = 0; i <= S_NONE - S_SUCCESS; i++) {
		if (s->v[S_SUCCESS + i] != 0 &&
		    api_set(r->by_conclusion, conclusions[i], json_integer(s->v[S_SUCCESS + i])))
			return -1;
	}
	r->mttr_s = ratio((double)s->v[S_REC_SUM] / 1000.0, s->v[S_REC_N]);
	r->success_rate = ratio((double)s->v[S_SUCCESS], decided);
	r->avg_duration_s = ratio((double)s->v[S_DUR_SUM] / 1000.0, s->v[S_DUR_N]);
	r->p50_duration_s = api_hist_quantile(s->dur, 0.5);
	r->p95_duration_s = api_hist_quantile(s->dur, 0.95);
	r->avg_queue_s = ratio((double)s->v[S_QUEUE_SUM] / 1000.0, s->v[S_QUEUE_N]);
	r->p95_queue_s = api_hist_quantile(s->queue, 0.95);
	return 0;
}

/*
 * The rows of the window from the rollup into *rows (free_rows): cipulse_rollup_sums
 * (sql/020_rollup_sums.sql) sums each bucket's counters and hands over its rows' histograms,
 * which are added here (in SQL, a row per bin: nine tenths of the time). $3 the repository set
 * (NULL: all), $4, $5 the buckets.
 */
static int load_rollup_rows(struct col_conn *c, const struct col_params *p, struct api_mrow **rows,
			    size_t *nrows)
{
	static const char sql[] = "SELECT * FROM cipulse_rollup_sums(" API_TS_US(
	    "$1") ", " API_TS_US("$2") ", $3::bigint[], $4::bigint, $5::integer)";
	struct rollup_sums *whole = NULL, *one = NULL;
	PGresult *res;
	int n, rc = CM_ENOMEM;

	res = col_db_query(c, "metrics", sql, p->n, p->v, &rc);
	if (!res)
		return rc;
	rc = CM_ENOMEM;
	n = PQntuples(res);
	*rows = calloc((size_t)n + 1, sizeof(**rows));
	whole = calloc(1, sizeof(*whole));
	one = malloc(sizeof(*one));
	if (!*rows || !whole || !one)
		goto out;
	for (int i = 0; i < n; i++) {
		memset(one, 0, sizeof(*one));
		if (sums_of_row(res, i, one)) {
			rc = CM_EPROTO;
			goto out;
		}
		sums_add(whole, one);
		*nrows = (size_t)i + 1;
		if (figures_of(one, atoi(PQgetvalue(res, i, 0)), &(*rows)[i]))
			goto out;
	}
	*nrows = (size_t)n + 1;
	rc = figures_of(whole, -1, &(*rows)[n]) ? CM_ENOMEM : CM_OK;
out:
	free(whole);
	free(one);
	PQclear(res);
	return rc;
}

/*
 * The all-repository cache (sql/022_rollup_cache.sql), for principals who read every
 * repository: per grain (the rollup's hours and days), the sums of every repository's rollup
 * rows of a bucket (a cell), all read in one snapshot, kept with that snapshot. A request asks
 * cipulse_rollup_cells for the cells changed by a transaction that snapshot does not see and
 * for the cells of its window the cache lacks, in one statement (one snapshot, the request's
 * own): the others are the same in both snapshots, so the figures are those of a direct read
 * (load_rollup_rows) at the request's start. Cells are not changed once made (a changed bucket
 * gets a new cell), so a request holds the cells it uses by reference, not the lock.
 *
 * That holds only while the database's history goes forward. A restore (or a point-in-time
 * recovery) takes transaction ids back, and the cache's snapshot would count the new
 * transactions as seen: cipulse_rollup_cells reads everything again when the snapshot is from
 * the future (sql/024_rollup_cache_future.sql), and a request on a connection opened after the
 * cache was last refreshed (col_conn.serial above g->serial) does not use the cache. A restore
 * restarts the server, so every connection to the restored database is opened after the cache
 * was read. g->serial is the newest serial handed out when the last stored refresh began
 * (col_db_opened), not that refresh's own connection's: its connection answered after that
 * moment, so a connection opened before it that still answers reaches the same server, one
 * server at a time behind the URL (two live servers behind one URL, say a virtual IP moved
 * while the old primary runs, are not covered). (Keeping the refreshing connection's serial
 * instead left the newest connection reading everything on every request while cheaper
 * refreshes on older connections kept winning the store: all-repository 30 d p99 63-320 ms
 * instead of 17-43 under 8 clients.)
 */
#define DAY_MS (24 * HOUR_MS)

struct cell {
	atomic_long refs;
	int64_t t0_ms;
	struct rollup_sums s;
};

struct grain_cache {
	const int64_t grain_ms;
	const int64_t keep_back_ms, keep_ahead_ms; /* the cells kept, around now */
	pthread_mutex_t lock;
	uint64_t gen;		 /* changes whenever the cells or the snapshot do */
	uint64_t serial;	 /* col_db_opened() when the last stored refresh began */
	char *snap;		 /* the cells' snapshot (pg_snapshot text); NULL: none */
	struct cell *cells[256]; /* by (t0 / grain) % 256: the kept span holds fewer cells */
};

static struct grain_cache grain_caches[2] = {
	{ HOUR_MS, 8 * DAY_MS, DAY_MS, PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, { NULL } },
	{ DAY_MS, 32 * DAY_MS, 2 * DAY_MS, PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, { NULL } },
};

static struct cell *cell_ref(struct cell *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

static void cell_unref(struct cell *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

static struct cell *cell_new(int64_t t0_ms)
{
	struct cell *c = calloc(1, sizeof(*c));

	if (c) {
		atomic_init(&c->refs, 1);
		c->t0_ms = t0_ms;
	}
	return c;
}

static struct cell **cell_slot(struct grain_cache *g, int64_t t0_ms)
{
	size_t n = sizeof(g->cells) / sizeof(g->cells[0]);

	return &g->cells[(size_t)((uint64_t)(t0_ms / g->grain_ms) % n)];
}

/*
 * The window's rows from the cache, refreshed first (see above): CM_OK, CM_ENOTFOUND when the
 * window is not one the cache keeps (read it directly), or an error.
 */
static int cached_rollup_rows(struct col_conn *c, const struct api_window *w, int64_t now_ms,
			      struct api_mrow **rows, size_t *nrows)
{
	static const char sql[] =
	    "SELECT * FROM cipulse_rollup_cells($1, $2::integer, " API_TS_US("$3") ", " API_TS_US(
		"$4") ", " API_TS_US("$5") ", " API_TS_US("$6") ", "
								"(SELECT array_agg(to_timestamp(x / 1000)) "
								"FROM unnest($7::bigint[]) x))";
	/* Day rows when the buckets are whole days from a midnight (as cipulse_rollup_sums). */
	struct grain_cache *g =
	    &grain_caches[w->bucket_ms % DAY_MS == 0 && w->from_ms % DAY_MS == 0];
	int64_t base = now_ms / g->grain_ms * g->grain_ms;
	int64_t keep_from = base - g->keep_back_ms, keep_to = base + g->keep_ahead_ms;
	size_t ncells = (size_t)((w->to_ms - w->from_ms) / g->grain_ms), nfresh = 0;
	struct cell **win = NULL, **fresh = NULL;
	struct rollup_sums *sums = NULL;
	struct col_array need;
	struct col_params p = { .n = 0 };
	char *since = NULL, *snap = NULL;
	PGresult *res = NULL;
	uint64_t gen, opened;
	int n, whole = 0, lost, trusted, rc = CM_ENOMEM;

	if (w->from_ms < keep_from || w->to_ms > keep_to || w->from_ms % g->grain_ms ||
	    w->to_ms % g->grain_ms || w->bucket_ms % g->grain_ms)
		return CM_ENOTFOUND;
	col_array_init(&need, ncells * 24 + 2);
	win = calloc(ncells, sizeof(*win));
	sums = calloc((size_t)w->nbuckets + 1, sizeof(*sums));
	if (!win || !sums)
		goto out;
	/* What the cache has of the window; the rest is asked for. */
	pthread_mutex_lock(&g->lock);
	gen = g->gen;
	opened = col_db_opened();
	/* A newer connection may reach a restarted server, maybe restored: read everything. */
	trusted = g->snap && c->serial <= g->serial;
	since = trusted ? strdup(g->snap) : NULL;
	lost = trusted && !since;
	for (size_t i = 0; i < ncells; i++) {
		int64_t t0 = w->from_ms + (int64_t)i * g->grain_ms;
		struct cell *x = *cell_slot(g, t0);

		if (since && x && x->t0_ms == t0)
			win[i] = cell_ref(x);
		else if (col_array_add_i64(&need, t0))
			lost = 1;
	}
	pthread_mutex_unlock(&g->lock);
	if (lost)
		goto out; /* out of memory */
	col_p_str(&p, since);
	col_p_i64(&p, g->grain_ms / 1000);
	col_p_i64(&p, keep_from * 1000);
	col_p_i64(&p, keep_to * 1000);
	col_p_i64(&p, w->from_ms * 1000);
	col_p_i64(&p, w->to_ms * 1000);
	col_p_str(&p, col_array_str(&need));
	if (!p.v[6])
		goto out;
	res = col_db_query(c, "metrics", sql, p.n, p.v, &rc);
	if (!res)
		goto out;
	rc = CM_ENOMEM;
	n = PQntuples(res);
	fresh = calloc((size_t)n + ncells, sizeof(*fresh));
	if (!fresh)
		goto out;
	for (int i = 0; i < n; i++) {
		struct cell *x;

		if (PQgetisnull(res, i, 0)) {
			snap = strdup(PQgetvalue(res, i, S_N + 3));
			whole = PQgetvalue(res, i, S_N + 4)[0] == 't';
			if (!snap)
				goto out;
			continue;
		}
		x = cell_new(strtoll(PQgetvalue(res, i, 0), NULL, 10));
		if (!x)
			goto out;
		fresh[nfresh++] = x;
		if (sums_of_row(res, i, &x->s)) {
			rc = CM_EPROTO;
			goto out;
		}
	}
	rc = CM_EPROTO;
	if (!snap)
		goto out; /* no last row */
	rc = CM_ENOMEM;
	/* The window's cells: read now, else (not changed since) the cache's, else empty. */
	for (size_t i = 0; i < ncells; i++) {
		int64_t t0 = w->from_ms + (int64_t)i * g->grain_ms;
		struct cell *x = NULL;

		for (size_t k = 0; k < nfresh && !x; k++)
			if (fresh[k]->t0_ms == t0)
				x = fresh[k];
		if (x || whole || !win[i]) {
			cell_unref(win[i]);
			win[i] = x ? cell_ref(x) : cell_new(t0);
			if (!win[i])
				goto out;
			if (!x)
				fresh[nfresh++] = cell_ref(win[i]);
		}
	}
	/* Kept when nobody refreshed the cache meanwhile (else that request's cells stay). */
	pthread_mutex_lock(&g->lock);
	if (g->gen == gen) {
		size_t slots = sizeof(g->cells) / sizeof(g->cells[0]);

		for (size_t k = 0; k < slots; k++) {
			struct cell *x = g->cells[k];

			if (x && (whole || x->t0_ms < keep_from || x->t0_ms >= keep_to)) {
				g->cells[k] = NULL;
				cell_unref(x);
			}
		}
		for (size_t k = 0; k < nfresh; k++) {
			struct cell **slot = cell_slot(g, fresh[k]->t0_ms);

			if (fresh[k]->t0_ms < keep_from || fresh[k]->t0_ms >= keep_to)
				continue;
			cell_unref(*slot);
			*slot = cell_ref(fresh[k]);
		}
		free(g->snap);
		g->snap = snap;
		snap = NULL;
		if (opened > g->serial)
			g->serial = opened;
		g->gen++;
	}
	pthread_mutex_unlock(&g->lock);
	/* The window's buckets and the whole window, as load_rollup_rows makes them. */
	for (size_t i = 0; i < ncells; i++) {
		int b = (int)((win[i]->t0_ms - w->from_ms) / w->bucket_ms);

		sums_add(&sums[b < w->nbuckets ? b : w->nbuckets - 1], &win[i]->s);
		sums_add(&sums[w->nbuckets], &win[i]->s);
	}
	*rows = calloc((size_t)w->nbuckets + 1, sizeof(**rows));
	if (!*rows)
		goto out;
	for (int b = 0; b <= w->nbuckets; b++) {
		*nrows = (size_t)b + 1;
		if (figures_of(&sums[b], b < w->nbuckets ? b : -1, &(*rows)[b]))
			goto out;
	}
	rc = CM_OK;
out:
	for (size_t i = 0; win && i < ncells; i++)
		cell_unref(win[i]);
	for (size_t k = 0; fresh && k < nfresh; k++)
		cell_unref(fresh[k]);
	free(win);
	free(fresh);
	free(sums);
	free(since);
	free(snap);
	col_array_release(&need);
	PQclear(res);
	return rc;
}

void api_metrics_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "repo", "workflow", "branch", "window",
					       "from", "to",	   NULL };
	struct col_query q;
	struct col_params p = { .n = 0 };
	struct api_window w;
	struct api_mrow *rows = NULL;
	size_t nrows = 0;
	const char *repo, *branch, *param = "", *why = "";
	struct col_conn *c;
	json_t *out = NULL;
	int64_t wf, repo_id = 0, now_ms = cm_time_now_ms();
	int has_wf, rollup, expensive, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_repo(resp, &q, "repo", &repo) ||
	    api_param_id(resp, &q, "workflow", &wf, &has_wf) ||
	    api_param_branch(resp, &q, "branch", &branch))
		return;
	if (has_wf && !repo) {
		api_bad_param(resp, "workflow", "needs repo (workflow ids are per repository)");
		return;
	}
	if (api_window_parse(col_query_get(&q, "window"), col_query_get(&q, "from"),
			     col_query_get(&q, "to"), now_ms, &w, &param, &why)) {
		api_bad_param(resp, param, "%s", why);
		return;
	}
	rollup =
	    !repo && !has_wf && !branch && strcmp(w.name, "custom") && w.bucket_ms % HOUR_MS == 0;
	/*
	 * Every repository at once from the runs is expensive: limited (one repository, or the
	 * rollup, is not).
	 */
	expensive = !repo && !rollup;
	if (expensive ? api_expensive_conn(req, resp, &c) : api_conn(req, resp, &c))
		return;
	if (repo && api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	if (rollup) {
		/* Whole buckets, the last one holding now. */
		w.to_ms = (w.to_ms / w.bucket_ms + 1) * w.bucket_ms;
		w.from_ms = w.to_ms - (int64_t)w.nbuckets * w.bucket_ms;
	}
	col_p_i64(&p, w.from_ms * 1000);
	col_p_i64(&p, w.to_ms * 1000);
	if (rollup) {
		col_p_null(&p); /* every repository */
	} else {
		col_p_opt_i64(&p, repo != NULL, repo_id);
		col_p_opt_i64(&p, has_wf, wf);
		col_p_str(&p, branch);
	}
	col_p_i64(&p, w.bucket_ms);
	col_p_i64(&p, w.nbuckets);
	/* Whoever reads every repository reads the cache (the others see only theirs). */
	rc = rollup && api_sees_all(req) ? cached_rollup_rows(c, &w, now_ms, &rows, &nrows)
					 : CM_ENOTFOUND;
	if (rc == CM_ENOTFOUND)
		rc = rollup ? load_rollup_rows(c, &p, &rows, &nrows)
			    : load_rows(c, &p, &rows, &nrows);
	if (rc) {
		api_db_fail(resp, rc, "metrics");
		goto out;
	}
	out = api_metrics_json(&w, rows, nrows);
	if (out &&
	    (api_set(out, "window", json_string(w.name)) ||
	     api_set(out, "from", api_time(w.from_ms)) || api_set(out, "to", api_time(w.to_ms)) ||
	     api_set(out, "bucket_s", json_integer(w.bucket_ms / 1000)) ||
	     api_set(out, "repo", api_jstr(repo)) ||
	     api_set(out, "workflow", has_wf ? json_integer(wf) : json_null()) ||
	     api_set(out, "branch", api_jstr(branch)))) {
		json_decref(out);
		out = NULL;
	}
	api_reply(resp, 200, out);
out:
	free_rows(rows, nrows);
	if (expensive)
		api_expensive_release(req, c);
	else
		col_db_release(req->ctx->db, c);
}
