#include "api/api_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_json.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "core/ticker.h"
#include "store/auth.h"
#include "store/tokens.h"
#include "store/visibility.h"

void col_api_routes(void)
{
	col_http_route("GET", "/api/v1/repos", api_repos_list);
	col_http_route("POST", "/api/v1/repos", api_repos_create);
	col_http_route("GET", "/api/v1/repos/*", api_repo_sub);
	col_http_route("GET", "/api/v1/runs/*", api_run_get);
	col_http_route("GET", "/api/v1/jobs/*", api_job_logs);
	col_http_route("GET", "/api/v1/metrics", api_metrics_get);
	col_http_route("GET", "/api/v1/logs/search", api_logs_search);
	col_http_route("GET", "/api/v1/alerts", api_alerts_list);
	col_http_route("GET", "/api/v1/alerts/*", api_alert_get);
	col_http_route("POST", "/api/v1/alerts/*", api_alert_ack);
	col_http_route("GET", "/api/v1/silences", api_silences_list);
	col_http_route("POST", "/api/v1/silences", api_silence_create);
	col_http_route("DELETE", "/api/v1/silences/*", api_silence_delete);
	col_http_route("POST", "/api/v1/settings/alerts/test", api_alert_test);
	col_http_route("GET", "/api/v1/settings/alerts", api_alert_settings_get);
	col_http_route("POST", "/api/v1/settings/alerts", api_alert_settings_post);
	col_http_route("POST", "/api/v1/poll/run", api_poll_run);
	col_http_route("GET", "/api/v1/tests", api_tests_list);
	col_http_route("GET", "/api/v1/tests/*", api_test_get);
	col_http_route("GET", "/api/v1/failures", api_failures_list);
	col_http_route("GET", "/api/v1/failures/*", api_failure_get);
	col_http_route("GET", "/api/v1/auth", api_auth_get);
	col_http_route("GET", "/api/v1/auth/github", api_github_signin_start);
	col_http_route("GET", "/api/v1/auth/github/callback", api_github_signin_callback);
	col_http_route("GET", "/api/v1/session", api_session_get);
	col_http_route("POST", "/api/v1/session", api_session_post);
	col_http_route("DELETE", "/api/v1/session", api_session_delete);
	col_http_route("GET", "/api/v1/users", api_users_list);
	col_http_route("POST", "/api/v1/users", api_users_create);
	col_http_route("PATCH", "/api/v1/users/*", api_user_patch);
	col_http_route("GET", "/api/v1/tokens", api_tokens_list);
	col_http_route("POST", "/api/v1/tokens", api_tokens_create);
	col_http_route("DELETE", "/api/v1/tokens/*", api_token_delete);
	col_http_route("GET", "/api/v1/audit", api_audit_list);
}

void api_bad_param(struct col_http_resp *resp, const char *param, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* col_http_error builds the common shape; the message and "param" name the parameter. */
	col_http_error(resp, 400, "invalid_parameter", "parameter \"%s\": %s", param, msg);
	cm_buf_truncate(&resp->body, resp->body.len - 2); /* reopen the error object: drop "}}" */
	if (cm_buf_adds(&resp->body, ",\"param\":") || cm_json_add_string(&resp->body, param) ||
	    cm_buf_adds(&resp->body, "}}"))
		col_http_error(resp, 400, "invalid_parameter", "invalid parameter");
}

void api_not_found(struct col_http_resp *resp, const char *what)
{
	col_http_error(resp, 404, "not_found", "no such %s", what);
}

int api_cookie(const struct col_http_req *req, const char *name, char *out, size_t size)
{
	const char *h = col_http_header(req, "Cookie");
	size_t nlen = strlen(name);

	for (const char *p = h; p && *p;) {
		const char *end = strchr(p, ';'), *v;
		size_t len;

		while (*p == ' ')
			p++;
		end = end ? end : p + strlen(p);
		if ((size_t)(end - p) > nlen && !strncmp(p, name, nlen) && p[nlen] == '=') {
			v = p + nlen + 1;
			len = (size_t)(end - v);
			if (len == 0 || len >= size)
				return CM_EINVAL;
			memcpy(out, v, len);
			out[len] = '\0';
			return CM_OK;
		}
		p = *end ? end + 1 : end;
	}
	return CM_ENOTFOUND;
}

