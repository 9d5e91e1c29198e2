/* Run detail (an attempt with its jobs and steps, and the list of attempts) and job log tails. */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"

json_t *api_run_json(const PGresult *res, int row, int c)
{
	json_t *o = json_object();

	if (!o || api_set(o, "run_id", api_col_int(res, row, c)) ||
	    api_set(o, "run_attempt", api_col_int(res, row, c + 1)) ||
	    api_set(o, "workflow_id", api_col_int(res, row, c + 2)) ||
	    api_set(o, "workflow_name", api_col_str(res, row, c + 3)) ||
	    api_set(o, "run_number", api_col_int(res, row, c + 4)) ||
	    api_set(o, "name", api_col_str(res, row, c + 5)) ||
	    api_set(o, "event", api_col_str(res, row, c + 6)) ||
	    api_set(o, "status", api_col_str(res, row, c + 7)) ||
	    api_set(o, "conclusion", api_col_str(res, row, c + 8)) ||
	    api_set(o, "head_branch", api_col_str(res, row, c + 9)) ||
	    api_set(o, "head_sha", api_col_str(res, row, c + 10)) ||
	    api_set(o, "actor", api_col_str(res, row, c + 11)) ||
	    api_set(o, "html_url", api_col_str(res, row, c + 12)) ||
	    api_set(o, "created_at", api_col_time(res, row, c + 13)) ||
	    api_set(o, "run_started_at", api_col_time(res, row, c + 14)) ||
	    api_set(o, "updated_at", api_col_time(res, row, c + 15)) ||
	    api_set(o, "completed_at", api_col_time(res, row, c + 16)) ||
	    api_set(o, "duration_s", api_col_num(res, row, c + 17))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Path "/api/v1/<what>/<id><suffix>" -> id; CM_EINVAL when it does not have that shape. */
static json_t *attempt_json(const PGresult *res, int row)
{
	json_t *o = json_object();

	if (!o || api_set(o, "run_attempt", api_col_int(res, row, 1)) ||
	    api_set(o, "status", api_col_str(res, row, 7)) ||
	    api_set(o, "conclusion", api_col_str(res, row, 8)) ||
	    api_set(o, "run_started_at", api_col_time(res, row, 14)) ||
	    api_set(o, "completed_at", api_col_time(res, row, 16)) ||
	    api_set(o, "duration_s", api_col_num(res, row, 17))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Jobs of one attempt with their steps, from rows ordered by job then step number. Column 19 says
 * whether the job's steps were asked for: a job without them has no "steps" key at all (an empty
 * list would say that it has none).
 */
static json_t *jobs_json(const PGresult *res)
{
	json_t *jobs = json_array(), *job = NULL, *steps = NULL;
	const char *cur = NULL;

	for (int i = 0; jobs && i < PQntuples(res); i++) {
		if (!cur || strcmp(cur, PQgetvalue(res, i, 0))) {
			cur = PQgetvalue(res, i, 0);
			job = json_object();
			steps = json_array();
			if (!job || !steps || json_array_append_new(jobs, job) ||
			    api_set(job, "job_id", api_col_int(res, i, 0)) ||
			    api_set(job, "name", api_col_str(res, i, 1)) ||
			    api_set(job, "status", api_col_str(res, i, 2)) ||
			    api_set(job, "conclusion", api_col_str(res, i, 3)) ||
			    api_set(job, "created_at", api_col_time(res, i, 4)) ||
			    api_set(job, "started_at", api_col_time(res, i, 5)) ||
			    api_set(job, "completed_at", api_col_time(res, i, 6)) ||
			    api_set(job, "queue_s", api_col_num(res, i, 7)) ||
			    api_set(job, "duration_s", api_col_num(res, i, 8)) ||
			    api_set(job, "runner_os", api_col_str(res, i, 9)) ||
			    api_set(job, "runner_arch", api_col_str(res, i, 10)) ||
			    api_set(job, "html_url", api_col_str(res, i, 11)) ||
			    api_set(job, "has_logs", api_col_bool(res, i, 12))) {
				json_decref(steps);
				json_decref(jobs);
				return NULL;
			}
			if (*PQgetvalue(res, i, 19) != 't') {
				json_decref(steps);
				steps = NULL;
			} else if (api_set(job, "steps", steps)) {
				json_decref(jobs);
				return NULL;
			}
		}
		if (steps && !PQgetisnull(res, i, 13)) {
			json_t *s = json_object();

			if (!s || json_array_append_new(steps, s) ||
			    api_set(s, "number", api_col_int(res, i, 13)) ||
			    api_set(s, "name", api_col_str(res, i, 14)) ||
			    api_set(s, "status", api_col_str(res, i, 15)) ||
			    api_set(s, "conclusion", api_col_str(res, i, 16)) ||
			    api_set(s, "started_at", api_col_time(res, i, 17)) ||
			    api_set(s, "completed_at", api_col_time(res, i, 18))) {
				json_decref(jobs);
				return NULL;
			}
		}
	}
	return jobs;
}

/*
 * GET /api/v1/runs/{run_id}[?attempt=N][&steps=all|failed|none][&job=ID]
 *
 * steps: whose steps come with the jobs: every job's (the default), only those of the jobs that
 * failed or timed out (the ones the dashboard opens at once), or none (a run of 200 jobs of 12
 * steps is ~470 kB with them, ~100 kB without). job: that job of the attempt alone (the dashboard
 * reads a job's steps so when the job is opened); with it, steps defaults to all as well.
 */
void api_run_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "attempt", "steps", "job", NULL };
	/* clang-format off */
	static const char attempts_sql[] =
		"SELECT " API_RUN_COLS ", r.full_name, w.repo_id FROM workflow_runs w "
		"JOIN repositories r ON r.id = w.repo_id "
		"LEFT JOIN workflows wf ON wf.repo_id = w.repo_id AND wf.id = w.workflow_id "
		"WHERE w.run_id = $1 ORDER BY w.repo_id, w.run_attempt DESC";
	/*
	 * Whose steps come with the jobs ($4). PostgreSQL reads the other jobs' steps too (the join's
	 * filter is checked after its index scan: ~1 ms for 200 jobs); the cost saved is the answer's.
	 */
#define WITH_STEPS "($4 = 'all' OR ($4 = 'failed' AND j.conclusion IN ('failure', 'timed_out')))"
	static const char jobs_sql[] =
		"SELECT j.job_id, j.name, j.status, j.conclusion, " API_MS("j.created_at") ", "
		API_MS("j.started_at") ", " API_MS("j.completed_at") ", "
		"extract(epoch FROM j.started_at - j.created_at)::double precision, "
		"extract(epoch FROM j.completed_at - j.started_at)::double precision, "
		"j.runner_os, j.runner_arch, j.html_url, "
		"EXISTS (SELECT 1 FROM logs l WHERE l.repo_id = j.repo_id AND l.job_id = j.job_id), "
		"s.number, s.name, s.status, s.conclusion, " API_MS("s.started_at") ", "
		API_MS("s.completed_at") ", " WITH_STEPS
		" FROM jobs j LEFT JOIN steps s ON s.repo_id = j.repo_id AND s.job_id = j.job_id AND "
		WITH_STEPS " "
		"WHERE j.repo_id = $1 AND j.run_id = $2 AND j.run_attempt = $3 "
		"AND ($5::bigint IS NULL OR j.job_id = $5) "
		"ORDER BY j.started_at NULLS LAST, j.job_id, s.number";
#undef WITH_STEPS
	/* clang-format on */
	struct col_query q;
	struct col_params p = { .n = 0 };
	struct col_conn *c;
	PGresult *res = NULL, *jres = NULL;
	json_t *run = NULL, *attempts, *jobs;
	const char *steps;
	int64_t run_id, attempt = 0, job_id = 0;
	int has_attempt, has_job, n, pick = -1, rc;

	if (api_path_id(req->path, "/api/v1/runs/", "", &run_id)) {
		col_http_error(resp, 404, "not_found", "no such resource (expected a run id)");
		return;
	}
	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_id(resp, &q, "attempt", &attempt, &has_attempt) ||
	    api_param_enum(resp, &q, "steps", "all|failed|none", &steps) ||
	    api_param_id(resp, &q, "job", &job_id, &has_job))
		return;
	if (api_conn(req, resp, &c))
		return;
	col_p_i64(&p, run_id);
	res = col_db_query(c, "run", attempts_sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "run");
		goto out;
	}
	n = PQntuples(res);
	/* Run ids are GitHub's, unique across repositories: the rows are one run's attempts. */
	for (int i = 0; i < n && strcmp(PQgetvalue(res, i, API_RUN_NCOLS + 1),
					PQgetvalue(res, 0, API_RUN_NCOLS + 1)) == 0;
	     i++) {
		if (pick < 0 &&
		    (!has_attempt || strtoll(PQgetvalue(res, i, 1), NULL, 10) == attempt))
			pick = i;
	}
	if (pick < 0) {
		api_not_found(resp, n ? "run attempt" : "run");
		goto out;
	}
	p.n = 0;
	col_p_str(&p, PQgetvalue(res, pick, API_RUN_NCOLS + 1));
	col_p_i64(&p, run_id);
	col_p_str(&p, PQgetvalue(res, pick, 1));
	col_p_str(&p, steps ? steps : "all");
	col_p_opt_i64(&p, has_job, job_id);
	jres = col_db_query(c, "jobs", jobs_sql, p.n, p.v, &rc);
	if (!jres) {
		api_db_fail(resp, rc, "jobs");
		goto out;
	}
	run = api_run_json(res, pick, 0);
	attempts = json_array();
	jobs = jobs_json(jres);
	if (jobs) {
		rc = api_run_tests_add(c, jobs, PQgetvalue(res, pick, API_RUN_NCOLS + 1), run_id,
				       PQgetvalue(res, pick, 1));
		if (rc) {
			json_decref(run);
			json_decref(attempts);
			json_decref(jobs);
			api_db_fail(resp, rc, "tests");
			goto out;
		}
	}
	if (run && (api_set(run, "repo", api_col_str(res, pick, API_RUN_NCOLS)) ||
		    api_set(run, "attempts", attempts) || api_set(run, "jobs", jobs))) {
		json_decref(run);
		run = NULL;
	}
	for (int i = 0; run && i < n; i++) {
		if (strcmp(PQgetvalue(res, i, API_RUN_NCOLS + 1),
			   PQgetvalue(res, pick, API_RUN_NCOLS + 1)))
			break;
		if (json_array_append_new(attempts, attempt_json(res, i))) {
			json_decref(run);
			run = NULL;
		}
	}
	api_reply(resp, 200, run);
