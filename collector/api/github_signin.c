/*
 * "Sign in with GitHub" (issue 12.2): the OAuth web flow of the GitHub App, with state and PKCE.
 *
 *   GET /api/v1/auth/github[?next=/path]
 *       a new sign-in: random state, browser binding and PKCE verifier, kept server-side
 *       (github_signin_states: hashes of state and binding, the verifier); the browser gets the
 *       binding in the cookie cipulse_oauth (HttpOnly, SameSite=Lax, 10 minutes, only sent to
 *       /api/v1/auth/github) and a 302 to GitHub's authorize page with the S256 challenge.
 *   GET /api/v1/auth/github/callback?code&state
 *       the state is taken (single use; younger than 10 minutes; started by this browser), the
 *       code exchanged with the verifier, the user read (GET /user) and checked against
 *       CIPULSE_GITHUB_ALLOWED_ORGS (an active membership of one of them); then the user is
 *       found or made (viewer) and a session opened exactly as a local sign-in opens one, with
 *       the user's GitHub token kept server-side in the session row. 302 to the page the sign-in
 *       started from. Every failure: no session, and a 302 to /signin?github_error=CODE, CODE
 *       one of denied (cancelled on GitHub), state (missing, used, expired, another browser),
 *       refused (GitHub refused the code), unavailable (GitHub cannot be reached), org (not a
 *       member of an allowed organisation), disabled (the user is disabled), internal.
 *
 * The user token never appears in a reply or a log line.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_http.h"
#include "cm_json.h"
#include "cm_log.h"
#include "github/oauth.h"

#define BROWSER_COOKIE "cipulse_oauth"
#define BROWSER_PATH   "/api/v1/auth/github"

/* A 302 to url (Location appended to the headers already set). */
static void redirect(struct col_http_resp *resp, const char *url)
{
	size_t n = strlen(resp->extra_headers);

	cm_buf_reset(&resp->body);
	resp->status = 302;
	resp->content_type = "text/plain";
	snprintf(resp->extra_headers + n, sizeof(resp->extra_headers) - n, "Location: %s\r\n", url);
}

/* A 302 to the sign-in page with the error code (and no session). */
static void fail_to_signin(const struct col_http_req *req, struct col_http_resp *resp,
			   const char *code)
{
	const struct col_config *cfg = req->ctx->cfg;
	char url[2048];

	snprintf(url, sizeof(url), "%.*s/signin?github_error=%s",
		 cm_http_url_base_len(cfg->public_url), cfg->public_url, code);
	cm_log_info("auth", "GitHub sign-in failed reason=%s addr=%s", code, req->remote_addr);
	redirect(resp, url);
}

/* A path inside the app to go to after sign-in ("/" for anything else). */
static const char *safe_next(const char *next)
{
	if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' ||
	    strlen(next) >= COL_NEXT_PATH_MAX)
		return "/";
	for (const char *p = next; *p; p++) {
		if ((unsigned char)*p < 0x21 || *p == '\\' || *p == 0x7f)
			return "/";
	}
	return next;
}

void api_github_signin_start(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "next", NULL };
	char state[48], browser[48], verifier[48], url[4096];
	struct col_principal who;
	struct col_query q;
	struct col_conn *c;
	int rc;

	if (api_begin_as(req, resp, API_OPEN, &q, allowed, &who))
		return;
	if (!col_config_github_signin(req->ctx->cfg)) {
		col_http_error(resp, 404, "not_found", "GitHub sign-in is not configured");
		return;
	}
	rc = cm_random_token("st_", state, sizeof(state));
	if (!rc)
		rc = cm_random_token("br_", browser, sizeof(browser));
	/* 45 characters of [A-Za-z0-9-]: a valid PKCE code_verifier (RFC 7636: 43 to 128). */
	if (!rc)
		rc = cm_random_token("pkce-", verifier, sizeof(verifier));
	if (!rc)
		rc = col_gh_oauth_authorize_url(req->ctx->cfg, state, verifier, url, sizeof(url));
	if (rc) {
		col_http_error(resp, 500, "internal", "could not start the sign-in");
		return;
	}
	if (api_conn(req, resp, &c))
		return;
	rc =
	    col_github_state_put(c, state, browser, verifier, safe_next(col_query_get(&q, "next")));
	col_db_release(req->ctx->db, c);
	memset(verifier, 0, sizeof(verifier));
	if (rc) {
		api_db_fail(resp, rc, "sign-in");
		return;
	}
	api_set_cookie(req, resp, BROWSER_COOKIE, browser, BROWSER_PATH,
		       COL_GITHUB_STATE_MAX_MS / 1000);
	redirect(resp, url);
}

/* Whether the token's user may sign in: an active member of an allowed organisation. */
static int org_allowed(const struct col_http_req *req, const char *token)
{
	const struct col_config *cfg = req->ctx->cfg;
	const char *p = cfg->github_allowed_orgs;
	int rc = CM_EDENIED;

	while (*p && rc == CM_EDENIED) {
		char org[64];
		size_t n;

		p += strspn(p, ", ");
		n = strcspn(p, ", ");
		if (!n)
			break;
		if (n == 1 && *p == '*')
			return CM_OK;
		snprintf(org, sizeof(org), "%.*s", (int)(n < sizeof(org) ? n : sizeof(org) - 1), p);
		p += n;
		rc = col_gh_oauth_member(cfg, token, org, &req->ctx->stopping);
	}
	return rc;
}

