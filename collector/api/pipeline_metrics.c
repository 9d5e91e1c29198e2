/*
 * GET /api/v1/metrics: the figures of DESIGN.md over a window, for everything, a repository, a
 * workflow or a branch, with a time series.
 *
 * The database selects the runs of the window (the latest attempt of each run whose completion
 * falls in [from, to); cipulse_window_runs) and computes their distribution figures — success
 * rate, average / p50 / p95 duration, average / p95 queue time — for the whole window and for
 * each series bucket (cipulse_window_figures_by in sql/006_window_figures.sql, whose whole-window
 * row the regression and slow_build alert rules read: one definition, the same number). This file
 * adds what needs the runs in order: counts by conclusion, MTTR and flaky runs. The figures need
 * whole distributions (p50/p95), so they are not pre-aggregated: the indexes make the selection
 * cheap for a workflow or a repository.
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

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* The figures of a window or bucket without a row from the database: all null. */
static const struct api_mfig no_figures = { -1, NAN, NAN, NAN, NAN, NAN, NAN };

/* Sets the figures of one window or bucket on obj: a's counts, f's distribution figures. */
static int set_figures(json_t *obj, const struct acc *a, const struct api_mfig *f)
{
	json_t *by = json_object();

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
	    api_set(obj, "success_rate", num_or_null(f->success_rate)) ||
	    api_set(obj, "avg_duration_s", num_or_null(f->avg_duration_s)) ||
	    api_set(obj, "p50_duration_s", num_or_null(f->p50_duration_s)) ||
	    api_set(obj, "p95_duration_s", num_or_null(f->p95_duration_s)) ||
	    api_set(obj, "avg_queue_s", num_or_null(f->avg_queue_s)) ||
	    api_set(obj, "p95_queue_s", num_or_null(f->p95_queue_s)) ||
	    api_set(obj, "mttr_s",
		    a->mttr_n ? json_real(a->mttr_sum / (double)a->mttr_n) : json_null()) ||
	    api_set(obj, "flaky_runs", json_integer(a->flaky)))
		return -1;
	return 0;
}

