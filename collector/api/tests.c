/*
 * Test results (sql/009_tests_failures.sql): GET /api/v1/tests (tests with their figures over a
 * window, ranked), GET /api/v1/tests/{id} (one test and its results, newest first), and the
 * tests and failure group of each job in the run detail (runs.c).
 *
 * The figures and the classification (flaky, new failure, already failing) come from one
 * definition in SQL, cipulse_test_window; the run detail and the job summary read a job's failed
 * tests and failure group through cipulse_job_failed_tests and cipulse_job_failure_group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"

#define TEST_ID_LEN 16
/* Failed tests listed per job in the run detail (the contract's 50). */
#define RUN_FAILED_TESTS 50

/* clang-format off */
/* A test with its figures (w: cipulse_test_window, t: tests, r: repositories). */
#define TEST_COLS                                                                                \
	"t.test_id, r.full_name, t.suite, t.class_name, t.name, NULLIF(t.file, ''), "             \
	"COALESCE(w.runs, 0), COALESCE(w.failures, 0), COALESCE(w.flaky_runs, 0), "               \
	"COALESCE(w.flip_rate, 0), w.p50_duration_ms, w.p95_duration_ms, w.last_result, "         \
	API_MS("w.last_seen") ", w.state"
#define TEST_NCOLS 15
/* clang-format on */

static json_t *test_json(const PGresult *res, int row)
{
	json_t *o = json_object();

	if (!o || api_set(o, "id", api_col_str(res, row, 0)) ||
	    api_set(o, "repo", api_col_str(res, row, 1)) ||
	    api_set(o, "suite", api_col_str(res, row, 2)) ||
	    api_set(o, "class_name", api_col_str(res, row, 3)) ||
	    api_set(o, "name", api_col_str(res, row, 4)) ||
	    api_set(o, "file", api_col_str(res, row, 5)) ||
	    api_set(o, "runs", api_col_int(res, row, 6)) ||
	    api_set(o, "failures", api_col_int(res, row, 7)) ||
	    api_set(o, "flaky_runs", api_col_int(res, row, 8)) ||
	    api_set(o, "flip_rate", api_col_num(res, row, 9)) ||
	    api_set(o, "p50_duration_ms", api_col_num(res, row, 10)) ||
	    api_set(o, "p95_duration_ms", api_col_num(res, row, 11)) ||
	    api_set(o, "last_result", api_col_str(res, row, 12)) ||
	    api_set(o, "last_seen", api_col_time(res, row, 13)) ||
	    api_set(o, "state", api_col_str(res, row, 14))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A "true"/"false" parameter into p (SQL NULL when absent). */
static int param_bool(struct col_http_resp *resp, const struct col_query *q, const char *key,
		      struct col_params *p)
{
	const char *v;

	if (api_param_enum(resp, q, key, "true|false", &v))
		return CM_EINVAL;
	if (v)
		col_p_bool(p, !strcmp(v, "true"));
	else
		col_p_null(p);
	return CM_OK;
}

void api_reply_ranked(struct col_http_resp *resp, const char *key, const PGresult *res, int limit,
		      int64_t offset, json_t *(*row)(const PGresult *res, int i), const char *kind)
{
	char next[API_CURSOR_MAX + 1] = "", num[24];
	const char *f[1] = { num };
	json_t *items = api_rows_json(res, limit, row);

	if (items && PQntuples(res) > limit && offset + limit <= API_CURSOR_OFFSET_MAX) {
		snprintf(num, sizeof(num), "%lld", (long long)(offset + limit));
		if (api_cursor_encode(next, sizeof(next), kind, f, 1)) {
			json_decref(items);
			items = NULL;
		}
	}
	api_reply(resp, 200, api_page_as(key, items, next[0] ? next : NULL));
}

/* clang-format off */
#define LIST_SQL(order)                                                                          \
	"SELECT " TEST_COLS " FROM cipulse_test_window(" API_TS_US("$1") ", $2, $3, $4, NULL) w "  \
	"JOIN tests t ON t.repo_id = w.repo_id AND t.test_id = w.test_id "                         \
	"JOIN repositories r ON r.id = w.repo_id "                                                 \
	"WHERE ($5::boolean IS NULL OR (w.state = 'flaky') = $5) "                                 \
	"AND ($6::boolean IS NULL OR (w.last_result IN ('failed', 'error')) = $6) "                \
	"ORDER BY " order ", r.full_name, t.test_id LIMIT $7 OFFSET $8"
/* clang-format on */

/* GET /api/v1/tests */
void api_tests_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "repo", "workflow", "branch", "flaky",  "failing",
					       "sort", "window",   "limit",  "cursor", NULL };
	static const char by_flakiness[] =
	    LIST_SQL("w.flaky_runs DESC, w.flip_rate DESC, w.failures DESC");
	static const char by_failures[] = LIST_SQL("w.failures DESC, w.flaky_runs DESC");
	static const char by_duration[] = LIST_SQL("w.p95_duration_ms DESC NULLS LAST");
	char scratch[API_CURSOR_MAX + 1];
	const char *repo, *branch, *sort, *sql;
	struct col_params p = { .n = 0 };
	struct api_cursor cur;
	struct col_query q;
	struct col_conn *c;
	PGresult *res = NULL;
	int64_t since, wf, repo_id = 0;
	int limit, has_wf, has_cur, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_repo(resp, &q, "repo", &repo) ||
	    api_param_id(resp, &q, "workflow", &wf, &has_wf) ||
	    api_param_branch(resp, &q, "branch", &branch) ||
	    api_param_enum(resp, &q, "sort", "flakiness|failures|duration", &sort) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_cursor(resp, &q, "tests", scratch, sizeof(scratch), &cur, &has_cur) ||
	    api_param_since(resp, &q, "7d", &since))
		return;
	if (has_wf && !repo) {
		api_bad_param(resp, "workflow", "needs repo (workflow ids are per repository)");
		return;
	}
	sql = !sort || !strcmp(sort, "flakiness") ? by_flakiness
	      : !strcmp(sort, "failures")	  ? by_failures
						  : by_duration;
	/* Every repository at once is expensive: limited (one repository is not). */
	if (repo ? api_conn(req, resp, &c) : api_expensive_conn(req, resp, &c))
		return;
	if (repo && api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_i64(&p, since * 1000);
	col_p_opt_i64(&p, repo != NULL, repo_id);
	col_p_opt_i64(&p, has_wf, wf);
	col_p_str(&p, branch);
	if (param_bool(resp, &q, "flaky", &p) || param_bool(resp, &q, "failing", &p))
		goto out;
	col_p_i64(&p, limit + 1);
	col_p_i64(&p, cur.a);
	res = col_db_query(c, "tests", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "tests");
		goto out;
	}
	api_reply_ranked(resp, "tests", res, limit, cur.a, test_json, "tests");
