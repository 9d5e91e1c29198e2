/*
 * Accounts and access (store/auth.h): sign-in methods, sessions (POST/GET/DELETE
 * /api/v1/session), users (admin), personal API tokens, and the audit log (admin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_json.h"
#include "cm_log.h"
#include "store/tokens.h"

static json_t *dump_or_null(json_t *v, char **text)
{
	*text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	return v;
}

int api_audit(struct col_conn *c, const struct col_http_req *req, const struct col_principal *who,
	      const char *action, const char *target, json_t *before, json_t *after)
{
	char *b, *a;
	int rc;

	dump_or_null(before, &b);
	dump_or_null(after, &a);
	rc = col_audit_record(c, who, req->remote_addr, action, target, b, a);
	free(b);
	free(a);
	json_decref(before);
	json_decref(after);
	return rc;
}

json_t *api_redact(json_t *v)
{
	static const char *const secret[] = { "target", "secret",	  "password",	 "token",
					      "url",	"webhook_secret", "ingest_token" };
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x) api_redact(x);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, x)
		{
			for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
				if (!strcmp(key, secret[i]))
					break;
			}
			if (i < sizeof(secret) / sizeof(secret[0]))
				json_object_set_new(v, key, json_string("[redacted]"));
			else
				api_redact(x);
		}
	}
	return v;
}

/* ---- sign-in ---- */

void api_auth_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_principal who;
	struct col_query q;
	int anon;

	if (api_begin_as(req, resp, API_OPEN, &q, allowed, &who))
		return;
	anon = col_auth_anonymous_read(req->ctx->cfg, req->ctx->db);
	/* GitHub sign-in: GET /api/v1/auth/github (api/github_signin.c). */
	api_reply(resp, 200,
		  json_pack("{s:b, s:b, s:b}", "local", 1, "github",
			    col_config_github_signin(req->ctx->cfg), "anonymous_read", anon > 0));
}

static json_t *session_json(const struct col_principal *p)
{
	return json_pack("{s:{s:s, s:s, s:s}, s:s}", "user", "username", p->username,
			 "display_name", p->display_name, "role", col_role_name(p->role),
			 "csrf_token", p->csrf);
}

static int cookie_secure(const struct col_config *cfg)
{
	return (cfg->tls_cert && *cfg->tls_cert) ||
	       (cfg->public_url && !strncmp(cfg->public_url, "https://", 8));
}

void api_set_cookie(const struct col_http_req *req, struct col_http_resp *resp, const char *name,
		    const char *value, const char *path, long max_age_s)
{
	size_t n = strlen(resp->extra_headers);

	snprintf(resp->extra_headers + n, sizeof(resp->extra_headers) - n,
		 "Set-Cookie: %s=%s; HttpOnly; SameSite=Lax; Path=%s; Max-Age=%ld%s\r\n%s", name,
		 value, path, max_age_s, cookie_secure(req->ctx->cfg) ? "; Secure" : "",
		 strstr(resp->extra_headers, "Cache-Control:") ? ""
							       : "Cache-Control: no-store\r\n");
}

void api_session_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_principal who;
	struct col_query q;

	if (api_begin_as(req, resp, API_OPEN, &q, allowed, &who))
		return;
	if (who.who != COL_WHO_USER) {
		col_http_error(resp, 401, "unauthorized", "not signed in");
		return;
	}
	/* It carries the CSRF token: never from a cache. */
	snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Cache-Control: no-store\r\n");
	api_reply(resp, 200, session_json(&who));
}