/*
 * Who sent the request (store/auth.h): a bearer token when there is an Authorization header
 * (missing or malformed: CM_EAUTH), else the session of the cookie (none, unknown or expired:
 * anonymous), else anonymous. Writes no reply.
 */
static int principal_of(const struct col_http_req *req, struct col_principal *who, int *bearer)
{
	const char *h = col_http_header(req, "Authorization");
	char token[COL_BEARER_MAX + 1];
	struct col_conn *c;
	int rc;

	memset(who, 0, sizeof(*who));
	*bearer = h != NULL;
	if (h) {
		rc = col_bearer_parse(h, strlen(h), token, sizeof(token));
		if (!rc)
			rc = col_auth_token(req->ctx->cfg, req->ctx->db, token, who);
		memset(token, 0, sizeof(token));
		return rc;
	}
	if (api_cookie(req, COL_SESSION_COOKIE, token, sizeof(token)))
		return CM_OK;
	rc = col_db_acquire(req->ctx->db, &c, COL_DB_WAIT_MS);
	if (!rc) {
		rc = col_session_lookup(c, token, req->ctx->cfg->session_idle_ms, who);
		col_db_release(req->ctx->db, c);
	}
	memset(token, 0, sizeof(token));
	if (rc == CM_EAUTH) {
		memset(who, 0, sizeof(*who));
		rc = CM_OK; /* an ended session is no session */
	}
	return rc;
}

/*
 * The repositories the request's principal may read (store/visibility.h), found by check_auth
 * and applied by api_conn to every connection the request borrows. A handler runs on its
 * connection's thread from check_auth (the first thing every handler does, through api_begin*)
 * to its end, so this thread's value belongs to the request that set it last; it names that
 * request, and a request that finds another's here reads nothing in github mode.
 */
struct visible {
	const struct col_http_req *req;
	char *repos; /* bigint[] literal; NULL: every repository */
};
static pthread_key_t visible_key;
static pthread_once_t visible_once = PTHREAD_ONCE_INIT;

static void visible_free(void *v)
{
	if (v)
		free(((struct visible *)v)->repos);
	free(v);
}

static void visible_key_make(void)
{
	(void)pthread_key_create(&visible_key, visible_free);
}

/* This thread's value; NULL when there is none (out of memory: then nothing is visible). */
static struct visible *visible_get(void)
{
	struct visible *v;

	pthread_once(&visible_once, visible_key_make);
	v = pthread_getspecific(visible_key);
	if (!v && (v = calloc(1, sizeof(*v))) && pthread_setspecific(visible_key, v)) {
		free(v);
		v = NULL;
	}
	return v;
}

/* Takes repos. */
static void visible_set(const struct col_http_req *req, char *repos)
{
	struct visible *v = visible_get();

	if (!v) {
		free(repos);
		return;
	}
	free(v->repos);
	v->req = req;
	v->repos = repos;
}

/* The request's repositories ("{}" when another request's value is here). */
static const char *visible_repos(const struct col_http_req *req)
{
	struct visible *v = visible_get();

	return v && v->req == req ? v->repos : "{}";
}

int api_sees_all(const struct col_http_req *req)
{
	struct visible *v;

	if (!col_visibility_on(req->ctx->cfg))
		return 1;
	v = visible_get();
	return v && v->req == req && !v->repos;
}

int api_need_all(const struct col_http_req *req, struct col_http_resp *resp, const char *what)
{
	if (api_sees_all(req))
		return 0;
	col_http_error(resp, 403, "forbidden",
		       "%s reach every repository: they need a principal that reads every "
		       "repository (an admin, or a read or admin token)",
		       what);
	return CM_EDENIED;
}

/*
 * 0 when the request may go on, else the answer is written. The policy is col_auth_allow's
 * (store/auth.h), the same as gRPC's: anonymous where a credential is needed, or a missing,
 * malformed, unknown or revoked token, is 401; a principal without the right is 403; a
 * cookie-authenticated write without the session's X-CSRF-Token is 403.
 */
static int check_auth(const struct col_http_req *req, struct col_http_resp *resp,
		      enum api_auth need, struct col_principal *who)
{
	static const enum col_need needs[] = {
		[API_READ] = COL_NEED_VIEWER,
		[API_MAINTAIN] = COL_NEED_MAINTAINER,
		[API_ADMIN] = COL_NEED_ADMIN,
	};
	const char *csrf;
	char *repos = NULL;
	int bearer, anon = 0, rc;

