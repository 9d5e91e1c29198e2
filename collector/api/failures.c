/*
 * Failure groups (sql/009_tests_failures.sql, collector/store/fingerprint.h):
 * GET /api/v1/failures (groups seen in a window, most runs first) and
 * GET /api/v1/failures/{fingerprint} (one group, its normalised error lines and its jobs,
 * newest first). A group as JSON comes from one definition, cipulse_failure_group_json.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"

#define FINGERPRINT_LEN 64
#define EXAMPLES	3 /* example jobs per group */

/* A group of the list: its JSON, made by cipulse_failure_group_json. */
static json_t *group_json(const PGresult *res, int row)
{
	return json_loads(PQgetvalue(res, row, 1), 0, NULL);
}

/* GET /api/v1/failures */
void api_failures_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "repo", "window", "limit", "cursor", NULL };
	/* clang-format off */
	static const char sql[] =
		"SELECT g.fingerprint, cipulse_failure_group_json(g.fingerprint, "
		API_TS_US("$1") ", $2, " "$5)::text FROM ("
		"SELECT jf.fingerprint, count(DISTINCT (jf.repo_id, jf.run_id)) AS runs, "
		"max(jf.at) AS last_at FROM job_failures jf "
		"WHERE jf.at >= " API_TS_US("$1") " AND ($2::bigint IS NULL OR jf.repo_id = $2) "
		"GROUP BY jf.fingerprint "
		"ORDER BY runs DESC, last_at DESC, jf.fingerprint LIMIT $3 OFFSET $4) g "
		"ORDER BY g.runs DESC, g.last_at DESC, g.fingerprint";
	/* clang-format on */
	char scratch[API_CURSOR_MAX + 1];
	struct col_params p = { .n = 0 };
	struct api_cursor cur;
	struct col_query q;
	struct col_conn *c;
	PGresult *res = NULL;
	const char *repo;
	int64_t since, repo_id = 0;
	int limit, has_cur, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_repo(resp, &q, "repo", &repo) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_cursor(resp, &q, "failures", scratch, sizeof(scratch), &cur, &has_cur) ||
	    api_param_since(resp, &q, "7d", &since))
		return;
	/* Every repository at once is expensive: limited (one repository is not). */
	if (repo ? api_conn(req, resp, &c) : api_expensive_conn(req, resp, &c))
		return;
	if (repo && api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_i64(&p, since * 1000);
	col_p_opt_i64(&p, repo != NULL, repo_id);
	col_p_i64(&p, limit + 1);
	col_p_i64(&p, cur.a);
	col_p_i64(&p, EXAMPLES);
	res = col_db_query(c, "failure groups", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "failure groups");
		goto out;
	}
	api_reply_ranked(resp, "failures", res, limit, cur.a, group_json, "failures");
out:
	PQclear(res);
	if (repo)
		col_db_release(req->ctx->db, c);
	else
		api_expensive_release(req, c);
}

static json_t *run_json(const PGresult *res, int row)
{
	json_t *o = json_object();

	if (!o || api_set(o, "repo", api_col_str(res, row, 0)) ||
	    api_set(o, "run_id", api_col_int(res, row, 1)) ||
	    api_set(o, "run_attempt", api_col_int(res, row, 2)) ||
	    api_set(o, "job_id", api_col_int(res, row, 3)) ||
	    api_set(o, "job_name", api_col_str(res, row, 4)) ||
	    api_set(o, "head_branch", api_col_str(res, row, 5)) ||
	    api_set(o, "completed_at", api_col_time(res, row, 6))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* GET /api/v1/failures/{fingerprint} */
void api_failure_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "window", "limit", "cursor", NULL };
	/* clang-format off */
	static const char group_sql[] =
		"SELECT cipulse_failure_group_json(g.fingerprint, " API_TS_US("$2") ", NULL, $3)"
		"::text, array_to_json(g.lines)::text FROM failure_groups g "
		"WHERE g.fingerprint = $1";
	static const char runs_sql[] =
		"SELECT r.full_name, jf.run_id, jf.run_attempt, jf.job_id, j.name, w.head_branch, "
		API_MS("jf.at") ", floor(extract(epoch FROM jf.at) * 1000000)::bigint "
		"FROM job_failures jf JOIN repositories r ON r.id = jf.repo_id "
		"JOIN jobs j ON j.repo_id = jf.repo_id AND j.job_id = jf.job_id "
		"LEFT JOIN workflow_runs w ON w.repo_id = jf.repo_id AND w.run_id = jf.run_id "
		"AND w.run_attempt = jf.run_attempt "
		"WHERE jf.fingerprint = $1 AND ($2::bigint IS NULL OR "
		"(jf.at, jf.job_id) < (" API_TS_US("$2") ", $3::bigint)) "
		"ORDER BY jf.at DESC, jf.job_id DESC LIMIT $4";
	/* clang-format on */
	static const int cursor_cols[] = { 7, 3 };
	static const struct api_detail d = {
		"/api/v1/failures/", FINGERPRINT_LEN, "a fingerprint", "fruns", "30d", allowed
	};
	struct api_detail_params dp;
	struct col_params p = { .n = 0 };
	struct col_query q;
	struct col_conn *c;
	PGresult *res = NULL, *rres = NULL;
	json_t *out = NULL;
	const char *fp = api_begin_detail(req, resp, &d, &q, &dp);
	int rc;

	if (!fp || api_conn(req, resp, &c))
		return;
	col_p_str(&p, fp);
	col_p_i64(&p, dp.since_ms * 1000);
	col_p_i64(&p, EXAMPLES);
	res = col_db_query(c, "failure group", group_sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "failure group");
		goto out;
	}
	if (PQntuples(res) != 1) {
		api_not_found(resp, "failure group");
		goto out;
	}
	p.n = 0;
	col_p_str(&p, fp);
	col_p_opt_i64(&p, dp.has_cur, dp.cur.a);
	col_p_opt_i64(&p, dp.has_cur, dp.cur.b);
	col_p_i64(&p, dp.limit + 1);
	rres = col_db_query(c, "failure group runs", runs_sql, p.n, p.v, &rc);
	if (!rres) {
		api_db_fail(resp, rc, "failure group runs");
		goto out;
	}
	out = json_object();
	if (out && (api_set(out, "failure", json_loads(PQgetvalue(res, 0, 0), 0, NULL)) ||
		    api_set(out, "lines", json_loads(PQgetvalue(res, 0, 1), 0, NULL)) ||
		    api_set_list(out, "runs", rres, dp.limit, run_json, "fruns", cursor_cols, 2))) {
		json_decref(out);
		out = NULL;
	}
	api_reply(resp, 200, out);
out:
	PQclear(res);
	PQclear(rres);
	col_db_release(req->ctx->db, c);
}