out:
	PQclear(res);
	if (repo)
		col_db_release(req->ctx->db, c);
	else
		api_expensive_release(req, c);
}

static json_t *history_json(const PGresult *res, int row)
{
	json_t *o = json_object();

	if (!o || api_set(o, "repo", api_col_str(res, row, 0)) ||
	    api_set(o, "run_id", api_col_int(res, row, 1)) ||
	    api_set(o, "run_attempt", api_col_int(res, row, 2)) ||
	    api_set(o, "job_id", api_col_int(res, row, 3)) ||
	    api_set(o, "job_name", api_col_str(res, row, 4)) ||
	    api_set(o, "head_sha", api_col_str(res, row, 5)) ||
	    api_set(o, "head_branch", api_col_str(res, row, 6)) ||
	    api_set(o, "result", api_col_str(res, row, 7)) ||
	    api_set(o, "duration_ms", api_col_num(res, row, 8)) ||
	    api_set(o, "retries", api_col_int(res, row, 9)) ||
	    api_set(o, "message", api_col_str(res, row, 10)) ||
	    api_set(o, "completed_at", api_col_time(res, row, 11))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* GET /api/v1/tests/{id} */
void api_test_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "window", "limit", "cursor", NULL };
	/* clang-format off */
	static const char test_sql[] =
		"SELECT " TEST_COLS ", t.repo_id FROM tests t "
		"JOIN repositories r ON r.id = t.repo_id "
		"LEFT JOIN cipulse_test_window(" API_TS_US("$2") ", NULL, NULL, NULL, $1) w "
		"ON w.repo_id = t.repo_id AND w.test_id = t.test_id "
		"WHERE t.test_id = $1 ORDER BY t.repo_id LIMIT 1";
	static const char history_sql[] =
		"SELECT r.full_name, tr.run_id, tr.run_attempt, tr.job_id, j.name, w.head_sha, "
		"w.head_branch, tr.result, tr.duration_us / 1000.0, tr.retries, tr.message, "
		API_MS("tr.at") ", floor(extract(epoch FROM tr.at) * 1000000)::bigint "
		"FROM test_results tr JOIN repositories r ON r.id = tr.repo_id "
		"JOIN jobs j ON j.repo_id = tr.repo_id AND j.job_id = tr.job_id "
		"LEFT JOIN workflow_runs w ON w.repo_id = tr.repo_id AND w.run_id = tr.run_id "
		"AND w.run_attempt = tr.run_attempt "
		"WHERE tr.repo_id = $1 AND tr.test_id = $2 AND ($3::bigint IS NULL OR "
		"(tr.at, tr.job_id) < (" API_TS_US("$3") ", $4::bigint)) "
		"ORDER BY tr.at DESC, tr.job_id DESC LIMIT $5";
	/* clang-format on */
	static const int cursor_cols[] = { 12, 3 };
	static const struct api_detail d = { "/api/v1/tests/", TEST_ID_LEN, "a test id",
					     "history",	       "7d",	    allowed };
	struct api_detail_params dp;
	struct col_params p = { .n = 0 };
	struct col_query q;
	struct col_conn *c;
	PGresult *res = NULL, *hres = NULL;
	json_t *out = NULL;
	const char *id = api_begin_detail(req, resp, &d, &q, &dp);
	int rc;

	if (!id || api_conn(req, resp, &c))
		return;
	col_p_str(&p, id);
	col_p_i64(&p, dp.since_ms * 1000);
	res = col_db_query(c, "test", test_sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "test");
		goto out;
	}
	if (PQntuples(res) != 1) {
		api_not_found(resp, "test");
		goto out;
	}
	p.n = 0;
	col_p_str(&p, PQgetvalue(res, 0, TEST_NCOLS));
	col_p_str(&p, id);
	col_p_opt_i64(&p, dp.has_cur, dp.cur.a);
	col_p_opt_i64(&p, dp.has_cur, dp.cur.b);
	col_p_i64(&p, dp.limit + 1);
	hres = col_db_query(c, "test history", history_sql, p.n, p.v, &rc);
	if (!hres) {
		api_db_fail(resp, rc, "test history");
		goto out;
	}
	out = json_object();
	if (out && (api_set(out, "test", test_json(res, 0)) ||
		    api_set_list(out, "history", hres, dp.limit, history_json, "history",
				 cursor_cols, 2))) {
		json_decref(out);
		out = NULL;
	}
	api_reply(resp, 200, out);