void api_session_post(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	const struct col_config *cfg = req->ctx->cfg;
	char cookie[COL_TOKEN_SIZE];
	const char *user, *pass;
	struct col_principal who;
	struct col_query q;
	struct col_conn *c;
	json_error_t e;
	json_t *body;
	long retry = 0;
	int rc;

	if (api_begin_as(req, resp, API_OPEN, &q, allowed, &who))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	user = json_string_value(json_object_get(body, "username"));
	pass = json_string_value(json_object_get(body, "password"));
	if (!json_is_object(body) || !user || !pass) {
		json_decref(body);
		api_bad_param(resp, "body", "expected {\"username\": ..., \"password\": ...}");
		return;
	}
	if (api_conn(req, resp, &c)) {
		json_decref(body);
		return;
	}
	/* Per address and per account, shared by every collector (store/auth.h). */
	rc = col_login_limited(c, req->remote_addr, user, cfg->login_max_failures,
			       cfg->login_window_ms, &retry);
	if (rc) {
		col_db_release(req->ctx->db, c);
		json_decref(body);
		if (rc < 0) {
			api_db_fail(resp, rc, "session");
			return;
		}
		col_http_error(resp, 429, "too_many_attempts",
			       "too many failed sign-ins; try again later");
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: %ld\r\n",
			 retry);
		return;
	}
	rc = col_user_login(c, user, pass, &who);
	if (rc == CM_EAUTH) {
		rc = col_login_failed(c, req->remote_addr, user, cfg->login_window_ms);
		col_db_release(req->ctx->db, c);
		json_decref(body);
		if (rc)
			cm_log_warn("auth", "sign-in failure not counted: %s", cm_strerror(rc));
		cm_log_info("auth", "sign-in failed addr=%s", req->remote_addr);
		/* One answer for every failure: nothing tells which part was wrong. */
		col_http_error(resp, 401, "unauthorized", "invalid username or password");
		return;
	}
	json_decref(body);
	if (!rc)
		rc = col_session_create(c, &who, cfg->session_max_ms, req->remote_addr,
					col_http_header(req, "User-Agent"), cookie);
	col_db_release(req->ctx->db, c);
	if (rc) {
		api_db_fail(resp, rc, "session");
		return;
	}
	cm_log_info("auth", "signed in user=%s addr=%s", who.username, req->remote_addr);
	api_set_cookie(req, resp, COL_SESSION_COOKIE, cookie, "/", cfg->session_max_ms / 1000);
	memset(cookie, 0, sizeof(cookie));
	api_reply(resp, 200, session_json(&who));
}

static void no_content(struct col_http_resp *resp)
{
	cm_buf_reset(&resp->body);
	resp->status = 204;
	resp->content_type = "text/plain";
}

void api_session_delete(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_principal who;
	struct col_query q;
	struct col_conn *c;
	int rc = CM_OK;

	/* Signing out needs no CSRF token: the worst a forged one does is sign someone out. */
	if (api_begin_as(req, resp, API_OPEN, &q, allowed, &who))
		return;
	if (who.who == COL_WHO_USER) {
		if (api_conn(req, resp, &c))
			return;
		rc = col_session_revoke(c, who.session_id);
		col_db_release(req->ctx->db, c);
		if (rc) {
			api_db_fail(resp, rc, "session");
			return;
		}
		cm_log_info("auth", "signed out user=%s", who.username);
	}
	no_content(resp);
	api_set_cookie(req, resp, COL_SESSION_COOKIE, "", "/", 0);
}

/* ---- users ---- */

#define USER_COLS                                                                                  \
	"username, display_name, role, disabled, github_id IS NOT NULL, " API_MS(                  \
	    "created_at") ", " API_MS("last_login_at")