	visible_set(NULL, NULL);
	rc = principal_of(req, who, &bearer);
	if (need == API_OPEN) {
		/* Open routes (auth, session) show no repository's data. */
		visible_set(req, NULL);
		if (rc)
			memset(who, 0, sizeof(*who)); /* an open route serves anyone */
		return CM_OK;
	}
	if (!rc && who->who == COL_WHO_ANONYMOUS && need == API_READ) {
		anon = col_auth_anonymous_read(req->ctx->cfg, req->ctx->db);
		if (anon < 0)
			rc = -anon;
	}
	if (!rc)
		rc = col_auth_allow(who, needs[need], anon > 0);
	if (rc == CM_EAUTH) {
		col_http_fail(resp, rc, "%s",
			      bearer ? "unknown or revoked token"
				     : "sign in, or send a bearer token");
		snprintf(
		    resp->extra_headers, sizeof(resp->extra_headers),
		    bearer
			? "WWW-Authenticate: Bearer realm=\"cipulse\", error=\"invalid_token\"\r\n"
			: "WWW-Authenticate: Bearer realm=\"cipulse\"\r\n");
	} else if (rc == CM_EDENIED) {
		col_http_fail(resp, rc, "%s",
			      who->who == COL_WHO_USER ? "your role may not do that"
						       : "this token may not do that");
	} else if (rc) {
		col_http_fail(resp, rc, "the database cannot be reached");
	} else if (who->who == COL_WHO_USER && strcmp(req->method, "GET") &&
		   strcmp(req->method, "HEAD")) {
		/* A cookie rides along on cross-site requests; the CSRF token does not. */
		csrf = col_http_header(req, "X-CSRF-Token");
		if (!csrf || !cm_consttime_eq(csrf, strlen(csrf), who->csrf, strlen(who->csrf))) {
			col_http_error(resp, 403, "csrf",
				       "a signed-in write needs the session's X-CSRF-Token header");
			rc = CM_EDENIED;
		}
	}
	if (rc)
		return rc;
	rc = col_visibility_of(req->ctx, who, &repos);
	if (rc)
		col_http_fail(resp, rc, "could not tell which repositories you may read");
	else
		visible_set(req, repos);
	return rc;
}

int api_begin_as(const struct col_http_req *req, struct col_http_resp *resp, enum api_auth auth,
		 struct col_query *q, const char *const *allowed, struct col_principal *who)
{
	char param[80];
	const char *why = "";
	int rc = check_auth(req, resp, auth, who);

	if (rc)
		return rc;
	rc = col_query_parse(q, req->query, allowed, param, sizeof(param), &why);
	if (rc)
		api_bad_param(resp, param, "%s", why);
	return rc;
}

int api_begin(const struct col_http_req *req, struct col_http_resp *resp, enum api_auth auth,
	      struct col_query *q, const char *const *allowed)
{
	struct col_principal who;

	return api_begin_as(req, resp, auth, q, allowed, &who);
}

int api_conn(const struct col_http_req *req, struct col_http_resp *resp, struct col_conn **c)
{
	int rc = col_db_acquire(req->ctx->db, c, COL_DB_WAIT_MS);

	if (rc) {
		col_http_fail(resp, rc, "the database cannot be reached");
		return rc;
	}
	/* Every API query runs under CIPULSE_API_TIMEOUT and ends when its client hangs up. */
	rc = col_db_set_timeout(*c, req->ctx->cfg->api_timeout_ms);
	if (rc) {
		col_db_release(req->ctx->db, *c);
		col_http_fail(resp, rc, "the database cannot be reached");
		return rc;
	}
	(*c)->watch_fd = col_http_client_fd(req);
	/* What the principal may not read stays in the database (store/visibility.h). */
	if (!api_sees_all(req)) {
		rc = col_db_restrict(*c, visible_repos(req));
		if (rc) {
			col_db_release(req->ctx->db, *c);
			col_http_fail(resp, rc, "the database cannot be reached");
			return rc;
		}
	}
	return CM_OK;
}

/* The expensive requests running, and the requests waiting for one of them to end. */
static pthread_mutex_t expensive_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t expensive_done = PTHREAD_COND_INITIALIZER;
static long expensive_running;

