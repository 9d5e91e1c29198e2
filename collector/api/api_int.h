/* clang-format off */
/*
 * What the handlers of the REST API share; nothing outside collector/api/ includes this (but
 * the unit tests). One file per resource:
 *   api.c               routes, auth, parameters, cursors, JSON replies
 *   query.c             query-string and path decoding (pure; fuzzed)
 *   repos.c             repositories (list with figures, register), workflows, run list
 *   runs.c              run detail, job logs
 *   pipeline_metrics.c  pipeline metrics in JSON (DESIGN.md definitions) with a time series
 *   prom.c              the same pipeline metrics on /metrics (Prometheus exposition)
 *   logs.c              log search
 *   alerts.c            alerts, alert rules and notification channels
 *   alert_ops.c         one alert with its deliveries, ack, test messages, silences
 *   poll.c              POST /api/v1/poll/run: poll GitHub now (it may wait minutes)
 *   tests.c             test results: tests with their figures, one test's history, and the
 *                       tests and failure group of a job in the run detail
 *   failures.c          failure groups and one group with its jobs
 *   accounts.c          sign-in (sessions), users, personal tokens, the audit log
 *   probes.c            /healthz, /readyz and /metrics (process metrics and the above)
 */
#ifndef COL_API_INT_H
#define COL_API_INT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "api/api.h"
#include "api/query.h"
#include "http/server.h"
#include "store/auth.h"
#include "store/db.h"


#define API_DEFAULT_LIMIT 50
#define API_MAX_LIMIT 200

/*
 * What a route needs (store/auth.h): API_READ a viewer (or open anonymous reads), API_MAINTAIN
 * a maintainer, API_ADMIN an admin; API_OPEN anyone (the principal is still found, for routes
 * such as the session's that answer by who asks). Every route's rule is held by
 * tests/integration/test_access.py.
 */
enum api_auth { API_READ, API_MAINTAIN, API_ADMIN, API_OPEN };

/*
 * Checks auth, then decodes the query string against the endpoint's allowed keys. Returns 0 to
 * go on; otherwise the error reply is written into resp and the handler returns.
 */
int api_begin(const struct col_http_req *req, struct col_http_resp *resp, enum api_auth auth,
	      struct col_query *q, const char *const *allowed);
/* api_begin that also gives who asks (for the audit log and per-user answers). */
int api_begin_as(const struct col_http_req *req, struct col_http_resp *resp, enum api_auth auth,
		 struct col_query *q, const char *const *allowed, struct col_principal *who);
/*
 * Replaces, in place and at any depth, the values of keys that hold destinations or secrets
 * (target, secret, password, token, url, webhook_secret, ingest_token) with "[redacted]";
 * returns v.
 */
json_t *api_redact(json_t *v);
/*
 * Appends to resp's headers Set-Cookie name=value (HttpOnly, SameSite=Lax, Path=path,
 * Max-Age=max_age_s; Secure when served over TLS or CIPULSE_PUBLIC_URL is https) and
 * Cache-Control: no-store. The session cookie and the GitHub sign-in's cookie alike.
 */
void api_set_cookie(const struct col_http_req *req, struct col_http_resp *resp, const char *name,
		    const char *value, const char *path, long max_age_s);
/* The value of cookie `name` into out: 0, CM_ENOTFOUND, or CM_EINVAL (empty or too long). */
int api_cookie(const struct col_http_req *req, const char *name, char *out, size_t size);
/*
 * Records a change in the audit log on c (inside the change's transaction when it has one):
 * before/after are taken (NULL: none) and must hold no secrets. 0 or a database error code.
 */
int api_audit(struct col_conn *c, const struct col_http_req *req, const struct col_principal *who,
	      const char *action, const char *target, json_t *before, json_t *after);
/*
 * Borrows a database connection, or answers 503. Its statements run under CIPULSE_API_TIMEOUT
 * (api_db_fail answers one cut off by it 503 "timeout" with Retry-After), and the request's
 * client hanging up cancels the query in flight.
 */
int api_conn(const struct col_http_req *req, struct col_http_resp *resp, struct col_conn **c);
/*
 * Whether the request's principal reads every repository (CIPULSE_VISIBILITY=all, or an admin
 * or read token in github mode); otherwise api_conn's connections show only its repositories.
 */
