/* clang-format off */
/*
 * Repositories: the list with basic figures, registration (admin), and below a repository its
 * workflows and its runs.
 *
 * The list figures come from run_rollup_daily (sql/002_api.sql): the latest attempts that
 * completed in the last `days` whole UTC days, today included (today's row holds everything
 * completed so far). That makes the list a sum over a few hundred rows whatever the history, and
 * it equals GET /api/v1/metrics?repo=...&from=<window_from>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"
#include "store/tokens.h"

#define DAY_MS 86400000LL

/* Sums of the rollup: API_STATS_NCOLS columns, read by add_stats. */
#define STATS_COLS                                                                            \
	"s.runs, s.n_success, s.n_failure, s.n_timed_out, s.n_cancelled, s.n_skipped, "       \
	"s.n_other, s.dur_n, s.dur_sum_ms"
#define STATS_NCOLS 9
#define STATS_SUMS                                                                            \
	"sum(runs) AS runs, sum(n_success) AS n_success, sum(n_failure) AS n_failure, "       \
	"sum(n_timed_out) AS n_timed_out, sum(n_cancelled) AS n_cancelled, "                  \
	"sum(n_skipped) AS n_skipped, sum(n_other) AS n_other, sum(dur_n) AS dur_n, "         \
	"sum(dur_sum_ms) AS dur_sum_ms"
/* The same sums from the rollup per repository and day (sql/016_repo_rollup.sql): one row per
 * day instead of one per workflow and day. */
#define REPO_STATS_SUMS                                                                       \
	"sum(runs) AS runs, sum(n_success) AS n_success, sum(n_failure) AS n_failure, "       \
	"sum(n_timed_out) AS n_timed_out, sum(n_cancelled) AS n_cancelled, "                  \
	"sum(n_skipped) AS n_skipped, sum(n_neutral + n_action_required + n_stale + "         \
	"n_startup_failure + n_other + n_none) AS n_other, sum(dur_n) AS dur_n, "             \
	"sum(dur_sum_ms) AS dur_sum_ms"
/* The last completed latest attempt, LAST_NCOLS columns, read by add_last_run. */
#define LAST_COLS "l.run_id, l.run_attempt, l.conclusion, " API_MS("l.completed_at") ", l.head_branch"
#define LAST_NCOLS 5

static long long col_ll(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
	/* clang-format on */
}

static int add_stats(json_t *item, const PGresult *res, int row, int c0, int64_t from_ms)
{
	static const char *const names[] = { "success",	  "failure", "timed_out",
					     "cancelled", "skipped", "other" };
	long long runs = col_ll(res, row, c0), counted, durn = col_ll(res, row, c0 + 7);
	json_t *by = json_object();

	if (!by)
		return -1;
	for (int i = 0; i < 6; i++) {
		long long n = col_ll(res, row, c0 + 1 + i);

		if (n && api_set(by, names[i], json_integer(n))) {
			json_decref(by);
			return -1;
		}
	}
	counted = col_ll(res, row, c0 + 1) + col_ll(res, row, c0 + 2) + col_ll(res, row, c0 + 3);
	if (api_set(item, "window_from", api_time(from_ms)) ||
	    api_set(item, "runs", json_integer(runs)) || api_set(item, "by_conclusion", by) ||
	    api_set(item, "success_rate",
		    counted ? json_real((double)col_ll(res, row, c0 + 1) / (double)counted)
			    : json_null()) ||
	    api_set(item, "avg_duration_s",
		    durn ? json_real((double)col_ll(res, row, c0 + 8) / 1000.0 / (double)durn)
			 : json_null()))
		return -1;
	return 0;
}

static int add_last_run(json_t *item, const PGresult *res, int row, int c0)
{
	json_t *l;

	if (PQgetisnull(res, row, c0))
		return api_set(item, "last_run", json_null());
	l = json_object();
	if (!l || api_set(l, "run_id", api_col_int(res, row, c0)) ||
	    api_set(l, "run_attempt", api_col_int(res, row, c0 + 1)) ||
	    api_set(l, "conclusion", api_col_str(res, row, c0 + 2)) ||
	    api_set(l, "completed_at", api_col_time(res, row, c0 + 3)) ||
	    api_set(l, "head_branch", api_col_str(res, row, c0 + 4))) {
		json_decref(l);
		return -1;
	}
	return api_set(item, "last_run", l);
}