static json_t *user_json(const PGresult *res, int i)
{
	json_t *o = json_object();

	if (!o || api_set(o, "username", api_col_str(res, i, 0)) ||
	    api_set(o, "display_name", api_col_str(res, i, 1)) ||
	    api_set(o, "role", api_col_str(res, i, 2)) ||
	    api_set(o, "disabled", api_col_bool(res, i, 3)) ||
	    api_set(o, "source",
		    json_string(PQgetvalue(res, i, 4)[0] == 't' ? "github" : "local")) ||
	    api_set(o, "created_at", api_col_time(res, i, 5)) ||
	    api_set(o, "last_login_at", api_col_time(res, i, 6))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The user as JSON (NULL when there is none or on error, *rc telling which). */
static json_t *user_get(struct col_conn *c, const char *username, int *rc)
{
	const char *params[1] = { username };
	PGresult *res = col_db_query(
	    c, "user", "SELECT " USER_COLS " FROM users WHERE username = $1", 1, params, rc);
	json_t *o = NULL;

	if (!res)
		return NULL;
	if (PQntuples(res) == 1)
		o = user_json(res, 0);
	else
		*rc = CM_ENOTFOUND;
	PQclear(res);
	return o;
}

void api_users_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_query q;
	struct col_conn *c;
	PGresult *res;
	json_t *items;
	int rc;

	if (api_begin(req, resp, API_ADMIN, &q, allowed) || api_conn(req, resp, &c))
		return;
	res = col_db_query(c, "users", "SELECT " USER_COLS " FROM users ORDER BY username", 0, NULL,
			   &rc);
	col_db_release(req->ctx->db, c);
	if (!res) {
		api_db_fail(resp, rc, "users");
		return;
	}
	items = api_rows_json(res, -1, user_json);
	PQclear(res);
	api_reply(resp, 200, items ? json_pack("{s:o}", "users", items) : NULL);
}

/* Reads the optional fields of a user body; 0, or the 400 is written. */
static int user_fields(struct col_http_resp *resp, json_t *body, int *role, int *disabled,
		       const char **password, const char **display)
{
	static const char *const keys[] = { "username", "role", "disabled", "password",
					    "display_name" };
	const char *key;
	json_t *v;
	enum col_role r;

	json_object_foreach(body, key, v)
	{
		size_t i = 0;

		while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[i]))
			i++;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			api_bad_param(resp, key, "unknown field");
			return CM_EINVAL;
		}
	}
	v = json_object_get(body, "role");
	*role = -1;
	if (v) {
		if (col_role_parse(json_string_value(v), &r)) {
			api_bad_param(resp, "role", "must be viewer, maintainer or admin");
			return CM_EINVAL;
		}
		*role = (int)r;
	}
	v = json_object_get(body, "disabled");
	*disabled = -1;
	if (v) {
		if (!json_is_boolean(v)) {
			api_bad_param(resp, "disabled", "must be true or false");
			return CM_EINVAL;
		}
		*disabled = json_is_true(v);
	}
	v = json_object_get(body, "password");
	*password = json_string_value(v);
	if (v && (!*password || strlen(*password) < COL_PASSWORD_MIN ||
		  strlen(*password) > COL_PASSWORD_MAX)) {
		api_bad_param(resp, "password", "must be a string of %d to %d bytes",
			      COL_PASSWORD_MIN, COL_PASSWORD_MAX);
		return CM_EINVAL;
	}
	v = json_object_get(body, "display_name");
	*display = json_string_value(v);
	if (v && (!*display || strlen(*display) > 128)) {
		api_bad_param(resp, "display_name", "must be a string of at most 128 bytes");
		return CM_EINVAL;
	}
	return CM_OK;
}

/*
 * Runs a user change and its audit entry in one transaction, then answers with the user
 * (status). username: the user changed.
 */
static void user_change(const struct col_http_req *req, struct col_http_resp *resp,
			const struct col_principal *who, const char *username, int create, int role,
			int disabled, const char *hash, const char *display, int status)
{
	json_t *before = NULL, *after = NULL, *shown;
	struct col_conn *c;
	int rc;

	if (api_conn(req, resp, &c))
		return;
	rc = col_db_exec(c->pg, "BEGIN");
	if (!rc && !create) {
		before = user_get(c, username, &rc);
		if (rc == CM_ENOTFOUND) {
			col_db_release(req->ctx->db, c);
			api_not_found(resp, "user");
			return;
		}
	}
	if (!rc)
		rc = create ? col_user_add(c, username, (enum col_role)role, display, hash)
			    : col_user_update(c, username, role, disabled, hash, display);
	if (!rc)
		after = user_get(c, username, &rc);
	if (!rc && after && hash)
		json_object_set_new(after, "password_changed", json_true());
	shown = after ? json_deep_copy(after) : NULL;
	if (!rc) {
		rc = api_audit(c, req, who, create ? "user.create" : "user.update", username,
			       before, after);
		before = after = NULL;
	}
	if (!rc)
		rc = col_db_exec(c->pg, "COMMIT");
	json_decref(before);
	json_decref(after);
	col_db_release(req->ctx->db, c);
	if (rc == CM_ECONFLICT)
		col_http_error(resp, 409, "conflict", "a user of that name exists");
	else if (rc == CM_EDENIED)
		col_http_error(resp, 409, "last_admin",
			       "no enabled admin would remain: make another user admin first");
	else if (rc == CM_ENOTFOUND)
		api_not_found(resp, "user");
	else if (rc)
		api_db_fail(resp, rc, "user");
	if (rc) {
		json_decref(shown);
		return;
	}
	if (shown)
		json_object_del(shown, "password_changed");
	cm_log_info("api", "user %s name=%s by=%s", create ? "created" : "changed", username,
		    who->actor);
	api_reply(resp, status, shown ? json_pack("{s:o}", "user", shown) : NULL);
}