out:
	PQclear(res);
	PQclear(jres);
	col_db_release(req->ctx->db, c);
}

/* GET /api/v1/jobs/{job_id}/logs */
void api_job_logs(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	static const char job_sql[] =
	    "SELECT j.repo_id, r.full_name, j.run_id, j.run_attempt, j.name, j.status, "
	    "j.conclusion FROM jobs j JOIN repositories r ON r.id = j.repo_id "
	    "WHERE j.job_id = $1 ORDER BY j.repo_id LIMIT 1";
	/* clang-format off */
	static const char logs_sql[] =
		"SELECT l.step_number, s.name, l.content, l.original_size, l.truncated, "
		"l.exit_code, l.source, " API_MS("l.updated_at")
		" FROM logs l LEFT JOIN steps s ON s.repo_id = l.repo_id AND s.job_id = l.job_id "
		"AND s.number = l.step_number WHERE l.repo_id = $1 AND l.job_id = $2 "
		"ORDER BY l.step_number";
	/* clang-format on */
	struct col_query q;
	struct col_params p = { .n = 0 };
	struct col_conn *c;
	PGresult *res = NULL, *lres = NULL;
	json_t *out = NULL, *logs;
	int64_t job_id;
	int rc;

	if (api_path_id(req->path, "/api/v1/jobs/", "/logs", &job_id)) {
		col_http_error(resp, 404, "not_found",
			       "no such resource (expected /jobs/{id}/logs)");
		return;
	}
	if (api_begin(req, resp, API_READ, &q, allowed))
		return;
	if (api_conn(req, resp, &c))
		return;
	col_p_i64(&p, job_id);
	res = col_db_query(c, "job", job_sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "job");
		goto out;
	}
	if (PQntuples(res) != 1) {
		api_not_found(resp, "job");
		goto out;
	}
	p.n = 0;
	col_p_str(&p, PQgetvalue(res, 0, 0));
	col_p_i64(&p, job_id);
	lres = col_db_query(c, "logs", logs_sql, p.n, p.v, &rc);
	if (!lres) {
		api_db_fail(resp, rc, "logs");
		goto out;
	}
	out = json_object();
	logs = json_array();
	if (out &&
	    (api_set(out, "job_id", json_integer(job_id)) ||
	     api_set(out, "repo", api_col_str(res, 0, 1)) ||
	     api_set(out, "run_id", api_col_int(res, 0, 2)) ||
	     api_set(out, "run_attempt", api_col_int(res, 0, 3)) ||
	     api_set(out, "name", api_col_str(res, 0, 4)) ||
	     api_set(out, "status", api_col_str(res, 0, 5)) ||
	     api_set(out, "conclusion", api_col_str(res, 0, 6)) || api_set(out, "logs", logs))) {
		json_decref(out);
		out = NULL;
	}
	for (int i = 0; out && i < PQntuples(lres); i++) {
		json_t *l = json_object();

		if (!l || json_array_append_new(logs, l) ||
		    api_set(l, "step_number", api_col_int(lres, i, 0)) ||
		    api_set(l, "step_name", api_col_str(lres, i, 1)) ||
		    api_set(l, "content", api_col_str(lres, i, 2)) ||
		    api_set(l, "original_size", api_col_int(lres, i, 3)) ||
		    api_set(l, "truncated", api_col_bool(lres, i, 4)) ||
		    api_set(l, "exit_code", api_col_int(lres, i, 5)) ||
		    api_set(l, "source", api_col_str(lres, i, 6)) ||
		    api_set(l, "updated_at", api_col_time(lres, i, 7))) {
			json_decref(out);
			out = NULL;
		}
	}
	api_reply(resp, 200, out);
out:
	PQclear(res);
	PQclear(lres);
	col_db_release(req->ctx->db, c);
}
