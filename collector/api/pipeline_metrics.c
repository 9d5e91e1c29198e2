/*
 * GET /api/v1/metrics: the figures of DESIGN.md over a window, for everything, a repository, a
 * workflow or a branch, with a time series.
 *
 * The database selects the runs of the window (the latest attempt of each run whose completion
 * falls in [from, to); cipulse_window_runs, which the regression and slow_build alert rules use
 * too) with their per-attempt duration and job queue times (both kept on the
 * attempt by sql/002_api.sql) and a flaky flag; this file computes every figure from those rows,
 * for the whole window and for each series bucket alike (a bucket is a window of its own). The
 * figures need whole distributions (p50/p95), so they are not pre-aggregated: the indexes make the
 * selection cheap for a workflow or a repository.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"
#include "cm_time.h"

/* Conclusions reported by name in by_conclusion; anything else is "other", none is "none". */
static const char *const conclusions[] = { "success",	      "failure",   "cancelled",
					   "skipped",	      "timed_out", "neutral",
					   "action_required", "stale",	   "startup_failure" };
#define NCONCL	(sizeof(conclusions) / sizeof(conclusions[0]))
#define C_OTHER NCONCL
#define C_NONE	(NCONCL + 1)
#define NSLOTS	(NCONCL + 2)

static size_t concl_slot(const char *c)
{
	if (!c)
		return C_NONE;
	for (size_t i = 0; i < NCONCL; i++) {
		if (!strcmp(c, conclusions[i]))
			return i;
	}
	return C_OTHER;
}

double api_percentile(const double *v, size_t n, double p)
{
	double rank, lo;
	size_t i;

	if (n == 0)
		return NAN;
	rank = p * (double)(n - 1);
	lo = floor(rank);
	i = (size_t)lo;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (v[i + 1] - v[i]) * (rank - lo);
}

/* Everything but the distributions, accumulated per window or bucket. */
struct acc {
	long runs;
	long by[NSLOTS];
	long flaky;
	double mttr_sum;
	long mttr_n;
	int failing;	    /* inside a failure streak of the current group */
	int64_t fail_start; /* completion of the streak's first failed run */
};

static void acc_run(struct acc *a, const struct api_mrun *r, size_t slot)
{
	a->runs++;
	a->by[slot]++;
	a->flaky += r->flaky != 0;
	/* MTTR: from the first failed run of a streak to the next successful run. */
	if (slot == 1 || slot == 4) { /* failure, timed_out */
		if (!a->failing) {
			a->failing = 1;
			a->fail_start = r->t_ms;
		}
	} else if (slot == 0 && a->failing) {
		a->mttr_sum += (double)(r->t_ms - a->fail_start) / 1000.0;
		a->mttr_n++;
		a->failing = 0;
	}
}

struct sample {
	int bucket;
	double v;
};