/* Takes a slot, waiting up to COL_DB_WAIT_MS for one: 0, or -1 when none came free. */
static int expensive_take(long max)
{
	static struct col_metric *waits;
	struct timespec until;
	int rc = 0;

	pthread_mutex_lock(&expensive_lock);
	if (expensive_running >= max) {
		if (!waits)
			waits =
			    col_metric_counter("cipulse_http_expensive_waits_total", "",
					       "Expensive requests that waited for one of the "
					       "CIPULSE_MAX_EXPENSIVE_REQUESTS running to end.");
		col_metric_inc(waits);
		until = col_ticker_deadline(COL_DB_WAIT_MS);
		while (expensive_running >= max && !rc)
			rc = pthread_cond_timedwait(&expensive_done, &expensive_lock, &until);
	}
	rc = expensive_running < max ? 0 : -1;
	if (!rc)
		expensive_running++;
	pthread_mutex_unlock(&expensive_lock);
	return rc;
}

static void expensive_give_back(void)
{
	pthread_mutex_lock(&expensive_lock);
	expensive_running--;
	pthread_cond_signal(&expensive_done);
	pthread_mutex_unlock(&expensive_lock);
}

int api_expensive_conn(const struct col_http_req *req, struct col_http_resp *resp,
		       struct col_conn **c)
{
	static struct col_metric *busy;

	if (expensive_take(req->ctx->cfg->max_expensive_requests)) {
		if (!busy)
			busy = col_metric_counter(
			    "cipulse_http_busy_total", "",
			    "Expensive requests answered 503 because as many as "
			    "CIPULSE_MAX_EXPENSIVE_REQUESTS ran for as long as they waited.");
		col_metric_inc(busy);
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 2\r\n");
		col_http_error(resp, 503, "busy",
			       "too many searches and metrics at once; retry in a moment");
		return CM_EUNAVAIL;
	}
	if (api_conn(req, resp, c)) {
		expensive_give_back();
		return CM_EUNAVAIL;
	}
	return CM_OK;
}

void api_expensive_release(const struct col_http_req *req, struct col_conn *c)
{
	col_db_release(req->ctx->db, c);
	expensive_give_back();
}

void api_db_fail(struct col_http_resp *resp, int rc, const char *what)
{
	if (rc == CM_ETIMEDOUT) {
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 5\r\n");
		col_http_error(resp, 503, "timeout",
			       "%s: the database took longer than the API's time limit "
			       "(CIPULSE_API_TIMEOUT); narrow the query or retry later",
			       what);
	} else if (rc == CM_EUNAVAIL)
		col_http_fail(resp, rc, "the database cannot be reached");
	else
		col_http_fail(resp, rc, "could not read %s", what);
}

int api_repo_id(struct col_conn *c, const char *full_name, int64_t *id)
{
	const char *params[1] = { full_name };
	int rc;
	PGresult *res = col_db_query(
	    c, "repository", "SELECT id FROM repositories WHERE full_name = $1", 1, params, &rc);

	if (!res)
		return rc;
	if (PQntuples(res) != 1)
		rc = CM_ENOTFOUND;
	else
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

int api_lookup_repo(struct col_http_resp *resp, struct col_conn *c, const char *full_name,
		    int64_t *id)
{
	int rc = api_repo_id(c, full_name, id);

	if (rc == CM_ENOTFOUND)
		api_not_found(resp, "repository");
	else if (rc)
		api_db_fail(resp, rc, "repository");
	return rc;
}

/* ---- parameters ---- */

int api_param_limit(struct col_http_resp *resp, const struct col_query *q, int def, int max,
		    int *out)
{
	const char *v = col_query_get(q, "limit");
	int64_t n;

	*out = def;
	if (!v)
		return CM_OK;
	if (col_parse_id(v, strlen(v), &n) || n > max) {
		api_bad_param(resp, "limit", "must be an integer from 1 to %d", max);
		return CM_EINVAL;
	}
	*out = (int)n;
	return CM_OK;
}

int api_param_time(struct col_http_resp *resp, const struct col_query *q, const char *key,
		   int64_t *ms, int *set)
{
	const char *v = col_query_get(q, key);

	*set = 0;
	if (!v)
		return CM_OK;
	if (cm_time_parse_iso8601(v, ms) || *ms < 0 || *ms > 253402300799000LL) {
		api_bad_param(resp, key, "must be an ISO 8601 time such as 2024-05-01T12:00:00Z");
		return CM_EINVAL;
	}
	*set = 1;
	return CM_OK;
}

int api_param_id(struct col_http_resp *resp, const struct col_query *q, const char *key,
		 int64_t *id, int *set)
{
	const char *v = col_query_get(q, key);

	*set = 0;
	if (!v)
		return CM_OK;
	if (col_parse_id(v, strlen(v), id)) {
		api_bad_param(resp, key, "must be a positive integer id");
		return CM_EINVAL;
	}
	*set = 1;
	return CM_OK;
}

int api_param_enum(struct col_http_resp *resp, const struct col_query *q, const char *key,
		   const char *choices, const char **out)
{
	const char *v = col_query_get(q, key);
	size_t len;

	*out = NULL;
	if (!v)
		return CM_OK;
	len = strlen(v);
	for (const char *c = choices; *c;) {
		const char *bar = strchr(c, '|');
		size_t clen = bar ? (size_t)(bar - c) : strlen(c);

		if (clen == len && !strncmp(c, v, len)) {
			*out = v;
			return CM_OK;
		}
		c += clen + (bar ? 1 : 0);
	}
	api_bad_param(resp, key, "must be one of %s", choices);
	return CM_EINVAL;
}

/* git check-ref-format's rules for one ref name (a branch may contain '/'). */
static int valid_branch(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 255 || s[0] == '/' || s[0] == '-' || s[len - 1] == '/' ||
	    s[len - 1] == '.' || strstr(s, "..") || strstr(s, "@{") || strstr(s, "//") ||
	    (len >= 5 && !strcmp(s + len - 5, ".lock")) || !strcmp(s, "@"))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || strchr(" ~^:?*[\\", *p))
			return 0;
	}
	return 1;
}