void api_users_create(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	char hash[COL_PASSWORD_HASH_MAX];
	const char *username, *password, *display;
	struct col_principal who;
	struct col_query q;
	json_error_t e;
	json_t *body;
	int role, disabled;

	if (api_begin_as(req, resp, API_ADMIN, &q, allowed, &who))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(body)) {
		json_decref(body);
		api_bad_param(resp, "body", "expected a JSON object");
		return;
	}
	username = json_string_value(json_object_get(body, "username"));
	if (user_fields(resp, body, &role, &disabled, &password, &display)) {
		json_decref(body);
		return;
	}
	if (!col_username_valid(username)) {
		api_bad_param(resp, "username",
			      "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a "
			      "letter or digit");
	} else if (role < 0) {
		api_bad_param(resp, "role", "must be viewer, maintainer or admin");
	} else if (!password) {
		api_bad_param(resp, "password", "a password is needed");
	} else if (col_password_hash(password, hash)) {
		col_http_error(resp, 500, "internal", "could not hash the password");
	} else {
		user_change(req, resp, &who, username, 1, role, -1, hash, display ? display : "",
			    201);
	}
	memset(hash, 0, sizeof(hash));
	json_decref(body);
}

void api_user_patch(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	char hash[COL_PASSWORD_HASH_MAX];
	const char *username = req->path + strlen("/api/v1/users/"), *password, *display;
	struct col_principal who;
	struct col_query q;
	json_error_t e;
	json_t *body;
	int role, disabled;

	if (api_begin_as(req, resp, API_ADMIN, &q, allowed, &who))
		return;
	if (!col_username_valid(username)) {
		api_not_found(resp, "user");
		return;
	}
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(body) || json_object_get(body, "username")) {
		json_decref(body);
		api_bad_param(resp, "body",
			      "expected {\"role\"?, \"disabled\"?, \"password\"?, "
			      "\"display_name\"?}");
		return;
	}
	if (!user_fields(resp, body, &role, &disabled, &password, &display)) {
		if (password && col_password_hash(password, hash))
			col_http_error(resp, 500, "internal", "could not hash the password");
		else
			user_change(req, resp, &who, username, 0, role, disabled,
				    password ? hash : NULL, display, 200);
	}
	memset(hash, 0, sizeof(hash));
	json_decref(body);
}

/* ---- personal tokens ---- */

#define TOKEN_COLS                                                                                 \
	"t.id, COALESCE(t.name, t.description), COALESCE(t.scope, t.kind), u.username, "           \
	"t.kind, " API_MS("t.created_at") ", " API_MS("t.expires_at") ", " API_MS(                 \
	    "t.last_used_at") ", " API_MS("t.revoked_at")

static json_t *token_json(const PGresult *res, int i)
{
	json_t *o = json_object();

	if (!o || api_set(o, "id", api_col_int(res, i, 0)) ||
	    api_set(o, "name", api_col_str(res, i, 1)) ||
	    api_set(o, "scope", api_col_str(res, i, 2)) ||
	    api_set(o, "owner", api_col_str(res, i, 3)) ||
	    api_set(o, "kind", api_col_str(res, i, 4)) ||
	    api_set(o, "created_at", api_col_time(res, i, 5)) ||
	    api_set(o, "expires_at", api_col_time(res, i, 6)) ||
	    api_set(o, "last_used_at", api_col_time(res, i, 7)) ||
	    api_set(o, "revoked_at", api_col_time(res, i, 8))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *token_get(struct col_conn *c, int64_t id, int *rc)
{
	struct col_params p;
	PGresult *res;
	json_t *o = NULL;

	col_params_init(&p);
	col_p_i64(&p, id);
	res = col_db_query(c, "token",
			   "SELECT " TOKEN_COLS " FROM api_tokens t "
			   "LEFT JOIN users u ON u.id = t.owner_id WHERE t.id = $1",
			   p.n, p.v, rc);
	if (!res)
		return NULL;
	if (PQntuples(res) == 1)
		o = token_json(res, 0);
	else
		*rc = CM_ENOTFOUND;
	PQclear(res);
	return o;
}

void api_tokens_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "all", NULL };
	struct col_principal who;
	struct col_params p;
	struct col_query q;
	struct col_conn *c;
	const char *all;
	PGresult *res;
	json_t *items;
	int rc;

	if (api_begin_as(req, resp, API_READ, &q, allowed, &who) ||
	    api_param_enum(resp, &q, "all", "true|false", &all))
		return;
	if (all && !strcmp(all, "true") && who.role < COL_ROLE_ADMIN) {
		col_http_fail(resp, CM_EDENIED, "only admins may list every token");
		return;
	}
	if (api_conn(req, resp, &c))
		return;
	col_params_init(&p);
	col_p_bool(&p, all && !strcmp(all, "true"));
	col_p_i64(&p, who.user_id);
	res = col_db_query(c, "tokens",
			   "SELECT " TOKEN_COLS " FROM api_tokens t "
			   "LEFT JOIN users u ON u.id = t.owner_id "
			   "WHERE $1::boolean OR t.owner_id = $2 ORDER BY t.id DESC LIMIT 1000",
			   p.n, p.v, &rc);
	col_db_release(req->ctx->db, c);
	if (!res) {
		api_db_fail(resp, rc, "tokens");
		return;
	}
	items = api_rows_json(res, -1, token_json);
	PQclear(res);
	api_reply(resp, 200, items ? json_pack("{s:o}", "tokens", items) : NULL);
}

