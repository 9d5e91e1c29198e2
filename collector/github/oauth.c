#include "github/oauth.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_buf.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_time.h"
#include "github/client.h"
#include "version.h"

/* {CIPULSE_PUBLIC_URL}/api/v1/auth/github/callback, URL-encoded (curl_free it). */
static char *callback_escaped(CURL *curl, const struct col_config *cfg)
{
	char cb[2048];

	snprintf(cb, sizeof(cb), "%.*s/api/v1/auth/github/callback",
		 cm_http_url_base_len(cfg->public_url), cfg->public_url);
	return curl_easy_escape(curl, cb, 0);
}

int col_gh_oauth_authorize_url(const struct col_config *cfg, const char *state,
			       const char *verifier, char *out, size_t size)
{
	char challenge[48];
	char *cb, *id;
	CURL *curl = curl_easy_init();
	int n;

	if (!curl)
		return CM_ENOMEM;
	cm_sha256_base64url(verifier, strlen(verifier), challenge);
	cb = callback_escaped(curl, cfg);
	id = curl_easy_escape(curl, cfg->github_client_id, 0);
	n = cb && id ? snprintf(out, size,
				"%.*s/login/oauth/authorize?client_id=%s&redirect_uri=%s&state=%s"
				"&code_challenge=%s&code_challenge_method=S256",
				cm_http_url_base_len(cfg->github_url), cfg->github_url, id, cb,
				state, challenge)
		     : -1;
	curl_free(cb);
	curl_free(id);
	curl_easy_cleanup(curl);
	return n < 0 ? CM_ENOMEM : (size_t)n >= size ? CM_ETOOBIG : CM_OK;
}

/* The form of the token request into form (secrets inside: the caller wipes it). */
static int exchange_form(CURL *curl, const struct col_config *cfg, const char *code,
			 const char *verifier, struct cm_buf *form)
{
	const char *names[] = { "client_id", "client_secret", "code", "code_verifier" };
	const char *values[] = { cfg->github_client_id, cfg->github_client_secret, code, verifier };
	char *cb = callback_escaped(curl, cfg);
	int rc = cb ? cm_buf_addf(form, "redirect_uri=%s", cb) : CM_ENOMEM;

	curl_free(cb);
	for (size_t i = 0; !rc && i < sizeof(names) / sizeof(names[0]); i++) {
		char *v = curl_easy_escape(curl, values[i], 0);

		rc = v ? cm_buf_addf(form, "&%s=%s", names[i], v) : CM_ENOMEM;
		if (v) {
			memset(v, 0, strlen(v));
			curl_free(v);
		}
	}
	return rc;
}

int col_gh_oauth_exchange(const struct col_config *cfg, const char *code, const char *verifier,
			  char token[COL_GH_USER_TOKEN_MAX], int64_t *expires_ms, char why[64],
			  volatile sig_atomic_t *stop)
{
	struct cm_buf form = CM_BUF_INIT(64 << 10), body = CM_BUF_INIT(1 << 20);
	char url[2048], ua[64];
	const char *lines[] = { "Accept: application/json",
				"Content-Type: application/x-www-form-urlencoded", ua };
	const char *tok, *err;
	json_t *doc = NULL, *exp;
	long status = 0;
	CURL *curl = curl_easy_init();
	int rc;

	token[0] = why[0] = '\0';
	*expires_ms = 0;
	if (!curl)
		return CM_ENOMEM;
	snprintf(url, sizeof(url), "%.*s/login/oauth/access_token",
		 cm_http_url_base_len(cfg->github_url), cfg->github_url);
	snprintf(ua, sizeof(ua), "User-Agent: cipulse/%s", CIPULSE_VERSION);
	rc = exchange_form(curl, cfg, code, verifier, &form);
	curl_easy_cleanup(curl);
	if (!rc)
		rc = col_gh_post("github-signin: token endpoint", url, lines,
				 sizeof(lines) / sizeof(lines[0]), form.data, form.len, &body,
				 &status, stop);
	if (form.data)
		memset(form.data, 0, form.len);
	cm_buf_release(&form);
	if (rc)
		goto out;
	if (status >= 500 || status == 429) {
		cm_log_warn("github-signin", "GitHub's token endpoint answered %ld", status);
		rc = CM_EUNAVAIL;
		goto out;
	}
	/* GitHub answers a refused code with 200 and {"error": ...}. */
	doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	tok = json_string_value(json_object_get(doc, "access_token"));
	err = json_string_value(json_object_get(doc, "error"));
	if (status != 200 || err || !tok || !*tok || strlen(tok) >= COL_GH_USER_TOKEN_MAX) {
		snprintf(why, 64, "%s", err ? err : "unreadable_reply");
		for (char *p = why; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
				*p = '_';
		}
		cm_log_warn("github-signin", "GitHub refused the sign-in code status=%ld error=%s",
			    status, why);
		rc = CM_EDENIED;
		goto out;
	}
	snprintf(token, COL_GH_USER_TOKEN_MAX, "%s", tok);
	exp = json_object_get(doc, "expires_in");
	if (json_is_integer(exp) && json_integer_value(exp) > 0)
		*expires_ms = cm_time_now_ms() + json_integer_value(exp) * 1000;
out:
	if (body.data)
		memset(body.data, 0, body.len);
	cm_buf_release(&body);
	json_decref(doc);
	return rc;
}