int api_param_branch(struct col_http_resp *resp, const struct col_query *q, const char *key,
		     const char **out)
{
	const char *v = col_query_get(q, key);

	*out = NULL;
	if (!v)
		return CM_OK;
	if (!valid_branch(v)) {
		api_bad_param(resp, key, "must be a git branch name");
		return CM_EINVAL;
	}
	*out = v;
	return CM_OK;
}

int api_param_repo(struct col_http_resp *resp, const struct col_query *q, const char *key,
		   const char **out)
{
	const char *v = col_query_get(q, key);

	*out = NULL;
	if (!v)
		return CM_OK;
	if (!cm_repo_name_valid(v)) {
		api_bad_param(resp, key, "must be a repository as owner/name");
		return CM_EINVAL;
	}
	*out = v;
	return CM_OK;
}

int api_param_since(struct col_http_resp *resp, const struct col_query *q, const char *def,
		    int64_t *since_ms)
{
	const char *w = col_query_get(q, "window"), *param = "window", *why = "";
	struct api_window win;

	if (api_window_parse(w ? w : def, NULL, NULL, cm_time_now_ms(), &win, &param, &why)) {
		api_bad_param(resp, param, "%s", why);
		return CM_EINVAL;
	}
	*since_ms = win.from_ms;
	return CM_OK;
}

/* Is s exactly len lowercase hex digits? */
static int lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return 0;
	for (; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	}
	return 1;
}

const char *api_begin_detail(const struct col_http_req *req, struct col_http_resp *resp,
			     const struct api_detail *d, struct col_query *q,
			     struct api_detail_params *out)
{
	const char *key = req->path + strlen(d->prefix);

	/* Auth first: without it, not even the shape of a path is answered. */
	if (api_begin(req, resp, API_READ, q, d->allowed))
		return NULL;
	if (strncmp(req->path, d->prefix, strlen(d->prefix)) || !lower_hex(key, d->key_len)) {
		col_http_error(resp, 404, "not_found", "no such resource (expected %s)", d->what);
		return NULL;
	}
	if (api_param_limit(resp, q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &out->limit) ||
	    api_param_cursor(resp, q, d->cursor_kind, out->scratch, sizeof(out->scratch), &out->cur,
			     &out->has_cur) ||
	    api_param_since(resp, q, d->window, &out->since_ms))
		return NULL;
	return key;
}

int api_set_list(json_t *obj, const char *key, const PGresult *res, int limit,
		 json_t *(*row)(const PGresult *res, int i), const char *kind, const int *cols,
		 int ncols)
{
	char next[API_CURSOR_MAX + 1];
	json_t *items = json_array();

	if (api_set(obj, key, items))
		return CM_ENOMEM;
	for (int i = 0; i < PQntuples(res) && i < limit; i++) {
		if (json_array_append_new(items, row(res, i)))
			return CM_ENOMEM;
	}
	if (api_next_cursor(res, limit, kind, cols, ncols, next, sizeof(next)) ||
	    api_set(obj, "next_cursor", api_jstr(next[0] ? next : NULL)))
		return CM_ENOMEM;
	return CM_OK;
}