void api_tokens_create(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	char token[COL_TOKEN_SIZE], target[32];
	struct col_principal who;
	struct col_query q;
	struct col_conn *c;
	json_t *body, *days, *shown = NULL, *after = NULL;
	const char *name, *scope, *key;
	json_error_t e;
	json_t *v;
	int64_t id = 0;
	int rc;

	if (api_begin_as(req, resp, API_READ, &q, allowed, &who))
		return;
	/*
	 * A token belongs to a user (a session, or a write token of one); a read token may not
	 * mint a write token.
	 */
	if (!who.user_id || (who.who == COL_WHO_TOKEN && !who.tok.write)) {
		col_http_fail(resp, CM_EDENIED, "personal tokens are created by a signed-in user");
		return;
	}
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	name = json_string_value(json_object_get(body, "name"));
	scope = json_string_value(json_object_get(body, "scope"));
	days = json_object_get(body, "expires_in_days");
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "name") && strcmp(key, "scope") && strcmp(key, "expires_in_days"))
			name = NULL;
	}
	if (!json_is_object(body) || !name || !*name || strlen(name) > 100) {
		api_bad_param(resp, "name",
			      "expected {\"name\", \"scope\", \"expires_in_days\"} "
			      "with a name of 1 to 100 bytes");
	} else if (!scope || (strcmp(scope, "read") && strcmp(scope, "write"))) {
		api_bad_param(resp, "scope", "must be read or write");
	} else if (days && (!json_is_integer(days) || json_integer_value(days) < 0 ||
			    json_integer_value(days) > 3650)) {
		api_bad_param(resp, "expires_in_days", "must be an integer from 0 (never) to 3650");
	} else if (!api_conn(req, resp, &c)) {
		rc = col_db_exec(c->pg, "BEGIN");
		if (!rc)
			rc = col_token_create_personal(
			    c, who.user_id, name, !strcmp(scope, "write"),
			    days ? (int)json_integer_value(days) : 0, token, &id);
		if (!rc)
			after = token_get(c, id, &rc);
		shown = after ? json_deep_copy(after) : NULL;
		snprintf(target, sizeof(target), "token:%lld", (long long)id);
		if (!rc) {
			rc = api_audit(c, req, &who, "token.create", target, NULL, after);
			after = NULL;
		}
		if (!rc)
			rc = col_db_exec(c->pg, "COMMIT");
		json_decref(after);
		col_db_release(req->ctx->db, c);
		if (rc || !shown) {
			api_db_fail(resp, rc ? rc : CM_EIO, "token");
		} else {
			/* Shown this once; only its hash is kept. */
			json_object_set_new(shown, "token", json_string(token));
			api_reply(resp, 201, shown);
			shown = NULL;
		}
		json_decref(shown);
		memset(token, 0, sizeof(token));
	}
	json_decref(body);
}

void api_token_delete(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_principal who;
	struct col_query q;
	struct col_conn *c;
	char target[32];
	json_t *before;
	int64_t id;
	int rc;

	if (api_begin_as(req, resp, API_READ, &q, allowed, &who))
		return;
	if (api_path_id(req->path, "/api/v1/tokens/", "", &id)) {
		api_not_found(resp, "token");
		return;
	}
	/* Admins revoke any token; others their own. */
	if (who.role < COL_ROLE_ADMIN && !who.user_id) {
		col_http_fail(resp, CM_EDENIED, "this token may not do that");
		return;
	}
	if (api_conn(req, resp, &c))
		return;
	rc = col_db_exec(c->pg, "BEGIN");
	before = rc ? NULL : token_get(c, id, &rc);
	if (!rc)
		rc = col_token_revoke(c, id, who.role >= COL_ROLE_ADMIN ? 0 : who.user_id);
	snprintf(target, sizeof(target), "token:%lld", (long long)id);
	if (!rc) {
		rc = api_audit(c, req, &who, "token.revoke", target, before, NULL);
		before = NULL;
	}
	if (!rc)
		rc = col_db_exec(c->pg, "COMMIT");
	json_decref(before);
	col_db_release(req->ctx->db, c);
	if (rc == CM_ENOTFOUND)
		api_not_found(resp, "token");
	else if (rc)
		api_db_fail(resp, rc, "token");
	else
		no_content(resp);
}