static int cmp_sample(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->v < y->v ? -1 : x->v > y->v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static double mean(const double *v, size_t n)
{
	double s = 0;

	if (!n)
		return NAN;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s / (double)n;
}

/* Sets the figures of one window or bucket on obj. dur/queue: that scope's sorted samples. */
static int set_figures(json_t *obj, const struct acc *a, const double *dur, size_t ndur,
		       const double *queue, size_t nqueue)
{
	json_t *by = json_object();
	long counted = a->by[0] + a->by[1] + a->by[4];

	if (!by)
		return -1;
	for (size_t i = 0; i < NSLOTS; i++) {
		const char *name = i < NCONCL ? conclusions[i] : i == C_OTHER ? "other" : "none";

		if (a->by[i] && api_set(by, name, json_integer(a->by[i]))) {
			json_decref(by);
			return -1;
		}
	}
	if (api_set(obj, "runs", json_integer(a->runs)) || api_set(obj, "by_conclusion", by) ||
	    api_set(obj, "success_rate",
		    counted ? json_real((double)a->by[0] / (double)counted) : json_null()) ||
	    api_set(obj, "avg_duration_s", num_or_null(mean(dur, ndur))) ||
	    api_set(obj, "p50_duration_s", num_or_null(api_percentile(dur, ndur, 0.5))) ||
	    api_set(obj, "p95_duration_s", num_or_null(api_percentile(dur, ndur, 0.95))) ||
	    api_set(obj, "avg_queue_s", num_or_null(mean(queue, nqueue))) ||
	    api_set(obj, "p95_queue_s", num_or_null(api_percentile(queue, nqueue, 0.95))) ||
	    api_set(obj, "mttr_s",
		    a->mttr_n ? json_real(a->mttr_sum / (double)a->mttr_n) : json_null()) ||
	    api_set(obj, "flaky_runs", json_integer(a->flaky)))
		return -1;
	return 0;
}

static int same_group(const struct api_mrun *a, const struct api_mrun *b)
{
	if (a->repo_id != b->repo_id || a->workflow_id != b->workflow_id)
		return 0;
	if (!a->branch || !b->branch)
		return a->branch == b->branch;
	return !strcmp(a->branch, b->branch);
}

static int bucket_of(const struct api_window *w, int64_t t)
{
	int64_t b = (t - w->from_ms) / w->bucket_ms;

	return b < 0 ? 0 : b >= w->nbuckets ? w->nbuckets - 1 : (int)b;
}

json_t *api_metrics_json(const struct api_window *w, const struct api_mrun *runs, size_t nruns,
			 const struct api_mqueue *queues, size_t nqueues)
{
	int nb = w->nbuckets;
	struct acc total, *bk = calloc((size_t)nb, sizeof(*bk));
	struct sample *ds = calloc(nruns + 1, sizeof(*ds)), *qs = calloc(nqueues + 1, sizeof(*qs));
	double *all_d = calloc(nruns + 1, sizeof(double)),
	       *all_q = calloc(nqueues + 1, sizeof(double));
	double *tmp_d = calloc(nruns + 1, sizeof(double)),
	       *tmp_q = calloc(nqueues + 1, sizeof(double));
	size_t nd = 0, di = 0, qi = 0;
	json_t *out = NULL, *series = NULL;

	memset(&total, 0, sizeof(total));
	if (!bk || !ds || !qs || !all_d || !all_q || !tmp_d || !tmp_q)
		goto done;
	for (size_t i = 0; i < nruns; i++) {
		const struct api_mrun *r = &runs[i];
		size_t slot = concl_slot(r->conclusion);
		int b = bucket_of(w, r->t_ms);

		if (i > 0 && !same_group(r, &runs[i - 1])) {
			/* A new workflow/branch: failure streaks do not carry over. */
			total.failing = 0;
			for (int k = 0; k < nb; k++)
				bk[k].failing = 0;
		}
		acc_run(&total, r, slot);
		acc_run(&bk[b], r, slot);
		if (r->has_dur) {
			ds[nd].bucket = b;
			ds[nd].v = r->dur_s;
			all_d[nd++] = r->dur_s;
		}
	}
	for (size_t i = 0; i < nqueues; i++) {
		qs[i].bucket = bucket_of(w, queues[i].t_ms);
		qs[i].v = queues[i].queue_s;
		all_q[i] = queues[i].queue_s;
	}
	qsort(all_d, nd, sizeof(double), cmp_double);
	qsort(all_q, nqueues, sizeof(double), cmp_double);
	qsort(ds, nd, sizeof(*ds), cmp_sample);
	qsort(qs, nqueues, sizeof(*qs), cmp_sample);

	out = json_object();
	series = json_array();
	if (!out || !series || set_figures(out, &total, all_d, nd, all_q, nqueues)) {
		json_decref(series);
		json_decref(out);
		out = NULL;
		goto done;
	}
	for (int b = 0; b < nb; b++) {
		json_t *o = json_object();
		size_t bd = 0, bq = 0;

		while (di < nd && ds[di].bucket == b)
			tmp_d[bd++] = ds[di++].v;
		while (qi < nqueues && qs[qi].bucket == b)
			tmp_q[bq++] = qs[qi++].v;
		if (!o || json_array_append_new(series, o) ||
		    api_set(o, "ts", api_time(w->from_ms + (int64_t)b * w->bucket_ms)) ||
		    set_figures(o, &bk[b], tmp_d, bd, tmp_q, bq)) {
			json_decref(series);
			json_decref(out);
			out = NULL;
			goto done;
		}
	}
	if (api_set(out, "series", series)) {
		json_decref(out);
		out = NULL;
	}
done:
	free(bk);
	free(ds);
	free(qs);
	free(all_d);
	free(all_q);
	free(tmp_d);
	free(tmp_q);
	return out;
}

/*
 * The queue times of one run from their array text ("{1.5,20,0.25}", "" for NULL), each with the
 * run's completion; returns how many were written to out.
 */
static int parse_queues(const char *text, int64_t t_ms, struct api_mqueue *out)
{
	const char *p = text;
	char *end;
	int n = 0;

	if (*p != '{')
		return 0;
	p++;
	while (*p && *p != '}') {
		double v = strtod(p, &end);

		if (end == p)
			break; /* not a number: stop rather than guess */
		out[n].t_ms = t_ms;
		out[n].queue_s = v;
		n++;
		p = end;
		if (*p == ',')
			p++;
	}
	return n;
}

/*
 * The runs of the window, as the alert rules select them too (cipulse_window_runs in
 * sql/005_window_rules.sql): $1 from, $2 to (µs), $3 repo, $4 workflow, $5 branch.
 */
/* clang-format off */
#define WINDOW_RUNS                                                                           \
	"cipulse_window_runs(" API_TS_US("$1") ", " API_TS_US("$2") ", $3::bigint, $4::bigint, "  \
	"$5::text)"
/* clang-format on */

void api_metrics_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "repo", "workflow", "branch", "window",
					       "from", "to",	   NULL };
	/* clang-format off */
	static const char runs_sql[] =
		"SELECT " API_MS("w.completed_at") ", w.repo_id, COALESCE(w.workflow_id, 0), "
		"w.head_branch, w.conclusion, w.duration_s, "
		"w.conclusion = 'success' AND w.run_attempt > 1 AND EXISTS (SELECT 1 FROM "
		"  workflow_runs e WHERE e.repo_id = w.repo_id AND e.run_id = w.run_id "
		"  AND e.run_attempt < w.run_attempt AND e.head_sha IS NOT DISTINCT FROM w.head_sha "
		"  AND e.conclusion IN ('failure', 'timed_out')), w.queue_s "
		"FROM " WINDOW_RUNS " w"
		" ORDER BY w.repo_id, w.workflow_id, w.head_branch, w.completed_at, w.run_id";
	/* clang-format on */
	struct col_query q;
	struct col_params p = { .n = 0 };
	struct api_window w;
	struct api_mrun *runs = NULL;
	struct api_mqueue *queues = NULL;
	const char *repo, *branch, *param = "", *why = "";
	struct col_conn *c;
	PGresult *res = NULL;
	json_t *out = NULL;
	int64_t wf, repo_id = 0;
	int has_wf, n, nq = 0, rc;

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
			     col_query_get(&q, "to"), cm_time_now_ms(), &w, &param, &why)) {
		api_bad_param(resp, param, "%s", why);
		return;
	}
	/* Every repository at once is expensive: limited (one repository is not). */
	if (repo ? api_conn(req, resp, &c) : api_expensive_conn(req, resp, &c))
		return;
	if (repo && api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_i64(&p, w.from_ms * 1000);
	col_p_i64(&p, w.to_ms * 1000);
	col_p_opt_i64(&p, repo != NULL, repo_id);
	col_p_opt_i64(&p, has_wf, wf);
	col_p_str(&p, branch);
	res = col_db_query(c, "metrics", runs_sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "metrics");
		goto out;
	}
	n = PQntuples(res);
	/* Every element of the queue arrays is a number: the text cannot hold more than len/2. */
	for (int i = 0; i < n; i++)
		nq += PQgetlength(res, i, 7) / 2 + 1;
	runs = calloc((size_t)n + 1, sizeof(*runs));
	queues = calloc((size_t)nq + 1, sizeof(*queues));
	if (!runs || !queues) {
		col_http_error(resp, 500, "internal", "out of memory");
		goto out;
	}
	nq = 0;
	for (int i = 0; i < n; i++) {
		runs[i].t_ms = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		runs[i].repo_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		runs[i].workflow_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		runs[i].branch = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
		runs[i].conclusion = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
		runs[i].has_dur = !PQgetisnull(res, i, 5);
		runs[i].dur_s = runs[i].has_dur ? strtod(PQgetvalue(res, i, 5), NULL) : 0;
		runs[i].flaky = PQgetvalue(res, i, 6)[0] == 't';
		nq += parse_queues(PQgetvalue(res, i, 7), runs[i].t_ms, queues + nq);
	}
	out = api_metrics_json(&w, runs, (size_t)n, queues, (size_t)nq);
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
	free(runs);
	free(queues);
	PQclear(res);
	if (repo)
		col_db_release(req->ctx->db, c);
	else
		api_expensive_release(req, c);
}