int api_sees_all(const struct col_http_req *req);
/*
 * For changes that reach every repository (alert channels and settings, test messages, global
 * silences): 0 when the principal reads every repository; otherwise 403 "forbidden" naming
 * `what` is written into resp and a non-zero value returned.
 */
int api_need_all(const struct col_http_req *req, struct col_http_resp *resp, const char *what);
/*
 * api_conn for an expensive request (log search, all-repository metrics): at most
 * CIPULSE_MAX_EXPENSIVE_REQUESTS of them run at once, so that they cannot take every pooled
 * connection and the database's CPU; past it, a request waits for one of them to end, up to
 * COL_DB_WAIT_MS (as for a pooled connection), then answers 503 "busy" with Retry-After. Give
 * the connection back with api_expensive_release.
 */
int api_expensive_conn(const struct col_http_req *req, struct col_http_resp *resp,
		       struct col_conn **c);
void api_expensive_release(const struct col_http_req *req, struct col_conn *c);
/*
 * Answers a failed query (rc from col_db_query, which logged the cause) by the one mapping of
 * core/status.h: 503 with Retry-After when the database is unavailable, else 4xx/500.
 */
void api_db_fail(struct col_http_resp *resp, int rc, const char *what);

/* 400 {"error": {"code": "invalid_parameter", "message": ..., "param": param}}. */
void api_bad_param(struct col_http_resp *resp, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* limit: 1..max, default def. */
int api_param_limit(struct col_http_resp *resp, const struct col_query *q, int def, int max,
		    int *out);
/* An ISO 8601 time parameter; *set = 0 when absent. */
int api_param_time(struct col_http_resp *resp, const struct col_query *q, const char *key,
		   int64_t *ms, int *set);
/* A positive id parameter; *set = 0 when absent. */
int api_param_id(struct col_http_resp *resp, const struct col_query *q, const char *key,
		 int64_t *id, int *set);
/* One of a '|'-separated list of words; NULL when absent. */
int api_param_enum(struct col_http_resp *resp, const struct col_query *q, const char *key,
		   const char *choices, const char **out);
/* A git branch name (check-ref-format rules, at most 255 bytes); NULL when absent. */
int api_param_branch(struct col_http_resp *resp, const struct col_query *q, const char *key,
		     const char **out);
/* "owner/name"; NULL when absent. */
int api_param_repo(struct col_http_resp *resp, const struct col_query *q, const char *key,
		   const char **out);

/*
 * A resource named by a hex key with a page of rows under it (GET /api/v1/tests/{id},
 * /api/v1/failures/{fingerprint}): auth, the key (404 unless key_len lowercase hex digits),
 * limit, cursor (of cursor_kind) and window (default `window`). Returns the key (in req->path)
 * or NULL when the answer is written.
 */
struct api_detail {
	const char *prefix; /* "/api/v1/tests/" */
	size_t key_len;
	const char *what; /* "a test id", for the 404 */
	const char *cursor_kind;
	const char *window;
	const char *const *allowed;
};
struct api_detail_params {
	int limit, has_cur;
	struct api_cursor cur;
	int64_t since_ms;
	char scratch[API_CURSOR_MAX + 1];
};
const char *api_begin_detail(const struct col_http_req *req, struct col_http_resp *resp,
			     const struct api_detail *d, struct col_query *q,
			     struct api_detail_params *out);
/*
 * Sets obj[key] to the first `limit` rows of res as row() makes them, and "next_cursor"
 * (api_next_cursor of kind with the columns cols). CM_ENOMEM when something fails.
 */
int api_set_list(json_t *obj, const char *key, const PGresult *res, int limit,
		 json_t *(*row)(const PGresult *res, int i), const char *kind, const int *cols,
		 int ncols);

/* window=1h|24h|7d|30d (default def): the epoch ms the window starts at. */
int api_param_since(struct col_http_resp *resp, const struct col_query *q, const char *def,
		    int64_t *since_ms);

/*
 * Reads the "cursor" parameter of a list of `kind` (api_cursor_parse): 0 and *present=0 when
 * absent; 400 naming "cursor" if malformed or out of range.
 */
int api_param_cursor(struct col_http_resp *resp, const struct col_query *q, const char *kind,
		     char *scratch, size_t size, struct api_cursor *cur, int *present);

/* JSON values from result columns; SQL NULL becomes JSON null. */
json_t *api_jstr(const char *s);
json_t *api_col_str(const PGresult *res, int row, int col);
json_t *api_col_int(const PGresult *res, int row, int col);
json_t *api_col_num(const PGresult *res, int row, int col);
json_t *api_col_bool(const PGresult *res, int row, int col);
/* An epoch-milliseconds column (see API_MS) as an ISO 8601 string. */
json_t *api_col_time(const PGresult *res, int row, int col);
json_t *api_time(int64_t ms);
/* Epoch milliseconds of a timestamptz expression, for api_col_time. */
#define API_MS(x) "floor(extract(epoch FROM " x ") * 1000)::bigint"

/* Writes root as the reply body (takes the reference). 500 when it cannot be serialised. */
void api_reply(struct col_http_resp *resp, int status, json_t *root);
/*
 * The first `limit` rows of res (all of them when limit < 0) as a JSON array, each made by
 * row(); NULL when out of memory.
 */
json_t *api_rows_json(const PGresult *res, int limit, json_t *(*row)(const PGresult *res, int i));
/* {"items": items, "next_cursor": cursor or null} (takes the reference to items). */
json_t *api_page(json_t *items, const char *next_cursor);
/* The same with another key for the items ({"tests": [...], "next_cursor": ...}). */
json_t *api_page_as(const char *key, json_t *items, const char *next_cursor);
/* Sets a key, taking the value's reference; returns -1 when the value is NULL (no memory). */
int api_set(json_t *obj, const char *key, json_t *v);

/*
 * The columns of a run attempt as the API shows it (alias w for workflow_runs, wf for workflows),
 * API_RUN_NCOLS of them, turned into an object by api_run_json (runs.c).
 */
#define API_RUN_COLS                                                                            \
	"w.run_id, w.run_attempt, w.workflow_id, wf.name, w.run_number, w.name, w.event, "      \
	"w.status, w.conclusion, w.head_branch, w.head_sha, w.actor, w.html_url, "               \
	API_MS("w.created_at") ", " API_MS("w.run_started_at") ", " API_MS("w.updated_at") ", " \
	API_MS("w.completed_at") ", w.duration_s"
#define API_RUN_NCOLS 18
json_t *api_run_json(const PGresult *res, int row, int col0);
/* A timestamptz from a parameter holding epoch microseconds (exact, unlike float seconds). */
#define API_TS_US(p) "('epoch'::timestamptz + " p "::bigint * interval '1 microsecond')"

/*
 * Metrics over a window (pipeline_metrics.c): one row of cipulse_window_metrics
 * (sql/013_window_metrics.sql), which computes every figure in the database in one read of the
 * window's runs — the one definition that the window alert rules read too.
 */
struct api_mrow {
	int bucket; /* -1: the whole window */
	long runs, flaky_runs;
	json_t *by_conclusion; /* {"success": n, ...}; owned by the row */
	/* NAN for SQL NULL */
	double mttr_s, success_rate, avg_duration_s, p50_duration_s, p95_duration_s, avg_queue_s,
	    p95_queue_s;
};
/*
 * The reply body of /api/v1/metrics without the scope keys; NULL when out of memory. A window or
 * bucket without a row (no runs) has zero counts and null figures.
 */
json_t *api_metrics_json(const struct api_window *w, const struct api_mrow *rows, size_t nrows);
/*
 * The rollup's duration and queue-time histograms (sql/016_repo_rollup.sql: bin 0 holds [0, 1) s,
 * bin k >= 1 [2^((k-1)/4), 2^(k/4)) s) as the collector adds them: h[k] counts bin k.
 * api_hist_add_text adds rows of cipulse_rollup_sums' text ("LOW:n,n,... LOW:n,...") to h;
 * -1 when text is malformed. api_hist_quantile: the p-quantile (0..1) as cipulse_hist_quantile
 * estimates it, NAN when h is empty.
 */
#define API_HIST_BINS 512
int api_hist_add_text(int64_t *h, const char *text);
double api_hist_quantile(const int64_t *h, double p);

/* Handlers, by file. */
void api_repos_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_repos_create(const struct col_http_req *req, struct col_http_resp *resp);
void api_repo_sub(const struct col_http_req *req, struct col_http_resp *resp);
void api_run_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_job_logs(const struct col_http_req *req, struct col_http_resp *resp);
void api_metrics_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_logs_search(const struct col_http_req *req, struct col_http_resp *resp);
void api_alerts_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_alert_settings_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_alert_settings_post(const struct col_http_req *req, struct col_http_resp *resp);
void api_alert_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_alert_ack(const struct col_http_req *req, struct col_http_resp *resp);
void api_alert_test(const struct col_http_req *req, struct col_http_resp *resp);
void api_silences_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_silence_create(const struct col_http_req *req, struct col_http_resp *resp);
void api_silence_delete(const struct col_http_req *req, struct col_http_resp *resp);
void api_poll_run(const struct col_http_req *req, struct col_http_resp *resp);
void api_tests_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_test_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_failures_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_failure_get(const struct col_http_req *req, struct col_http_resp *resp);
/*
 * Adds to each job object (with its "job_id") of a run attempt's jobs array its "tests"
 * (counts; absent when the job sent none), "failed_tests" (at most 50) and "failure_group"
 * (null when none), read through cipulse_job_failed_tests and cipulse_job_failure_group
 * (tests.c). 0, or an error code (database, CM_ENOMEM) that the caller answers.
 */
int api_run_tests_add(struct col_conn *c, json_t *jobs, const char *repo_id, int64_t run_id,
		      const char *attempt);
/*
 * Replies {key: rows, "next_cursor"} for a list ranked by figures (kinds "tests", "failures"):
 * the first `limit` rows of res (the query asked for limit + 1 from `offset`) as row() makes
 * them; the cursor holds the offset where the next page starts.
 */
void api_reply_ranked(struct col_http_resp *resp, const char *key, const PGresult *res,
		      int limit, int64_t offset, json_t *(*row)(const PGresult *res, int i),
		      const char *kind);
void api_auth_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_session_get(const struct col_http_req *req, struct col_http_resp *resp);
void api_session_post(const struct col_http_req *req, struct col_http_resp *resp);
void api_session_delete(const struct col_http_req *req, struct col_http_resp *resp);
void api_github_signin_start(const struct col_http_req *req, struct col_http_resp *resp);
void api_github_signin_callback(const struct col_http_req *req, struct col_http_resp *resp);
void api_users_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_users_create(const struct col_http_req *req, struct col_http_resp *resp);
void api_user_patch(const struct col_http_req *req, struct col_http_resp *resp);
void api_tokens_list(const struct col_http_req *req, struct col_http_resp *resp);
void api_tokens_create(const struct col_http_req *req, struct col_http_resp *resp);
void api_token_delete(const struct col_http_req *req, struct col_http_resp *resp);
void api_audit_list(const struct col_http_req *req, struct col_http_resp *resp);

/* Looks a repository up by full name: 0 and *id; CM_ENOTFOUND; or a database error code. */
int api_repo_id(struct col_conn *c, const char *full_name, int64_t *id);
/* The columns of an alert (alias a, repositories r), turned into JSON by api_alert_json. */
/* clang-format off */
#define API_ALERT_COLS                                                                         \
	"a.id, a.rule_id, a.kind, r.full_name, a.workflow_id, a.branch, a.run_id, "            \
	"a.run_attempt, a.state, a.summary, a.details::text, " API_MS("a.opened_at") ", "      \
	API_MS("a.resolved_at") ", a.severity, a.run_count, " API_MS("a.acked_at")
/* clang-format on */
json_t *api_alert_json(const PGresult *res, int row);
/* The id in a path "prefix<id>suffix": 0, or CM_EINVAL when the path is not of that form. */
int api_path_id(const char *path, const char *prefix, const char *suffix, int64_t *id);
/* Answers 404 {"error": {"code": "not_found", ...}} naming what was not found. */
void api_not_found(struct col_http_resp *resp, const char *what);
/* api_repo_id that answers 404 (unknown) or 503/500 itself; 0 when found. */
int api_lookup_repo(struct col_http_resp *resp, struct col_conn *c, const char *full_name,
		    int64_t *id);
/*
 * Replies with a page: items (taken) built from the first `limit` of the result's rows; when the
 * query returned more (it asks for limit + 1), next_cursor holds the columns `cols` of the last
 * item shown, under `kind`.
 */
void api_reply_page(struct col_http_resp *resp, json_t *items, const PGresult *res, int limit,
		    const char *kind, const int *cols, int ncols);
/*
 * The next_cursor of such a page into next (size bytes): "" when the result has no more rows
 * than limit; CM_ETOOBIG or CM_EINVAL when it cannot be encoded.
 */
int api_next_cursor(const PGresult *res, int limit, const char *kind, const int *cols, int ncols,
		    char *next, size_t size);

#endif