/* days=1..90 (default 7): the first day of the figures' window, as "YYYY-MM-DD" and in ms. */
static int param_days(struct col_http_resp *resp, const struct col_query *q, char day[16],
		      int64_t *from_ms)
{
	const char *v = col_query_get(q, "days");
	int64_t days = 7, now = cm_time_now_ms();
	char iso[32];

	if (v && (col_parse_id(v, strlen(v), &days) || days > 90)) {
		api_bad_param(resp, "days", "must be an integer from 1 to 90");
		return CM_EINVAL;
	}
	*from_ms = now - now % DAY_MS - (days - 1) * DAY_MS;
	cm_time_format_iso8601(*from_ms, iso, sizeof(iso));
	snprintf(day, 16, "%.10s", iso);
	return CM_OK;
}

/*
 * "retired" and "retired_at" from two columns (retired_at IS NOT NULL, API_MS(retired_at)): a
 * repository its GitHub App installation let go keeps its history and is no longer polled.
 */
static int add_retired(json_t *item, const PGresult *res, int row, int c0)
{
	return api_set(item, "retired", api_col_bool(res, row, c0)) ||
	       api_set(item, "retired_at", api_col_time(res, row, c0 + 1));
}

/* GET /api/v1/repos/{owner}/{name}: the repository itself. */
static void repo_get(const struct col_http_req *req, struct col_http_resp *resp, const char *repo)
{
	static const char *const allowed[] = { NULL };
	struct col_params p = { .n = 0 };
	struct col_query q;
	struct col_conn *c;
	PGresult *res = NULL;
	json_t *it;
	int64_t repo_id;
	int rc;

	if (api_begin(req, resp, API_READ, &q, allowed) || api_conn(req, resp, &c))
		return;
	if (api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_i64(&p, repo_id);
	res = col_db_query(
	    c, "repository",
	    "SELECT id, full_name, " API_MS("created_at") ", retired_at IS NOT NULL, " API_MS(
		"retired_at") " FROM repositories WHERE id = $1",
	    p.n, p.v, &rc);
	if (!res || PQntuples(res) != 1) {
		if (res)
			api_not_found(resp, "repository");
		else
			api_db_fail(resp, rc, "repository");
		goto out;
	}
	it = json_object();
	if (!it || api_set(it, "id", api_col_int(res, 0, 0)) ||
	    api_set(it, "full_name", api_col_str(res, 0, 1)) ||
	    api_set(it, "created_at", api_col_time(res, 0, 2)) || add_retired(it, res, 0, 3)) {
		json_decref(it);
		it = NULL;
	}
	api_reply(resp, 200, it ? json_pack("{s:o}", "repository", it) : NULL);
out:
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

void api_repos_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "days", NULL };
	/* clang-format off */
	static const char sql[] =
		"SELECT r.id, r.full_name, " API_MS("r.created_at") ", " STATS_COLS ", " LAST_COLS
		", r.retired_at IS NOT NULL, " API_MS("r.retired_at") /* add_retired */
		" FROM repositories r "
		"LEFT JOIN LATERAL (SELECT " REPO_STATS_SUMS " FROM run_rollup_repo "
		"  WHERE repo_id = r.id AND grain_s = 86400 "
		"  AND t0 >= $1::date::timestamp AT TIME ZONE 'UTC') s ON true "
		"LEFT JOIN LATERAL (SELECT * FROM workflow_runs w WHERE w.repo_id = r.id "
		"  AND w.is_latest AND w.completed_at IS NOT NULL "
		"  ORDER BY w.completed_at DESC LIMIT 1) l ON true "
		"WHERE ($2::text IS NULL OR r.full_name > $2) ORDER BY r.full_name LIMIT $3";
	/* clang-format on */
	struct col_query q;
	struct col_params p = { .n = 0 };
	char scratch[API_CURSOR_MAX + 1], day[16];
	struct api_cursor cur;
	struct col_conn *c;
	PGresult *res;
	json_t *items;
	int64_t from_ms;
	int limit, has_cursor, n, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_cursor(resp, &q, "repos", scratch, sizeof(scratch), &cur, &has_cursor) ||
	    param_days(resp, &q, day, &from_ms))
		return;
	if (api_conn(req, resp, &c))
		return;
	col_p_str(&p, day);
	col_p_str(&p, has_cursor ? cur.text : NULL);
	col_p_i64(&p, limit + 1); /* one more tells whether a next page exists */
	res = col_db_query(c, "repositories", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "repositories");
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (int i = 0; items && i < n && i < limit; i++) {
		json_t *it = json_object();

		if (!it || api_set(it, "id", api_col_int(res, i, 0)) ||
		    api_set(it, "full_name", api_col_str(res, i, 1)) ||
		    api_set(it, "created_at", api_col_time(res, i, 2)) ||
		    add_stats(it, res, i, 3, from_ms) ||
		    add_last_run(it, res, i, 3 + STATS_NCOLS) ||
		    add_retired(it, res, i, 3 + STATS_NCOLS + LAST_NCOLS) ||
		    json_array_append_new(items, it)) {
			json_decref(it);
			json_decref(items);
			items = NULL;
		}
	}
	api_reply_page(resp, items, res, limit, "repos", (const int[]){ 1 }, 1);