int api_param_cursor(struct col_http_resp *resp, const struct col_query *q, const char *kind,
		     char *scratch, size_t size, struct api_cursor *cur, int *present)
{
	const char *v = col_query_get(q, "cursor");

	*present = 0;
	memset(cur, 0, sizeof(*cur));
	if (!v)
		return CM_OK;
	if (api_cursor_parse(v, kind, scratch, size, cur)) {
		api_bad_param(resp, "cursor", "malformed cursor (use next_cursor of a reply)");
		return CM_EINVAL;
	}
	*present = 1;
	return CM_OK;
}

/* ---- JSON ---- */

json_t *api_jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *api_col_str(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_stringn(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

json_t *api_col_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_integer(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

json_t *api_col_num(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_real(strtod(PQgetvalue(res, row, col), NULL));
}

json_t *api_col_bool(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_boolean(PQgetvalue(res, row, col)[0] == 't');
}

json_t *api_time(int64_t ms)
{
	char iso[32];

	cm_time_format_iso8601(ms, iso, sizeof(iso));
	return json_string(iso);
}

json_t *api_col_time(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return api_time(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

int api_set(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -1;
	return json_object_set_new(obj, key, v);
}

json_t *api_page(json_t *items, const char *next_cursor)
{
	return api_page_as("items", items, next_cursor);
}

json_t *api_page_as(const char *key, json_t *items, const char *next_cursor)
{
	json_t *o = json_object();

	if (!o || !items || api_set(o, key, items) ||
	    api_set(o, "next_cursor", api_jstr(next_cursor))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int dump_to_buf(const char *buf, size_t size, void *data)
{
	return cm_buf_add(data, buf, size) ? -1 : 0;
}

void api_reply_page(struct col_http_resp *resp, json_t *items, const PGresult *res, int limit,
		    const char *kind, const int *cols, int ncols)
{
	char next[API_CURSOR_MAX + 1] = "";

	if (items && api_next_cursor(res, limit, kind, cols, ncols, next, sizeof(next))) {
		json_decref(items);
		items = NULL;
	}
	api_reply(resp, 200, api_page(items, next[0] ? next : NULL));
}

int api_next_cursor(const PGresult *res, int limit, const char *kind, const int *cols, int ncols,
		    char *next, size_t size)
{
	const char *f[API_CURSOR_FIELDS];

	next[0] = '\0';
	if (PQntuples(res) <= limit)
		return CM_OK;
	if (ncols > API_CURSOR_FIELDS)
		return CM_EINVAL;
	for (int i = 0; i < ncols; i++)
		f[i] = PQgetvalue(res, limit - 1, cols[i]);
	return api_cursor_encode(next, size, kind, f, ncols);
}

json_t *api_rows_json(const PGresult *res, int limit, json_t *(*row)(const PGresult *res, int i))
{
	json_t *items = json_array();
	int n = PQntuples(res);

	if (limit >= 0 && limit < n)
		n = limit;
	for (int i = 0; items && i < n; i++) {
		if (json_array_append_new(items, row(res, i))) {
			json_decref(items);
			items = NULL;
		}
	}
	return items;
}

void api_reply(struct col_http_resp *resp, int status, json_t *root)
{
	int rc;

	cm_buf_reset(&resp->body);
	/* Serialised straight into the reply buffer, whose maximum bounds the size. */
	rc = root ? json_dump_callback(root, dump_to_buf, &resp->body,
				       JSON_COMPACT | JSON_REAL_PRECISION(12))
		  : -1;
	json_decref(root);
	if (rc) {
		col_http_error(resp, 500, "internal", "could not build the reply");
		return;
	}
	resp->status = status;
}

int api_path_id(const char *path, const char *prefix, const char *suffix, int64_t *id)
{
	size_t plen = strlen(prefix), slen = strlen(suffix), len;

	if (strncmp(path, prefix, plen))
		return CM_EINVAL;
	path += plen;
	len = strlen(path);
	if (len < slen || strcmp(path + len - slen, suffix))
		return CM_EINVAL;
	return col_parse_id(path, len - slen, id);
}