/* GET path as the token's user: 0 and the parsed reply, or the error. */
static int user_get(const struct col_config *cfg, const char *token, const char *path, json_t **doc,
		    volatile sig_atomic_t *stop)
{
	struct col_gh_client *c = NULL;
	struct col_gh_resp r;
	int rc = col_gh_client_new(&c, cfg->github_api_url, token, stop);

	*doc = NULL;
	if (rc)
		return rc;
	col_gh_resp_init(&r);
	rc = col_gh_get(c, path, NULL, &r);
	if (!rc && r.status == 200)
		*doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
	if (!rc && !*doc)
		rc = CM_EPROTO;
	col_gh_resp_release(&r);
	col_gh_client_free(c);
	return rc;
}

int col_gh_oauth_user(const struct col_config *cfg, const char *token, int64_t *id,
		      char login[COL_GH_LOGIN_MAX + 1], char name[129], volatile sig_atomic_t *stop)
{
	json_t *doc;
	const char *l, *n;
	int rc = user_get(cfg, token, "/user", &doc, stop);

	if (rc)
		return rc == CM_ENOTFOUND ? CM_EDENIED : rc;
	l = json_string_value(json_object_get(doc, "login"));
	n = json_string_value(json_object_get(doc, "name"));
	*id = json_integer_value(json_object_get(doc, "id"));
	if (!l || !*l || strlen(l) > COL_GH_LOGIN_MAX || *id <= 0) {
		rc = CM_EPROTO;
	} else {
		snprintf(login, COL_GH_LOGIN_MAX + 1, "%s", l);
		snprintf(name, 129, "%s", n ? n : "");
	}
	json_decref(doc);
	return rc;
}

int col_gh_oauth_member(const struct col_config *cfg, const char *token, const char *org,
			volatile sig_atomic_t *stop)
{
	char path[128];
	json_t *doc;
	const char *state;
	int rc;

	snprintf(path, sizeof(path), "/user/memberships/orgs/%s", org);
	rc = user_get(cfg, token, path, &doc, stop);
	/* 404: not a member (or no such org); 401/403: GitHub will not say (refused all the same).
	 */
	if (rc == CM_EDENIED)
		cm_log_warn("github-signin",
			    "GitHub refused the membership check org=%s: if no member can sign in, "
			    "give the app the organisation permission Members: read",
			    org);
	if (rc == CM_ENOTFOUND || rc == CM_EDENIED)
		return CM_EDENIED;
	if (rc)
		return rc;
	state = json_string_value(json_object_get(doc, "state"));
	rc = state && !strcmp(state, "active") ? CM_OK : CM_EDENIED;
	json_decref(doc);
	return rc;
}
