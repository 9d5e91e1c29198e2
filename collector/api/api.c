#include "api/api_int.h"

#include <stdarg.h>
#include <stdatomic.h>
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
#include "store/tokens.h"

/* How long a request waits for a pooled connection before answering 503. */
#define API_ACQUIRE_MS 5000

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

/* The bearer token of the request, or NULL. */
static const char *bearer(const struct col_http_req *req)
{
	const char *h = col_http_header(req, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

static int token_is(const char *token, const char *secret)
{
	return secret && *secret && cm_consttime_eq(token, strlen(token), secret, strlen(secret));
}

/*
 * 0 when the request may go on. Admin: CIPULSE_ADMIN_TOKEN or an admin token of the database.
 * Read: open unless CIPULSE_READ_TOKEN is set; then that token, or any admin or read token.
 * A missing or unknown token is 401; a valid token without the right is 403.
 */
static int check_auth(const struct col_http_req *req, struct col_http_resp *resp,
		      enum api_auth need)
{
	const struct col_config *cfg = req->ctx->cfg;
	const char *token = bearer(req);
	struct col_token_info info;
	struct col_conn *c;
	int rc;

	if (need == API_READ && !(cfg->read_token && *cfg->read_token))
		return CM_OK;
	if (!token) {
		snprintf(resp->extra_headers, sizeof(resp->extra_headers),
			 "WWW-Authenticate: Bearer realm=\"cipulse\"\r\n");
		col_http_error(resp, 401, "unauthorized", "a bearer token is required");
		return CM_EAUTH;
	}
	if (token_is(token, cfg->admin_token))
		return CM_OK;
	if (need == API_READ && token_is(token, cfg->read_token))
		return CM_OK;
	if (token_is(token, cfg->read_token)) {
		col_http_error(resp, 403, "forbidden", "this token may not change settings");
		return CM_EDENIED;
	}
	if (api_conn(req, resp, &c))
		return CM_EUNAVAIL;
	rc = col_token_check(c, token, &info);
	col_db_release(req->ctx->db, c);
	if (rc == CM_EAUTH) {
		snprintf(resp->extra_headers, sizeof(resp->extra_headers),
			 "WWW-Authenticate: Bearer realm=\"cipulse\", error=\"invalid_token\"\r\n");
		col_http_error(resp, 401, "unauthorized", "unknown or revoked token");
		return rc;
	}
	if (rc) {
		col_http_error(resp, 503, "unavailable", "the database cannot be reached");
		return rc;
	}
	if (!strcmp(info.kind, "admin") || (need == API_READ && !strcmp(info.kind, "read")))
		return CM_OK;
	col_http_error(resp, 403, "forbidden", "this token may not do that");
	return CM_EDENIED;
}

int api_begin(const struct col_http_req *req, struct col_http_resp *resp, enum api_auth auth,
	      struct col_query *q, const char *const *allowed)
{
	char param[80];
	const char *why = "";
	int rc = check_auth(req, resp, auth);

	if (rc)
		return rc;
	rc = col_query_parse(q, req->query, allowed, param, sizeof(param), &why);
	if (rc)
		api_bad_param(resp, param, "%s", why);
	return rc;
}

int api_conn(const struct col_http_req *req, struct col_http_resp *resp, struct col_conn **c)
{
	int rc = col_db_acquire(req->ctx->db, c, API_ACQUIRE_MS);

	if (rc) {
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 1\r\n");
		col_http_error(resp, 503, "unavailable", "the database cannot be reached");
	}
	return rc;
}

static atomic_long expensive_running;

int api_expensive_conn(const struct col_http_req *req, struct col_http_resp *resp,
		       struct col_conn **c)
{
	static struct col_metric *busy;

	if (atomic_fetch_add(&expensive_running, 1) >= req->ctx->cfg->max_expensive_requests) {
		atomic_fetch_sub(&expensive_running, 1);
		if (!busy)
			busy = col_metric_counter("cipulse_http_busy_total", "",
						  "Expensive requests answered 503 because as many "
						  "as CIPULSE_MAX_EXPENSIVE_REQUESTS were running.");
		col_metric_inc(busy);
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 2\r\n");
		col_http_error(resp, 503, "busy",
			       "too many searches and metrics at once; retry in a moment");
		return CM_EUNAVAIL;
	}
	if (api_conn(req, resp, c)) {
		atomic_fetch_sub(&expensive_running, 1);
		return CM_EUNAVAIL;
	}
	return CM_OK;
}

void api_expensive_release(const struct col_http_req *req, struct col_conn *c)
{
	col_db_release(req->ctx->db, c);
	atomic_fetch_sub(&expensive_running, 1);
}

void api_db_fail(struct col_http_resp *resp, struct col_conn *c, PGresult *res, const char *what)
{
	int rc = col_db_error(c->pg, res);

	cm_log_warn("api", "query failed what=%s: %s", what,
		    res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
	if (rc == CM_EUNAVAIL) {
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 1\r\n");
		col_http_error(resp, 503, "unavailable", "the database cannot be reached");
	} else {
		col_http_error(resp, 500, "internal", "could not read %s", what);
	}
}

int api_repo_id(struct col_conn *c, const char *full_name, int64_t *id)
{
	const char *params[1] = { full_name };
	PGresult *res = PQexecParams(c->pg, "SELECT id FROM repositories WHERE full_name = $1", 1,
				     NULL, params, NULL, NULL, 0);
	int rc = CM_OK;

	if (!col_db_ok(res))
		rc = col_db_error(c->pg, res);
	else if (PQntuples(res) != 1)
		rc = CM_ENOTFOUND;
	else
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

void api_p_str(struct api_params *p, const char *s)
{
	if (p->n < API_MAX_PARAMS)
		p->v[p->n++] = s;
}

void api_p_i64(struct api_params *p, int64_t x)
{
	if (p->n >= API_MAX_PARAMS)
		return;
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

void api_p_opt_i64(struct api_params *p, int set, int64_t x)
{
	if (set)
		api_p_i64(p, x);
	else
		api_p_str(p, NULL);
}

PGresult *api_exec(struct col_conn *c, const char *sql, const struct api_params *p)
{
	return PQexecParams(c->pg, sql, p->n, NULL, p->v, NULL, NULL, 0);
}

int api_lookup_repo(struct col_http_resp *resp, struct col_conn *c, const char *full_name,
		    int64_t *id)
{
	int rc = api_repo_id(c, full_name, id);

	if (rc == CM_ENOTFOUND)
		api_not_found(resp, "repository");
	else if (rc)
		api_db_fail(resp, c, NULL, "repository");
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
	json_t *o = json_object();

	if (!o || !items || api_set(o, "items", items) ||
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
	const char *f[API_CURSOR_FIELDS];
	char next[API_CURSOR_MAX + 1] = "";

	if (items && PQntuples(res) > limit && ncols <= API_CURSOR_FIELDS) {
		for (int i = 0; i < ncols; i++)
			f[i] = PQgetvalue(res, limit - 1, cols[i]);
		if (api_cursor_encode(next, sizeof(next), kind, f, ncols)) {
			json_decref(items);
			items = NULL;
		}
	}
	api_reply(resp, 200, api_page(items, next[0] ? next : NULL));
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