out:
	PQclear(res);
	PQclear(hres);
	col_db_release(req->ctx->db, c);
}

/* ---- run detail --------------------------------------------------------------------------- */

int api_run_tests_add(struct col_conn *c, json_t *jobs, const char *repo_id, int64_t run_id,
		      const char *attempt)
{
	/* clang-format off */
	static const char sql[] =
		"SELECT j.job_id, "
		"(SELECT json_build_object('total', count(*), "
		"  'passed', count(*) FILTER (WHERE tr.result = 'passed'), "
		"  'failed', count(*) FILTER (WHERE tr.result IN ('failed', 'error')), "
		"  'skipped', count(*) FILTER (WHERE tr.result = 'skipped'), "
		"  'truncated', j.tests_truncated)::text "
		"  FROM test_results tr WHERE tr.repo_id = j.repo_id AND tr.job_id = j.job_id "
		"  HAVING count(*) > 0 OR j.tests_truncated), "
		"(SELECT COALESCE(json_agg(json_build_object('id', f.test_id, 'suite', f.suite, "
		"  'class_name', f.class_name, 'name', f.name, 'message', f.message, "
		"  'flaky', f.flaky, 'new_failure', f.new_failure)), '[]')::text "
		"  FROM cipulse_job_failed_tests(j.repo_id, j.job_id, $4) f), "
		"(SELECT json_build_object('fingerprint', g.fingerprint, 'title', g.title, "
		"  'runs', g.runs, 'repositories', g.repositories, "
		"  'first_seen', cipulse_iso(g.first_seen))::text "
		"  FROM cipulse_job_failure_group(j.repo_id, j.job_id) g) "
		"FROM jobs j WHERE j.repo_id = $1 AND j.run_id = $2 AND j.run_attempt = $3";
	/* clang-format on */
	struct col_params p = { .n = 0 };
	PGresult *res;
	size_t k;
	json_t *job;
	int rc;

	col_p_str(&p, repo_id);
	col_p_i64(&p, run_id);
	col_p_str(&p, attempt);
	col_p_i64(&p, RUN_FAILED_TESTS);
	res = col_db_query(c, "run tests", sql, p.n, p.v, &rc);
	if (!res)
		return rc;
	json_array_foreach(jobs, k, job)
	{
		json_int_t id = json_integer_value(json_object_get(job, "job_id"));

		for (int i = 0; rc == CM_OK && i < PQntuples(res); i++) {
			json_t *tests, *failed, *group;

			if (strtoll(PQgetvalue(res, i, 0), NULL, 10) != id)
				continue;
			tests = PQgetisnull(res, i, 1) ? NULL
						       : json_loads(PQgetvalue(res, i, 1), 0, NULL);
			failed = json_loads(PQgetvalue(res, i, 2), 0, NULL);
			group = PQgetisnull(res, i, 3) ? json_null()
						       : json_loads(PQgetvalue(res, i, 3), 0, NULL);
			if ((!PQgetisnull(res, i, 1) && api_set(job, "tests", tests)) ||
			    api_set(job, "failed_tests", failed) ||
			    api_set(job, "failure_group", group))
				rc = CM_ENOMEM;
		}
	}
	PQclear(res);
	return rc;
}