/* ---- audit log ---- */

void api_audit_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "actor", "action", "from", "to",
					       "limit", "cursor", NULL };
	static const int cursor_cols[] = { 0 };
	char scratch[128];
	struct api_cursor cur;
	struct col_params p;
	struct col_query q;
	struct col_conn *c;
	const char *actor, *action;
	int64_t from = 0, to = 0;
	int limit, has_from, has_to, has_cursor, rc;
	PGresult *res;
	json_t *items;

	if (api_begin(req, resp, API_ADMIN, &q, allowed) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_time(resp, &q, "from", &from, &has_from) ||
	    api_param_time(resp, &q, "to", &to, &has_to) ||
	    api_param_cursor(resp, &q, "audit", scratch, sizeof(scratch), &cur, &has_cursor))
		return;
	actor = col_query_get(&q, "actor");
	action = col_query_get(&q, "action");
	if (api_conn(req, resp, &c))
		return;
	col_params_init(&p);
	col_p_str(&p, actor);
	col_p_str(&p, action);
	col_p_opt_i64(&p, has_from, from);
	col_p_opt_i64(&p, has_to, to);
	col_p_opt_i64(&p, has_cursor, cur.a);
	col_p_i64(&p, limit + 1);
	res = col_db_query(
	    c, "audit",
	    "SELECT id, " API_MS(
		"at") ", actor, actor_kind, action, target, before::text, "
		      "after::text, remote_addr FROM audit_log "
		      "WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) "
		      "AND ($3::bigint IS NULL OR at >= 'epoch'::timestamptz + $3::bigint * interval '1 ms') "
		      "AND ($4::bigint IS NULL OR at < 'epoch'::timestamptz + $4::bigint * interval '1 ms') "
		      "AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
	    p.n, p.v, &rc);
	col_db_release(req->ctx->db, c);
	if (!res) {
		api_db_fail(resp, rc, "audit log");
		return;
	}
	items = json_array();
	for (int i = 0; items && i < PQntuples(res) && i < limit; i++) {
		json_t *o = json_object(), *b, *a;

		b = PQgetisnull(res, i, 6) ? json_null()
					   : json_loads(PQgetvalue(res, i, 6), 0, NULL);
		a = PQgetisnull(res, i, 7) ? json_null()
					   : json_loads(PQgetvalue(res, i, 7), 0, NULL);
		if (!o || api_set(o, "id", api_col_int(res, i, 0)) ||
		    api_set(o, "at", api_col_time(res, i, 1)) ||
		    api_set(o, "actor", api_col_str(res, i, 2)) ||
		    api_set(o, "actor_kind", api_col_str(res, i, 3)) ||
		    api_set(o, "action", api_col_str(res, i, 4)) ||
		    api_set(o, "target", api_col_str(res, i, 5)) || api_set(o, "before", b) ||
		    api_set(o, "after", a) || api_set(o, "remote_addr", api_col_str(res, i, 8)) ||
		    json_array_append_new(items, o)) {
			json_decref(items);
			items = NULL;
		}
	}
	/* api_reply_page names the list "items"; the audit log's is "entries". */
	if (items) {
		json_t *page;
		const char *f[1];
		char next[API_CURSOR_MAX + 1] = "";

		if (PQntuples(res) > limit) {
			f[0] = PQgetvalue(res, limit - 1, cursor_cols[0]);
			if (api_cursor_encode(next, sizeof(next), "audit", f, 1))
				next[0] = '\0';
		}
		page = json_pack("{s:o, s:o}", "entries", items, "next_cursor",
				 next[0] ? json_string(next) : json_null());
		api_reply(resp, 200, page);
	} else {
		api_reply(resp, 200, NULL);
	}
	PQclear(res);
}