out:
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

/* POST /api/v1/repos {"full_name": "owner/name"}: the ingest token and webhook secret, once. */
void api_repos_create(const struct col_http_req *req, struct col_http_resp *resp)
{
	struct col_principal who;
	static const char *const allowed[] = { NULL };
	char token[COL_TOKEN_SIZE], secret[COL_TOKEN_SIZE], idtext[24];
	const char *name, *params[2];
	struct col_query q;
	struct col_conn *c;
	json_error_t jerr;
	json_t *body, *fn, *out;
	PGresult *res = NULL;
	int64_t id;
	int rc;

	if (api_begin_as(req, resp, API_ADMIN, &q, allowed, &who))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!body || !json_is_object(body)) {
		json_decref(body);
		api_bad_param(resp, "body",
			      "must be a JSON object {\"full_name\": \"owner/name\"}");
		return;
	}
	fn = json_object_get(body, "full_name");
	name = json_is_string(fn) ? json_string_value(fn) : NULL;
	if (!name || !cm_repo_name_valid(name) || json_object_size(body) != 1) {
		json_decref(body);
		api_bad_param(resp, "full_name", "must be a repository as owner/name");
		return;
	}
	if (api_conn(req, resp, &c)) {
		json_decref(body);
		return;
	}
	rc = col_db_exec(c->pg, "BEGIN");
	if (!rc)
		rc = col_repo_ensure(c, name, &id);
	if (!rc)
		rc = cm_random_token("whs_", secret, sizeof(secret));
	if (rc)
		goto fail;
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	params[0] = idtext;
	params[1] = secret;
	/* The secret is set once: a second registration must not silently break the webhook. */
	res = col_db_query(c, "repository secret",
			   "UPDATE repositories SET webhook_secret = $2, updated_at = now() "
			   "WHERE id = $1 AND webhook_secret IS NULL RETURNING id",
			   2, params, &rc);
	if (!res)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(PQexec(c->pg, "ROLLBACK"));
		col_http_error(resp, 409, "conflict", "repository %s is already registered", name);
		goto out;
	}
	rc = col_token_create(c, COL_TOKEN_INGEST, name, "registered through the API", token);
	if (!rc) /* the webhook secret and ingest token stay out of the record */
		rc = api_audit(c, req, &who, "repository.create", name, NULL,
			       json_pack("{s:I, s:s}", "id", (json_int_t)id, "full_name", name));
	if (!rc)
		rc = col_db_exec(c->pg, "COMMIT");
	if (rc)
		goto fail;
	cm_log_info("api", "repository registered repo=%s", name);
	out = json_object();
	if (out &&
	    (api_set(out, "id", json_integer(id)) || api_set(out, "full_name", json_string(name)) ||
	     api_set(out, "ingest_token", json_string(token)) ||
	     api_set(out, "webhook_secret", json_string(secret)))) {
		json_decref(out);
		out = NULL;
	}
	api_reply(resp, 201, out);
	goto out;