/* The row of figs for bucket b (-1: the whole window). */
static const struct api_mfig *figures_of(const struct api_mfig *figs, size_t nfigs, int b)
{
	for (size_t i = 0; i < nfigs; i++) {
		if (figs[i].bucket == b)
			return &figs[i];
	}
	return &no_figures;
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
			 const struct api_mfig *figs, size_t nfigs)
{
	int nb = w->nbuckets;
	struct acc total, *bk = calloc((size_t)nb + 1, sizeof(*bk));
	json_t *out = NULL, *series = NULL;

	memset(&total, 0, sizeof(total));
	if (!bk)
		return NULL;
	for (size_t i = 0; i < nruns; i++) {
		const struct api_mrun *r = &runs[i];
		size_t slot = concl_slot(r->conclusion);

		if (i > 0 && !same_group(r, &runs[i - 1])) {
			/* A new workflow/branch: failure streaks do not carry over. */
			total.failing = 0;
			for (int k = 0; k < nb; k++)
				bk[k].failing = 0;
		}
		acc_run(&total, r, slot);
		acc_run(&bk[bucket_of(w, r->t_ms)], r, slot);
	}
	out = json_object();
	series = json_array();
	if (!out || !series || set_figures(out, &total, figures_of(figs, nfigs, -1)))
		goto fail;
	for (int b = 0; b < nb; b++) {
		json_t *o = json_object();

		if (!o || json_array_append_new(series, o) ||
		    api_set(o, "ts", api_time(w->from_ms + (int64_t)b * w->bucket_ms)) ||
		    set_figures(o, &bk[b], figures_of(figs, nfigs, b)))
			goto fail;
	}
	free(bk);
	if (api_set(out, "series", series)) {
		json_decref(out);
		return NULL;
	}
	return out;
fail:
	free(bk);
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

/* The figures of the window ($6 bucket length in ms, $7 buckets) into *figs (caller frees). */
static int load_figures(struct col_conn *c, const struct col_params *p, struct api_mfig **figs,
			size_t *nfigs)
{
	static const char sql[] =
	    "SELECT bucket, success_rate, avg_duration_s, p50_duration_s, p95_duration_s, "
	    "avg_queue_s, p95_queue_s FROM cipulse_window_figures_by(" WINDOW_ARGS
	    ", $6::bigint, $7::integer)";
	PGresult *res;
	int n, rc;

	res = col_db_query(c, "metrics figures", sql, p->n, p->v, &rc);
	if (!res)
		return rc;
	n = PQntuples(res);
	*figs = calloc((size_t)n + 1, sizeof(**figs));
	if (!*figs) {
		PQclear(res);
		return CM_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct api_mfig *f = &(*figs)[i];
		double *v[] = { &f->success_rate,   &f->avg_duration_s, &f->p50_duration_s,
				&f->p95_duration_s, &f->avg_queue_s,	&f->p95_queue_s };

		f->bucket = PQgetisnull(res, i, 0) ? -1 : atoi(PQgetvalue(res, i, 0));
		for (int k = 0; k < 6; k++)
			*v[k] = PQgetisnull(res, i, k + 1)
				    ? NAN
				    : strtod(PQgetvalue(res, i, k + 1), NULL);
	}
	*nfigs = (size_t)n;
	PQclear(res);
	return CM_OK;
}

/* The runs of the window in the order api_metrics_json wants into *runs, kept in *res. */
static int load_runs(struct col_conn *c, const struct col_params *p, PGresult **res,
		     struct api_mrun **runs, size_t *nruns)
{
	/* clang-format off */
	static const char sql[] =
		"SELECT " API_MS("w.completed_at") ", w.repo_id, COALESCE(w.workflow_id, 0), "
		"w.head_branch, w.conclusion, "
		"w.conclusion = 'success' AND w.run_attempt > 1 AND EXISTS (SELECT 1 FROM "
		"  workflow_runs e WHERE e.repo_id = w.repo_id AND e.run_id = w.run_id "
		"  AND e.run_attempt < w.run_attempt AND e.head_sha IS NOT DISTINCT FROM w.head_sha "
		"  AND e.conclusion IN ('failure', 'timed_out')) "
		"FROM cipulse_window_runs(" WINDOW_ARGS ") w"
		" ORDER BY w.repo_id, w.workflow_id, w.head_branch, w.completed_at, w.run_id";
	/* clang-format on */
	int n, rc;

	*res = col_db_query(c, "metrics", sql, 5, p->v, &rc);
	if (!*res)
		return rc;
	n = PQntuples(*res);
	*runs = calloc((size_t)n + 1, sizeof(**runs));
	if (!*runs)
		return CM_ENOMEM;
	for (int i = 0; i < n; i++) {
		struct api_mrun *r = &(*runs)[i];

		r->t_ms = strtoll(PQgetvalue(*res, i, 0), NULL, 10);
		r->repo_id = strtoll(PQgetvalue(*res, i, 1), NULL, 10);
		r->workflow_id = strtoll(PQgetvalue(*res, i, 2), NULL, 10);
		r->branch = PQgetisnull(*res, i, 3) ? NULL : PQgetvalue(*res, i, 3);
		r->conclusion = PQgetisnull(*res, i, 4) ? NULL : PQgetvalue(*res, i, 4);
		r->flaky = PQgetvalue(*res, i, 5)[0] == 't';
	}
	*nruns = (size_t)n;
	return CM_OK;
}

void api_metrics_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "repo", "workflow", "branch", "window",
					       "from", "to",	   NULL };
	struct col_query q;
	struct col_params p = { .n = 0 };
	struct api_window w;
	struct api_mrun *runs = NULL;
	struct api_mfig *figs = NULL;
	size_t nruns = 0, nfigs = 0;
	const char *repo, *branch, *param = "", *why = "";
	struct col_conn *c;
	PGresult *res = NULL;
	json_t *out = NULL;
	int64_t wf, repo_id = 0;
	int has_wf, rc;

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
	col_p_i64(&p, w.bucket_ms);
	col_p_i64(&p, w.nbuckets);
	/* Both reads see one snapshot: the counts and the figures describe the same runs. */
	rc = col_db_exec(c->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (!rc)
		rc = load_runs(c, &p, &res, &runs, &nruns);
	if (!rc)
		rc = load_figures(c, &p, &figs, &nfigs);
	if (!rc)
		rc = col_db_exec(c->pg, "COMMIT");
	if (rc) {
		api_db_fail(resp, rc, "metrics");
		goto out;
	}
	out = api_metrics_json(&w, runs, nruns, figs, nfigs);
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
	free(figs);
	PQclear(res);
	if (repo)
		col_db_release(req->ctx->db, c);
	else
		api_expensive_release(req, c);
}