/* GitHub's name cut to 128 bytes at a character boundary. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

/* The user made or found, the session opened with the token; *created for the audit log. */
static int open_session(const struct col_http_req *req, int64_t gh_id, const char *login,
			const char *name, const char *token, int64_t expires_ms,
			struct col_principal *who, char cookie[COL_TOKEN_SIZE])
{
	struct col_conn *c;
	int created = 0, rc = col_db_acquire(req->ctx->db, &c, COL_DB_WAIT_MS);

	if (rc)
		return rc;
	rc = col_db_exec(c->pg, "BEGIN");
	if (!rc)
		rc = col_user_github(c, gh_id, login, name, who, &created);
	if (!rc)
		rc = col_session_create(c, who, req->ctx->cfg->session_max_ms, req->remote_addr,
					col_http_header(req, "User-Agent"), cookie);
	if (!rc)
		rc = col_session_github_token(c, who->session_id, token, expires_ms);
	/* A new account is a change: recorded as made by the user, through GitHub. */
	if (!rc && created)
		rc = api_audit(c, req, who, "user.create", who->username, NULL,
			       json_pack("{s:s, s:s, s:s, s:s}", "username", who->username, "role",
					 col_role_name(who->role), "source", "github",
					 "github_login", login));
	if (!rc)
		rc = col_db_exec(c->pg, "COMMIT");
	else
		col_db_exec(c->pg, "ROLLBACK");
	col_db_release(req->ctx->db, c);
	return rc;
}

void api_github_signin_callback(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "code",	       "state",
					       "error",	       "error_description",
					       "error_uri",    "installation_id",
					       "setup_action", NULL };
	const struct col_config *cfg = req->ctx->cfg;
	char browser[64] = "", verifier[64], next[COL_NEXT_PATH_MAX], token[COL_GH_USER_TOKEN_MAX];
	char why[64], login[COL_GH_LOGIN_MAX + 1], name[129], cookie[COL_TOKEN_SIZE], url[2048];
	const char *code, *state, *failed = NULL;
	struct col_principal who;
	struct col_query q;
	struct col_conn *c;
	int64_t expires_ms = 0, gh_id = 0;
	int rc;

	if (api_begin_as(req, resp, API_OPEN, &q, allowed, &who))
		return;
	if (!col_config_github_signin(cfg)) {
		col_http_error(resp, 404, "not_found", "GitHub sign-in is not configured");
		return;
	}
	/* The binding cookie has done its work whatever happens. */
	api_set_cookie(req, resp, BROWSER_COOKIE, "", BROWSER_PATH, 0);
	code = col_query_get(&q, "code");
	state = col_query_get(&q, "state");
	api_cookie(req, BROWSER_COOKIE, browser, sizeof(browser));
	/* The state is spent first: a callback is tried once, whatever its outcome. */
	rc = api_conn(req, resp, &c);
	if (rc)
		return;
	rc = col_github_state_take(c, state, browser, verifier, next);
	col_db_release(req->ctx->db, c);
	if (rc) {
		fail_to_signin(req, resp, rc == CM_EAUTH ? "state" : "internal");
		return;
	}
	if (col_query_get(&q, "error") || !code || !*code || strlen(code) > 256) {
		fail_to_signin(req, resp, col_query_get(&q, "error") ? "denied" : "refused");
		return;
	}
	rc = col_gh_oauth_exchange(cfg, code, verifier, token, &expires_ms, why,
				   &req->ctx->stopping);
	memset(verifier, 0, sizeof(verifier));
	if (!rc)
		rc = col_gh_oauth_user(cfg, token, &gh_id, login, name, &req->ctx->stopping);
	if (rc)
		failed = rc == CM_EDENIED    ? "refused"
			 : rc == CM_EUNAVAIL ? "unavailable"
					     : "internal";
	if (!failed) {
		rc = org_allowed(req, token);
		if (rc)
			failed = rc == CM_EDENIED ? "org" : "unavailable";
	}
	if (!failed) {
		cut_utf8(name, 128);
		rc = open_session(req, gh_id, login, name, token, expires_ms, &who, cookie);
		if (rc)
			failed = rc == CM_EDENIED ? "disabled" : "internal";
	}
	memset(token, 0, sizeof(token));
	if (failed) {
		if (!strcmp(failed, "org") || !strcmp(failed, "disabled"))
			cm_log_info("auth", "GitHub sign-in refused github_login=%s", login);
		fail_to_signin(req, resp, failed);
		return;
	}
	cm_log_info("auth", "signed in with GitHub user=%s github_login=%s addr=%s", who.username,
		    login, req->remote_addr);
	api_set_cookie(req, resp, COL_SESSION_COOKIE, cookie, "/", cfg->session_max_ms / 1000);
	memset(cookie, 0, sizeof(cookie));
	snprintf(url, sizeof(url), "%.*s%s", cm_http_url_base_len(cfg->public_url), cfg->public_url,
		 next);
	redirect(resp, url);
}