fail:
	PQclear(PQexec(c->pg, "ROLLBACK"));
	cm_log_warn("api", "could not register a repository: %s", cm_strerror(rc));
	col_http_fail(resp, rc, "could not register the repository");
out:
	PQclear(res);
	json_decref(body);
	col_db_release(req->ctx->db, c);
}

static void workflows_list(const struct col_http_req *req, struct col_http_resp *resp,
			   const char *repo)
{
	static const char *const allowed[] = { "limit", "cursor", "days", NULL };
	/* clang-format off */
	static const char sql[] =
		"SELECT w.id, w.name, w.path, w.state, " STATS_COLS ", " LAST_COLS
		" FROM workflows w "
		"LEFT JOIN LATERAL (SELECT " STATS_SUMS " FROM run_rollup_daily "
		"  WHERE repo_id = w.repo_id AND workflow_id = w.id AND day >= $2::date) s ON true "
		"LEFT JOIN LATERAL (SELECT * FROM workflow_runs r WHERE r.repo_id = w.repo_id "
		"  AND r.workflow_id = w.id AND r.is_latest AND r.completed_at IS NOT NULL "
		"  ORDER BY r.completed_at DESC LIMIT 1) l ON true "
		"WHERE w.repo_id = $1 AND ($3::bigint IS NULL OR w.id > $3) ORDER BY w.id LIMIT $4";
	/* clang-format on */
	struct col_query q;
	struct col_params p = { .n = 0 };
	char scratch[API_CURSOR_MAX + 1], day[16];
	struct api_cursor cur;
	struct col_conn *c;
	PGresult *res = NULL;
	json_t *items;
	int64_t from_ms, repo_id;
	int limit, has_cursor, n, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_cursor(resp, &q, "wf", scratch, sizeof(scratch), &cur, &has_cursor) ||
	    param_days(resp, &q, day, &from_ms))
		return;
	if (api_conn(req, resp, &c))
		return;
	if (api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_i64(&p, repo_id);
	col_p_str(&p, day);
	col_p_opt_i64(&p, has_cursor, cur.a);
	col_p_i64(&p, limit + 1);
	res = col_db_query(c, "workflows", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "workflows");
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (int i = 0; items && i < n && i < limit; i++) {
		json_t *it = json_object();

		if (!it || api_set(it, "id", api_col_int(res, i, 0)) ||
		    api_set(it, "name", api_col_str(res, i, 1)) ||
		    api_set(it, "path", api_col_str(res, i, 2)) ||
		    api_set(it, "state", api_col_str(res, i, 3)) ||
		    add_stats(it, res, i, 4, from_ms) ||
		    add_last_run(it, res, i, 4 + STATS_NCOLS) || json_array_append_new(items, it)) {
			json_decref(it);
			json_decref(items);
			items = NULL;
		}
	}
	api_reply_page(resp, items, res, limit, "wf", (const int[]){ 0 }, 1);
out:
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

static void runs_list(const struct col_http_req *req, struct col_http_resp *resp, const char *repo)
{
	static const char *const allowed[] = { "from",	     "to",     "status",
					       "conclusion", "branch", "workflow",
					       "limit",	     "cursor", NULL };
	/* clang-format off */
	static const char sql[] =
		"SELECT " API_RUN_COLS ", "
		"(extract(epoch FROM COALESCE(w.created_at, w.inserted_at)) * 1000000)::bigint "
		"FROM workflow_runs w "
		"LEFT JOIN workflows wf ON wf.repo_id = w.repo_id AND wf.id = w.workflow_id "
		"WHERE w.repo_id = $1 AND w.is_latest "
		"AND ($2::bigint IS NULL OR COALESCE(w.created_at, w.inserted_at) >= " API_TS_US("$2") ") "
		"AND ($3::bigint IS NULL OR COALESCE(w.created_at, w.inserted_at) < " API_TS_US("$3") ") "
		"AND ($4::text IS NULL OR w.status = $4) "
		"AND ($5::text IS NULL OR w.conclusion = $5) "
		"AND ($6::text IS NULL OR w.head_branch = $6) "
		"AND ($7::bigint IS NULL OR w.workflow_id = $7) "
		"AND ($8::bigint IS NULL OR (COALESCE(w.created_at, w.inserted_at), w.run_id) < "
		"  (" API_TS_US("$8") ", $9::bigint)) "
		"ORDER BY COALESCE(w.created_at, w.inserted_at) DESC, w.run_id DESC LIMIT $10";
	/* clang-format on */
	struct col_query q;
	struct col_params p = { .n = 0 };
	char scratch[API_CURSOR_MAX + 1];
	const char *status, *concl, *branch;
	struct api_cursor cur;
	struct col_conn *c;
	PGresult *res = NULL;
	json_t *items;
	int64_t from = 0, to = 0, wf = 0, repo_id;
	int limit, has_cursor, has_from, has_to, has_wf, n, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_cursor(resp, &q, "runs", scratch, sizeof(scratch), &cur, &has_cursor) ||
	    api_param_time(resp, &q, "from", &from, &has_from) ||
	    api_param_time(resp, &q, "to", &to, &has_to) ||
	    api_param_enum(resp, &q, "status",
			   "queued|in_progress|completed|waiting|requested|pending", &status) ||
	    api_param_enum(resp, &q, "conclusion",
			   "success|failure|cancelled|skipped|timed_out|neutral|action_required|"
			   "stale|startup_failure",
			   &concl) ||
	    api_param_branch(resp, &q, "branch", &branch) ||
	    api_param_id(resp, &q, "workflow", &wf, &has_wf))
		return;
	if (has_from && has_to && from >= to) {
		api_bad_param(resp, "from", "must be before to");
		return;
	}
	if (api_conn(req, resp, &c))
		return;
	if (api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_i64(&p, repo_id);
	col_p_opt_i64(&p, has_from, from * 1000);
	col_p_opt_i64(&p, has_to, to * 1000);
	col_p_str(&p, status);
	col_p_str(&p, concl);
	col_p_str(&p, branch);
	col_p_opt_i64(&p, has_wf, wf);
	col_p_opt_i64(&p, has_cursor, cur.a);
	col_p_opt_i64(&p, has_cursor, cur.b);
	col_p_i64(&p, limit + 1);
	res = col_db_query(c, "runs", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "runs");
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (int i = 0; items && i < n && i < limit; i++) {
		json_t *it = api_run_json(res, i, 0);

		if (!it || json_array_append_new(items, it)) {
			json_decref(items);
			items = NULL;
		}
	}
	/* Sort keys of the last item shown: created time (µs) and run id. */
	api_reply_page(resp, items, res, limit, "runs", (const int[]){ API_RUN_NCOLS, 0 }, 2);
out:
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

/* GET /api/v1/repos/{owner}/{name} | /workflows | /runs */
void api_repo_sub(const struct col_http_req *req, struct col_http_resp *resp)
{
	const char *path = req->path + strlen("/api/v1/repos/"), *rest;
	char repo[160];

	if (col_path_repo(path, repo, sizeof(repo), &rest)) {
		col_http_error(resp, 404, "not_found", "no such resource (expected owner/name)");
		return;
	}
	if (!*rest)
		repo_get(req, resp, repo);
	else if (!strcmp(rest, "/workflows"))
		workflows_list(req, resp, repo);
	else if (!strcmp(rest, "/runs"))
		runs_list(req, resp, repo);
	else
		col_http_error(resp, 404, "not_found", "no such resource");
}
